import { hostname } from 'node:os';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { type AuditSinkSpec, auditSinkSpecSchema } from '@codevector/crds';
import { z } from 'zod';
import type { ResourceSource } from '../resource-source.ts';
import { type ChainedAuditRow, deliver, type SinkCredentials } from './sink-formats.ts';

const sinkRow = z.object({ uid: z.string(), namespace: z.string(), name: z.string(), spec: z.unknown() });
const chainedRow = z.object({
  seq: z.number(),
  hash: z.string(),
  id: z.number(),
  at: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  targetName: z.string().nullable(),
  actor: z.string(),
  actorSource: z.string(),
  detail: z.unknown(),
  requestId: z.string().nullable(),
});

/**
 * Streams the sealed audit chain to every AuditSink (ADR 0306), run by the leading operator only.
 * Per sink: the rows after its cursor, in chain order, one batch at a time; the cursor moves only
 * after the sink acknowledged, so delivery is at least once and in order, and a restart or an
 * outage resumes where the sink stopped (a resent row carries the same sequence and hash).
 * A failing sink backs off (1 s doubling to 30 s) without holding up the others.
 */
export function startAuditDelivery(deps: {
  db: DatabasePool;
  source: ResourceSource;
  log: Logger;
  intervalMs?: number;
  timeoutMs?: number;
}) {
  const intervalMs = deps.intervalMs ?? 1000;
  const backoff = new Map<string, { until: number; ms: number }>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function credentialsFor(namespace: string, spec: AuditSinkSpec): Promise<SinkCredentials> {
    const credentials: SinkCredentials = {};
    const decode = (value: string | undefined) => (value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8'));
    if (spec.webhook) {
      const secret = await deps.source.getSecret(namespace, spec.webhook.hmacSecretRef.name);
      const key = secret?.marked ? decode(secret.data[spec.webhook.hmacSecretRef.key])?.trim() : undefined;
      if (!key) throw new Error(`Secret ${spec.webhook.hmacSecretRef.name} has no marked key ${spec.webhook.hmacSecretRef.key}`);
      credentials.hmacKey = key;
    }
    if (spec.otlp?.headersSecretRef) {
      const secret = await deps.source.getSecret(namespace, spec.otlp.headersSecretRef.name);
      if (!secret?.marked) throw new Error(`Secret ${spec.otlp.headersSecretRef.name} is missing or not marked`);
      credentials.headers = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, decode(v)!.trim()]));
    }
    return credentials;
  }

  /** Delivers one batch to one sink; true when it sent a full batch (more may be waiting). */
  async function deliverBatch(sink: z.infer<typeof sinkRow>): Promise<boolean> {
    const spec = auditSinkSpecSchema.parse(sink.spec);
    const cursor =
      (await deps.db.maybeOneFirst(sql.type(z.object({ s: z.number() }))`
        select delivered_seq::float8 as s from audit_sink_cursors where sink_uid = ${sink.uid}`)) ?? 0;
    const rows = (await deps.db.any(sql.type(chainedRow)`
      select c.seq::float8 as seq, encode(c.hash, 'hex') as hash, a.id::float8 as id,
        to_char(a.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, a.action, a.target_type as "targetType",
        a.target_id as "targetId", a.target_name as "targetName", a.actor, a.actor_source as "actorSource", a.detail,
        a.request_id as "requestId"
      from audit_chain c join audit_log a on a.id = c.audit_id
      where c.seq > ${cursor} order by c.seq limit ${spec.batchSize}`)) as ChainedAuditRow[];
    if (rows.length === 0) return false;
    const last = rows.at(-1)!.seq;
    try {
      await deliver(spec, rows, await credentialsFor(sink.namespace, spec), { hostname: hostname(), timeoutMs: deps.timeoutMs ?? 10_000 });
    } catch (error) {
      const message = (error as Error).message.slice(0, 1000);
      await deps.db.query(statement`
        insert into audit_sink_cursors (sink_uid, last_error, last_error_at, failures) values (${sink.uid}, ${message}, now(), 1)
        on conflict (sink_uid) do update set last_error = excluded.last_error, last_error_at = now(), failures = audit_sink_cursors.failures + 1`);
      const previous = backoff.get(sink.uid)?.ms ?? 500;
      const ms = Math.min(previous * 2, 30_000);
      backoff.set(sink.uid, { until: Date.now() + ms, ms });
      deps.log.warn({ sink: `${sink.namespace}/${sink.name}`, err: message, retryInMs: ms }, 'audit sink delivery failed');
      return false;
    }
    backoff.delete(sink.uid);
    await deps.db.query(statement`
      insert into audit_sink_cursors (sink_uid, delivered_seq, delivered_at) values (${sink.uid}, ${last}, now())
      on conflict (sink_uid) do update set delivered_seq = greatest(audit_sink_cursors.delivered_seq, excluded.delivered_seq), delivered_at = now()`);
    return rows.length === spec.batchSize;
  }

  async function round(): Promise<void> {
    const sinks = await deps.db.any(sql.type(sinkRow)`select uid, namespace, name, spec from audit_sinks order by namespace, name`);
    await Promise.all(
      sinks.map(async (sink) => {
        const wait = backoff.get(sink.uid);
        if (wait && wait.until > Date.now()) return;
        // Catch up in full batches without waiting for the next tick.
        for (let batches = 0; batches < 100 && !stopped; batches++) if (!(await deliverBatch(sink))) break;
      }),
    );
  }

  const tick = () => {
    running = round()
      .catch((error: unknown) => deps.log.warn({ err: error }, 'audit delivery round failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
