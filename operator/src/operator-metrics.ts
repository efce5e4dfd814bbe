import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The operator's Prometheus metrics (prom-client, off any hot path). Labels are bounded: `kind`
 * is one of the six CRD kinds, `result` and `change` fixed words, and the per-Budget gauges carry
 * the namespace and name of declared Budgets only, the AuditSink gauges the name of a declared
 * sink (bounded by what is applied, like kube-state-metrics).
 * Subjects (users, keys) never appear.
 */
export type OperatorMetrics = {
  reconciled(kind: string, result: 'ok' | 'error', seconds: number): void;
  committed(kind: string, change: string): void;
  statusWrite(kind: string, result: 'ok' | 'error'): void;
  budget(namespace: string, name: string, figures: { spentUSD?: unknown; remainingUSD?: unknown; amountUSD?: unknown }): void;
  budgetGone(namespace: string, name: string): void;
  liveStatusRead(seconds: number, queued: Record<string, number>): void;
  auditSink(name: string, figures: { lastDeliveredSequence?: unknown; lagRows?: unknown; lastError?: unknown }): void;
  auditSinkGone(name: string): void;
};

export type OperatorGauges = {
  /** Keys waiting, being processed, scheduled (requeues and retries) and in backoff. */
  queue(): { queued: number; active: number; scheduled: number; retrying: number };
  leader(): boolean;
  /** Objects the operator sees, per kind and Ready condition. */
  resources(): { kind: string; ready: 'True' | 'False' | 'Unknown'; count: number }[];
};

/** Registers the operator's metrics on `registry`; gauges read `gauges` when scraped. */
export function createOperatorMetrics(registry: Registry, gauges: OperatorGauges): OperatorMetrics {
  const reconciles = new Counter({
    name: 'codevector_operator_reconciles_total',
    help: 'Reconciles finished, by kind and result (error: retried with backoff).',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'codevector_operator_reconcile_errors_total',
    help: 'Reconciles that failed and were scheduled again with backoff, by kind.',
    labelNames: ['kind'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'codevector_operator_reconcile_duration_seconds',
    help: 'Time of one reconcile (resolve, store with its audit row, status), by kind.',
    labelNames: ['kind'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const changes = new Counter({
    name: 'codevector_operator_changes_total',
    help: 'Rows committed with their audit row, by kind and change (create, update, delete).',
    labelNames: ['kind', 'change'],
    registers: [registry],
  });
  const statusWrites = new Counter({
    name: 'codevector_operator_status_writes_total',
    help: 'Status patches sent to the apiserver, by kind and result (unchanged status is not sent).',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
  new Gauge({
    name: 'codevector_operator_queue_depth',
    help: 'Work queue keys by state: queued (waiting for a worker), active, scheduled (requeue or retry timer), retrying (in backoff after a failure).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const q = gauges.queue();
      this.set({ state: 'queued' }, q.queued);
      this.set({ state: 'active' }, q.active);
      this.set({ state: 'scheduled' }, q.scheduled);
      this.set({ state: 'retrying' }, q.retrying);
    },
  });
  new Gauge({
    name: 'codevector_operator_leader',
    help: '1 while this replica holds the leader Lease and reconciles; 0 on standby.',
    registers: [registry],
    collect() {
      this.set(gauges.leader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'codevector_operator_resources',
    help: 'CodeVector resources the leader sees, by kind and Ready condition status.',
    labelNames: ['kind', 'ready'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of gauges.resources()) this.set({ kind: r.kind, ready: r.ready }, r.count);
    },
  });
  // Not `namespace`: Prometheus sets that to the operator pod's namespace when it scrapes.
  const budgetLabels = ['budget_namespace', 'budget'] as const;
  const spent = new Gauge({
    name: 'codevector_budget_spent_usd',
    help: 'USD spent in the current window, as in Budget status (eachUser: the subject closest to its limit).',
    labelNames: budgetLabels,
    registers: [registry],
  });
  const remaining = new Gauge({
    name: 'codevector_budget_remaining_usd',
    help: 'USD left in the current window, as in Budget status.',
    labelNames: budgetLabels,
    registers: [registry],
  });
  const amount = new Gauge({
    name: 'codevector_budget_limit_usd',
    help: 'The Budget amount per window.',
    labelNames: budgetLabels,
    registers: [registry],
  });
  const liveReads = new Histogram({
    name: 'codevector_operator_live_status_read_seconds',
    help: 'One read of what live status comes from (budget_windows, gateway_rate_buckets, gateway_provider_health), every refresh interval.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const liveQueued = new Counter({
    name: 'codevector_operator_live_status_queued_total',
    help: 'Resources queued for a status refresh because what their live status comes from changed, by kind.',
    labelNames: ['kind'],
    registers: [registry],
  });
  // AuditSinks live only in the installation namespace (ADR 0120), so the name identifies one.
  const sinkDelivered = new Gauge({
    name: 'codevector_audit_sink_delivered_sequence',
    help: 'Last audit chain sequence number the sink acknowledged, as in AuditSink status.',
    labelNames: ['sink'],
    registers: [registry],
  });
  const sinkLag = new Gauge({
    name: 'codevector_audit_sink_lag_rows',
    help: 'Sealed audit rows the sink has not acknowledged yet.',
    labelNames: ['sink'],
    registers: [registry],
  });
  const sinkFailing = new Gauge({
    name: 'codevector_audit_sink_failing',
    help: '1 while the latest delivery to the sink failed (AuditSink status.lastError says why), else 0.',
    labelNames: ['sink'],
    registers: [registry],
  });
  const number = (value: unknown) => (typeof value === 'string' || typeof value === 'number' ? Number(value) : Number.NaN);

  return {
    reconciled(kind, result, seconds) {
      reconciles.inc({ kind, result });
      if (result === 'error') errors.inc({ kind });
      duration.observe({ kind }, seconds);
    },
    committed: (kind, change) => changes.inc({ kind, change }),
    statusWrite: (kind, result) => statusWrites.inc({ kind, result }),
    budget(namespace, name, figures) {
      const labels = { budget_namespace: namespace, budget: name };
      for (const [gauge, value] of [
        [spent, figures.spentUSD],
        [remaining, figures.remainingUSD],
        [amount, figures.amountUSD],
      ] as const) {
        const n = number(value);
        if (Number.isFinite(n)) gauge.set(labels, n);
      }
    },
    liveStatusRead(seconds, queued) {
      liveReads.observe(seconds);
      for (const [kind, n] of Object.entries(queued)) liveQueued.inc({ kind }, n);
    },
    auditSink(name, figures) {
      const delivered = number(figures.lastDeliveredSequence);
      const lag = number(figures.lagRows);
      if (Number.isFinite(delivered)) sinkDelivered.set({ sink: name }, delivered);
      if (Number.isFinite(lag)) sinkLag.set({ sink: name }, lag);
      sinkFailing.set({ sink: name }, typeof figures.lastError === 'string' ? 1 : 0);
    },
    auditSinkGone(name) {
      for (const gauge of [sinkDelivered, sinkLag, sinkFailing]) gauge.remove({ sink: name });
    },
    budgetGone(namespace, name) {
      for (const gauge of [spent, remaining, amount]) gauge.remove({ budget_namespace: namespace, budget: name });
    },
  };
}
