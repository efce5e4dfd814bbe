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
import type { SnapshotStore } from '../snapshot-store.ts';
import type { OutputEstimator, UsageFormat } from '../usage.ts';
import type { UsageRecorder } from '../usage-recorder.ts';

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
};
