import { displayUsd, formatUsd, maxMoney } from '@codevector/core/money';
import type { BudgetLedger, BudgetTicket, CostEstimate } from '../../budget-ledger.ts';
import type { Principal } from '../../principal.ts';
import type { RoutedModel } from '../../snapshot-store.ts';
import type { OutputEstimator } from '../../usage.ts';
import { type Refusal, refusal } from '../refuse.ts';
import { applicable } from './applicable.ts';

/** Default worst-case output when a request sets no max_tokens (strict budgets only). */
const defaultWorstOutputTokens = 128_000;

/** Admit step 5: every Budget that governs the Model's namespace and applies reserves the request's cost, or the first that cannot pay refuses it. */
export async function reserveBudget(
  deps: { budgets: BudgetLedger; outputEstimator: OutputEstimator },
  principal: Principal,
  routed: RoutedModel,
  modelName: string,
  body: Record<string, unknown>,
  bytes: number,
): Promise<BudgetTicket | Refusal | null> {
  const applying = applicable(routed.policy.budgets, principal, modelName, routed, (b) => ({ budget: b.item, subject: b.subject }));
  if (applying.length === 0) return null;
  const reserved = deps.budgets.reserve(applying, estimateCost(routed, body, bytes, deps.outputEstimator));
  const outcome = reserved instanceof Promise ? await reserved : reserved;
  if ('holds' in outcome) return outcome;
  const { budget, spent, resetAt } = outcome;
  if (outcome.unavailable) {
    // The database did not answer the lease: fail closed, but as a retryable 503, not a 402
    // "budget used up" (which clients never retry) with an audit event nobody earned.
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
    `Budget "${budget.namespace}/${budget.name}" of ${displayUsd(budget.amount)} per ${budget.period} for ${outcome.subject} is used up (${displayUsd(spent)} spent). ${when}`,
    {
      action: 'gateway.budget_exceeded',
      targetType: 'budget',
      targetId: budget.uid,
      targetName: `${budget.namespace}/${budget.name}`,
      detail: {
        // Exact decimal strings, as in the Budget's spec and status.
        limitUSD: formatUsd(budget.amount),
        spentUSD: formatUsd(spent),
        period: budget.period,
        subject: outcome.subject,
        strict: budget.strict,
        model: modelName,
        resetAt: resetAt?.toISOString() ?? null,
      },
    },
  );
}

/**
 * What a request may cost before it runs, exact (ADR 0004). Expected: input ≈ bytes/3 tokens (an
 * over-estimate for JSON-wrapped prose and code) at the input price, output = a high percentile
 * of the model's recent answers capped by max_tokens. Worst: every byte a token at the dearest
 * input price, plus max_tokens of output; tokens never outnumber the bytes they came from.
 */
export function estimateCost(routed: RoutedModel, body: Record<string, unknown>, bytes: number, estimator: OutputEstimator): CostEstimate {
  const { pricing } = routed.model;
  const requested = body['max_tokens'] ?? body['max_completion_tokens'] ?? body['max_output_tokens'];
  const maxTokens = Number.isSafeInteger(requested) && (requested as number) > 0 ? (requested as number) : defaultWorstOutputTokens;
  const expectedOutput = Math.min(maxTokens, Math.ceil(estimator.estimate(routed.model.modelName)));
  const dearestInput = maxMoney(pricing.input, maxMoney(pricing.cacheWrite, pricing.cacheRead));
  return {
    expected: BigInt(Math.ceil(bytes / 3)) * pricing.input + BigInt(expectedOutput) * pricing.output,
    worst: BigInt(bytes) * dearestInput + BigInt(maxTokens) * pricing.output,
  };
}
