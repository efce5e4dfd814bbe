import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import WebSocket, { WebSocketServer } from 'ws';
import { formatApiError } from './api-error.ts';
import type { BudgetTicket } from './budget-ledger.ts';
import { account } from './pipeline/account.ts';
import { admit } from './pipeline/admit/admit.ts';
import { authenticate } from './pipeline/authenticate.ts';
import type { Endpoint, ProxyDeps } from './pipeline/endpoint.ts';
import { recordRefusal } from './pipeline/refuse.ts';
import type { Principal } from './principal.ts';
import type { RateLimitTicket } from './rate-limiter.ts';
import type { ProviderRuntime, RoutedModel } from './snapshot-store.ts';
import { emptyUsage, mergeUsage } from './usage.ts';

const endpoint: Endpoint = {
  name: 'responses.websocket',
  surface: 'openai',
  providerTypes: ['openai', 'openai-compatible'],
  format: 'openai-responses',
  metered: true,
};

// Client headers that describe the WebSocket itself or carry the virtual key stay behind.
const droppedHeaders = new Set([
  'host',
  'connection',
  'upgrade',
  'authorization',
  'x-api-key',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
  'transfer-encoding',
]);

type Turn = {
  requestId: string;
  routed: RoutedModel;
  rateTicket: RateLimitTicket | null;
  budgetTicket: BudgetTicket | null;
  started: number;
  ttfbMs: number | null;
};

