import type { IncomingMessage, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import type { BudgetTicket } from '../budget-ledger.ts';
import type { RateLimitTicket } from '../rate-limiter.ts';
import type { CompiledSnapshot, RoutedModel } from '../snapshot-store.ts';
import { translateError, translateFor } from '../translate/translate-for.ts';
import { type StreamTranslator, type TranslateContext, TranslationError, type Translator } from '../translate/translator.ts';
import { createSseUsageTap, emptyUsage, estimateInputTokens, partialUsage, type SseUsageTap, type Usage, usageFromJson } from '../usage.ts';
import { account } from './account.ts';
import type { HttpContext, ProxyDeps } from './endpoint.ts';
import { fallsBack, recordFailedAttempt, retriesFailure, upstreamFor } from './fallback.ts';
import { refusal, refuseHttp } from './refuse.ts';
import { decodeBody, decompressorFor } from './request-body.ts';
import { indexTopLevel, readDocument, spliceTopLevel, type TopLevelIndex } from './request-document.ts';
import { createUpstreamHeaderFilter } from './upstream-headers.ts';
import { createUsageStripper } from './usage-stripper.ts';

const defaultHeaderFilter = createUpstreamHeaderFilter();

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

export type ForwardArgs = {
  snapshot: CompiledSnapshot;
  routed: RoutedModel;
  req: IncomingMessage;
  res: ServerResponse;
  raw: Buffer;
  plain: Buffer;
  body: Record<string, unknown>;
  /** The top level's byte ranges in `plain` (request-document.ts); absent for bodies built here. */
  index?: TopLevelIndex;
  started: number;
  rateTicket: RateLimitTicket | null;
  budgetTicket: BudgetTicket | null;
  /** Which of `routed.upstreams` this call sends to (0-based; fallback.ts). */
  attempt?: number;
  /** A Redact SecretRule replaced secrets in `body`: the client's bytes must not be forwarded. */
  redacted?: boolean;
};

/** Resolves the dispatch when an upstream's error answer goes to the next upstream instead of the client. */
const fellBack = new Error('fell back to the next upstream');

/**
 * Step 6 of the request path: send the admitted request upstream and relay the answer, and call
 * the account step exactly once on every exit path (answered, streamed, cut, failed, aborted).
 */
export async function forward(deps: ProxyDeps, ctx: HttpContext, args: ForwardArgs): Promise<void> {
  const { metrics, logger } = deps;
  // Closures below capture only what they use: holding `args` would keep the parsed body alive
  // for the whole upstream round trip, and every young-generation GC would copy it again.
  const { routed, req, res, body, started, rateTicket, budgetTicket } = args;
  const attempt = args.attempt ?? 0;
  const upstream = upstreamFor(routed, attempt);
  const { provider } = upstream;
  const { model } = routed;
  let fellBackStatus = 0;
  // Buffers only (off the JS heap), and only when a next upstream exists.
  // A redacted body goes to every upstream redacted: the next attempt starts from it, not from the client's bytes.
  const again =
    attempt + 1 < routed.upstreams.length
      ? {
          snapshot: args.snapshot,
          raw: args.raw,
          plain: args.redacted ? Buffer.from(JSON.stringify(body)) : args.plain,
          redacted: args.redacted,
        }
      : null;
  const endpoint = ctx.endpoint;
  const settled = { done: false };
  // What an unfinished answer is billed for, counted now so no closure holds the body (ADR 0114):
  // the body's input tokens, and for a non-streaming answer the client abandoned, the output the
  // reservation expected (the provider generated it; the gateway never saw its count).
  // Counted only when needed (it reads the whole conversation, which may not be parsed yet): the
  // closure holds the body object, whose unread values are views on `plain`, off the JS heap.
  let inputCount: number | null = endpoint.metered ? null : 0;
  const inputEstimate = () => (inputCount ??= estimateInputTokens(body));
  const requested = body['max_tokens'] ?? body['max_completion_tokens'] ?? body['max_output_tokens'];
  const expectedOutput = Math.min(
    Number.isSafeInteger(requested) && (requested as number) > 0 ? (requested as number) : Number.MAX_SAFE_INTEGER,
    Math.ceil(deps.outputEstimator.estimate(model.modelName)),
  );
  // A provider finishes a non-streaming answer whoever is still waiting; a stream stops when its
  // connection goes.
  const streamRequested = body['stream'] === true;
  let tap: SseUsageTap | null = null;
  // The upstream answered with an error status (it bills nothing), or answered at all.
  let upstreamRefused = false;
  let format = endpoint.format;
  let status = 0;
  let outcome = 'ok';
  let ttfbMs: number | null = null;

  /**
   * Accounts once. `usageKnown` is the provider's own count; without it, `reached` says the
   * upstream received the request (it bills what it consumed, so the gateway does too): the
   * counts it sent before the cut, the rest estimated. Not reached (refused connection): nothing.
   */
  const finish = (usageKnown: Usage | null, reached = true, outputGenerated = !streamRequested) => {
    if (settled.done) return;
    settled.done = true;
    const billed =
      usageKnown ??
      (reached && endpoint.metered && !upstreamRefused
        ? partialUsage(tap, inputEstimate, outputGenerated ? expectedOutput : 0)
        : emptyUsage());
    account(deps, {
      requestId: ctx.requestId,
      principal: ctx.principal,
      routed: attempt === 0 ? routed : { ...routed, provider },
      attempt: attempt + 1,
      endpointName: endpoint.name,
      metered: endpoint.metered,
      usage: billed,
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

  // count_tokens for a Model on an OpenAI-wire Provider, which has no such endpoint: estimated
  // here, and marked so (ADR 0124).
  if (endpoint.name === 'messages.count_tokens' && provider.provider.type !== 'anthropic') {
    status = 200;
    finish(null, false);
    const payload = JSON.stringify({ input_tokens: estimateInputTokens(body), estimated: true });
    res.writeHead(200, [
      'content-type',
      'application/json',
      'content-length',
      String(Buffer.byteLength(payload)),
      'x-codevector-token-count',
      'estimated',
      'x-codevector-request-id',
      ctx.requestId,
    ]);
    res.end(payload);
    return;
  }

  if (!provider.apiKey) {
    finish(null, false);
    return refuseHttp(deps, ctx, refusal('GW_PROVIDER_KEY_MISSING', `The provider ${provider.ref} has no API key configured yet.`));
  }

  // Decide what goes upstream. Only three things may change: secrets a Redact rule replaced, the
  // model name (when the Model maps it to another upstream name) and, for OpenAI chat streams, a
  // request for the usage chunk. A changed body is sent re-serialised, without content-encoding.
  let path = req.url ?? '/';
  let forwardBody = args.raw;
  let modified = args.redacted === true;
  let stripUsageChunk = false;
  // `in`, not a read: the body's fields are parsed on first read (ADR 0117), and messages is the
  // whole conversation.
  if (endpoint.name === 'chat.completions' && !('messages' in body) && 'input' in body) {
    // Responses-style input on the chat endpoint (Cursor's override mode): the upstream
    // endpoint that understands it is /responses.
    path = path.replace('/chat/completions', '/responses');
    format = 'openai-responses';
  }
  // Another API upstream (ADR 0124): this attempt's Provider gets a body built for its API, and
  // its answer is rewritten into the client's. Policies already ran on the client's body.
  const translator: Translator | null = format && endpoint.metered ? translateFor(format, provider.provider.type) : null;
  let translation: { translator: Translator; ctx: TranslateContext & { includeUsage: boolean } } | null = null;
  if (translator) {
    const tctx = {
      clientModel: String(body['model']),
      upstreamModel: upstream.upstreamModel,
      providerType: provider.provider.type,
      clientBody: format === 'openai-responses' ? body : undefined,
      includeUsage: (body['stream_options'] as Record<string, unknown> | undefined)?.['include_usage'] === true,
    };
    let built: ReturnType<Translator['request']>;
    try {
      built = translator.request(body, tctx);
    } catch (error) {
      if (!(error instanceof TranslationError)) throw error;
      status = 400;
      finish(null, false);
      return refuseHttp(deps, ctx, refusal('GW_BAD_REQUEST', error.message));
    }
    translation = { translator, ctx: tctx };
    metrics.translated(format!, translator.upstreamFormat);
    path = built.path;
    format = translator.upstreamFormat;
    forwardBody = Buffer.from(JSON.stringify(built.body));
    modified = true;
  }
  // Top-level changes are spliced into the client's bytes (request-document.ts); only a redacted
  // body, changed deep inside, is serialised again.
  // A translated body was built whole above (with its own include_usage).
  const changes: Record<string, unknown> = {};
  if (!translation && (upstream.upstreamModel !== model.modelName || body['model'] !== upstream.upstreamModel)) {
    body['model'] = upstream.upstreamModel;
    changes['model'] = upstream.upstreamModel;
    modified = true;
  }
  if (!translation && format === 'openai-chat' && body['stream'] === true) {
    const options = body['stream_options'] as Record<string, unknown> | undefined;
    if (options?.['include_usage'] !== true) {
      body['stream_options'] = { ...(options ?? {}), include_usage: true };
      changes['stream_options'] = body['stream_options'];
      modified = true;
      stripUsageChunk = true;
    }
  }
  if (modified && !translation) {
    forwardBody = args.redacted || !args.index ? Buffer.from(JSON.stringify(body)) : spliceTopLevel(args.plain, args.index, changes);
  }
  const upstreamPath =
    provider.basePath.endsWith('/v1') && path.startsWith('/v1') ? provider.basePath + path.slice(3) : provider.basePath + path;

  // A flat [name, value, ...] list in the client's order: repeated headers stay repeated, and
  // neither side builds a header object per request.
  const extra = providerHeaders(provider.provider.headers);
  const allowHeader = deps.upstreamHeaders ?? defaultHeaderFilter;
  const headers: string[] = [];
  const rawHeaders = req.rawHeaders;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!allowHeader(name)) continue;
    if (modified && name === 'content-encoding') continue;
    if (stripUsageChunk && name === 'accept-encoding') continue;
    if (extra.names.has(name)) continue;
    // A translated answer is read as text, and the other API's version headers mean nothing upstream.
    if (
      translation &&
      (name === 'accept-encoding' || name === 'anthropic-version' || name === 'anthropic-beta' || name === 'openai-beta')
    ) {
      continue;
    }
    headers.push(name, rawHeaders[i + 1]!);
  }
  if (translation && provider.provider.type === 'anthropic' && !extra.names.has('anthropic-version')) {
    headers.push('anthropic-version', '2023-06-01');
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
    let decompress: ReturnType<typeof decompressorFor> = null;
    let stripper: ReturnType<typeof createUsageStripper> | null = null;
    let rewrite: StreamTranslator | null = null;
    let translatedChunk: ((chunk: Buffer) => void) | null = null;
    const onDrain = () => controller?.resume();
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(ctrl) {
        controller = ctrl;
        if (clientGone) ctrl.abort(new Error('client disconnected'));
      },
      onResponseStart(ctrl, statusCode, upstreamHeaders) {
        if (statusCode < 200) return;
        if (fallsBack(routed, attempt, statusCode)) {
          // Nothing reached the client yet: drop this answer and try the next upstream.
          fellBackStatus = statusCode;
          resolve(fellBack);
          ctrl.abort(fellBack);
          return;
        }
        status = statusCode;
        upstreamRefused = statusCode >= 400;
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
        if (translation) {
          // The client gets its own API's framing: the upstream's content headers do not apply.
          for (let i = responseHeaders.length - 2; i >= 0; i -= 2) {
            const name = responseHeaders[i]!;
            if (name === 'content-type' || name === 'content-encoding') responseHeaders.splice(i, 2);
          }
          responseHeaders.push('content-type', streaming ? 'text/event-stream; charset=utf-8' : 'application/json');
        }
        if (streaming) {
          res.writeHead(status, responseHeaders);
          tap = format ? createSseUsageTap(format) : null;
          if (translation) {
            rewrite = translation.translator.stream(translation.ctx);
            decompress = decompressorFor(encoding);
            const sink = tap;
            const rewriter = rewrite;
            // Whole characters only: a chunk may end inside a multi-byte one.
            const text = new StringDecoder('utf8');
            const relay = (chunk: Buffer) => {
              const piece = text.write(chunk);
              sink?.push(piece);
              const out = rewriter.push(piece);
              if (out && !res.write(out)) {
                controller?.pause();
                res.once('drain', onDrain);
              }
            };
            if (decompress) decompress.on('data', relay);
            else translatedChunk = relay;
          } else if (stripUsageChunk) stripper = createUsageStripper();
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
        if (rewrite) {
          if (decompress) decompress.write(chunk);
          else translatedChunk!(chunk);
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
          let answer = payload;
          if (translation) {
            const translated = translateAnswer(translation, payload, encoding, status, endpoint.surface);
            answer = translated.body;
            if (translated.status !== status) {
              status = translated.status;
              outcome = 'upstream_error';
            }
          }
          pendingHeaders!.push('content-length', String(answer.length));
          res.writeHead(status, pendingHeaders!);
          res.end(answer);
          finish(known);
          resolve(null);
          return;
        }
        const rest = stripper?.flush();
        if (rest) res.write(rest);
        const finishRewrite = () => {
          const tail = rewrite?.end();
          if (tail) res.write(tail);
        };
        const done = () => {
          res.end();
          const usageTap = tap as SseUsageTap | null;
          // A stream that ended without its final count (an upstream that closed early) is
          // billed like a cut one: the counts it sent, the rest from the deltas.
          finish(usageTap?.inputSeen && usageTap.outputSeen ? usageTap.usage : null);
          resolve(null);
        };
        if (decompress)
          decompress.end(() => {
            finishRewrite();
            done();
          });
        else {
          finishRewrite();
          done();
        }
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
    if (again && (failure === fellBack || retriesFailure(routed, attempt))) {
      recordFailedAttempt(deps, {
        requestId: ctx.requestId,
        principal: ctx.principal,
        routed,
        upstream,
        endpointName: endpoint.name,
        metered: endpoint.metered,
        number: attempt + 1,
        status: fellBackStatus,
        sentAt,
        sessionId: (req.headers['x-claude-code-session-id'] as string | undefined) ?? null,
        error: failure === fellBack ? undefined : failure,
      });
      // The body as the client sent it: this attempt rewrote the parsed one for its upstream.
      const index = indexTopLevel(again.plain);
      const fresh = index ? readDocument(again.plain, index) : null;
      const body = fresh?.body ?? (JSON.parse(again.plain.toString('utf8')) as Record<string, unknown>);
      return forward(deps, ctx, {
        ...again,
        routed,
        req,
        res,
        body,
        index: fresh ? index! : undefined,
        started,
        rateTicket,
        budgetTicket,
        attempt: attempt + 1,
      });
    }
    const code = (failure as { code?: string }).code;
    const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
    // Sent but never answered (a hang, a reset after the request went out): the upstream has
    // the prompt and bills its input. Never connected: it has nothing.
    const reached = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
    outcome = timeout ? 'upstream_timeout' : 'upstream_error';
    status = timeout ? 504 : 502;
    // A hang or a reset: whether the provider generated anything is unknown; its input only.
    finish(null, reached, false);
    logger.warn({ requestId: ctx.requestId, err: failure, provider: provider.ref }, 'upstream request failed');
    return refuseHttp(
      deps,
      ctx,
      refusal(
        timeout ? 'GW_UPSTREAM_TIMEOUT' : 'GW_UPSTREAM_UNAVAILABLE',
        timeout ? `The provider ${provider.ref} did not answer in time.` : `The provider ${provider.ref} could not be reached.`,
      ),
    );
  });
}

/** A whole upstream answer in the client's API: a translated body, or the error in the client's shape. */
function translateAnswer(
  translation: { translator: Translator; ctx: TranslateContext },
  payload: Buffer,
  encoding: string | undefined,
  status: number,
  surface: HttpContext['surface'],
): { status: number; body: Buffer } {
  let text = '';
  try {
    text = decodeBody(payload, encoding).toString('utf8');
  } catch {
    text = '';
  }
  if (status >= 400) return { status, body: Buffer.from(translateError(surface, status, text)) };
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    return { status, body: Buffer.from(JSON.stringify(translation.translator.response(parsed, translation.ctx))) };
  } catch {
    // Nothing the client's API could carry: a 502, as for an upstream that answered garbage.
    const message = JSON.stringify({ error: { message: 'The provider answered with a body that could not be read.' } });
    return { status: 502, body: Buffer.from(translateError(surface, 502, message)) };
  }
}
