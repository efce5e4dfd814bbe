import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOperator, type Operator } from './build-operator.ts';
import { loadOperatorConfig } from './config.ts';

let db: DatabasePool;
let dir: string;
const log = createLogger({ name: 'operator-test', level: 'silent' });
const config = loadOperatorConfig({
  DATABASE_URL: process.env['DATABASE_URL'],
  CODEVECTOR_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
});

beforeAll(async () => {
  db = await createPool(process.env['DATABASE_URL']!);
  dir = await mkdtemp(path.join(tmpdir(), 'cv-manifests-'));
  await cp(new URL('../../examples/', import.meta.url).pathname, dir, { recursive: true });
});
afterAll(async () => {
  await db.end();
  await rm(dir, { recursive: true, force: true });
});

const audit = () =>
  db.any(sql.type(
    z.object({ action: z.string(), actor: z.string(), actor_source: z.string(), target_name: z.string().nullable(), detail: z.any() }),
  )`
    select action, actor, actor_source, target_name, detail from audit_log order by id`);
const count = (table: string) =>
  db.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from ${sql.identifier([table])}`);

async function run(): Promise<Operator> {
  const operator = buildOperator({ config, db, log, source: { type: 'dir', dir } });
  await operator.start();
  await operator.idle();
  return operator;
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('file source', () => {
  it('reconciles the example manifests with one audit row per resource, attributed to the file', async () => {
    const operator = await run();
    await operator.stop();
    expect(await count('providers')).toBe(2);
    expect(await count('models')).toBe(5);
    expect(await count('budgets')).toBe(5);
    expect(await count('rate_limits')).toBe(5);
    expect(await count('secret_rules')).toBe(2);
    const rows = await audit();
    expect(rows).toHaveLength(19);
    const anthropic = rows.find((r) => r.target_name === 'codevector/anthropic');
    expect(anthropic).toMatchObject({ action: 'provider.created', actor_source: 'system' });
    expect(anthropic?.actor).toMatch(/^file:.*20-providers\.yaml$/);
    expect(JSON.stringify(rows)).not.toContain('REPLACE-ME');
    expect(anthropic?.detail.after.keyFingerprint).toMatch(/^sha256:[0-9a-f]{12}$/);
  });

  it('adds no rows on restart', async () => {
    const before = (await audit()).length;
    for (let i = 0; i < 3; i++) await (await run()).stop();
    expect(await audit()).toHaveLength(before);
  });

  it('applies edits while running: a key rotation, a spec change and a removal', async () => {
    const operator = await run();
    const before = (await audit()).length;
    const secrets = path.join(dir, '10-provider-secrets.yaml');
    await writeFile(secrets, (await readFile(secrets, 'utf8')).replace('sk-ant-api03-REPLACE-ME', 'sk-ant-rotated'));
    const rows = await until(audit, (r) => r.length >= before + 1);
    expect(rows.at(-1)).toMatchObject({ action: 'provider.updated', target_name: 'codevector/anthropic' });
    expect(Object.keys(rows.at(-1)?.detail.after)).toEqual(['keyFingerprint']);
    expect(rows.at(-1)?.actor).toMatch(/10-provider-secrets\.yaml$/);

    const rules = path.join(dir, '60-secret-rules.yaml');
    const original = await readFile(rules, 'utf8');
    await writeFile(rules, original.replace(/severity: \w+/, 'severity: low'));
    const afterEdit = await until(audit, (r) => r.length >= before + 2);
    expect(afterEdit.at(-1)?.action).toBe('secret_rule.updated');

    await rm(path.join(dir, '50-rate-limits.yaml'));
    const afterRemove = await until(audit, (r) => r.length >= before + 7);
    expect(afterRemove.slice(-5).map((r) => r.action)).toEqual(Array(5).fill('rate_limit.deleted'));
    expect(await count('rate_limits')).toBe(0);
    await operator.stop();
  });

  it('keeps objects when a file stops parsing, and reports a pattern that does not compile without writing', async () => {
    const operator = await run();
    const before = (await audit()).length;
    await writeFile(path.join(dir, '30-models.yaml'), 'this: [is not yaml');
    await writeFile(
      path.join(dir, '70-bad-rule.yaml'),
      'apiVersion: codevector.dev/v1alpha1\nkind: SecretRule\nmetadata: {name: bad, namespace: codevector}\nspec:\n  patterns:\n  - {name: broken, regex: "(?<=x)y", keywords: [xy]}\n',
    );
    await new Promise((resolve) => setTimeout(resolve, 600));
    await operator.idle();
    expect(await count('models')).toBe(5);
    expect(await audit()).toHaveLength(before);
    await operator.stop();
  });

  it('writes one refusal row for a refused object, however often it is reconciled and across restarts', async () => {
    await writeFile(
      path.join(dir, '80-refused-sink.yaml'),
      'apiVersion: codevector.dev/v1alpha1\nkind: AuditSink\nmetadata: {name: exfiltrate, namespace: team-a}\nspec: {type: webhook, webhook: {url: "https://attacker.example/collect", hmacSecretRef: {name: x, key: y}}}\n',
    );
    const refusals = async () => (await audit()).filter((r) => r.target_name === 'team-a/exfiltrate').map((r) => r.action);
    for (let run_ = 0; run_ < 2; run_++) {
      const operator = await run();
      // start() enqueues every object twice (the folder's first load and the startup sweep).
      await until(refusals, (r) => r.length > 0);
      await operator.idle();
      await operator.stop();
    }
    expect(await refusals()).toEqual(['audit_sink.refused']);
  });
});
