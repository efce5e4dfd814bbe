import type { BudgetTicket } from '../../budget-ledger.ts';
import type { Principal } from '../../principal.ts';
import type { RateLimitTicket } from '../../rate-limiter.ts';
import type { CompiledSnapshot, RoutedModel } from '../../snapshot-store.ts';
import type { Endpoint, ProxyDeps } from '../endpoint.ts';
import { type Refusal, refusal } from '../refuse.ts';
import type { RequestBlock } from '../request-document.ts';
import { checkRateLimits } from './check-rate-limits.ts';
import { reserveBudget } from './reserve-budget.ts';
import { routeModel } from './route-model.ts';
import { scanSecrets } from './scan-secrets.ts';

export type Admission =
  | {
      ok: true;
      routed: RoutedModel;
      rateTicket: RateLimitTicket | null;
      budgetTicket: BudgetTicket | null;
      /** A Redact SecretRule changed the body: forward it re-serialised. */
      redacted: boolean;
    }
  | ({ ok: false } & Refusal);

/**
 * Steps 2–5 of the request path (DESIGN §6) for every surface, in the product's fixed order:
 * model → secret scan → rate limit → budget. One ordered function rather than fastify hooks
 * (ADR 0110): every policy needs the decoded body, and the Responses WebSocket has no hooks.
 * Returns the refusal to record and send, or the tickets the account step settles.
 */
export async function admit(
  deps: Pick<ProxyDeps, 'rateLimiter' | 'budgets' | 'outputEstimator' | 'recorder' | 'logger' | 'metrics'>,
  snapshot: CompiledSnapshot,
  endpoint: Endpoint,
  principal: Principal,
  modelName: string,
  body: Record<string, unknown>,
  plain: Buffer,
  requestId: string | null = null,
  blocks?: readonly RequestBlock[],
): Promise<Admission> {
  const routed = routeModel(snapshot, endpoint, principal, modelName);
  if ('code' in routed) return { ok: false, ...routed };
  const scanStarted = performance.now();
  const secret = scanSecrets(routed, modelName, body, plain, blocks);
  if (routed.policy.scanner) deps.metrics.scanDuration((performance.now() - scanStarted) / 1000);
  if (secret && 'code' in secret) {
    // A client retrying the same prompt (Claude Code does, six times) is one event with a count.
    const detail = secret.event?.detail as { rule?: string; fingerprint?: string; location?: string } | undefined;
    const signature = `${detail?.rule}:${detail?.fingerprint}:${detail?.location}:${routed.model.modelName}`;
    return { ok: false, ...secret, aggregate: { subject: `key:${principal.keyId}`, signature } };
  }
  const redacted = secret?.redacted ?? false;
  if (secret && secret.notices.length > 0) {
    // Redact and Observe events are durable before the request goes on, as rejections are, and
    // before any limit is taken: a request whose event cannot be recorded holds nothing.
    try {
      for (const notice of secret.notices) {
        await deps.recorder.record({ ...notice, actor: principal.email, actorSource: 'gateway', requestId });
      }
    } catch (error) {
      deps.logger.error({ err: error, requestId }, 'secret event not recorded');
      return {
        ok: false,
        ...refusal('GW_EVENT_NOT_RECORDED', 'The gateway could not record this request; try again.', null, { 'retry-after': '1' }),
      };
    }
  }
  if (!endpoint.metered) return { ok: true, routed, rateTicket: null, budgetTicket: null, redacted };

  const limited = await checkRateLimits(deps.rateLimiter, routed, principal, modelName);
  if (limited && 'code' in limited) return { ok: false, ...limited };
  const rateTicket = limited;
  const reserved = await reserveBudget(deps, principal, routed, modelName, body, plain.length);
  if (reserved && 'code' in reserved) {
    // The request never runs: its rate-limit slot counts, with no tokens.
    if (rateTicket) deps.rateLimiter.addTokens(rateTicket, 0);
    return { ok: false, ...reserved };
  }
  return { ok: true, routed, rateTicket, budgetTicket: reserved, redacted };
}
