import { readFileSync } from 'node:fs';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { z } from 'zod';
import { sealAuditChain, verifyAuditChain } from './audit-chain.ts';
import {
  type Checkpoint,
  type CheckpointSigner,
  type CheckpointSink,
  type CheckpointVerifier,
  type checkpointPurposes,
  createCheckpointSigner,
  createCheckpointVerifier,
  createDirectoryCheckpointSink,
  loadCheckpoints,
} from './audit-checkpoint.ts';
import type { ChainReport } from './audit-contract.ts';

/** What anchoring needs: a key to sign with, the keys to trust, and the store outside PostgreSQL. */
export type AuditAnchor = { signer: CheckpointSigner; verifier: CheckpointVerifier; sink: CheckpointSink };

/** The chain, or the checkpoint store, no longer matches what was signed: nothing more is anchored or pruned. */
export class AuditTamperedError extends Error {
  readonly report: ChainReport;
  constructor(report: ChainReport) {
    super(`audit chain does not verify: ${report.firstBreak?.message ?? 'unknown break'} (seq ${report.firstBreak?.seq})`);
    this.name = 'AuditTamperedError';
    this.report = report;
  }
}

const headRow = z.object({ head_seq: z.number(), head_hash: z.instanceof(Buffer), base_seq: z.number(), audit_id: z.number().nullable() });

/**
 * Seals what has settled, checks the rows sealed since the newest stored checkpoint against it,
 * and signs and stores a checkpoint of the head. Does nothing when the head has not moved since
 * the newest checkpoint. Refuses to anchor a chain that does not extend the last checkpoint: that
 * would launder a rewrite.
 * @throws AuditTamperedError when the chain since the newest checkpoint does not verify.
 */
export async function writeAuditCheckpoint(
  pool: DatabasePool,
  anchor: AuditAnchor,
  purpose: (typeof checkpointPurposes)[number] = 'periodic',
  now: () => Date = () => new Date(),
): Promise<Checkpoint | null> {
  await sealAuditChain(pool);
  const head = await pool.one(sql.type(headRow)`
    select s.head_seq, s.head_hash, s.base_seq, c.audit_id from audit_chain_state s left join audit_chain c on c.seq = s.head_seq`);
  const latestSigned = await anchor.sink.latest();
  const latest = latestSigned && anchor.verifier.check(latestSigned) ? latestSigned.checkpoint : null;
  if (latest && latest.seq === head.head_seq && latest.hash === head.head_hash.toString('hex')) return null;
  // Incremental: from the newest trusted checkpoint (when it is still in the database) to the head.
  const from = latest && latest.seq >= head.base_seq ? { seq: latest.seq, hash: latest.hash } : undefined;
  const report = await verifyAuditChain(pool, from ? { from } : {});
  if (!report.ok) throw new AuditTamperedError(report);
  if (latest && latest.seq > head.head_seq) {
    throw new AuditTamperedError({
      ...report,
      ok: false,
      firstBreak: {
        seq: head.head_seq + 1,
        auditId: null,
        reason: 'checkpoint_ahead',
        message: `the chain ends at seq ${head.head_seq} but a signed checkpoint vouches for seq ${latest.seq}`,
      },
    });
  }
  const checkpoint: Checkpoint = {
    v: 1,
    seq: head.head_seq,
    hash: head.head_hash.toString('hex'),
    auditId: head.audit_id,
    at: now().toISOString(),
    purpose,
  };
  await anchor.sink.write(anchor.signer.sign(checkpoint));
  return checkpoint;
}

/** The whole chain checked against every stored checkpoint (what `codevector audit verify` runs). */
export async function verifyAnchoredChain(
  pool: DatabasePool,
  anchor: Pick<AuditAnchor, 'sink' | 'verifier'>,
  batchSize?: number,
): Promise<ChainReport> {
  const { trusted, rejected } = await loadCheckpoints(anchor.sink, anchor.verifier);
  return verifyAuditChain(pool, { checkpoints: trusted, rejectedCheckpoints: rejected, ...(batchSize ? { batchSize } : {}) });
}

/**
 * Retention: deletes the audit rows older than the configured number of days (audit_retention,
 * set by `codevector migrate`), after verifying the whole chain against the checkpoints and
 * storing a signed `retention` checkpoint at the last pruned position, so verify still passes on
 * what remains. The delete itself is audit_prune (security definer): the console role cannot
 * delete audit rows any other way. Returns the rows pruned, or null when retention is off or
 * nothing is old enough.
 * @throws AuditTamperedError when the chain does not verify (nothing is pruned then).
 */
