import { randomBytes } from 'node:crypto';
import { sql, statement } from '@codevector/core/create-pool';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fakeProviders, type GatewayFixture, sonnetModel, startGatewayFixture } from './testing/gateway-fixture.ts';

// Issue #14 §5: every refused key is recorded, but a flood or a retrying client writes one audit
// row per subject and minute, with a count beside it (gateway_refusal_windows).
let fx: GatewayFixture;

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 5 }),
      models: [sonnetModel],
      secretRules: [
        {
          name: 'builtin',
          spec: { detectors: ['all'], patterns: [{ name: 'acme-token', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }] },
        },
      ],
    }),
    user: { email: 'agg@example.com' },
  });
});
afterAll(() => fx?.close());

const auditRow = z.object({
  id: z.number(),
  target_id: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
  request_id: z.string().nullable(),
});
const windowRow = z.object({ subject: z.string(), signature: z.string(), count: z.string(), first_request_id: z.string().nullable() });

const send = (key: string | null, content = 'hello') =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-api-key': key }) },
    body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content }] }),
  });

const rows = (action: string) =>
  fx.pool.any(sql.type(auditRow)`select id, target_id, detail, request_id from audit_log where action = ${action} order by id`);
const windowsOf = (action: string, subject: string) =>
  fx.pool.any(
    sql.type(
      windowRow,
    )`select subject, signature, count::text, first_request_id from gateway_refusal_windows where action = ${action} and subject = ${subject}`,
  );

describe('refused keys, aggregated', () => {
  it('a flood of unknown keys from one address is one audit row and a count', async () => {
    const before = (await rows('gateway.key_refused')).length;
    const statuses = await Promise.all(
      Array.from({ length: 200 }, () => send(`cvk_${randomBytes(16).toString('hex')}`).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([401]));
    const added = (await rows('gateway.key_refused')).slice(before);
    // One row per minute window: a flood that crosses a minute boundary (a slow machine) is two.
    const windowStarts = added.map((r) => (r.detail['aggregation'] as { windowStart?: string } | undefined)?.windowStart);
    expect(added.length).toBeGreaterThanOrEqual(1);
    expect(added.length).toBeLessThanOrEqual(2);
    expect(new Set(windowStarts).size).toBe(added.length);
    const row = added[0]!;
    for (const r of added) {
      expect(r.detail).toMatchObject({ reason: 'unknown', aggregation: { subject: 'source:127.0.0.1', windowSeconds: 60 } });
      // Never the key itself, only a short hash of one of them.
      expect(JSON.stringify(r.detail)).not.toMatch(/cvk_/);
    }
    const windows = await waitFor(async () => {
      const found = await windowsOf('gateway.key_refused', 'source:127.0.0.1');
      const unknown = found.filter((w) => w.signature === 'unknown');
      return unknown.reduce((n, w) => n + Number(w.count), 0) >= 200 ? unknown : null;
    });
    expect(windows.reduce((n, w) => n + Number(w.count), 0)).toBe(200);
    expect(windows.some((w) => w.first_request_id === row.request_id)).toBe(true);
  });

  it('a revoked key retried is one row for that key with the count of tries; a missing key is counted per address', async () => {
    const user = await fx.seedUser({ email: 'revoked@example.com' });
    await fx.pool.query(statement`update api_keys set revoked_at = now() where id = ${user.keyId}`);
    for (let i = 0; i < 5; i++) expect((await send(user.key)).status).toBe(401);
    const revoked = (await rows('gateway.key_refused')).filter((r) => r.target_id === user.keyId);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]!.detail).toMatchObject({ reason: 'revoked', owner: 'revoked@example.com' });
    const counted = await waitFor(async () => {
      const found = await windowsOf('gateway.key_refused', `key:${user.keyId}`);
      return found[0] && Number(found[0].count) === 5 ? found : null;
    });
    expect(counted).toHaveLength(1);

    const missingBefore = (await rows('gateway.key_refused')).filter((r) => r.detail['reason'] === 'missing').length;
    for (let i = 0; i < 3; i++) {
      const res = await send(null);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    }
    expect((await rows('gateway.key_refused')).filter((r) => r.detail['reason'] === 'missing').length - missingBefore).toBe(1);
  });
});

describe('repeated refusals, aggregated', () => {
  it('counts still reach the database after a quiet second (regression: an empty flush once stopped all later ones)', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const user = await fx.seedUser({ email: 'quiet@example.com' });
    await fx.pool.query(statement`update api_keys set revoked_at = now() where id = ${user.keyId}`);
    expect((await send(user.key)).status).toBe(401);
    await waitFor(async () => (await windowsOf('gateway.key_refused', `key:${user.keyId}`))[0]);
  });

  it('the same prompt with a secret retried six times is one gateway.secret_blocked row with count 6', async () => {
    const secret = `acme_${randomBytes(16).toString('hex')}`;
    const before = (await rows('gateway.secret_blocked')).length;
    for (let i = 0; i < 6; i++) expect((await send(fx.key, `deploy with ${secret}`)).status).toBe(400);
    const after = await rows('gateway.secret_blocked');
    expect(after.length - before).toBe(1);
    const counted = await waitFor(async () => {
      const found = (await windowsOf('gateway.secret_blocked', `key:${fx.keyId}`)).filter(
        (w) => w.first_request_id === after.at(-1)!.request_id,
      );
      return found[0] && Number(found[0].count) === 6 ? found : null;
    });
    expect(counted).toHaveLength(1);
    // A different secret is a different event.
    expect((await send(fx.key, `and acme_${randomBytes(16).toString('hex')}`)).status).toBe(400);
    expect((await rows('gateway.secret_blocked')).length - before).toBe(2);
  });
});
