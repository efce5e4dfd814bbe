import { formatUsd } from '@codevector/core/money';
import type { BudgetTicket } from '../budget-ledger.ts';
import type { Principal } from '../principal.ts';
import type { RateLimitTicket } from '../rate-limiter.ts';
import type { RoutedModel } from '../snapshot-store.ts';
import { costOf, type Usage } from '../usage.ts';
import type { ProxyDeps } from './endpoint.ts';

export type AccountEntry = {
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
  /** The upstream attempt that answered (1 unless fallbacks were tried, see fallback.ts). */
  attempt?: number;
};

/**
 * Steps 7–8 of the request path, once per admitted request on every surface and exit path: the
 * exact cost, spend settled against the budget reservations, tokens for rate limits, the usage
 * row and metrics.
 */
export function account(
  deps: Pick<ProxyDeps, 'budgets' | 'rateLimiter' | 'outputEstimator' | 'metrics' | 'usage' | 'logger'>,
  entry: AccountEntry,
): void {
  const { budgets, rateLimiter, outputEstimator, metrics, usage, logger } = deps;
  const { model, provider } = entry.routed;
  const used = entry.usage;
  const cost = costOf(used, model.pricing);
  if (entry.budgetTicket) budgets.settle(entry.budgetTicket, cost);
  if (entry.rateTicket) rateLimiter.addTokens(entry.rateTicket, used.input + used.output + used.cacheRead + used.cacheWrite);
  if (entry.usageKnown && entry.status < 400) outputEstimator.observe(model.modelName, used.output);
  metrics.request(entry.endpointName, entry.status);
  metrics.requestDuration(entry.endpointName, (performance.now() - entry.started) / 1000);
  // 499: the client left before the upstream answered; the upstream is not to blame. A failure
  // with no response headers never reached an answer: its 502/504 is the gateway's, so status 0.
  if (entry.outcome !== 'client_aborted') {
    const failedUnanswered = entry.ttfbMs === null && (entry.outcome === 'upstream_error' || entry.outcome === 'upstream_timeout');
    metrics.upstreamOutcome(provider.ref, failedUnanswered ? 0 : entry.status, entry.outcome);
  }
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
      cost,
      status: entry.status,
      outcome: entry.outcome,
      latencyMs: Math.round(performance.now() - entry.started),
      ttfbMs: entry.ttfbMs,
      sessionId: entry.sessionId,
      attempt: entry.attempt ?? 1,
    });
  }
  if (logger.isLevelEnabled('debug')) {
    logger.debug(
      { requestId: entry.requestId, model: model.modelName, status: entry.status, outcome: entry.outcome, costUSD: formatUsd(cost) },
      'request done',
    );
  }
}
