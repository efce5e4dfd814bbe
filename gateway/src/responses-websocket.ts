import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { CodeVectorError, type ErrorCode } from '@codevector/core/errors';
import type { FastifyInstance } from 'fastify';
import WebSocket, { WebSocketServer } from 'ws';
import { formatApiError } from './api-error.ts';
import type { BudgetTicket } from './budget-ledger.ts';
import { clip } from './clip.ts';
import { account } from './pipeline/account.ts';
import { admit } from './pipeline/admit/admit.ts';
import { authenticate } from './pipeline/authenticate.ts';
import type { Endpoint, ProxyDeps } from './pipeline/endpoint.ts';
import { recordFailedAttempt } from './pipeline/fallback.ts';
import { type Refusal, recordRefusal, refusal, retryHints } from './pipeline/refuse.ts';
import { defaultBodyLimits, parseRequestBody } from './pipeline/request-body.ts';
import { createUpstreamHeaderFilter } from './pipeline/upstream-headers.ts';
import type { Principal } from './principal.ts';
import type { RateLimitTicket } from './rate-limiter.ts';
import type { ProviderRuntime, RoutedModel } from './snapshot-store.ts';
import { streamAnthropicTurn } from './translate/anthropic-turn.ts';
import { anthropicRequest, createResponsesEvents } from './translate/responses-to-anthropic.ts';
import { translateError } from './translate/translate-for.ts';
import { asArray, isJson, type Json } from './translate/translator.ts';
import { createSseUsageTap, emptyUsage, estimateInputTokens, mergeUsage, partialUsage, type SseUsageTap, type Usage } from './usage.ts';

const endpoint: Endpoint = {
  name: 'responses.websocket',
  surface: 'openai',
  providerTypes: ['openai', 'openai-compatible'],
  format: 'openai-responses',
  metered: true,
};

type Turn = {
  requestId: string;
  routed: RoutedModel;
  rateTicket: RateLimitTicket | null;
  budgetTicket: BudgetTicket | null;
  started: number;
  ttfbMs: number | null;
  /** The upstream's id for this turn, from its response.created. */
  responseId: string | null;
  /** Usage and output relayed, as for an SSE stream (ADR 0114). */
  tap: SseUsageTap;
  inputEstimate: number;
  /** The upstream attempt that serves it (1 unless the socket opened on a fallback). */
  attempt?: number;
  /** Served by the gateway's own translation to an Anthropic Provider (ADR 0124), not relayed on the upstream socket. */
  translated?: boolean;
  /** Stops a translated turn's upstream request. */
  abort?: () => void;
  settled?: boolean;
};

/**
 * What a session keeps of a translated conversation for `previous_response_id` (Codex sends only
 * each turn's new items over the WebSocket): the last response's whole conversation, up to this
 * many bytes of JSON; past it the state is dropped and a chained turn is answered
 * `previous_response_not_found`, as OpenAI answers for a response it no longer holds.
 */
const maxConversationBytes = 16 * 1024 * 1024;

/** Headers streamAnthropicTurn sets itself. */
const upstreamHeaderOverrides: Record<string, true> = { 'x-api-key': true, authorization: true, 'content-length': true };

/** Client messages the gateway understands; anything else is refused, never relayed unchecked. */
const clientTypes = new Set(['response.create', 'response.cancel']);

/** How often an open socket re-checks its key: revocation and expiry take effect within the key cache TTL plus this. */
const keyCheckMs = 250;

/** Answers an upgrade with the same error, status and retry hints an HTTP request would get. */
function refuseUpgrade(socket: Duplex, req: IncomingMessage, code: ErrorCode, message?: string): void {
  const { body } = formatApiError('openai', code, message);
  const { status, headers } = retryHints(code, req.headers);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}

