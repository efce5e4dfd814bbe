import { generateApiKey } from '@codevector/core/api-key';
import { createPool, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createKeyStore, type KeyStore, keysChangedChannel } from './key-store.ts';

// Revocation by notification (migration 0510): the key cache trusts an entry for its TTL, so a
// revoked key would work until then; the triggers' NOTIFY drops it at once.
let pool: DatabasePool;
let keys: KeyStore;
let listener: pg.Client;
const notified: string[] = [];

const addUser = async (email: string) => {
  const userId = await pool.oneFirst(sql.type(z.object({ id: z.string() }))`
    insert into users (email, role) values (${email}, 'member') returning id::text`);
  const key = generateApiKey();
  await pool.query(statement`
    insert into api_keys (user_id, name, prefix, hash) values (${userId}, 'laptop', ${key.displayPrefix}, ${sql.binary(key.hash)})`);
  return { userId, key: key.key };
};
const status = async (key: string) => {
  const result = await keys.authenticate(key);
  return result.ok ? 'ok' : result.reason;
};

beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!);
  // A TTL far longer than the test: only an invalidation can make the cache let go.
  keys = createKeyStore({ pool, logger: createLogger({ name: 'key-store-test', level: 'silent' }), ttlMs: 600_000 });
  listener = new pg.Client({ connectionString: process.env['DATABASE_URL'] });
  await listener.connect();
  listener.on('notification', (message) => {
    notified.push(message.payload ?? '');
    keys.invalidate(message.payload);
  });
  await listener.query(`listen ${keysChangedChannel}`);
});
afterAll(async () => {
  await listener?.end();
  await keys?.close();
  await pool?.end();
});

describe('key store invalidation', () => {
  it('refuses a revoked key at once when the revocation is notified, and keeps other users’ keys cached', async () => {
    const leaver = await addUser('leaver@example.com');
    const stayer = await addUser('stayer@example.com');
    expect(await status(leaver.key)).toBe('ok');
    expect(await status(stayer.key)).toBe('ok');
    await pool.query(statement`update api_keys set revoked_at = now() where user_id = ${leaver.userId}`);
    await expect.poll(() => notified).toContain(leaver.userId);
    expect(await status(leaver.key)).toBe('revoked');
    expect(notified).not.toContain(stayer.userId);
  });

  it('refuses a disabled user’s keys, and lets them in again when re-enabled', async () => {
    const person = await addUser('contractor@example.com');
    expect(await status(person.key)).toBe('ok');
    await pool.query(statement`update users set disabled_at = now() where id = ${person.userId}`);
    await expect.poll(() => status(person.key)).toBe('disabled');
    await pool.query(statement`update users set disabled_at = null where id = ${person.userId}`);
    await expect.poll(() => status(person.key)).toBe('ok');
  });

  it('drops a lookup that was in flight when an invalidation came, instead of caching what it read before', async () => {
    // A store no notification reaches: what it answers after the revocation is what it cached.
    const unlistened = createKeyStore({ pool, logger: createLogger({ name: 'key-store-test', level: 'silent' }), ttlMs: 600_000 });
    const person = await addUser('racer@example.com');
    const pending = unlistened.authenticate(person.key);
    unlistened.invalidate();
    expect(await pending).toMatchObject({ ok: true });
    await pool.query(statement`update api_keys set revoked_at = now() where user_id = ${person.userId}`);
    expect(await unlistened.authenticate(person.key)).toMatchObject({ ok: false, reason: 'revoked' });
    await unlistened.close();
  });
});
