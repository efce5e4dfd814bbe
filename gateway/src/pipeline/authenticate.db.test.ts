import { statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUserWithKey } from '../seed-config.ts';
import { createPipelineDeps } from '../testing/pipeline-deps.ts';
import { authenticate, readKey } from './authenticate.ts';

let t: Awaited<ReturnType<typeof createPipelineDeps>>;
beforeAll(async () => {
  t = await createPipelineDeps();
});
afterAll(async () => {
  await t?.close();
});

describe('authenticate', () => {
  it('reads the key from x-api-key first, then Authorization: Bearer', () => {
    expect(readKey({ 'x-api-key': ' cvk_a ', authorization: 'Bearer cvk_b' })).toBe('cvk_a');
    expect(readKey({ authorization: 'bearer cvk_b' })).toBe('cvk_b');
    expect(readKey({ authorization: 'Basic abc' })).toBeNull();
    expect(readKey({})).toBeNull();
  });

  it('answers with the principal of a live key and the right refusal for every other', async () => {
    const live = await seedUserWithKey(t.pool, { email: 'live@example.com', groups: ['devs'] });
    const revoked = await seedUserWithKey(t.pool, { email: 'gone@example.com' });
    await t.pool.query(statement`update api_keys set revoked_at = now() where id = ${revoked.keyId}`);
    const expired = await seedUserWithKey(t.pool, { email: 'late@example.com' });
    await t.pool.query(statement`update api_keys set expires_at = now() - interval '1 minute' where id = ${expired.keyId}`);

    expect(await authenticate(t.deps.keys, { 'x-api-key': live.key })).toMatchObject({
      ok: true,
      principal: { email: 'live@example.com', keyId: live.keyId, groups: ['devs'] },
    });
    expect(await authenticate(t.deps.keys, { authorization: `Bearer ${revoked.key}` })).toMatchObject({
      ok: false,
      code: 'GW_KEY_REVOKED',
    });
    expect(await authenticate(t.deps.keys, { 'x-api-key': expired.key }, '10.0.0.9')).toMatchObject({
      ok: false,
      code: 'GW_UNAUTHENTICATED',
      message: 'This CodeVector API key has expired.',
      // Every refused key carries its event, counted per key when the key is known…
      event: { action: 'gateway.key_refused', targetId: expired.keyId, detail: { reason: 'expired', source: '10.0.0.9' } },
      aggregate: { subject: `key:${expired.keyId}`, signature: 'expired' },
    });
    // …and per source address when it is not, with a hash of the key, never the key.
    const unknown = await authenticate(t.deps.keys, { 'x-api-key': 'cvk_not_a_key' }, '10.0.0.9');
    expect(unknown).toMatchObject({ event: { targetId: null, detail: { reason: 'unknown' } }, aggregate: { subject: 'source:10.0.0.9' } });
    expect(JSON.stringify(unknown)).not.toContain('cvk_not_a_key');
    expect(await authenticate(t.deps.keys, { 'x-api-key': 'cvk_not_a_key' })).toMatchObject({ ok: false, code: 'GW_UNAUTHENTICATED' });
    expect(await authenticate(t.deps.keys, {})).toMatchObject({ ok: false, message: expect.stringMatching(/required/) });
  });
});
