import type { ServerResponse } from 'node:http';
import type { AuditEntry } from '@codevector/core/audit-entry';
import type { Logger } from '@codevector/core/logger';
import type { RejectionRecorder } from '@codevector/core/rejection-recorder';
import type { Surface } from '../api-error.ts';
import type { BudgetLedger } from '../budget-ledger.ts';
import type { GatewayMetrics } from '../gateway-metrics.ts';
import type { KeyStore } from '../key-store.ts';
import type { Principal } from '../principal.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type { RefusalAggregator } from '../refusal-aggregator.ts';
import type { SnapshotStore } from '../snapshot-store.ts';
import type { OutputEstimator, UsageFormat } from '../usage.ts';
import type { UsageRecorder } from '../usage-recorder.ts';
import type { BodyLimits } from './request-body.ts';
import type { UpstreamHeaderFilter } from './upstream-headers.ts';

/** Everything the request pipeline's steps use; each step takes only the part it needs. */
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
  /** Refused keys and repeated refusals, one row per window with a count (optional in step tests). */
  refusals?: RefusalAggregator;
  /** Per-route body limits (ADR 0113); defaults when absent. */
  bodyLimits?: Partial<Record<string, BodyLimits>> & { default?: BodyLimits };
  /** Which client headers go upstream. */
  upstreamHeaders?: UpstreamHeaderFilter;
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

/** A rejection's audit event before the refuse step adds who, how and which request. */
export type RejectionEvent = Omit<AuditEntry, 'actor' | 'actorSource' | 'requestId'>;

/** One HTTP request as it moves through the steps. */
export type HttpContext = {
  requestId: string;
  endpoint: Endpoint;
  surface: Surface;
  res: ServerResponse;
  principal: Principal | null;
  model: string | null;
  /** The body was not (fully) read: answer with `connection: close`. */
  closeAfter?: boolean;
  /** The client's address, for refusals counted per source. */
  source?: string;
};
