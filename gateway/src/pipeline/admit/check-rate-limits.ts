import type { Principal } from '../../principal.ts';
import type { RateLimiter, RateLimitTicket } from '../../rate-limiter.ts';
import type { RoutedModel } from '../../snapshot-store.ts';
import { type Refusal, refusal } from '../refuse.ts';
import { applicable } from './applicable.ts';

/** Admit step 4: every RateLimit that governs the Model's namespace and applies takes one request, or the first that cannot says when to retry. */
export async function checkRateLimits(
  rateLimiter: RateLimiter,
  routed: RoutedModel,
  principal: Principal,
  modelName: string,
): Promise<RateLimitTicket | Refusal | null> {
  const limits = applicable(routed.policy.rateLimits, principal, modelName, routed, (l) => ({ limit: l.item, subject: l.subject }));
  if (limits.length === 0) return null;
  const admitted = rateLimiter.admit(limits);
  const outcome = admitted instanceof Promise ? await admitted : admitted;
  if ('states' in outcome) return outcome;
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
