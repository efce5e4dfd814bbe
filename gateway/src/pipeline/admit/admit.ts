import type { BudgetTicket } from '../../budget-ledger.ts';
import type { Principal } from '../../principal.ts';
import type { RateLimitTicket } from '../../rate-limiter.ts';
import type { CompiledSnapshot, RoutedModel } from '../../snapshot-store.ts';
import type { Endpoint, ProxyDeps } from '../endpoint.ts';
import type { Refusal } from '../refuse.ts';
import { checkRateLimits } from './check-rate-limits.ts';
import { reserveBudget } from './reserve-budget.ts';
import { routeModel } from './route-model.ts';
import { scanSecrets } from './scan-secrets.ts';

export type Admission =
  | { ok: true; routed: RoutedModel; rateTicket: RateLimitTicket | null; budgetTicket: BudgetTicket | null }
  | ({ ok: false } & Refusal);

/**
 * Steps 2–5 of the request path (DESIGN §6) for every surface, in the product's fixed order:
 * model → secret scan → rate limit → budget. One ordered function rather than fastify hooks
 * (ADR 0110): every policy needs the decoded body, and the Responses WebSocket has no hooks.
 * Returns the refusal to record and send, or the tickets the account step settles.
 */
export async function admit(
  deps: Pick<ProxyDeps, 'rateLimiter' | 'budgets' | 'outputEstimator'>,
  snapshot: CompiledSnapshot,
  endpoint: Endpoint,
  principal: Principal,
  modelName: string,
  body: Record<string, unknown>,
  plain: Buffer,
): Promise<Admission> {
  const routed = routeModel(snapshot, endpoint, principal, modelName);
  if ('code' in routed) return { ok: false, ...routed };
  const secret = scanSecrets(routed, modelName, body, plain);
  if (secret) {
    // A client retrying the same prompt (Claude Code does, six times) is one event with a count.
    const detail = secret.event?.detail as { rule?: string; fingerprint?: string; location?: string } | undefined;
    const signature = `${detail?.rule}:${detail?.fingerprint}:${detail?.location}:${routed.model.modelName}`;
    return { ok: false, ...secret, aggregate: { subject: `key:${principal.keyId}`, signature } };
  }
  if (!endpoint.metered) return { ok: true, routed, rateTicket: null, budgetTicket: null };

  const limited = await checkRateLimits(deps.rateLimiter, routed, principal, modelName);
  if (limited && 'code' in limited) return { ok: false, ...limited };
  const rateTicket = limited;
  const reserved = await reserveBudget(deps, principal, routed, modelName, body, plain.length);
  if (reserved && 'code' in reserved) {
    // The request never runs: its rate-limit slot counts, with no tokens.
    if (rateTicket) deps.rateLimiter.addTokens(rateTicket, 0);
    return { ok: false, ...reserved };
  }
  return { ok: true, routed, rateTicket, budgetTicket: reserved };
}
