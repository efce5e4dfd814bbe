import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { AuditEntry } from '@codevector/core/audit-entry';
import type { ErrorCode } from '@codevector/core/errors';
import type { Logger } from '@codevector/core/logger';
import type { RejectionRecorder } from '@codevector/core/rejection-recorder';
import type { Dispatcher } from 'undici';
import { formatApiError, type Surface } from './api-error.ts';
import type { BudgetLedger, BudgetTicket, CostEstimate } from './budget-ledger.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import type { KeyLookup, KeyStore } from './key-store.ts';
import { appliesToModel, type Principal, subjectKey } from './principal.ts';
import type { RateLimiter, RateLimitTicket } from './rate-limiter.ts';
import type { CompiledSnapshot, RoutedModel, SnapshotStore } from './snapshot-store.ts';
import { costOf, createSseUsageTap, emptyUsage, type OutputEstimator, type Usage, type UsageFormat, usageFromJson } from './usage.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export type ProxyDeps = {
  snapshots: SnapshotStore;
  keys: KeyStore;
  recorder: RejectionRecorder;
  rateLimiter: RateLimiter;
  budgets: BudgetLedger;
  usage: UsageRecorder;
  metrics: GatewayMetrics;
  outputEstimator: OutputEstimator;
  logger: Logger;
};

/** What a route is: which API shape it speaks, which providers can serve it, how usage looks. */
export type Endpoint = {
  name: string;
  surface: Surface;
  providerTypes: readonly string[];
  format: UsageFormat | null;
  /** Costs money: rate limits, budgets and usage rows apply. */
  metered: boolean;
};

export type ProxyInput = {
  endpoint: Endpoint;
  req: IncomingMessage;
  res: ServerResponse;
  /** The request body as received (possibly compressed). */
  rawBody: Buffer | undefined;
};

type Context = {
  requestId: string;
  endpoint: Endpoint;
  surface: Surface;
  res: ServerResponse;
  principal: Principal | null;
  model: string | null;
};

// Never forwarded upstream: hop-by-hop headers, the virtual key, and what undici sets itself.
const droppedRequestHeaders = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'x-api-key',
  'authorization',
  'expect',
]);
const droppedResponseHeaders = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/** A Provider's extra headers, lower-cased once per config snapshot (they replace the client's). */
const providerHeaderCache = new WeakMap<Record<string, string>, { names: Set<string>; list: string[] }>();
function providerHeaders(configured: Record<string, string>): { names: Set<string>; list: string[] } {
  let cached = providerHeaderCache.get(configured);
  if (!cached) {
    const byName = new Map<string, string>();
    for (const [name, value] of Object.entries(configured)) byName.set(name.toLowerCase(), value);
    cached = { names: new Set(byName.keys()), list: [...byName].flat() };
    providerHeaderCache.set(configured, cached);
  }
  return cached;
}

/** Default worst-case output when a request sets no max_tokens (strict budgets only). */
const defaultWorstOutputTokens = 128_000;

function readKey(req: IncomingMessage): string | null {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  const auth = req.headers.authorization;
  if (auth && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  return null;
}

function decodeBody(raw: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return raw;
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(raw);
    case 'deflate':
      return zlib.inflateSync(raw);
    case 'br':
      return zlib.brotliDecompressSync(raw);
    case 'zstd':
      return zlib.zstdDecompressSync(raw);
    default:
      throw new Error(`unsupported content-encoding ${encoding}`);
  }
}

function decompressorFor(encoding: string | undefined): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | zlib.ZstdDecompress | null {
  switch (encoding?.toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return zlib.createZstdDecompress();
    default:
      return null;
  }
}

/**
 * The request path (DESIGN §6), in its fixed order: auth → model lookup → secret scan → rate
 * limit → budget → forward → usage and cost → spend settled. The policies run in one ordered
 * function rather than fastify hooks because every one after auth needs the decoded body, and
 * the order is the product's contract (ADR 0110).
 */