/**
 * WebSocket mode of the Responses API (GET /v1/responses with an upgrade), which Codex tries
 * before SSE. Each client connection gets one upstream WebSocket to the provider of the first
 * model it asks for. Every client message passes the HTTP pipeline's steps before anything is
 * relayed (issue #14 §1): the key as it is now (re-checked per message and every 250 ms, so a
 * revoked key ends the session within the key cache TTL), the body checks, model, secret scan,
 * rate limit and budget; refusals come back as `error` events on the open socket, with their
 * audit events. Message types the gateway does not know are refused, never relayed. Server
 * events are relayed unchanged; each turn is settled by its own response id (from its
 * response.created), a create-time `error` settles the turn that never started, and a turn cut
 * by either side is billed for what it consumed (ADR 0114).
 */
export function attachResponsesWebSocket(app: FastifyInstance, deps: ProxyDeps, options: { shutdownGraceMs?: number } = {}): void {
  const limits = deps.bodyLimits?.[endpoint.name] ?? deps.bodyLimits?.default ?? defaultBodyLimits;
  const allowHeader = deps.upstreamHeaders ?? createUpstreamHeaderFilter();
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxDecodedBytes });
  // Shutdown (fastify's preClose, before the server stops): sessions get the same grace period
  // as HTTP requests to finish the turns in flight, then end with 1001 "going away", as behind a
  // load balancer; their 'close' handlers bill what is still open (ADR 0114) before the usage
  // queue's last flush. Upgraded sockets are not the HTTP server's connections: without this,
  // server.close() would wait for them forever.
  const sessions = new Map<WebSocket, Turn[]>();
  app.addHook('preClose', async () => {
    const graceUntil = Date.now() + (options.shutdownGraceMs ?? 0);
    while ([...sessions.values()].some((turns) => turns.length > 0) && Date.now() < graceUntil) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(
      [...sessions.keys()]
        .filter((c) => c.readyState !== WebSocket.CLOSED)
        .map(
          (c) =>
            new Promise<void>((resolve) => {
              c.once('close', () => resolve());
              c.close(1001, 'gateway shutting down');
              setTimeout(() => c.terminate(), 1000).unref();
            }),
        ),
    );
  });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/responses') {
      refuseUpgrade(socket, req, 'GW_BAD_REQUEST', `No WebSocket route ${path}.`);
      return;
    }
    const snapshot = deps.snapshots.current();
    if (!snapshot) {
      refuseUpgrade(socket, req, 'GW_NOT_READY');
      return;
    }
    // Step 1, the same as for HTTP, with its (aggregated) event.
    Promise.resolve(authenticate(deps.keys, req.headers, req.socket.remoteAddress)).then(
      async (auth) => {
        if (!auth.ok) {
          const final = await recordRefusal(deps, { actor: 'anonymous', requestId: randomUUID() }, auth);
          refuseUpgrade(socket, req, final.code, final.message);
          return;
        }
        wss.handleUpgrade(req, socket, head, (client) => session(client, req, auth.principal));
      },
      // As for HTTP (build-app's internalError): the key store's own error, retryable.
      (error: unknown) =>
        error instanceof CodeVectorError
          ? refuseUpgrade(socket, req, error.code, error.message)
          : refuseUpgrade(socket, req, 'CORE_DATABASE_UNAVAILABLE', 'The API key could not be checked. Try again.'),
    );
  });

  function session(client: WebSocket, req: IncomingMessage, principal: Principal): void {
    let upstream: WebSocket | null = null;
    let upstreamProvider: ProviderRuntime | null = null;
    // Turns sent upstream, oldest first. The upstream answers one at a time, in order: a turn
    // without a response id yet is the one the next response.created (or a create-time `error`)
    // belongs to; later events name their response.
    const turns: Turn[] = [];
    sessions.set(client, turns);
    // Messages are handled one at a time and in order, as the protocol expects.
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    const source = req.socket.remoteAddress ?? 'unknown';

    const sendError = (status: number, code: Parameters<typeof formatApiError>[1], message: string) => {
      const { body } = formatApiError('openai', code, message);
      const parsed = JSON.parse(body) as { error: Record<string, unknown> };
      if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify({ type: 'error', status, error: parsed.error }));
    };

    const settle = (turn: Turn, raw: Record<string, unknown> | null, status: number, outcome: string, known?: Usage) => {
      if (turn.settled) return;
      turn.settled = true;
      const index = turns.indexOf(turn);
      if (index >= 0) turns.splice(index, 1);
      let used = emptyUsage();
      if (known) used = known;
      else if (raw) mergeUsage('openai-responses', raw, used);
      // No usage from the provider but it had the turn: bill what it consumed (ADR 0114).
      else if (status < 400 || outcome !== 'upstream_error') used = partialUsage(turn.tap, () => turn.inputEstimate, 0);
      account(deps, {
        requestId: turn.requestId,
        principal,
        routed: turn.routed,
        endpointName: endpoint.name,
        metered: true,
        usage: used,
        usageKnown: raw !== null || known !== undefined,
        status,
        outcome,
        started: turn.started,
        ttfbMs: turn.ttfbMs,
        sessionId: null,
        rateTicket: turn.rateTicket,
        budgetTicket: turn.budgetTicket,
        attempt: turn.attempt ?? 1,
      });
    };

    /** The refuse step on the socket: the event is durable before the client hears of it. */
    const refuse = async (refused: Refusal, requestId: string) => {
      const final = await recordRefusal(deps, { actor: principal.email, requestId }, refused);
      sendError(retryHints(final.code, req.headers).status, final.code, final.message);
    };

    // The key is valid now, not just when the socket opened: checked before every turn, and
    // every keyCheckMs while the socket is open, so a revoked or expired key (or a disabled
    // owner) ends the session and its turns within the key cache's TTL.
    const recheck = async (): Promise<boolean> => {
      const found = authenticate(deps.keys, req.headers, source);
      let auth: Awaited<typeof found>;
      try {
        auth = found instanceof Promise ? await found : found;
      } catch {
        // The database is away: the key cannot be re-checked; keep the session (fail open for
        // an already-admitted socket, as for HTTP streams in flight) until it answers.
        return true;
      }
      if (auth.ok) return true;
      if (closed) return false;
      closed = true;
      clearInterval(keyTimer);
      await refuse(auth, randomUUID()).catch(() => {});
      for (const turn of [...turns]) {
        turn.abort?.();
        settle(turn, null, 499, 'key_refused');
      }
      upstream?.close();
      if (client.readyState === WebSocket.OPEN) client.close(1008, 'key no longer valid');
      return false;
    };
    const keyTimer = setInterval(() => void recheck(), keyCheckMs);
    keyTimer.unref();

    const turnFor = (event: { type?: string; response?: { id?: string } }): Turn | undefined => {
      // Only the turns relayed on the upstream socket: translated ones have their own events.
      const turns = relayed();
      const id = event.response?.id;
      if (id) {
        const named = turns.find((t) => t.responseId === id);
        if (named) return named;
        if (event.type === 'response.created') {
          const next = turns.find((t) => t.responseId === null);
          if (next) next.responseId = id;
          return next;
        }
        return undefined;
      }
      // An `error` without a response: the create it answers never started a response.
      if (event.type === 'error') return turns.find((t) => t.responseId === null);
      // Deltas carry item ids only; they belong to the response in progress.
      return turns.find((t) => t.responseId !== null);
    };

    const openUpstream = (provider: ProviderRuntime): Promise<WebSocket> => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (allowHeader(name) && typeof value === 'string') headers[name] = value;
      }
      headers['authorization'] = `Bearer ${provider.apiKey}`;
      for (const [name, value] of Object.entries(provider.provider.headers)) headers[name.toLowerCase()] = value;
      const url = `${provider.origin.replace(/^http/, 'ws')}${provider.basePath.endsWith('/v1') ? provider.basePath : `${provider.basePath}/v1`}/responses`;
      const socket = new WebSocket(url, {
        headers,
        handshakeTimeout: provider.provider.timeoutSeconds * 1000,
        maxPayload: 64 * 1024 * 1024,
      });
      socket.on('message', (data, isBinary) => {
        const text = isBinary ? null : String(data);
        if (text !== null) {
          let event: { type?: string; response?: { id?: string; usage?: Record<string, unknown> | null } } = {};
          // Events over 1 MB are relayed but not parsed (a huge delta is counted by its size).
          if (text.length < 1024 * 1024) {
            try {
              event = JSON.parse(text) as typeof event;
            } catch {
              event = {};
            }
          }
          const turn = turnFor(event);
          if (turn) {
            if (turn.ttfbMs === null) turn.ttfbMs = Math.round(performance.now() - turn.started);
            turn.tap.push(`data: ${text}\n`);
            const type = event.type;
            if (type === 'response.completed' || type === 'response.failed' || type === 'response.incomplete' || type === 'error') {
              const usage = event.response?.usage ?? null;
              if (type === 'error') settle(turn, null, 502, 'upstream_error');
              else settle(turn, usage, 200, type === 'response.completed' ? 'ok' : 'upstream_error');
            }
          }
        }
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
      socket.on('close', (code, reason) => {
        // A socket that never opened (a fallback was tried instead) serves nothing.
        if (upstream !== socket) return;
        for (const turn of relayed()) settle(turn, null, 502, 'upstream_closed');
        if (client.readyState === WebSocket.OPEN) client.close(code === 1005 || code === 1006 ? 1011 : code, reason);
      });
      socket.on('error', (error) => deps.logger.warn({ err: error, provider: provider.ref }, 'upstream websocket error'));
      return new Promise((resolve, reject) => {
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
    };

    const handle = async (data: WebSocket.RawData): Promise<void> => {
      if (closed) return;
      const plain = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      const requestId = randomUUID();
      // Step 1 again, for this turn: the key as it is now.
      if (!(await recheck())) return;
      const parsed = parseRequestBody(plain, limits.maxDepth);
      const type =
        'body' in parsed
          ? parsed.body['type']
          : (() => {
              try {
                return (JSON.parse(plain.toString('utf8')) as Record<string, unknown>)?.['type'];
              } catch {
                return undefined;
              }
            })();
      if (typeof type !== 'string' || !clientTypes.has(type)) {
        await refuse(
          {
            ...refusal(
              'GW_UNKNOWN_MESSAGE',
              `The gateway does not accept WebSocket messages of type "${clip(String(type ?? 'none'), 60)}".`,
              {
                action: 'gateway.request_refused',
                targetType: 'request',
                targetName: endpoint.name,
                detail: { reason: 'unknown_message', type: clip(String(type ?? 'none'), 60), apiKeyId: principal.keyId },
              },
            ),
            aggregate: { subject: `key:${principal.keyId}`, signature: `${endpoint.name}:unknown_message:${clip(String(type), 60)}` },
          },
          requestId,
        );
        return;
      }
      if (type === 'response.cancel') {
        // Stops work; carries no content to scan.
        if (upstream?.readyState === WebSocket.OPEN) upstream.send(plain.toString('utf8'));
        for (const turn of turns) turn.abort?.();
        return;
      }
      if ('error' in parsed) {
        await refuse(
          {
            ...refusal('GW_BAD_REQUEST', parsed.error, {
              action: 'gateway.request_refused',
              targetType: 'request',
              targetName: endpoint.name,
              detail: { reason: parsed.reason, endpoint: endpoint.name, apiKeyId: principal.keyId },
            }),
            aggregate: { subject: `key:${principal.keyId}`, signature: `${endpoint.name}:${parsed.reason}` },
          },
          requestId,
        );
        return;
      }
      const message = parsed.body;
      const modelName = parsed.model;
      const snapshot = deps.snapshots.current();
      if (!snapshot) {
        sendError(503, 'GW_NOT_READY', 'The gateway has not loaded its configuration yet.');
        return;
      }
      const started = performance.now();
      const admission = await admit(deps, snapshot, endpoint, principal, modelName, message, plain, requestId);
      if (!admission.ok) {
        await refuse(admission, requestId);
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
        responseId: null,
        tap: createSseUsageTap('openai-responses'),
        inputEstimate: estimateInputTokens(message),
      };
      if (!routed.provider.apiKey) {
        settle(turn, null, 503, 'error');
        // The HTTP path's wording (forward.ts).
        sendError(503, 'GW_PROVIDER_KEY_MISSING', `The provider ${routed.provider.ref} has no API key configured yet.`);
        return;
      }
      if (routed.provider.provider.type === 'anthropic') {
        translatedTurn(turn, message, modelName, plain.length);
        return;
      }
      // The socket relays to one provider: the first of this Model's upstreams that opens
      // (fallbacks, ADR 0122); later turns must be served by that one.
      const opened = upstreamProvider;
      let chosen = opened ? routed.upstreams.find((u) => u.provider === opened || u.provider.ref === opened.ref) : routed.upstreams[0];
      if (!chosen) {
        settle(turn, null, 400, 'error');
        sendError(400, 'GW_WRONG_SURFACE', 'One WebSocket connection serves the models of one provider; open another connection.');
        return;
      }
      for (let attempt = 0; !upstream; attempt++) {
        chosen = routed.upstreams[attempt]!;
        const sentAt = performance.now();
        try {
          upstream = await openUpstream(chosen.provider);
          upstreamProvider = chosen.provider;
          if (attempt > 0) {
            turn.routed = { ...routed, provider: chosen.provider };
            turn.attempt = attempt + 1;
          }
        } catch (error) {
          if (attempt + 1 < routed.upstreams.length) {
            const failed = { requestId, principal, routed, upstream: chosen, endpointName: endpoint.name, metered: true };
            recordFailedAttempt(deps, { ...failed, number: attempt + 1, status: 0, sentAt, sessionId: null, error });
            continue;
          }
          deps.logger.warn({ err: error, requestId }, 'upstream websocket failed to open');
          turn.routed = { ...routed, provider: chosen.provider };
          turn.attempt = attempt + 1;
          settle(turn, null, 502, 'upstream_error');
          sendError(502, 'GW_UPSTREAM_UNAVAILABLE', `The provider ${chosen.provider.ref} could not be reached.`);
          client.close(1011);
          return;
        }
      }
      if (closed) {
        settle(turn, null, 499, 'key_refused');
        return;
      }
      if (chosen.provider !== routed.provider && turn.routed === routed) turn.routed = { ...routed, provider: chosen.provider };
      let outgoing = plain.toString('utf8');
      if (chosen.upstreamModel !== modelName || admission.redacted) {
        outgoing = JSON.stringify({ ...message, model: chosen.upstreamModel });
      }
      turns.push(turn);
      upstream.send(outgoing);
    };

    // A translated conversation's last response, for previous_response_id (bounded, above).
    let conversation: { id: string; items: Json[]; bytes: number } | null = null;
    const relayed = () => turns.filter((t) => !t.translated);

    /**
     * A turn for an Anthropic Model (ADR 0124): the conversation so far (the session's, when
     * chained by previous_response_id) sent as one streamed Messages request, its events sent to
     * the client as the Responses API's. Not awaited: the next message (a cancel) is handled
     * while it streams.
     */
    const translatedTurn = (turn: Turn, message: Json, modelName: string, size: number) => {
      turn.translated = true;
      const previous = message['previous_response_id'];
      let history: Json[] = [];
      if (typeof previous === 'string' && previous) {
        if (conversation?.id !== previous) {
          // Refused before anything went upstream: nothing consumed.
          settle(turn, null, 400, 'error', emptyUsage());
          if (client.readyState === WebSocket.OPEN) {
            client.send(
              JSON.stringify({
                type: 'error',
                status: 400,
                error: {
                  type: 'invalid_request_error',
                  code: 'previous_response_not_found',
                  message: `Previous response with id '${clip(previous, 80)}' not found.`,
                  param: 'previous_response_id',
                },
              }),
            );
          }
          return;
        }
        history = conversation.items;
      }
      const input = message['input'];
      const items = [
        ...history,
        ...(typeof input === 'string' ? [{ type: 'message', role: 'user', content: input }] : asArray(input).filter(isJson)),
      ];
      const upstreamChoice = turn.routed.upstreams.find((u) => u.provider.provider.type === 'anthropic') ?? turn.routed.upstreams[0]!;
      const ctx = { clientModel: modelName, upstreamModel: upstreamChoice.upstreamModel, providerType: 'anthropic', clientBody: message };
      const events = createResponsesEvents(ctx);
      const send = (list: Json[]) => {
        for (const event of list) if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(event));
      };
      const remember = () => {
        const final = events.final();
        const produced = events.outputItems();
        const bytes = (conversation && history.length > 0 ? conversation.bytes : 0) + size + JSON.stringify(produced).length;
        conversation = final && bytes <= maxConversationBytes ? { id: String(final['id']), items: [...items, ...produced], bytes } : null;
        if (final && !conversation) deps.logger.info({ requestId: turn.requestId, bytes }, 'translated conversation too large to keep');
      };
      if (message['generate'] === false) {
        // Codex's warm-up: nothing to generate, so nothing goes upstream.
        send([...events.push({ type: 'message_start', message: {} }), ...events.push({ type: 'message_stop' })]);
        remember();
        settle(turn, null, 200, 'ok', emptyUsage());
        return;
      }
      turn.inputEstimate = estimateInputTokens({ input: items, instructions: message['instructions'], tools: message['tools'] });
      const body = anthropicRequest({ ...message, stream: true }, ctx, items);
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!.toLowerCase();
        if (!allowHeader(name) || name.startsWith('anthropic-') || name === 'openai-beta' || name === 'content-type') continue;
        if (name === 'accept-encoding' || name === 'content-encoding' || name in upstreamHeaderOverrides) continue;
        headers.push(name, req.rawHeaders[i + 1]!);
      }
      if (upstreamChoice.provider !== turn.routed.provider) turn.routed = { ...turn.routed, provider: upstreamChoice.provider };
      turns.push(turn);
      deps.metrics.translated('openai-responses', 'anthropic');
      let status = 0;
      const run = streamAnthropicTurn(upstreamChoice.provider, body, headers, {
        onStart(code) {
          status = code;
          turn.ttfbMs = Math.round(performance.now() - turn.started);
        },
        onEvent(event) {
          send(events.push(event));
        },
        onEnd(errorBody) {
          if (errorBody !== null) {
            settle(turn, null, status, 'upstream_error', emptyUsage());
            const error = (JSON.parse(translateError('openai', status, errorBody)) as { error: Json }).error;
            if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify({ type: 'error', status, error }));
            return;
          }
          const final = events.final();
          if (!final) {
            // The upstream ended without message_stop: billed for what it consumed (ADR 0114).
            settle(turn, null, 502, 'upstream_error');
            sendError(502, 'GW_UPSTREAM_UNAVAILABLE', `The provider ${upstreamChoice.provider.ref} ended its answer early.`);
            return;
          }
          remember();
          settle(
            turn,
            null,
            200,
            final['status'] === 'failed' ? 'upstream_error' : 'ok',
            run.tap.inputSeen && run.tap.outputSeen ? run.tap.usage : undefined,
          );
        },
        onError(error, started) {
          if (turn.settled) return;
          const cancelled = closed || error.message === 'turn cancelled';
          settle(turn, null, cancelled ? 499 : 502, cancelled ? 'client_aborted' : 'upstream_error');
          if (!cancelled) {
            deps.logger.warn({ err: error, requestId: turn.requestId, provider: upstreamChoice.provider.ref }, 'translated turn failed');
            sendError(
              502,
              'GW_UPSTREAM_UNAVAILABLE',
              `The provider ${upstreamChoice.provider.ref} ${started ? 'cut its answer' : 'could not be reached'}.`,
            );
          }
        },
      });
      turn.tap = run.tap;
      turn.abort = run.abort;
    };

    client.on('message', (data) => {
      chain = chain.then(() => handle(data)).catch((error: unknown) => deps.logger.error({ err: error }, 'websocket message failed'));
    });
    client.on('close', () => {
      closed = true;
      sessions.delete(client);
      clearInterval(keyTimer);
      // The provider had these turns: billed for what they consumed (ADR 0114).
      for (const turn of [...turns]) {
        turn.abort?.();
        settle(turn, null, 499, 'client_aborted');
      }
      upstream?.close();
    });
    client.on('error', () => upstream?.close());
  }
}
