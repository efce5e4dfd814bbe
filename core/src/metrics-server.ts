import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * A prom-client registry per process (never the library's global one, so tests can build two
 * services in one process), with Node's process metrics under `codevector_<service>_`. The
 * operator and the console use it; the gateway renders its own text off a hand-rolled table
 * (gateway/src/gateway-metrics.ts, ADR 0130).
 */
export function createMetricsRegistry(service: 'operator' | 'console'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `codevector_${service}_` });
  return registry;
}

export type MetricsServer = { port: number; close(): Promise<void> };

/**
 * Serves /metrics, /healthz and /readyz on their own port, away from the service's clients
 * (the console's port faces users; the operator's webhook port faces the apiserver).
 * @throws when the port cannot be bound.
 */
export async function startMetricsServer(options: {
  registry: Registry;
  port: number;
  host: string;
  /** null when ready; otherwise the reason /readyz gives with its 503. */
  notReady?: () => string | null;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      const reason = options.notReady?.() ?? null;
      res
        .writeHead(reason === null ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(reason === null ? { status: 'ready' } : { status: 'not ready', reason }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
