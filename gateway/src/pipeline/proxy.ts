import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { clip } from '../clip.ts';
import { admit } from './admit/admit.ts';
import { authenticate } from './authenticate.ts';
import type { Endpoint, HttpContext, ProxyDeps } from './endpoint.ts';
import { forward } from './forward.ts';
import { refusal, refuseHttp, sendJson } from './refuse.ts';
import { type BodyLimits, defaultBodyLimits, parseRequestBody, readBody } from './request-body.ts';

export type ProxyInput = {
  endpoint: Endpoint;
  req: IncomingMessage;
  res: ServerResponse;
  /** The request body as received (possibly compressed), when something already read it (app.inject); else it is read from `req` after the key is checked. */
  rawBody: Buffer | undefined;
};

/** A body refusal's audit event: `gateway.request_refused`, counted per key and minute like a refused key. */
function bodyRefusal(code: Parameters<typeof refusal>[0], message: string, reason: string, endpointName: string, keyId: string) {
  return {
    ...refusal(code, message, {
      action: 'gateway.request_refused',
      targetType: 'request',
      targetName: endpointName,
      detail: { reason, endpoint: endpointName, apiKeyId: keyId },
    }),
    aggregate: { subject: `key:${keyId}`, signature: `${endpointName}:${reason}` },
  };
}

/**
 * The HTTP request path (DESIGN §6), its steps in their fixed order, each in its own file:
 * 1 authenticate → parse the body once → 2–5 admit (model, secret scan, rate limit, budget) →
 * 6 forward → 7–8 account; any refusal goes through the refuse step. The Responses WebSocket
 * calls the same step functions (responses-websocket.ts), so no surface can skip one.
 */
export function createProxy(deps: ProxyDeps) {
  const { snapshots, metrics } = deps;

  const contextFor = (endpoint: Endpoint, surface: HttpContext['surface'], res: ServerResponse): HttpContext => ({
    requestId: randomUUID(),
    endpoint,
    surface,
    res,
    principal: null,
    model: null,
  });

  const limitsFor = (endpoint: Endpoint): BodyLimits => deps.bodyLimits?.[endpoint.name] ?? deps.bodyLimits?.default ?? defaultBodyLimits;

  /** Step 1 for HTTP: the principal, or null once the refusal is sent. */
  async function authenticated(ctx: HttpContext, req: IncomingMessage): Promise<boolean> {
    const found = authenticate(deps.keys, req.headers, req.socket.remoteAddress);
    const auth = found instanceof Promise ? await found : found;
    if (!auth.ok) {
      await refuseHttp(deps, ctx, auth);
      return false;
    }
    ctx.principal = auth.principal;
    return true;
  }

  /** GET /v1/models: the configured models in the caller's shape. */
  async function listModels(input: Omit<ProxyInput, 'rawBody'>): Promise<void> {
    const ctx = contextFor(input.endpoint, input.req.headers['anthropic-version'] ? 'anthropic' : 'openai', input.res);
    const snapshot = snapshots.current();
    if (!snapshot) return refuseHttp(deps, ctx, refusal('GW_NOT_READY', 'The gateway has not loaded its configuration yet.'));
    if (!(await authenticated(ctx, input.req))) return;
    // Only what this key may use (ADR 0122): another tenant's Model names stay private.
    const view = snapshot.viewFor(ctx.principal!);
    const names = [...snapshot.models]
      .filter(([, routed]) => view.visible(routed.model.namespace))
      .map(([name]) => name)
      .sort();
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
    sendJson(ctx.res, ctx.requestId, 200, JSON.stringify(body));
  }

  async function handle(input: ProxyInput): Promise<void> {
    const started = performance.now();
    const { endpoint, req, res } = input;
    const ctx = contextFor(endpoint, endpoint.surface, res);
    const snapshot = snapshots.current();
    if (!snapshot) return refuseHttp(deps, ctx, refusal('GW_NOT_READY', 'The gateway has not loaded its configuration yet.'));

    // 1. authenticate before a byte of the body is read (synchronous while the key is cached,
    // so the hot path takes no extra tick): a stranger cannot make the gateway buffer,
    // decompress or parse anything.
    const found = authenticate(deps.keys, req.headers, req.socket.remoteAddress);
    const auth = found instanceof Promise ? await found : found;
    if (!auth.ok) {
      if (input.rawBody === undefined) {
        ctx.closeAfter = true;
        req.resume();
      }
      return refuseHttp(deps, ctx, auth);
    }
    const principal = auth.principal;
    ctx.principal = principal;

    // The body, within this route's limits, decompressed while it streams in (ADR 0113).
    const limits = limitsFor(endpoint);
    const encoding = req.headers['content-encoding'];
    const declared = Number(req.headers['content-length'] ?? 0);
    if (input.rawBody === undefined && declared > limits.maxBytes) {
      ctx.closeAfter = true;
      req.resume();
      return refuseHttp(
        deps,
        ctx,
        bodyRefusal(
          'GW_BODY_TOO_LARGE',
          `The request body is larger than this route accepts (${limits.maxBytes} bytes sent).`,
          'size',
          endpoint.name,
          principal.keyId,
        ),
      );
    }
    const read = await readBody(input.rawBody === undefined ? req : Readable.from([input.rawBody ?? Buffer.alloc(0)]), encoding, limits);
    if (read.refused) {
      if (input.rawBody === undefined) ctx.closeAfter = true;
      return refuseHttp(deps, ctx, bodyRefusal(read.code, read.message, read.reason, endpoint.name, principal.keyId));
    }
    const raw = read.raw;
    const parsed = parseRequestBody(read.plain, limits.maxDepth);
    if ('error' in parsed)
      return refuseHttp(deps, ctx, bodyRefusal('GW_BAD_REQUEST', parsed.error, parsed.reason, endpoint.name, principal.keyId));
    const { plain, body, model, blocks, index } = parsed;
    ctx.model = clip(model);

    // 2–5. admit
    const admission = await admit(deps, snapshot, endpoint, principal, model, body, plain, ctx.requestId, blocks);
    if (!admission.ok) return refuseHttp(deps, ctx, admission);
    const { routed, rateTicket, budgetTicket, redacted } = admission;

    // 6. forward, which accounts (7–8) on every exit. Returned, not awaited: this frame and its
    // locals are done once it starts.
    return forward(deps, ctx, { snapshot, routed, req, res, raw, plain, body, index, started, rateTicket, budgetTicket, redacted });
  }

  return { handle, listModels };
}