function refuseUpgrade(socket: Duplex, status: number, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * WebSocket mode of the Responses API (GET /v1/responses with an upgrade), which Codex tries
 * before SSE. Each client connection gets one upstream WebSocket to the provider of the first
 * model it asks for; every `response.create` message passes the same policies as an HTTP
 * request (model lookup, secret scan, rate limit, budget) before it is relayed, and refusals come
 * back as `error` events on the open socket. Server events are relayed unchanged; each
 * `response.completed` (or failed/incomplete) settles the oldest open turn.
 */
export function attachResponsesWebSocket(app: FastifyInstance, deps: ProxyDeps): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/responses') {
      refuseUpgrade(socket, 404, formatApiError('openai', 'GW_BAD_REQUEST', `No WebSocket route ${path}.`).body);
      return;
    }
    const snapshot = deps.snapshots.current();
    if (!snapshot) {
      refuseUpgrade(socket, 503, formatApiError('openai', 'GW_NOT_READY').body);
      return;
    }
    // Step 1, the same as for HTTP.
    Promise.resolve(authenticate(deps.keys, req.headers)).then(
      (auth) => {
        if (!auth.ok) {
          refuseUpgrade(socket, 401, formatApiError('openai', auth.code, auth.message).body);
          return;
        }
        wss.handleUpgrade(req, socket, head, (client) => session(client, req, auth.principal));
      },
      () => refuseUpgrade(socket, 503, formatApiError('openai', 'GW_UPSTREAM_UNAVAILABLE', 'The gateway could not check the key.').body),
    );
  });

  function session(client: WebSocket, req: IncomingMessage, principal: Principal): void {
    let upstream: WebSocket | null = null;
    let upstreamProvider: ProviderRuntime | null = null;
    const turns: Turn[] = [];
    // Messages are handled one at a time and in order, as the protocol expects.
    let chain: Promise<void> = Promise.resolve();

    const sendError = (status: number, code: Parameters<typeof formatApiError>[1], message: string) => {
      const { body } = formatApiError('openai', code, message);
      const parsed = JSON.parse(body) as { error: Record<string, unknown> };
      if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify({ type: 'error', status, error: parsed.error }));
    };

    const settle = (turn: Turn, raw: Record<string, unknown> | null, status: number, outcome: string) => {
      const used = emptyUsage();
      if (raw) mergeUsage('openai-responses', raw, used);
      account(deps, {
        requestId: turn.requestId,
        principal,
        routed: turn.routed,
        endpointName: endpoint.name,
        metered: true,
        usage: used,
        usageKnown: raw !== null,
        status,
        outcome,
        started: turn.started,
        ttfbMs: turn.ttfbMs,
        sessionId: null,
        rateTicket: turn.rateTicket,
        budgetTicket: turn.budgetTicket,
      });
    };

    const openUpstream = (provider: ProviderRuntime): Promise<WebSocket> => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (!droppedHeaders.has(name) && typeof value === 'string') headers[name] = value;
      }
      headers['authorization'] = `Bearer ${provider.apiKey}`;
      for (const [name, value] of Object.entries(provider.provider.headers)) headers[name.toLowerCase()] = value;
      const url = `${provider.origin.replace(/^http/, 'ws')}${provider.basePath.endsWith('/v1') ? provider.basePath : `${provider.basePath}/v1`}/responses`;
      const socket = new WebSocket(url, { headers, handshakeTimeout: provider.provider.timeoutSeconds * 1000 });
      socket.on('message', (data, isBinary) => {
        const text = isBinary ? null : String(data);
        if (text !== null) {
          const turn = turns[0];
          if (turn && turn.ttfbMs === null) turn.ttfbMs = Math.round(performance.now() - turn.started);
          if (/"type":\s*"response\.(completed|failed|incomplete)"/.test(text.slice(0, 200)) || text.includes('"type":"error"')) {
            const finished = turns.shift();
            if (finished) {
              let usage: Record<string, unknown> | null = null;
              try {
                const event = JSON.parse(text) as { type?: string; response?: { usage?: Record<string, unknown> } };
                usage = event.response?.usage ?? null;
                settle(finished, usage, event.type === 'error' ? 502 : 200, event.type === 'response.completed' ? 'ok' : 'upstream_error');
              } catch {
                settle(finished, null, 200, 'ok');
              }
            }
          }
        }
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
      socket.on('close', (code, reason) => {
        for (const turn of turns.splice(0)) settle(turn, null, 502, 'upstream_closed');
        if (client.readyState === WebSocket.OPEN) client.close(code === 1005 || code === 1006 ? 1011 : code, reason);
      });
      socket.on('error', (error) => deps.logger.warn({ err: error, provider: provider.ref }, 'upstream websocket error'));
      return new Promise((resolve, reject) => {
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
    };

    const handle = async (data: WebSocket.RawData): Promise<void> => {
      const plain = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
      } catch {
        sendError(400, 'GW_BAD_REQUEST', 'Messages must be JSON.');
        return;
      }
      if (message['type'] !== 'response.create') {
        if (upstream?.readyState === WebSocket.OPEN) upstream.send(plain.toString('utf8'));
        return;
      }
      const snapshot = deps.snapshots.current();
      const modelName = message['model'];
      if (!snapshot || typeof modelName !== 'string') {
        sendError(400, 'GW_BAD_REQUEST', 'response.create needs a "model".');
        return;
      }
      const requestId = randomUUID();
      const started = performance.now();
      const admission = await admit(deps, snapshot, endpoint, principal, modelName, message, plain, requestId);
      if (!admission.ok) {
        // The refuse step, as for HTTP: the event is durable before the client hears of it.
        const final = await recordRefusal(deps, { actor: principal.email, requestId }, admission);
        sendError(formatApiError('openai', final.code).status, final.code, final.message);
        return;
      }
      const { routed } = admission;
      const turn: Turn = {
        requestId,
        routed,
        rateTicket: admission.rateTicket,
        budgetTicket: admission.budgetTicket,
        started,
        ttfbMs: null,
      };
      if (
        !routed.provider.apiKey ||
        (upstreamProvider && upstreamProvider !== routed.provider && upstreamProvider.ref !== routed.provider.ref)
      ) {
        settle(turn, null, 400, 'error');
        sendError(400, 'GW_WRONG_SURFACE', 'One WebSocket connection serves the models of one provider; open another connection.');
        return;
      }
      try {
        if (!upstream) {
          upstreamProvider = routed.provider;
          upstream = await openUpstream(routed.provider);
        }
      } catch (error) {
        deps.logger.warn({ err: error, requestId }, 'upstream websocket failed to open');
        settle(turn, null, 502, 'upstream_error');
        sendError(502, 'GW_UPSTREAM_UNAVAILABLE', `The provider ${routed.provider.ref} could not be reached.`);
        client.close(1011);
        return;
      }
      let outgoing = plain.toString('utf8');
      if (routed.model.upstreamModel !== modelName || admission.redacted) {
        outgoing = JSON.stringify({ ...message, model: routed.model.upstreamModel });
      }
      turns.push(turn);
      upstream.send(outgoing);
    };

    client.on('message', (data) => {
      chain = chain.then(() => handle(data)).catch((error: unknown) => deps.logger.error({ err: error }, 'websocket message failed'));
    });
    client.on('close', () => {
      for (const turn of turns.splice(0)) settle(turn, null, 499, 'client_aborted');
      upstream?.close();
    });
    client.on('error', () => upstream?.close());
  }
}
