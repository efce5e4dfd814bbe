#!/usr/bin/env node
// `codevector audit …`: verify the audit chain (against the signed checkpoints outside the
// database when they are configured), seal, write a checkpoint now, run retention now, or make a
// checkpoint key. Exit status 0 = intact/done, 1 = broken, 2 = could not run. Reads DATABASE_URL
// and the AUDIT_CHECKPOINT_* variables like the console (docs/adr/0401).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createPool } from '@codevector/core/create-pool';
import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';
import { auditAnchorFromConfig, pruneAuditLog, verifyAnchoredChain, writeAuditCheckpoint } from './audit/audit-anchor.ts';
import { sealAuditChain, verifyAuditChain } from './audit/audit-chain.ts';
import { createCheckpointVerifier, createDirectoryCheckpointSink } from './audit/audit-checkpoint.ts';

const usage = `usage: codevector audit verify [--json] [--checkpoints <dir>] [--public-key <pem file>]
       codevector audit seal
       codevector audit checkpoint        sign and store a checkpoint of the head now
       codevector audit prune             run retention now (audit_retention days, set by migrate)
       codevector audit keygen            print a new Ed25519 checkpoint key (PKCS#8 PEM)
`;

const { values, positionals } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'audit'),
  allowPositionals: true,
  options: { json: { type: 'boolean' }, checkpoints: { type: 'string' }, 'public-key': { type: 'string' } },
});
const command = positionals[0] ?? 'verify';
if (!['verify', 'seal', 'checkpoint', 'prune', 'keygen'].includes(command)) {
  process.stderr.write(usage);
  process.exit(2);
}
if (command === 'keygen') {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  process.stdout.write(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  process.stderr.write(`public key (for verifiers):\n${publicKey.export({ type: 'spki', format: 'pem' }).toString()}`);
  process.exit(0);
}

const env = z.object({
  DATABASE_URL: z.string().url(),
  AUDIT_CHECKPOINT_DIR: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_KEY_FILE: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_KEY: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE: z.string().min(1).optional(),
});
try {
  const config = loadConfig(env, process.env);
  const dir = values.checkpoints ?? config.AUDIT_CHECKPOINT_DIR;
  const pool = await createPool(config.DATABASE_URL, { applicationName: 'codevector-audit-cli', statementTimeoutMs: 24 * 3_600_000 });
  try {
    if (command === 'seal') {
      process.stdout.write(`sealed ${await sealAuditChain(pool)} rows\n`);
      process.exit(0);
    }
    if (command === 'checkpoint' || command === 'prune') {
      const anchor = auditAnchorFromConfig({ ...config, AUDIT_CHECKPOINT_DIR: dir });
      if (!anchor) throw new Error('set AUDIT_CHECKPOINT_DIR and AUDIT_CHECKPOINT_KEY_FILE (or AUDIT_CHECKPOINT_KEY)');
      if (command === 'checkpoint') {
        const written = await writeAuditCheckpoint(pool, anchor, 'manual');
        process.stdout.write(written ? `checkpoint at seq ${written.seq} written to ${dir}\n` : 'the head is already checkpointed\n');
      } else {
        const pruned = await pruneAuditLog(pool, anchor);
        process.stdout.write(pruned ? `pruned ${pruned.pruned} rows up to seq ${pruned.seq}\n` : 'nothing to prune\n');
      }
      process.exit(0);
    }
    // Verify needs only public keys: --public-key, or the ones derived from the configured key.
    const publicKeys = values['public-key']
      ? readFileSync(values['public-key'], 'utf8')
      : [
          config.AUDIT_CHECKPOINT_KEY ?? (config.AUDIT_CHECKPOINT_KEY_FILE ? readFileSync(config.AUDIT_CHECKPOINT_KEY_FILE, 'utf8') : ''),
          config.AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE ? readFileSync(config.AUDIT_CHECKPOINT_PUBLIC_KEYS_FILE, 'utf8') : '',
        ].join('\n');
    const anchored = dir !== undefined && publicKeys.includes('-----BEGIN');
    const report = anchored
      ? await verifyAnchoredChain(pool, { sink: createDirectoryCheckpointSink(dir), verifier: createCheckpointVerifier(publicKeys) })
      : await verifyAuditChain(pool);
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else if (report.ok)
      process.stdout.write(
        `audit chain intact: ${report.checked} sealed rows verified from seq ${report.baseSeq + 1}, ${report.pending} pending, ${
          anchored ? `${report.checkpoints} signed checkpoints matched` : 'NOT checked against signed checkpoints (none configured)'
        }\n`,
      );
    else
      process.stdout.write(
        `audit chain BROKEN at seq ${report.firstBreak!.seq}: ${report.firstBreak!.message} (${report.firstBreak!.reason})\n`,
      );
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await pool.end();
  }
} catch (error) {
  process.stderr.write(`audit ${command} failed: ${(error as Error).message}\n`);
  process.exit(2);
}
