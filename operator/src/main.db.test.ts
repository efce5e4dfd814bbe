import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createPool, sql } from '@codevector/core/create-pool';
import { runAdminStatements } from '@codevector/testbed/postgres';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { until } from './testing/kube-test-env.ts';

const mainTs = fileURLToPath(new URL('./main.ts', import.meta.url));
const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', mainTs, ...args], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c));
  child.stderr.on('data', (c: Buffer) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe('operator CLI', () => {
  it('`migrate` applies every migration to an empty database, and `run --source dir:` reconciles the folder and stops cleanly on SIGTERM', async () => {
    const admin = new URL(process.env['DATABASE_URL']!);
    admin.pathname = '/postgres';
    const name = `cli_${randomBytes(4).toString('hex')}`;
    await runAdminStatements(admin.toString(), [`create database ${name}`]);
    const url = new URL(admin);
    url.pathname = `/${name}`;
    try {
      const migrate = cli(['migrate'], { DATABASE_URL: url.toString() });
      expect(await migrate.exited).toBe(0);
      const db = await createPool(url.toString());
      try {
        const versions = await db.anyFirst(
          sql.type(z.object({ version: z.number() }))`select version from schema_migrations order by version`,
        );
        expect(versions).toContain(1);
        expect(versions).toContain(100);

        const run = cli(['run', '--source', `dir:${examples}`], {
          DATABASE_URL: url.toString(),
          CODEVECTOR_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        });
        const audits = await until(
          () => db.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log`),
          (n) => n === 19,
        );
        expect(audits).toBe(19);
        run.child.kill('SIGTERM');
        expect(await run.exited).toBe(0);
      } finally {
        await db.end();
      }
    } finally {
      await runAdminStatements(admin.toString(), [`drop database if exists ${name} with (force)`]);
    }
  });

  it('fails with a readable list when configuration is missing', async () => {
    const run = cli(['run'], {});
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toContain('DATABASE_URL');
  });
});
