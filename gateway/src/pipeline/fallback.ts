import type { Principal } from '../principal.ts';
import type { RoutedModel, Upstream } from '../snapshot-store.ts';
import type { ProxyDeps } from './endpoint.ts';

/**
 * A Model's fallbacks (ADR 0122): the forward step sends a request to `routed.upstreams` in
 * order, moving on when an upstream answers 429, 5xx or 529 (overloaded), or cannot be reached or
 * times out, **before any byte of its answer reached the client**. After the first byte nothing
 * is retried: the client already holds part of an answer. The request was admitted and its
 * budget reserved once; the attempt that answers is accounted once (account.ts), priced as the
 * Model whichever upstream served it; every failed attempt leaves a $0 usage row (outcome
 * `fallback`, its attempt number, the failing provider and status) and a metric.
 */

/** The upstream attempt `attempt` (0-based) goes to. */
export function upstreamFor(routed: RoutedModel, attempt: number): Upstream {
  return routed.upstreams[attempt] ?? routed.upstreams[0]!;
}

/** Whether an upstream's answer with this status should go to the next upstream instead of the client. */
export function fallsBack(routed: RoutedModel, attempt: number, status: number): boolean {
  return attempt + 1 < routed.upstreams.length && (status === 429 || status >= 500);
}

/** Whether a failure before any answer (refused, reset, timed out) should go to the next upstream. */
export function retriesFailure(routed: RoutedModel, attempt: number): boolean {
  return attempt + 1 < routed.upstreams.length;
}

/** Records a failed attempt: a $0 usage row and the fallback metric (the request is accounted once, by the attempt that answers). */
export function recordFailedAttempt(
  deps: Pick<ProxyDeps, 'usage' | 'metrics' | 'logger'>,
  attempt: {
    requestId: string;
    principal: Principal | null;
    routed: RoutedModel;
    upstream: Upstream;
    endpointName: string;
    metered: boolean;
    /** 1-based. */
    number: number;
    /** The upstream's status, or 0 when it could not be reached. */
    status: number;
    /** performance.now() when this attempt was sent. */
    sentAt: number;
    sessionId: string | null;
    error?: unknown;
  },
): void {
  const { routed, upstream } = attempt;
  deps.metrics.fallback(routed.model.modelName, upstream.provider.ref, attempt.status);
  deps.metrics.upstreamOutcome(upstream.provider.ref, attempt.status, 'fallback');
  deps.logger.warn(
    {
      requestId: attempt.requestId,
      model: routed.model.modelName,
      provider: upstream.provider.ref,
      status: attempt.status,
      attempt: attempt.number,
      err: attempt.error,
    },
    'upstream failed before answering; trying the next one',
  );
  if (!attempt.metered) return;
  const latencyMs = Math.round(performance.now() - attempt.sentAt);
  deps.usage.record({
    requestId: attempt.requestId,
    apiKeyId: attempt.principal?.keyId ?? null,
    userId: attempt.principal?.userId ?? null,
    model: routed.model.modelName,
    provider: upstream.provider.ref,
    endpoint: attempt.endpointName,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    cost: 0n,
    // 0 is not an HTTP status: an unreachable upstream is recorded as the 502 the client would have got.
    status: attempt.status || 502,
    outcome: 'fallback',
    latencyMs,
    ttfbMs: null,
    sessionId: attempt.sessionId,
    attempt: attempt.number,
  });
}
