// `npm run bench -- audit [--rows N]`: what anchoring the audit chain costs (docs/adr/0401), on
// embedded PostgreSQL with the console on its own database role: sealing, the first and an
// incremental checkpoint, a full verify against the checkpoints, retention of half the rows, and
// the sign-in throttle's database work per attempt. Writes bench/results/audit.json.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  auditAnchorFromConfig,
  pruneAuditLog,
  verifyAnchoredChain,
  writeAuditCheckpoint,
} from '@codevector/console-api/audit/audit-anchor';
import { sealAuditChain } from '@codevector/console-api/audit/audit-chain';
import { createLoginThrottle } from '@codevector/console-api/auth/login-throttle';
import { createPool } from '@codevector/core/create-pool';
import { migrate, setAuditRetention } from '@codevector/core/migrate';
import { provisionServiceLogins, serviceDatabaseUrl } from '@codevector/core/service-roles';
import { runAdminStatements, startPostgres } from '@codevector/testbed/postgres';
import pg from 'pg';

const results = fileURLToPath(new URL('../results/audit.json', import.meta.url));
const log = (message: string) => process.stderr.write(`[audit bench] ${message}\n`);
const option = (args: string[], name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await work();
  return [value, (performance.now() - start) / 1000];
}

export async function run(args: string[]): Promise<void> {
  const rows = Number(option(args, '--rows') ?? 200_000);
  const server = await startPostgres({ durable: false });
  const dir = await mkdtemp(path.join(tmpdir(), 'cv-bench-checkpoints-'));
  try {
    const database = `bench_audit_${randomBytes(3).toString('hex')}`;
    await runAdminStatements(server.adminUrl, [`create database ${database}`]);
    const ownerUrl = server.urlFor(database);
    await migrate(ownerUrl);
    const login = {
      service: 'console' as const,
      user: `bench_console_${randomBytes(3).toString('hex')}`,
      password: randomBytes(18).toString('base64url'),
    };
    await provisionServiceLogins(ownerUrl, [login]);

    log(`seeding ${rows.toLocaleString()} audit rows (half of them 40 days old)`);
    const owner = new pg.Client({ connectionString: ownerUrl });
    await owner.connect();
    await owner.query(
      `insert into audit_log (at, action, target_type, target_id, target_name, actor, actor_source, detail, request_id)
       select case when g <= $1 / 2 then now() - interval '40 days' + g * interval '1 millisecond' else now() - interval '1 day' + g * interval '1 millisecond' end,
              'gateway.secret_blocked', 'api_key', gen_random_uuid()::text, 'key ' || g, 'user' || (g % 500) || '@example.com', 'gateway',
              jsonb_build_object('rule', 'aws-access-key', 'model', 'claude-sonnet-5', 'bytes', g), 'req-' || g
       from generate_series(1, $1) g`,
      [rows],
    );

    const pool = await createPool(serviceDatabaseUrl(ownerUrl, login), { statementTimeoutMs: 600_000 });
    const anchor = auditAnchorFromConfig({
      AUDIT_CHECKPOINT_DIR: dir,
      AUDIT_CHECKPOINT_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    })!;
    try {
      const [sealed, sealSeconds] = await timed(() => sealAuditChain(pool, 5000));
      log(`sealed ${sealed} rows in ${sealSeconds.toFixed(2)} s`);
      const [, firstCheckpointSeconds] = await timed(() => writeAuditCheckpoint(pool, anchor));
      await owner.query(
        `insert into audit_log (action, target_type, actor, actor_source) select 'group.created', 'group', 'a@example.com', 'console' from generate_series(1, 1000)`,
      );
      await sealAuditChain(pool);
      const [, incrementalCheckpointSeconds] = await timed(() => writeAuditCheckpoint(pool, anchor));
      const [report, verifySeconds] = await timed(() => verifyAnchoredChain(pool, anchor));
      if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.firstBreak)}`);
      await setAuditRetention(ownerUrl, 30);
      const [pruned, pruneSeconds] = await timed(() => pruneAuditLog(pool, anchor));
      const [after, verifyAfterPruneSeconds] = await timed(() => verifyAnchoredChain(pool, anchor));
      if (!after.ok) throw new Error(`verify after retention failed: ${JSON.stringify(after.firstBreak)}`);

      const throttle = createLoginThrottle(pool, { secret: 'x'.repeat(32) });
      const samples: number[] = [];
      for (let i = 0; i < 300; i++) {
        const start = performance.now();
        await throttle.assertAllowed(`user${i % 50}@example.com`, `198.51.100.${i % 200}`);
        await throttle.recordFailure(`user${i % 50}@example.com`, `198.51.100.${i % 200}`);
        samples.push(performance.now() - start);
      }
      samples.sort((a, b) => a - b);
      const figures = {
        measured_at: new Date().toISOString(),
        machine_load_average_1m: Number(loadavg()[0]!.toFixed(1)),
        rows,
        seal_rows_per_second: Math.round(sealed / sealSeconds),
        first_checkpoint_seconds: Number(firstCheckpointSeconds.toFixed(3)),
        incremental_checkpoint_seconds_after_1000_rows: Number(incrementalCheckpointSeconds.toFixed(3)),
        verify_against_checkpoints_seconds: Number(verifySeconds.toFixed(3)),
        verify_rows_per_second: Math.round(report.checked / verifySeconds),
        checkpoints: report.checkpoints,
        retention_pruned_rows: pruned?.pruned ?? 0,
        retention_seconds: Number(pruneSeconds.toFixed(3)),
        verify_after_retention_ok: after.ok,
        verify_after_retention_from_seq: after.baseSeq + 1,
        verify_after_retention_seconds: Number(verifyAfterPruneSeconds.toFixed(3)),
        checkpoint_files: (await readdir(dir)).length,
        sign_in_throttle_db_ms_p50: Number(samples[Math.floor(samples.length / 2)]!.toFixed(2)),
        sign_in_throttle_db_ms_p95: Number(samples[Math.ceil(samples.length * 0.95) - 1]!.toFixed(2)),
      };
      await writeFile(results, `${JSON.stringify(figures, null, 2)}\n`);
      log(JSON.stringify(figures));
    } finally {
      await pool.end();
      await owner.end();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await server.stop();
  }
}