export async function pruneAuditLog(
  pool: DatabasePool,
  anchor: AuditAnchor,
  options: { now?: () => Date; batchRows?: number } = {},
): Promise<{ pruned: number; seq: number } | null> {
  const now = options.now ?? (() => new Date());
  const batchRows = options.batchRows ?? 20_000;
  const days = await pool.oneFirst(sql.type(z.object({ days: z.number().nullable() }))`select days from audit_retention`);
  if (days === null) return null;
  await sealAuditChain(pool);
  // The last position before the first row still inside the retention period (rows are chained
  // in commit order, which follows time closely but not exactly: stop at the first young row).
  const cut = await pool.one(sql.type(z.object({ seq: z.number().nullable(), base_seq: z.number(), head_seq: z.number() }))`
    select coalesce(
             (select min(c.seq) - 1 from audit_chain c join audit_log a on a.id = c.audit_id
              where a.at >= now() - make_interval(days => ${days})),
             s.head_seq) as seq,
           s.base_seq, s.head_seq
    from audit_chain_state s`);
  const last = cut.seq ?? cut.head_seq;
  if (last <= cut.base_seq) return null;
  const report = await verifyAnchoredChain(pool, anchor);
  if (!report.ok) throw new AuditTamperedError(report);
  // In batches, each its own short transaction behind its own retention checkpoint, so a first
  // prune of millions of rows neither holds one huge delete open nor hits the statement timeout.
  let pruned = 0;
  let base = cut.base_seq;
  while (base < last) {
    const seq = Math.min(last, base + batchRows);
    const at = await pool.one(sql.type(z.object({ hash: z.instanceof(Buffer), audit_id: z.number() }))`
      select hash, audit_id from audit_chain where seq = ${seq}`);
    const checkpoint: Checkpoint = {
      v: 1,
      seq,
      hash: at.hash.toString('hex'),
      auditId: at.audit_id,
      at: now().toISOString(),
      purpose: 'retention',
    };
    await anchor.sink.write(anchor.signer.sign(checkpoint));
    pruned += await pool.oneFirst(sql.type(z.object({ pruned: z.number() }))`
      select audit_prune(${seq}, ${sql.binary(at.hash)}) as pruned`);
    base = seq;
  }
  return { pruned, seq: last };
}

/**
 * Writes a checkpoint every `intervalMs` and runs retention every `retentionIntervalMs`. Every
 * console replica may run one: checkpoints of the same head are the same file (written once),
 * and audit_prune locks the chain state. A tampered chain is logged as an error on every tick
 * and never anchored. Returns a stop function that waits for the tick in progress.
 */
export function startAuditAnchorer(
  pool: DatabasePool,
  anchor: AuditAnchor,
  logger: Logger,
  options: { intervalMs: number; retentionIntervalMs: number },
): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let lastRetention = 0;
  const tick = () => {
    running = (async () => {
      const checkpoint = await writeAuditCheckpoint(pool, anchor);
      if (checkpoint) logger.debug({ seq: checkpoint.seq, sink: anchor.sink.describe() }, 'audit checkpoint written');
      if (Date.now() - lastRetention >= options.retentionIntervalMs) {
        lastRetention = Date.now();
        const pruned = await pruneAuditLog(pool, anchor);
        if (pruned) logger.info(pruned, 'audit rows pruned by retention');
      }
    })()
      .catch((error: unknown) => {
        if (error instanceof AuditTamperedError)
          logger.error({ firstBreak: error.report.firstBreak }, 'audit chain tampered; not anchoring');
        else logger.error({ err: error }, 'audit anchoring failed');
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.intervalMs);
      });
  };
  timer = setTimeout(tick, 0);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

/**
 * The anchor from configuration: a folder sink and the signing key (file or value), plus older
 * public keys. Null when the folder or the key is missing.
 * @throws when a key is not Ed25519 or a file cannot be read.
 */
export function auditAnchorFromConfig(config: {
  AUDIT_CHECKPOINT_DIR?: string | undefined;
  AUDIT_CHECKPOINT_KEY_FILE?: string | undefined;
  AUDIT_CHECKPOINT_KEY?: string | undefined;
  AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE?: string | undefined;
}): AuditAnchor | null {
  const keyPem =
    config.AUDIT_CHECKPOINT_KEY ?? (config.AUDIT_CHECKPOINT_KEY_FILE ? readFileSync(config.AUDIT_CHECKPOINT_KEY_FILE, 'utf8') : null);
  if (!config.AUDIT_CHECKPOINT_DIR || !keyPem) return null;
  const signer = createCheckpointSigner(keyPem);
  const older = config.AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE ? readFileSync(config.AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE, 'utf8') : '';
  return {
    signer,
    verifier: createCheckpointVerifier(`${signer.publicKeyPem}\n${older}`),
    sink: createDirectoryCheckpointSink(config.AUDIT_CHECKPOINT_DIR),
  };
}
