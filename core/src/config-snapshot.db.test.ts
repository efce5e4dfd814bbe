import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bumpConfigVersion, configSnapshotVersion, loadConfigSnapshot, SnapshotRowError, SnapshotVersionError } from './config-snapshot.ts';
import { createPool, type DatabasePool, sql, statement } from './create-pool.ts';
import { parseUsd } from './money.ts';

let pool: DatabasePool;
beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 2 });
});
afterAll(async () => {
  await pool.end();
});

const insert = (table: 'budgets' | 'models' | 'providers', uid: string, name: string, spec: unknown) =>
  pool.query(statement`
    insert into ${sql.identifier([table])} (uid, namespace, name, generation, spec)
    values (${uid}, 'team', ${name}, 1, ${sql.jsonb(spec as never)})`);

describe('loadConfigSnapshot', () => {
  it('translates stored CRD specs into the typed snapshot with exact money', async () => {
    await insert('providers', 'p1', 'anthropic', {
      type: 'anthropic',
      baseURL: 'https://api.anthropic.com',
      apiKeySecretRef: { name: 'k', key: 'apiKey' },
      timeoutSeconds: 600,
    });
    await insert('models', 'm1', 'sonnet', {
      name: 'claude-sonnet',
      providerRef: { name: 'anthropic' },
      upstreamModel: 'claude-sonnet-5',
      pricing: { input: 3, output: 15, cacheRead: 0.3 },
    });
    await insert('budgets', 'b1', 'monthly', {
      subject: { kind: 'global' },
      amountUSD: '100.50',
      period: 'month',
      mode: 'enforce',
      strict: false,
    });
    await pool.transaction((tx) => bumpConfigVersion(tx));
    const snapshot = await loadConfigSnapshot(pool);
    expect(snapshot.providers[0]).toMatchObject({ uid: 'p1', headers: {}, timeoutSeconds: 600, apiKeySealed: null });
    expect(snapshot.models[0]).toMatchObject({
      modelName: 'claude-sonnet',
      providerUid: 'p1',
      aliases: [],
      pricing: { input: 3_000_000n, output: 15_000_000n, cacheRead: 300_000n, cacheWrite: 0n },
    });
    expect(snapshot.budgets[0]).toMatchObject({ amount: parseUsd('100.5'), models: [], period: 'month' });
  });

  it('names the row that does not fit the contract', async () => {
    await insert('budgets', 'b-bad', 'floaty', { subject: { kind: 'global' }, amountUSD: 0.1, period: 'day' });
    await expect(loadConfigSnapshot(pool)).rejects.toThrow(SnapshotRowError);
    await expect(loadConfigSnapshot(pool)).rejects.toThrow(/Budget team\/floaty does not fit the contract: amountUSD/);
    await pool.query(statement`delete from budgets where uid = 'b-bad'`);
  });

  it('refuses a snapshot written with a newer contract version, and the writers stamp theirs', async () => {
    await pool.query(statement`update config_state set contract_version = ${configSnapshotVersion + 1}`);
    await expect(loadConfigSnapshot(pool)).rejects.toThrow(SnapshotVersionError);
    await expect(loadConfigSnapshot(pool)).rejects.toThrow(/upgrade the gateway/);
    await pool.transaction((tx) => bumpConfigVersion(tx));
    const stamped = await pool.oneFirst(sql.type(z.object({ v: z.number() }))`select contract_version as v from config_state`);
    expect(stamped).toBe(configSnapshotVersion);
    await expect(loadConfigSnapshot(pool)).resolves.toMatchObject({ budgets: [expect.objectContaining({ uid: 'b1' })] });
  });
});