export function createProxy(deps: ProxyDeps) {
  const { snapshots, keys, recorder, rateLimiter, budgets, usage, metrics, outputEstimator, logger } = deps;

  function send(ctx: Context, status: number, body: string, headers: Record<string, string> = {}): void {
    if (ctx.res.headersSent || ctx.res.destroyed) return;
    ctx.res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-codevector-request-id': ctx.requestId,
      ...headers,
    });
    ctx.res.end(body);
  }

  /** Refuses in the caller's shape; the event (if any) is durable before the response leaves. */
  async function refuse(
    ctx: Context,
    code: ErrorCode,
    message: string,
    event: Omit<AuditEntry, 'actor' | 'actorSource' | 'requestId'> | null,
    headers: Record<string, string> = {},
  ): Promise<void> {
    let finalCode = code;
    let finalMessage = message;
    if (event && !(await recordRejection(ctx.principal?.email ?? 'anonymous', ctx.requestId, event))) {
      finalCode = 'GW_EVENT_NOT_RECORDED';
      finalMessage = 'The gateway could not record this request; try again.';
    }
    const { status, body } = formatApiError(ctx.surface, finalCode, finalMessage);
    metrics.rejection(event ? event.action.replace(/^gateway\./, '') : code.toLowerCase());
    metrics.request(ctx.endpoint.name, status);
    logger.info({ requestId: ctx.requestId, code: finalCode, status, model: ctx.model, user: ctx.principal?.email }, 'request refused');
    send(ctx, status, body, finalCode === 'GW_EVENT_NOT_RECORDED' ? { 'retry-after': '1' } : headers);
  }

  /** Waits until the rejection event is durable (group commit); false when it could not be written. */
  async function recordRejection(
    actor: string,
    requestId: string,
    event: Omit<AuditEntry, 'actor' | 'actorSource' | 'requestId'>,
  ): Promise<boolean> {
    try {
      await recorder.record({ ...event, actor, actorSource: 'gateway', requestId });
      return true;
    } catch (error) {
      logger.error({ err: error, requestId }, 'rejection event not recorded');
      return false;
    }
  }

  /** Step 7–8: usage row, cost, tokens for rate limits, spend settled, metrics. */
  function account(entry: {
    requestId: string;
    principal: Principal | null;
    routed: RoutedModel;
    endpointName: string;
    metered: boolean;
    usage: Usage;
    usageKnown: boolean;
    status: number;
    outcome: string;
    started: number;
    ttfbMs: number | null;
    sessionId: string | null;
    rateTicket: RateLimitTicket | null;
    budgetTicket: BudgetTicket | null;
  }): void {
    const { model, provider } = entry.routed;
    const used = entry.usage;
    const cost = costOf(used, model.pricing);
    if (entry.budgetTicket) budgets.settle(entry.budgetTicket, cost);
    if (entry.rateTicket) rateLimiter.addTokens(entry.rateTicket, used.input + used.output + used.cacheRead + used.cacheWrite);
    if (entry.usageKnown && entry.status < 400) outputEstimator.observe(model.modelName, used.output);
    metrics.request(entry.endpointName, entry.status);
    metrics.tokens(model.modelName, 'input', used.input);
    metrics.tokens(model.modelName, 'output', used.output);
    metrics.tokens(model.modelName, 'cache_read', used.cacheRead);
    metrics.tokens(model.modelName, 'cache_write', used.cacheWrite);
    metrics.cost(model.modelName, cost);
    if (entry.metered) {
      usage.record({
        requestId: entry.requestId,
        apiKeyId: entry.principal?.keyId ?? null,
        userId: entry.principal?.userId ?? null,
        model: model.modelName,
        provider: provider.ref,
        endpoint: entry.endpointName,
        inputTokens: used.input,
        outputTokens: used.output,
        cacheReadTokens: used.cacheRead,
        cacheWriteTokens: used.cacheWrite,
        costUSD: cost,
        status: entry.status,
        outcome: entry.outcome,
        latencyMs: Math.round(performance.now() - entry.started),
        ttfbMs: entry.ttfbMs,
        sessionId: entry.sessionId,
      });
    }
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        { requestId: entry.requestId, model: model.modelName, status: entry.status, outcome: entry.outcome, costUSD: cost },
        'request done',
      );
    }
  }

  /** Synchronous while the key is cached (the common case), so the hot path takes no extra tick. */
  function authenticate(ctx: Context, req: IncomingMessage): Principal | null | Promise<Principal | null> {
    const key = readKey(req);
    if (!key) {
      return refuse(ctx, 'GW_UNAUTHENTICATED', 'A CodeVector API key is required in x-api-key or Authorization: Bearer.', null).then(
        () => null,
      );
    }
    const found = keys.authenticate(key);
    if (found instanceof Promise) return found.then((lookup) => checked(ctx, lookup));
    return checked(ctx, found);
  }

  function checked(ctx: Context, lookup: KeyLookup): Principal | null | Promise<null> {
    if (!lookup.ok) {
      const code: ErrorCode = lookup.reason === 'revoked' ? 'GW_KEY_REVOKED' : 'GW_UNAUTHENTICATED';
      const message =
        lookup.reason === 'revoked'
          ? 'This CodeVector API key has been revoked.'
          : lookup.reason === 'expired'
            ? 'This CodeVector API key has expired.'
            : lookup.reason === 'disabled'
              ? 'The owner of this CodeVector API key is disabled.'
              : 'The CodeVector API key is not valid.';
      return refuse(ctx, code, message, null).then(() => null);
    }
    return lookup.principal;
  }

  /** GET /v1/models: the configured models in the caller's shape. */
  async function listModels(input: Omit<ProxyInput, 'rawBody'>): Promise<void> {
    const ctx: Context = {
      requestId: randomUUID(),
      endpoint: input.endpoint,
      surface: input.req.headers['anthropic-version'] ? 'anthropic' : 'openai',
      res: input.res,
      principal: null,
      model: null,
    };
    const snapshot = snapshots.current();
    if (!snapshot) return refuse(ctx, 'GW_NOT_READY', 'The gateway has not loaded its configuration yet.', null);
    ctx.principal = await authenticate(ctx, input.req);
    if (!ctx.principal) return;
    const names = [...snapshot.models.keys()].sort();
    const created = Math.floor(snapshot.loadedAt / 1000);
    const body =
      ctx.surface === 'anthropic'
        ? {
            data: names.map((id) => ({ type: 'model', id, display_name: id, created_at: new Date(snapshot.loadedAt).toISOString() })),
            has_more: false,
            first_id: names[0] ?? null,
            last_id: names[names.length - 1] ?? null,
          }
        : { object: 'list', data: names.map((id) => ({ id, object: 'model', created, owned_by: snapshot.models.get(id)!.provider.ref })) };
    metrics.request(ctx.endpoint.name, 200);
    send(ctx, 200, JSON.stringify(body));
  }

  type Admission =
    | { ok: true; routed: RoutedModel; rateTicket: RateLimitTicket | null; budgetTicket: BudgetTicket | null }
    | { ok: false; code: ErrorCode; message: string; event: RejectionEvent | null; headers: Record<string, string> };
  type RejectionEvent = Omit<AuditEntry, 'actor' | 'actorSource' | 'requestId'>;
  const refusal = (code: ErrorCode, message: string, event: RejectionEvent | null, headers: Record<string, string> = {}): Admission => ({
    ok: false,
    code,
    message,
    event,
    headers,
  });

  /**
   * Steps 2–5 of the request path for any surface (HTTP or the Responses WebSocket): model lookup,
   * secret scan, rate limit, budget. Returns the refusal to send, or the tickets to settle.
   */
  async function admit(
    snapshot: CompiledSnapshot,
    endpoint: Endpoint,
    principal: Principal,
    modelName: string,
    body: Record<string, unknown>,
    plain: Buffer,
  ): Promise<Admission> {
    // 2. model lookup
    const routed = snapshot.models.get(modelName);
    if (!routed) {
      return refusal('GW_MODEL_NOT_FOUND', `The model "${modelName}" is not configured on this gateway.`, {
        action: 'gateway.model_not_found',
        targetType: 'model',
        targetName: modelName,
        detail: { model: modelName, endpoint: endpoint.name, apiKeyId: principal.keyId },
      });
    }
    if (!endpoint.providerTypes.includes(routed.provider.provider.type)) {
      return refusal(
        'GW_WRONG_SURFACE',
        `The model "${modelName}" is served by an ${routed.provider.provider.type} provider; call it through ${
          routed.provider.provider.type === 'anthropic' ? '/v1/messages' : '/v1/chat/completions or /v1/responses'
        }.`,
        null,
      );
    }

    // 3. secret scan
    if (snapshot.scanner) {
      const scan = snapshot.scanner.scan(plain, body);
      if (scan.blocked) {
        const match = scan.matches[0]!;
        return refusal(
          'GW_SECRET_BLOCKED',
          `Blocked by secret rule "${match.rule}" (${match.secretRule}): a secret was found at ${match.path}. Remove it and try again.`,
          {
            action: 'gateway.secret_blocked',
            targetType: 'secret_rule',
            targetName: match.secretRule,
            detail: {
              rule: match.rule,
              secretRule: match.secretRule,
              location: match.path,
              fingerprint: match.fingerprint,
              model: modelName,
            },
          },
        );
      }
    }

    let rateTicket: RateLimitTicket | null = null;
    let budgetTicket: BudgetTicket | null = null;
    if (endpoint.metered) {
      // 4. rate limit
      const limits = applicable(snapshot.config.rateLimits, principal, modelName, (l) => ({ limit: l.item, subject: l.subject }));
      if (limits.length > 0) {
        const admitted = rateLimiter.admit(limits);
        const outcome = admitted instanceof Promise ? await admitted : admitted;
        if (!('states' in outcome)) {
          const { limit, dimension, max, retryAfterSeconds, resetAt } = outcome;
          return refusal(
            'GW_RATE_LIMITED',
            `Rate limit "${limit.namespace}/${limit.name}" reached: ${max} ${dimension} per minute for ${outcome.subject}. Retry after ${retryAfterSeconds}s.`,
            {
              action: 'gateway.rate_limit_exceeded',
              targetType: 'rate_limit',
              targetId: limit.uid,
              targetName: `${limit.namespace}/${limit.name}`,
              detail: { dimension, limit: max, subject: outcome.subject, model: modelName, resetAt: resetAt.toISOString() },
            },
            {
              'retry-after': String(retryAfterSeconds),
              [`x-ratelimit-limit-${dimension}`]: String(max),
              [`x-ratelimit-remaining-${dimension}`]: '0',
              [`x-ratelimit-reset-${dimension}`]: `${retryAfterSeconds}s`,
            },
          );
        }
        rateTicket = outcome;
      }

      // 5. budget
      const applying = applicable(snapshot.config.budgets, principal, modelName, (b) => ({ budget: b.item, subject: b.subject }));
      if (applying.length > 0) {
        const reserved = budgets.reserve(applying, estimateCost(routed, body, plain.length, outputEstimator));
        const outcome = reserved instanceof Promise ? await reserved : reserved;
        if (!('holds' in outcome)) {
          const { budget, spentUSD, resetAt } = outcome;
          if (rateTicket) rateLimiter.addTokens(rateTicket, 0);
          if (outcome.unavailable) {
            // The database did not answer the lease: fail closed, but as a retryable 503, not a
            // 402 "budget used up" (which clients never retry) with an audit event nobody earned.
            return refusal(
              'CORE_DATABASE_UNAVAILABLE',
              `Budget "${budget.namespace}/${budget.name}" could not be checked: the database is unavailable. Try again.`,
              null,
              { 'retry-after': '1' },
            );
          }
          const when = resetAt ? `It resets at ${resetAt.toISOString()}.` : 'It does not reset (period: total).';
          return refusal(
            'GW_BUDGET_EXCEEDED',
            `Budget "${budget.namespace}/${budget.name}" of $${budget.amountUSD.toFixed(2)} per ${budget.period} for ${outcome.subject} is used up ($${spentUSD.toFixed(2)} spent). ${when}`,
            {
              action: 'gateway.budget_exceeded',
              targetType: 'budget',
              targetId: budget.uid,
              targetName: `${budget.namespace}/${budget.name}`,
              detail: {
                limitUSD: budget.amountUSD,
                spentUSD,
                period: budget.period,
                subject: outcome.subject,
                strict: budget.strict,
                model: modelName,
                resetAt: resetAt?.toISOString() ?? null,
              },
            },
          );
        }
        budgetTicket = outcome;
      }
    }

    return { ok: true, routed, rateTicket, budgetTicket };
  }

  async function handle(input: ProxyInput): Promise<void> {
    const started = performance.now();
    const { endpoint, req, res } = input;
    const ctx: Context = { requestId: randomUUID(), endpoint, surface: endpoint.surface, res, principal: null, model: null };
    const snapshot = snapshots.current();
    if (!snapshot) return refuse(ctx, 'GW_NOT_READY', 'The gateway has not loaded its configuration yet.', null);

    // 1. auth
    const authenticated = authenticate(ctx, req);
    const principal = authenticated instanceof Promise ? await authenticated : authenticated;
    if (!principal) return;
    ctx.principal = principal;

    // Decode once: gzip bodies are scanned decompressed and forwarded as they came.
    const raw = input.rawBody ?? Buffer.alloc(0);
    let plain: Buffer;
    let body: Record<string, unknown>;
    try {
      plain = decodeBody(raw, req.headers['content-encoding']);
      const parsed: unknown = JSON.parse(plain.toString('utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return refuse(ctx, 'GW_BAD_REQUEST', 'The request body must be a JSON object.', null);
    }
    const modelName = body['model'];
    if (typeof modelName !== 'string' || !modelName) return refuse(ctx, 'GW_BAD_REQUEST', 'The request has no "model".', null);
    ctx.model = modelName;

    const admission = await admit(snapshot, endpoint, principal, modelName, body, plain);
    if (!admission.ok) return refuse(ctx, admission.code, admission.message, admission.event, admission.headers);
    const { routed, rateTicket, budgetTicket } = admission;

    // 6. forward (returned, not awaited: this frame and its locals are done once it starts)
    return forward(ctx, { snapshot, routed, req, res, raw, plain, body, started, rateTicket, budgetTicket });
  }

  type ForwardArgs = {
    snapshot: CompiledSnapshot;
    routed: RoutedModel;
    req: IncomingMessage;
    res: ServerResponse;
    raw: Buffer;
    plain: Buffer;
    body: Record<string, unknown>;
    started: number;
    rateTicket: RateLimitTicket | null;
    budgetTicket: BudgetTicket | null;
  };

  async function forward(ctx: Context, args: ForwardArgs): Promise<void> {
    // Closures below capture only what they use: holding `args` would keep the parsed body alive
    // for the whole upstream round trip, and every young-generation GC would copy it again.
    const { routed, req, res, body, started, rateTicket, budgetTicket } = args;
    const { provider, model } = routed;
    const endpoint = ctx.endpoint;
    const settled = { done: false };
    const usageSeen = emptyUsage();
    let format = endpoint.format;
    let status = 0;
    let outcome = 'ok';
    let ttfbMs: number | null = null;

    const finish = (usageKnown: Usage | null) => {
      if (settled.done) return;
      settled.done = true;
      account({
        requestId: ctx.requestId,
        principal: ctx.principal,
        routed,
        endpointName: endpoint.name,
        metered: endpoint.metered,
        usage: usageKnown ?? usageSeen,
        usageKnown: usageKnown !== null,
        status: status || 499,
        outcome,
        started,
        ttfbMs,
        sessionId: (req.headers['x-claude-code-session-id'] as string | undefined) ?? null,
        rateTicket,
        budgetTicket,
      });
    };

    if (!provider.apiKey) {
      finish(null);
      return refuse(ctx, 'GW_PROVIDER_KEY_MISSING', `The provider ${provider.ref} has no API key configured yet.`, null);
    }

    // Decide what goes upstream. Only two things may change: the model name (when the Model maps
    // it to another upstream name) and, for OpenAI chat streams, a request for the usage chunk.
    let path = req.url ?? '/';
    let forwardBody = args.raw;
    let modified = false;
    let stripUsageChunk = false;
    if (endpoint.name === 'chat.completions' && body['messages'] === undefined && body['input'] !== undefined) {
      // Responses-style input on the chat endpoint (Cursor's override mode): the upstream
      // endpoint that understands it is /responses.
      path = path.replace('/chat/completions', '/responses');
      format = 'openai-responses';
    }
    if (model.upstreamModel !== model.modelName || body['model'] !== model.upstreamModel) {
      body['model'] = model.upstreamModel;
      modified = true;
    }
    if (format === 'openai-chat' && body['stream'] === true) {
      const options = body['stream_options'] as Record<string, unknown> | undefined;
      if (options?.['include_usage'] !== true) {
        body['stream_options'] = { ...(options ?? {}), include_usage: true };
        modified = true;
        stripUsageChunk = true;
      }
    }
    if (modified) forwardBody = Buffer.from(JSON.stringify(body));
    const upstreamPath =
      provider.basePath.endsWith('/v1') && path.startsWith('/v1') ? provider.basePath + path.slice(3) : provider.basePath + path;

    // A flat [name, value, ...] list in the client's order: repeated headers stay repeated, and
    // neither side builds a header object per request.
    const extra = providerHeaders(provider.provider.headers);
    const headers: string[] = [];
    const rawHeaders = req.rawHeaders;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toLowerCase();
      if (droppedRequestHeaders.has(name)) continue;
      if (modified && name === 'content-encoding') continue;
      if (stripUsageChunk && name === 'accept-encoding') continue;
      if (extra.names.has(name)) continue;
      headers.push(name, rawHeaders[i + 1]!);
    }
    if (provider.provider.type === 'anthropic') headers.push('x-api-key', provider.apiKey);
    else headers.push('authorization', `Bearer ${provider.apiKey}`);
    for (let i = 0; i < extra.list.length; i++) headers.push(extra.list[i]!);
    headers.push('content-length', String(forwardBody.length));

    // undici's dispatch API with a handler: no response stream objects or async iteration on the
    // hot path (ADR 0110); backpressure by pausing the upstream while the client socket drains.
    let controller: Dispatcher.DispatchController | null = null;
    let clientGone = false;
    const onClose = () => {
      if (!res.writableFinished) {
        clientGone = true;
        outcome = 'client_aborted';
        controller?.abort(new Error('client disconnected'));
      }
    };
    res.on('close', onClose);
    const sentAt = performance.now();
    // Not awaited: this frame (and the parsed body it holds) is released once the request is
    // dispatched; the continuation below captures only what it uses.
    const dispatched = new Promise<Error | null>((resolve) => {
      let streaming = false;
      let chunks: Buffer[] = [];
      let encoding: string | undefined;
      let tap: ReturnType<typeof createSseUsageTap> | null = null;
      let decompress: ReturnType<typeof decompressorFor> = null;
      let stripper: ReturnType<typeof createUsageStripper> | null = null;
      const onDrain = () => controller?.resume();
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(ctrl) {
          controller = ctrl;
          if (clientGone) ctrl.abort(new Error('client disconnected'));
        },
        onResponseStart(_ctrl, statusCode, upstreamHeaders) {
          if (statusCode < 200) return;
          status = statusCode;
          ttfbMs = Math.round(performance.now() - started);
          metrics.upstreamLatency(provider.ref, (performance.now() - sentAt) / 1000);
          if (status >= 400) outcome = 'upstream_error';
          // Flat list for writeHead: Node stores it without building a header object.
          const responseHeaders: string[] = [];
          for (const name in upstreamHeaders) {
            if (droppedResponseHeaders.has(name)) continue;
            const value = upstreamHeaders[name]!;
            if (typeof value === 'string') responseHeaders.push(name, value);
            else for (const each of value) responseHeaders.push(name, each);
          }
          responseHeaders.push('x-codevector-request-id', ctx.requestId);
          encoding = upstreamHeaders['content-encoding'] as string | undefined;
          streaming = String(upstreamHeaders['content-type'] ?? '').startsWith('text/event-stream');
          if (streaming) {
            res.writeHead(status, responseHeaders);
            tap = format ? createSseUsageTap(format) : null;
            if (stripUsageChunk) stripper = createUsageStripper();
            else if (tap) {
              decompress = decompressorFor(encoding);
              const sink = tap;
              decompress?.on('data', (chunk: Buffer) => sink.push(chunk.toString('utf8')));
            }
          } else {
            pendingHeaders = responseHeaders;
          }
        },
        onResponseData(ctrl, chunk) {
          if (!streaming) {
            chunks.push(chunk);
            return;
          }
          let out: Buffer | string = chunk;
          if (stripper) {
            const events = stripper.push(chunk.toString('utf8'));
            tap?.push(events.seen);
            out = events.forward;
            if (!out) return;
          } else if (decompress) decompress.write(chunk);
          else tap?.push(chunk.toString('utf8'));
          if (!res.write(out)) {
            ctrl.pause();
            res.once('drain', onDrain);
          }
        },
        onResponseEnd() {
          if (!streaming) {
            const payload = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
            chunks = [];
            let known: Usage | null = null;
            if (status < 400 && format) {
              try {
                known = usageFromJson(format, decodeBody(payload, encoding));
              } catch {
                known = null;
              }
            }
            pendingHeaders!.push('content-length', String(payload.length));
            res.writeHead(status, pendingHeaders!);
            res.end(payload);
            finish(known);
            resolve(null);
            return;
          }
          const rest = stripper?.flush();
          if (rest) res.write(rest);
          const done = () => {
            res.end();
            const usageTap = tap as ReturnType<typeof createSseUsageTap> | null;
            finish(usageTap?.seen ? usageTap.usage : null);
            resolve(null);
          };
          if (decompress) decompress.end(done);
          else done();
        },
        onResponseError(_ctrl, error) {
          if (status === 0) {
            resolve(error);
            return;
          }
          // The response had started: the client sees a cut stream, as it would from the provider.
          if (!clientGone) {
            outcome = 'upstream_error';
            logger.warn({ requestId: ctx.requestId, err: error }, 'upstream response failed mid-way');
          }
          res.destroy();
          finish(null);
          resolve(null);
        },
      };
      let pendingHeaders: string[] | null = null;
      provider.upstream.dispatch({ path: upstreamPath, method: 'POST', headers, body: forwardBody }, handler);
    });
    return dispatched.then((failure) => {
      res.off('close', onClose);
      if (!failure) return;
      if (clientGone) {
        finish(null);
        return;
      }
      const code = (failure as { code?: string }).code;
      const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
      outcome = timeout ? 'upstream_timeout' : 'upstream_error';
      status = timeout ? 504 : 502;
      finish(null);
      logger.warn({ requestId: ctx.requestId, err: failure, provider: provider.ref }, 'upstream request failed');
      return refuse(
        ctx,
        timeout ? 'GW_UPSTREAM_TIMEOUT' : 'GW_UPSTREAM_UNAVAILABLE',
        timeout ? `The provider ${provider.ref} did not answer in time.` : `The provider ${provider.ref} could not be reached.`,
        null,
      );
    });
  }

  return { handle, listModels, admit, recordRejection, account };
}

