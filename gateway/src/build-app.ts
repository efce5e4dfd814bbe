import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { CodeVectorError } from '@codevector/core/errors';
import type { Logger } from '@codevector/core/logger';
import { formatUsd } from '@codevector/core/money';
import Fastify, { type FastifyInstance } from 'fastify';
import { formatApiError } from './api-error.ts';
import { clip } from './clip.ts';
import type { Endpoint, ProxyDeps } from './pipeline/endpoint.ts';
import { createProxy } from './pipeline/proxy.ts';
import { defaultBodyLimits } from './pipeline/request-body.ts';
import { attachResponsesWebSocket } from './responses-websocket.ts';

export type GatewayDeps = ProxyDeps & {
  bodyLimitBytes?: number;
  inflight?: { count: number };
  /** Slow clients (ADR 0113): the headers must arrive within headersTimeoutMs. */
  headersTimeoutMs?: number;
  /** Set while shutting down: requests are still served, each response closes its connection. */
  drain?: { draining: boolean };
  /** How long open Responses WebSocket turns may finish at shutdown before their sessions end. */
  shutdownGraceMs?: number;
};

const anthropicTypes = ['anthropic'];
const ignore = () => {};
const openaiTypes = ['openai', 'openai-compatible'];

export const endpoints = {
  messages: { name: 'messages', surface: 'anthropic', providerTypes: anthropicTypes, format: 'anthropic', metered: true },
  countTokens: { name: 'messages.count_tokens', surface: 'anthropic', providerTypes: anthropicTypes, format: null, metered: false },
  chatCompletions: { name: 'chat.completions', surface: 'openai', providerTypes: openaiTypes, format: 'openai-chat', metered: true },
  responses: { name: 'responses', surface: 'openai', providerTypes: openaiTypes, format: 'openai-responses', metered: true },
  models: { name: 'models', surface: 'openai', providerTypes: [...anthropicTypes, ...openaiTypes], format: null, metered: false },
} as const satisfies Record<string, Endpoint>;

/**
 * Builds the gateway's client-facing server without listening (STYLE "Build and start are
 * separate"). Bodies arrive as raw bytes: the proxy decodes and parses them once, scans the
 * decoded strings and forwards the original bytes, so what reaches the provider is what the
 * client sent (ADR 0110).
 */
