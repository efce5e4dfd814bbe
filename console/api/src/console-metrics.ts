import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The console API's request metrics. `route` is fastify's route pattern (`/api/users/:id`), never
 * the URL a browser sent, so ids, emails and query strings cannot become label values; requests
 * that match no route share `unmatched`, and the web app's files `static`.
 */
export function registerConsoleMetrics(app: FastifyInstance, registry: Registry): void {
  const requests = new Counter({
    name: 'codevector_console_http_requests_total',
    help: 'Console API requests answered, by method, route pattern and HTTP status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'codevector_console_http_request_duration_seconds',
    help: 'Console API request time, by method and route pattern.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
  app.addHook('onResponse', async (request, reply) => {
    const pattern = request.routeOptions.url;
    const route = pattern === undefined ? 'unmatched' : pattern.startsWith('/api/') || pattern.startsWith('/scim/') ? pattern : 'static';
    const method = methods.has(request.method) ? request.method : 'OTHER';
    requests.inc({ method, route, status: String(reply.statusCode) });
    duration.observe({ method, route }, reply.elapsedTime / 1000);
  });
}
