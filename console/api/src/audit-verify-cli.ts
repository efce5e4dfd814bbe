#!/usr/bin/env node
// `codevector audit verify`: recomputes the audit hash chain and reports the first broken link.
// Exit status 0 = intact, 1 = broken, 2 = could not run. Reads DATABASE_URL like the services.
import { createPool } from '@codevector/core/create-pool';
import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';
import { sealAuditChain, verifyAuditChain } from './audit/audit-chain.ts';

const args = process.argv.slice(2).filter((a) => a !== 'audit');
const command = args[0] ?? 'verify';
if (command !== 'verify' && command !== 'seal') {
  process.stderr.write('usage: codevector audit verify [--json]\n       codevector audit seal\n');
  process.exit(2);
}
try {
  const config = loadConfig(z.object({ DATABASE_URL: z.string().url() }), process.env);
  const pool = await createPool(config.DATABASE_URL, { applicationName: 'codevector-audit-cli', statementTimeoutMs: 24 * 3_600_000 });
  try {
    if (command === 'seal') {
      process.stdout.write(`sealed ${await sealAuditChain(pool)} rows\n`);
      process.exit(0);
    }
    const report = await verifyAuditChain(pool);
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify(report)}\n`);
    else if (report.ok) process.stdout.write(`audit chain intact: ${report.checked} sealed rows verified, ${report.pending} pending\n`);
    else
      process.stdout.write(
        `audit chain BROKEN at seq ${report.firstBreak!.seq}: ${report.firstBreak!.message} (${report.firstBreak!.reason})\n`,
      );
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await pool.end();
  }
} catch (error) {
  process.stderr.write(`audit verify failed: ${(error as Error).message}\n`);
  process.exit(2);
}