/**
 * For an OpenAI chat stream whose usage the gateway asked for: drops the final usage chunk and
 * the `"usage":null` the API adds to every other chunk, so the client receives exactly the
 * stream it asked for. Works on whole SSE events; `seen` is what arrived, for the usage tap.
 */
export function createUsageStripper() {
  // The unfinished event is kept as pieces and joined once its blank line arrives; joining on
  // every chunk re-copied it each time (a 10 MB SSE line cost ~170 MB of RSS, fault suite).
  let parts: string[] = [];
  let pendingEndsWithNewline = false;
  return {
    push(text: string): { forward: string; seen: string } {
      const lastBreak = text.lastIndexOf('\n\n');
      const breakEnd = lastBreak >= 0 ? lastBreak + 2 : pendingEndsWithNewline && text.startsWith('\n') ? 1 : -1;
      if (breakEnd < 0) {
        if (text.length > 0) {
          parts.push(text);
          pendingEndsWithNewline = text.endsWith('\n');
        }
        return { forward: '', seen: '' };
      }
      const events = parts.length === 0 ? text.slice(0, breakEnd) : parts.join('') + text.slice(0, breakEnd);
      parts = breakEnd < text.length ? [text.slice(breakEnd)] : [];
      pendingEndsWithNewline = breakEnd < text.length && text.endsWith('\n');
      let forward = '';
      for (const event of events.split('\n\n')) {
        if (!event) continue;
        if (event.includes('"usage":{') && event.includes('"choices":[]')) continue;
        forward += `${event.replaceAll(',"usage":null', '')}\n\n`;
      }
      return { forward, seen: events };
    },
    flush(): string {
      const rest = parts.join('');
      parts = [];
      pendingEndsWithNewline = false;
      return rest;
    },
  };
}

