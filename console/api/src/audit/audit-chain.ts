import { createHash } from 'node:crypto';
import { stableStringify } from '@codevector/core/audit-diff';
import { auditRecordSchema } from '@codevector/core/audit-entry';
import { type CommonQueryMethods, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { z } from 'zod';
import type { Checkpoint, RejectedCheckpoint } from './audit-checkpoint.ts';
import type { ChainBreak, ChainReport } from './audit-contract.ts';

// Any constant works; every sealer (one per console replica) must use the same one.
export const sealerLockKey = 7_412_003_301;

// The chain hashes audit_log's columns as stored, under the columns' own names: this list and
// canonicalAuditRow's order are the chain's format, fixed for every row already sealed, so they
// do not follow the record schema by themselves; only the field types come from it. The source
// is read as any text, so a row tampered past its check constraint is reported, not unreadable.
const record = auditRecordSchema.shape;
const chainRow = z.object({
  id: record.id,
  at_us: z.string(),
  action: record.action,
  target_type: record.targetType,
  target_id: record.targetId,
  target_name: record.targetName,
  actor: record.actor,
  actor_source: z.string(),
  detail: record.detail,
  request_id: record.requestId,
});
export type ChainRow = z.infer<typeof chainRow>;
export { chainRow };

// `at` as integer microseconds since the epoch: exact, independent of the session time zone.
export const chainColumns = sql.fragment`a.id, (extract(epoch from a.at) * 1000000)::bigint::text as at_us, a.action, a.target_type,
  a.target_id, a.target_name, a.actor, a.actor_source, a.detail, a.request_id`;

/** The bytes a row contributes to the chain: every recorded field, JSON with sorted keys. */
export function canonicalAuditRow(row: ChainRow): string {
  return stableStringify([
    row.id,
    row.at_us,
    row.action,
    row.target_type,
    row.target_id,
    row.target_name,
    row.actor,
    row.actor_source,
    row.detail,
    row.request_id,
  ]);
}

/** hash(n) = sha256(hash(n-1) || canonical row n); the chain starts from 32 zero bytes. */
export function chainHash(previous: Buffer, row: ChainRow): Buffer {
  return createHash('sha256').update(previous).update(canonicalAuditRow(row)).digest();
}

const stateRow = z.object({ last_txid: z.string(), last_audit_id: z.number(), head_seq: z.number(), head_hash: z.instanceof(Buffer) });
const fullStateRow = stateRow.extend({ base_seq: z.number(), base_hash: z.instanceof(Buffer) });

/**
 * Seals one batch of settled audit rows onto the chain. Only one sealer runs at a time
 * (transaction-scoped advisory lock; others return at once). A row is settled when its
 * transaction is older than every running one (txid < snapshot xmin): it has committed or
 * aborted, and no transaction that could still add a row sorts before it. Rows are chained in
 * (txid, id) order, so the chain only ever grows at its head and writers never wait on it.
 * Returns how many rows it sealed, or null when another sealer holds the lock.
 */
export async function sealAuditBatch(pool: DatabasePool, batchSize = 2000): Promise<number | null> {
  return pool.transaction(async (tx) => {
    const locked = await tx.oneFirst(sql.type(z.object({ locked: z.boolean() }))`
      select pg_try_advisory_xact_lock(${sealerLockKey}) as locked`);
    if (!locked) return null;
    const state = await tx.one(sql.type(stateRow)`
      select last_txid::text as last_txid, last_audit_id, head_seq, head_hash from audit_chain_state`);
    const rows = await tx.any(sql.type(chainRow.extend({ txid: z.string() }))`
      select ${chainColumns}, a.txid::text as txid from audit_log a
      where (a.txid, a.id) > (${state.last_txid}::xid8, ${state.last_audit_id})
        and a.txid < pg_snapshot_xmin(pg_current_snapshot())
      order by a.txid, a.id limit ${batchSize}`);
    if (rows.length === 0) return 0;
    let hash = state.head_hash;
    let seq = state.head_seq;
    const seqs: number[] = [];
    const ids: number[] = [];
    const hashes: string[] = [];
    for (const row of rows) {
      hash = chainHash(hash, row);
      seq += 1;
      seqs.push(seq);
      ids.push(row.id);
      hashes.push(hash.toString('hex'));
    }
    await tx.query(statement`
      insert into audit_chain (seq, audit_id, hash)
      select s, i, decode(h, 'hex') from unnest(${sql.array(seqs, 'int8')}, ${sql.array(ids, 'int8')}, ${sql.array(hashes, 'text')}) as t(s, i, h)`);
    const last = rows.at(-1)!;
    await tx.query(statement`
      update audit_chain_state set last_txid = ${last.txid}::xid8, last_audit_id = ${last.id}, head_seq = ${seq},
        head_hash = decode(${hash.toString('hex')}, 'hex')`);
    return rows.length;
  });
}

/** Seals until nothing settled is left (or another sealer holds the lock). */
export async function sealAuditChain(pool: DatabasePool, batchSize = 2000): Promise<number> {
  let total = 0;
  for (;;) {
    const sealed = await sealAuditBatch(pool, batchSize);
    if (sealed === null) return total;
    total += sealed;
    if (sealed < batchSize) return total;
  }
}

/** The same columns, each of them nullable. */
function nullableColumns<S extends Record<string, z.ZodType>>(shape: S): { [K in keyof S]: z.ZodNullable<S[K]> } {
  return Object.fromEntries(Object.entries(shape).map(([key, type]) => [key, type.nullable()])) as { [K in keyof S]: z.ZodNullable<S[K]> };
}

// Left join: a deleted row comes back as nulls (reported as row_missing).
const linkRow = z.object({
  seq: z.number(),
  audit_id: z.number(),
  hash: z.instanceof(Buffer),
  present: z.boolean(),
  ...nullableColumns(chainRow.shape),
});

export type VerifyOptions = {
  batchSize?: number;
  /**
   * Signature-checked checkpoints from outside the database (audit-checkpoint.ts). With them,
   * verify also catches a chain recomputed after a rewrite, a truncated tail and a retention
   * base nobody signed; without them (undefined) only the in-database chain is checked.
   */
  checkpoints?: readonly Checkpoint[];
  /** Checkpoint files that failed their signature or did not parse: reported as a break. */
  rejectedCheckpoints?: readonly RejectedCheckpoint[];
  /** Start at a trusted position (a checkpoint) instead of the retention base: the anchorer's incremental check. */
  from?: { seq: number; hash: string };
};

/**
 * Recomputes the chain from its base (genesis, or the retention checkpoint rows were pruned up
 * to) and reports the first broken link: a row deleted or altered after sealing, a hole in the
 * sequence, a head that does not match, a row slipped in behind the sealed head, and, against
 * signed checkpoints, a chain recomputed after a rewrite (`checkpoint_mismatch`, from the first
 * position after the last checkpoint that still matches), rows removed past the chain's end
 * (`checkpoint_ahead`), a retention base no checkpoint vouches for (`base_unanchored`), or a
 * forged checkpoint file (`checkpoint_invalid`). Reads in keyset batches, so memory stays flat.
 */
export async function verifyAuditChain(db: CommonQueryMethods, options: VerifyOptions = {}): Promise<ChainReport> {
  const batchSize = options.batchSize ?? 5000;
  const state = await db.one(sql.type(fullStateRow)`
    select last_txid::text as last_txid, last_audit_id, head_seq, head_hash, base_seq, base_hash from audit_chain_state`);
  const pending = await db.oneFirst(sql.type(z.object({ n: z.number() }))`
    select count(*)::int as n from audit_log a where (a.txid, a.id) > (${state.last_txid}::xid8, ${state.last_audit_id})`);
  const anchors = new Map<number, Checkpoint[]>();
  for (const checkpoint of options.checkpoints ?? []) anchors.set(checkpoint.seq, [...(anchors.get(checkpoint.seq) ?? []), checkpoint]);
  let checked = 0;
  const report = (firstBreak: ChainBreak | null): ChainReport => ({
    ok: firstBreak === null,
    checked,
    headSeq: state.head_seq,
    baseSeq: state.base_seq,
    pending,
    checkpoints: options.checkpoints ? options.checkpoints.length : null,
    firstBreak,
  });
  const rejected = options.rejectedCheckpoints?.[0];
  if (rejected) {
    return report({
      seq: rejected.seq ?? 0,
      auditId: null,
      reason: 'checkpoint_invalid',
      message: `checkpoint ${rejected.name} cannot be trusted (${rejected.why}): the checkpoint store was tampered with`,
    });
  }
  const baseHex = state.base_hash.toString('hex');
  if (!options.from && options.checkpoints && state.base_seq > 0) {
    const vouched = (anchors.get(state.base_seq) ?? []).some((c) => c.purpose === 'retention' && c.hash === baseHex);
    if (!vouched) {
      const earlier = (options.checkpoints ?? []).filter((c) => c.purpose === 'retention' && c.seq < state.base_seq).map((c) => c.seq);
      const from = Math.max(0, ...earlier) + 1;
      return report({
        seq: from,
        auditId: null,
        reason: 'base_unanchored',
        message: `rows ${from}..${state.base_seq} were removed without a signed retention checkpoint`,
      });
    }
  }
  if (options.from && options.from.seq > state.base_seq) {
    // The incremental check starts from a signed position: the chain there must still be it.
    const stored = await db.maybeOneFirst(sql.type(z.object({ hash: z.instanceof(Buffer) }))`
      select hash from audit_chain where seq = ${options.from.seq}`);
    if (!stored || stored.toString('hex') !== options.from.hash) {
      return report({
        seq: options.from.seq,
        auditId: null,
        reason: 'checkpoint_mismatch',
        message: `the chain at seq ${options.from.seq} differs from the newest signed checkpoint: rows up to it were rewritten and the chain recomputed (a full verify names the first bad seq)`,
      });
    }
  }
  const startSeq = options.from ? options.from.seq : state.base_seq;
  let previous: Buffer = options.from ? Buffer.from(options.from.hash, 'hex') : state.base_hash;
  let expectedSeq = startSeq + 1;
  let lastAnchored = startSeq;
  for (;;) {
    const rows = await db.any(sql.type(linkRow)`
      select c.seq, c.audit_id, c.hash, a.id is not null as present, ${chainColumns}
      from audit_chain c left join audit_log a on a.id = c.audit_id
      where c.seq >= ${expectedSeq} order by c.seq limit ${batchSize}`);
    if (rows.length === 0) break;
    for (const row of rows) {
      if (row.seq !== expectedSeq) {
        return report({ seq: expectedSeq, auditId: null, reason: 'sequence_gap', message: `chain entry ${expectedSeq} is missing` });
      }
      if (!row.present) {
        return report({
          seq: row.seq,
          auditId: row.audit_id,
          reason: 'row_missing',
          message: `audit row ${row.audit_id} was deleted after sealing`,
        });
      }
      const hash = chainHash(previous, row as ChainRow);
      if (!hash.equals(row.hash)) {
        return report({
          seq: row.seq,
          auditId: row.audit_id,
          reason: 'row_altered',
          message: `audit row ${row.audit_id} does not match its seal`,
        });
      }
      const signed = anchors.get(row.seq) ?? [];
      if (signed.some((c) => c.hash !== hash.toString('hex') || (c.auditId !== null && c.auditId !== row.audit_id))) {
        return report({
          seq: lastAnchored + 1,
          auditId: null,
          reason: 'checkpoint_mismatch',
          message: `the chain at seq ${row.seq} differs from its signed checkpoint: rows ${lastAnchored + 1}..${row.seq} were rewritten, inserted or deleted and the chain recomputed`,
        });
      }
      if (signed.length > 0) lastAnchored = row.seq;
      previous = hash;
      expectedSeq += 1;
      checked += 1;
    }
  }
  const end = startSeq + checked;
  const furthest = Math.max(0, ...(options.checkpoints ?? []).map((c) => c.seq));
  if (furthest > end) {
    return report({
      seq: end + 1,
      auditId: null,
      reason: 'checkpoint_ahead',
      message: `the chain ends at seq ${end} but a signed checkpoint vouches for seq ${furthest}: rows ${end + 1}..${furthest} were deleted or truncated`,
    });
  }
  if (end !== state.head_seq || !previous.equals(state.head_seq === state.base_seq ? state.base_hash : state.head_hash)) {
    return report({ seq: end + 1, auditId: null, reason: 'head_mismatch', message: 'the chain does not end at the recorded head' });
  }
  // A whole-table anti-join: the full verify's job, not the anchorer's once a minute (its rows
  // behind the head were checked when their range was last verified in full).
  if (options.from) return report(null);
  const intruder = await db.maybeOne(sql.type(z.object({ id: z.number() }))`
    select a.id from audit_log a
    where (a.txid, a.id) <= (${state.last_txid}::xid8, ${state.last_audit_id})
      and not exists (select 1 from audit_chain c where c.audit_id = a.id)
    limit 1`);
  if (intruder) {
    return report({
      seq: state.head_seq,
      auditId: intruder.id,
      reason: 'unchained_row',
      message: `audit row ${intruder.id} sits behind the sealed head but was never sealed`,
    });
  }
  return report(null);
}
