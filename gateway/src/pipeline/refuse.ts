import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { type ErrorCode, errorCodes } from '@codevector/core/errors';
import { formatApiError } from '../api-error.ts';
import { clip } from '../clip.ts';
import type { Aggregation } from '../refusal-aggregator.ts';
import type { HttpContext, ProxyDeps, RejectionEvent } from './endpoint.ts';

export type Refusal = {
  code: ErrorCode;
  message: string;
  event: RejectionEvent | null;
  headers: Record<string, string>;
  /** Set for refusals that repeat (refused keys, a retried secret): one row per window with a count. */
  aggregate?: Aggregation;
};

/** A refusal an admit step returns; the refuse step records and sends it. */
export const refusal = (
  code: ErrorCode,
  message: string,
  event: RejectionEvent | null = null,
  headers: Record<string, string> = {},
): Refusal => ({
  code,
  message,
  event,
  headers,
});

const notRecorded: Refusal = {
  code: 'GW_EVENT_NOT_RECORDED',
  message: 'The gateway could not record this request; try again.',
  event: null,
  headers: { 'retry-after': '1' },
};

/**
 * The refuse step every surface goes through: the rejection event (if any) is durable before the
 * caller learns of the refusal (group commit, core/rejection-recorder), and a refusal that could
 * not be recorded becomes GW_EVENT_NOT_RECORDED, so no rejection goes unrecorded. Returns what
 * to tell the client; the surface writes it in its own framing (HTTP body, WebSocket event).
 */
export async function recordRefusal(
  deps: Pick<ProxyDeps, 'recorder' | 'metrics' | 'logger' | 'refusals'>,
  who: { actor: string; requestId: string },
  refused: Refusal,
): Promise<Refusal> {
  let final = refused;
  if (refused.event) {
    try {
      const entry = { ...refused.event, actor: who.actor, actorSource: 'gateway' as const, requestId: who.requestId };
      if (refused.aggregate && deps.refusals) await deps.refusals.record(entry, refused.aggregate);
      else await deps.recorder.record(entry);
    } catch (error) {
      deps.logger.error({ err: error, requestId: who.requestId }, 'rejection event not recorded');
      final = notRecorded;
    }
  }
  deps.metrics.rejection(refused.event ? refused.event.action.replace(/^gateway\./, '') : refused.code.toLowerCase());
  return final;
}

/** Writes a JSON answer unless the response already started or the client left. */
export function sendJson(res: ServerResponse, requestId: string, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-codevector-request-id': requestId,
    ...headers,
  });
  res.end(body);
}

/** The refuse step for HTTP: record, count, log, answer in the caller's API shape. */
export async function refuseHttp(
  deps: Pick<ProxyDeps, 'recorder' | 'metrics' | 'logger' | 'refusals'>,
  ctx: HttpContext,
  refused: Refusal,
): Promise<void> {
  const actor = ctx.principal?.email;
  const final = await recordRefusal(deps, { actor: actor ?? 'anonymous', requestId: ctx.requestId }, refused);
  const { body } = formatApiError(ctx.surface, final.code, final.message);
  const { status, headers } = retryHints(final.code, ctx.res.req.headers, final.headers);
  deps.metrics.request(ctx.endpoint.name, status);
  deps.logger.info(
    { requestId: ctx.requestId, code: final.code, status, model: ctx.model === null ? null : clip(ctx.model, 200), user: actor },
    'request refused',
  );
  // A refusal sent before the body was read closes the connection: the rest of the body is
  // discarded, never parsed, and the client cannot keep the socket for the next attempt.
  sendJson(ctx.res, ctx.requestId, status, body, ctx.closeAfter ? { ...headers, connection: 'close' } : headers);
}

/** Codex names itself in `originator` (codex_exec, codex_cli_rs, codex_vscode) and its user-agent. */
function isCodex(headers: IncomingHttpHeaders): boolean {
  const originator = headers['originator'];
  if (typeof originator === 'string' && originator.startsWith('codex')) return true;
  return (headers['user-agent'] ?? '').startsWith('codex');
}

/** Claude Code names itself in its user-agent (`claude-cli/2.1.332 (external, cli)`). */
function isClaudeCode(headers: IncomingHttpHeaders): boolean {
  return (headers['user-agent'] ?? '').startsWith('claude-cli/');
}

// Codex retries a retryable refusal at once, whatever retry-after says: five tries in ~7 s.
const codexRetryWindowSeconds = 10;

/**
 * The status and headers that make the caller's client stop at once on a refusal no retry can
 * fix, and retry the others, and show the user the gateway's message (docs/clients.md, measured
 * with the CLIs in the lockfile by `npm run test:agents`):
 * - the Anthropic and OpenAI SDKs (so Claude Code and most tools) honour `x-should-retry: false`;
 * - Codex ignores it and retries every 4xx but 400 five times (a 401 costs 6 requests, ~7 s;
 *   15 s with its WebSocket attempts), so for Codex a final refusal is a 400, same body and
 *   message (a 429 with `insufficient_quota` would stop it too, but it prints its own
 *   "Quota exceeded" text instead of ours). A rate limit whose wait outlasts Codex's retries
 *   is final for Codex too: after them it prints only "exceeded retry limit, last status: 429";
 * - Claude Code answers a 404 for a model with its own "There's an issue with the selected
 *   model" text, dropping ours, which lists the names that work: for it, a 400;
 * - `retry-after` on what a retry can fix (rate limits, the database away).
 */
export function retryHints(
  code: ErrorCode,
  requestHeaders: IncomingHttpHeaders,
  headers: Record<string, string> = {},
): { status: number; headers: Record<string, string> } {
  const status = errorCodes[code].status;
  if (!isFinal(code)) {
    if (isCodex(requestHeaders) && Number(headers['retry-after'] ?? 0) > codexRetryWindowSeconds) {
      return { status: 400, headers: { ...headers, 'x-should-retry': 'false' } };
    }
    return { status, headers: status === 503 && !headers['retry-after'] ? { ...headers, 'retry-after': '1' } : headers };
  }
  const stop = isCodex(requestHeaders) || (status === 404 && isClaudeCode(requestHeaders));
  return { status: stop ? 400 : status, headers: { ...headers, 'x-should-retry': 'false' } };
}

/** A refusal no retry can fix (core/errors `final`). */
export function isFinal(code: ErrorCode): boolean {
  return (errorCodes[code] as { final?: true }).final === true;
}