function applicable<T extends { subject: Parameters<typeof subjectKey>[0]; models: string[] }, R>(
  items: readonly T[],
  principal: Principal,
  model: string,
  map: (entry: { item: T; subject: string }) => R,
): R[] {
  const out: R[] = [];
  for (const item of items) {
    if (!appliesToModel(item.models, model)) continue;
    const subject = subjectKey(item.subject, principal);
    if (subject !== null) out.push(map({ item, subject }));
  }
  return out;
}

/**
 * What a request may cost before it runs. Expected: input ≈ bytes/3 tokens (an over-estimate for
 * JSON-wrapped prose and code) at the input price, output = a high percentile of the model's
 * recent answers capped by max_tokens. Worst: every byte a token at the dearest input price,
 * plus max_tokens of output; tokens never outnumber the bytes they came from.
 */
export function estimateCost(routed: RoutedModel, body: Record<string, unknown>, bytes: number, estimator: OutputEstimator): CostEstimate {
  const { pricing } = routed.model;
  const requested = body['max_tokens'] ?? body['max_completion_tokens'] ?? body['max_output_tokens'];
  const maxTokens = typeof requested === 'number' && requested > 0 ? requested : defaultWorstOutputTokens;
  const expectedOutput = Math.min(maxTokens, estimator.estimate(routed.model.modelName));
  const dearestInput = Math.max(pricing.input, pricing.cacheWrite, pricing.cacheRead);
  return {
    expectedUSD: ((bytes / 3) * pricing.input + expectedOutput * pricing.output) / 1e6,
    worstUSD: (bytes * dearestInput + maxTokens * pricing.output) / 1e6,
  };
}
