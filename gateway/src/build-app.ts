import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { CodeVectorError } from '@codevector/core/errors';
import type { Logger } from '@codevector/core/logger';
import Fastify, { type FastifyInstance } from 'fastify';
import { formatApiError } from './api-error.ts';
import type { Endpoint, ProxyDeps } from './pipeline/endpoint.ts';
import { createProxy } from './pipeline/proxy.ts';
import { attachResponsesWebSocket } from './responses-websocket.ts';

export type GatewayDeps = ProxyDeps & {
  bodyLimitBytes?: number;
  inflight?: { count: number };
  /** Set while shutting down: requests are still served, each response closes its connection. */
  drain?: { draining: boolean };
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
  const bodyLimit = deps.bodyLimitBytes ?? 64 * 1024 * 1024;
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
      const server = createServer((req, res) => {
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
      // Streams can run for many minutes; the provider timeout bounds them, not the server.
      server.requestTimeout = 0;
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
  const tooLarge = (endpoint: Endpoint, res: ServerResponse) => {
    const { status, body } = formatApiError(endpoint.surface, 'GW_BODY_TOO_LARGE');
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  };
  /** Reads the body as bytes (any content type, within the body limit) and hands it to the proxy. */
  const hotRoute = (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > bodyLimit) {
      tooLarge(endpoint, res);
      req.resume();
      return;
    }
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    // A client gone mid-body: nothing to answer, and the socket is already closing.
    req.on('error', ignore);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bodyLimit) {
        if (!res.headersSent) tooLarge(endpoint, res);
        first = undefined;
        chunks = undefined;
        return;
      }
      if (first === undefined) first = chunk;
      else if (chunks === undefined) chunks = [first, chunk];
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > bodyLimit) return;
      void run(endpoint, req, res, chunks ? Buffer.concat(chunks, size) : first);
    });
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
    const { body } = formatApiError(surface, 'GW_BAD_REQUEST', `No route ${request.method} ${request.url.split('?')[0]} on this gateway.`);
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

  attachResponsesWebSocket(app, deps);
  return app;
}

/** Health, readiness and metrics on their own port (DESIGN §6), away from client traffic. */
export function buildOpsApp(
  deps: Pick<ProxyDeps, 'snapshots' | 'metrics' | 'recorder' | 'usage'> & Pick<GatewayDeps, 'drain'>,
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
    deps.metrics.setGauge('codevector_gateway_config_version', snapshot?.version ?? -1);
    deps.metrics.setGauge('codevector_gateway_config_reload_failures_total', deps.snapshots.stats.failures);
    deps.metrics.setGauge('codevector_gateway_rejection_events_written_total', deps.recorder.stats.events);
    deps.metrics.setGauge('codevector_gateway_rejection_events_failed_total', deps.recorder.stats.failed);
    deps.metrics.setGauge('codevector_gateway_usage_rows_written_total', deps.usage.stats.written);
    deps.metrics.setGauge('codevector_gateway_usage_rows_failed_total', deps.usage.stats.failed);
    deps.metrics.setGauge('codevector_gateway_usage_rows_dropped_total', deps.usage.stats.dropped);
    return reply.header('content-type', 'text/plain; version=0.0.4').send(deps.metrics.render());
  });
  return app;
}