export function buildApp(deps: GatewayDeps): FastifyInstance {
  const bodyLimit = deps.bodyLimitBytes ?? deps.bodyLimits?.default?.maxBytes ?? defaultBodyLimits.maxBytes;
  const headersTimeoutMs = deps.headersTimeoutMs ?? 10_000;
  const bodyTimeoutMs = deps.bodyLimits?.default?.timeoutMs ?? defaultBodyLimits.timeoutMs;
  // The four metered POST routes are served straight from the server's request event (hotRoute
  // below); fastify routes everything else and answers 503 while closing. fastify's routing,
  // request/reply objects and content-type parser were about a tenth of the gateway's CPU per
  // request, for routes that hijack the reply anyway (ADR 0110). `app.inject()` still reaches
  // the same handlers through the fastify routes registered below.
  let closing = false;
  const drain = deps.drain ?? { draining: false };
  const hotRoutes = new Map<string, Endpoint>();
  const app = Fastify({
    logger: false,
    bodyLimit,
    return503OnClosing: true,
    serverFactory: (fastifyHandler) => {
      // Timeouts are checked every second (Node's default is every 30 s, far too coarse).
      const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
        // Draining (a rollout stops this pod): keep-alive clients reconnect, through the Service,
        // to a pod that stays, instead of meeting the 503 a closing server answers.
        if (drain.draining) res.setHeader('connection', 'close');
        if (req.method === 'POST' && !closing) {
          const url = req.url ?? '/';
          const query = url.indexOf('?');
          const endpoint = hotRoutes.get(query < 0 ? url : url.slice(0, query));
          if (endpoint !== undefined) return hotRoute(endpoint, req, res);
        }
        fastifyHandler(req, res);
      });
      server.keepAliveTimeout = 65_000;
      // Slowloris (ADR 0113): the headers within headersTimeout, the whole request within
      // requestTimeout. Both cover only receiving the request: once its last byte is in, a
      // response may stream for as long as the provider's timeout allows. The body reader's own
      // timer (readBody) answers first, in the route's API shape; requestTimeout is the backstop.
      server.headersTimeout = headersTimeoutMs;
      server.requestTimeout = headersTimeoutMs + bodyTimeoutMs + 5000;
      server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
        // Node's own answer to a malformed or timed-out request is a bare status line; this one
        // is in the caller's API shape (guessed from the request line when there is one).
        if (!socket.writable) {
          socket.destroy();
          return;
        }
        const start = error.rawPacket?.subarray(0, 64).toString('latin1') ?? '';
        const surface = /^\w+ \/v1\/messages/.test(start) ? 'anthropic' : 'openai';
        const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
        const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
        const { status, body } = formatApiError(
          surface,
          timeout ? 'GW_REQUEST_TIMEOUT' : tooLarge ? 'GW_BODY_TOO_LARGE' : 'GW_BAD_REQUEST',
          timeout
            ? 'The request headers did not arrive in time.'
            : tooLarge
              ? 'The request headers are too large.'
              : 'The request is not valid HTTP.',
        );
        const reason = status === 408 ? 'Request Timeout' : status === 413 ? 'Payload Too Large' : 'Bad Request';
        socket.end(
          `HTTP/1.1 ${status === 413 ? 431 : status} ${status === 413 ? 'Request Header Fields Too Large' : reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        deps.metrics.rejection(timeout ? 'headers_timeout' : 'bad_http');
      });
      return server;
    },
  });
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const proxy = createProxy(deps);
  const log: Logger = deps.logger;

  const inflight = deps.inflight ?? { count: 0 };
  const run = (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse, rawBody: Buffer | undefined) => {
    inflight.count++;
    return proxy
      .handle({ endpoint, req, res, rawBody })
      .catch((error: unknown) => internalError(endpoint, res, error))
      .finally(() => {
        inflight.count--;
      });
  };
  const route =
    (endpoint: Endpoint) => (request: { raw: IncomingMessage; body: unknown }, reply: { hijack(): void; raw: ServerResponse }) => {
      reply.hijack();
      return run(endpoint, request.raw, reply.raw, request.body as Buffer | undefined);
    };
  /** The proxy reads the body itself, after the key is checked (ADR 0113). */
  const hotRoute = (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse) => {
    // A client gone mid-body: nothing to answer, and the socket is already closing.
    req.on('error', ignore);
    void run(endpoint, req, res, undefined);
  };
  const internalError = (endpoint: Endpoint, res: ServerResponse, error: unknown) => {
    if (error instanceof CodeVectorError && !res.headersSent) {
      // A known failure (the database away during a key lookup): its own status in the caller's
      // shape, retryable when it is a 503.
      log.warn({ err: error, endpoint: endpoint.name, code: error.code }, 'request failed');
      const { status, body } = formatApiError(endpoint.surface, error.code, error.message);
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 503 ? { 'retry-after': '1' } : {}) });
      res.end(body);
      return;
    }
    log.error({ err: error, endpoint: endpoint.name }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const { body } = formatApiError(endpoint.surface, 'GW_UPSTREAM_UNAVAILABLE', 'The gateway failed to handle this request.');
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(body);
  };

  for (const [path, endpoint] of [
    ['/v1/messages', endpoints.messages],
    ['/v1/messages/count_tokens', endpoints.countTokens],
    ['/v1/chat/completions', endpoints.chatCompletions],
    ['/v1/responses', endpoints.responses],
  ] as const) {
    hotRoutes.set(path, endpoint);
    app.post(path, route(endpoint));
  }
  app.get('/v1/models', (request, reply) => {
    reply.hijack();
    return proxy
      .listModels({ endpoint: endpoints.models, req: request.raw, res: reply.raw })
      .catch((error: unknown) => internalError(endpoints.models, reply.raw, error));
  });

  app.setNotFoundHandler((request, reply) => {
    const surface = request.url.startsWith('/v1/messages') || request.headers['anthropic-version'] ? 'anthropic' : 'openai';
    const { body } = formatApiError(
      surface,
      'GW_BAD_REQUEST',
      `No route ${request.method} ${clip(request.url.split('?')[0] ?? '', 100)} on this gateway.`,
    );
    reply.code(404).header('content-type', 'application/json').send(body);
  });
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const surface = request.url.startsWith('/v1/messages') ? 'anthropic' : 'openai';
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const { status, body } = formatApiError(surface, 'GW_BODY_TOO_LARGE');
      return reply.code(status).header('content-type', 'application/json').send(body);
    }
    const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
    if (status >= 500) log.error({ err: error }, 'request failed');
    const { body } = formatApiError(surface, 'GW_BAD_REQUEST', status < 500 ? error.message : 'The gateway failed to handle this request.');
    return reply.code(status).header('content-type', 'application/json').send(body);
  });

  attachResponsesWebSocket(app, deps, { shutdownGraceMs: deps.shutdownGraceMs });
  return app;
}

/** Health, readiness and metrics on their own port (DESIGN §6), away from client traffic. */
export function buildOpsApp(
  deps: Pick<ProxyDeps, 'snapshots' | 'metrics' | 'recorder' | 'usage' | 'budgets' | 'rateLimiter'> &
    Pick<GatewayDeps, 'drain' | 'inflight'>,
): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (deps.drain?.draining) return reply.code(503).send({ status: 'not ready', reason: 'draining' });
    const snapshot = deps.snapshots.current();
    if (!snapshot) return reply.code(503).send({ status: 'not ready', reason: 'no config snapshot loaded yet' });
    return { status: 'ready', configVersion: snapshot.version };
  });
  app.get('/metrics', async (_request, reply) => {
    const snapshot = deps.snapshots.current();
    const gauge = deps.metrics.setGauge;
    gauge('codevector_gateway_config_version', snapshot?.version ?? -1, 'Config snapshot version in force (-1: none loaded yet).');
    gauge(
      'codevector_gateway_config_reload_failures_total',
      deps.snapshots.stats.failures,
      'Config snapshots that failed to load (the last good one stays).',
    );
    gauge('codevector_gateway_rejection_events_written_total', deps.recorder.stats.events, 'Rejection audit events written.');
    gauge(
      'codevector_gateway_rejection_events_failed_total',
      deps.recorder.stats.failed,
      'Rejection audit events that could not be written.',
    );
    gauge('codevector_gateway_usage_rows_written_total', deps.usage.stats.written, 'Usage rows written.');
    gauge('codevector_gateway_usage_rows_failed_total', deps.usage.stats.failed, 'Usage rows whose write failed (retried).');
    gauge('codevector_gateway_usage_rows_dropped_total', deps.usage.stats.dropped, 'Usage rows dropped because the queue was full.');
    if (deps.inflight) gauge('codevector_gateway_inflight_requests', deps.inflight.count, 'Requests being served now.');
    const budget = deps.budgets.stats();
    gauge('codevector_gateway_budget_windows', budget.windows, 'Budget windows (budget, subject, period) this replica tracks.');
    gauge('codevector_gateway_budget_leased_usd', Number(formatUsd(budget.leased)), 'USD this replica holds in budget leases.');
    gauge(
      'codevector_gateway_budget_reserved_usd',
      Number(formatUsd(budget.reserved)),
      'Part of the leases promised to requests in flight.',
    );
    gauge('codevector_gateway_budget_unsynced_usd', Number(formatUsd(budget.unsynced)), 'Settled spend not yet pushed to the ledger.');
    gauge('codevector_gateway_budget_syncs_total', budget.syncs, 'Exchanges with the budget ledger (lease, settle, release, renewal).');
    gauge('codevector_gateway_budget_sync_failures_total', budget.syncFailures, 'Budget ledger exchanges that failed.');
    // The process, named like prom-client's default metrics in the operator and the console.
    gauge('codevector_gateway_process_resident_memory_bytes', process.memoryUsage.rss(), 'Resident memory of the gateway process.');
    const cpu = process.cpuUsage();
    gauge(
      'codevector_gateway_process_cpu_seconds_total',
      (cpu.user + cpu.system) / 1e6,
      'CPU time of the gateway process (user + system).',
    );
    const rate = deps.rateLimiter.stats();
    gauge('codevector_gateway_rate_limit_keys', rate.keys, 'Rate limit keys (RateLimit, subject) this replica tracks.');
    gauge('codevector_gateway_rate_limit_leases', rate.leases, 'Rate limit keys holding a request lease.');
    gauge('codevector_gateway_rate_limit_free_slots', rate.freeSlots, 'Leased request slots not yet used.');
    gauge('codevector_gateway_rate_limit_syncs_total', rate.syncs, 'Exchanges with the rate limit buckets (lease, report, token push).');
    gauge('codevector_gateway_rate_limit_sync_failures_total', rate.syncFailures, 'Rate limit exchanges that failed.');
    return reply.header('content-type', 'text/plain; version=0.0.4').send(deps.metrics.render());
  });
  return app;
}
