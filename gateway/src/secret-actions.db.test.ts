import { randomBytes } from 'node:crypto';
import { crc32, gzipSync } from 'node:zlib';
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toBase62 } from './secret-scan/validate-token.ts';
import { fakeProviders, type GatewayFixture, sonnetModel, startGatewayFixture } from './testing/gateway-fixture.ts';

// SecretRule spec.action through the real gateway: Redact forwards the body with placeholders
// (re-serialised, so a gzip body goes upstream plain), Observe forwards it unchanged, Block wins.
let fx: GatewayFixture;
const anyRow = z.record(z.string(), z.unknown());
const auditRows = (action: string) => fx.pool.any(sql.type(anyRow)`select * from audit_log where action = ${action} order by id`);

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 5 }),
      models: [sonnetModel],
      secretRules: [
        { name: 'vcs-block', spec: { detectors: ['vcs'], action: 'block' } },
        {
          name: 'tickets-redact',
          spec: { patterns: [{ name: 'acme-token', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }], action: 'redact' },
        },
        { name: 'cloud-observe', spec: { detectors: ['cloud'], action: 'observe' } },
      ],
    }),
    user: { email: 'dev@example.com' },
  });
});
afterAll(async () => {
  await fx?.close();
});

const body = (text: string) => ({ model: 'claude-sonnet-5', max_tokens: 100, messages: [{ role: 'user', content: text }] });
const post = (payload: Buffer | string, headers: Record<string, string> = {}) =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01', ...headers },
    body: payload,
  });

describe('SecretRule actions', () => {
  it('redacts a gzip body: the provider gets the placeholder in plain JSON, the client its answer', async () => {
    const secret = `acme_${randomBytes(16).toString('hex')}`;
    fx.fake.requests.length = 0;
    const res = await post(gzipSync(JSON.stringify(body(`use ${secret} for the deploy`))), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe('message');
    const sent = fx.fake.requests.at(-1)!;
    expect(sent.headers['content-encoding']).toBeUndefined();
    expect(Number(sent.headers['content-length'])).toBe(sent.body.length);
    expect((sent.json as { messages: { content: string }[] }).messages[0]!.content).toBe('use [REDACTED:acme-token] for the deploy');
    expect(sent.body.toString()).not.toContain(secret);
    const row = (await auditRows('gateway.secret_redacted')).at(-1)!;
    expect(row['detail']).toMatchObject({
      rule: 'acme-token',
      action: 'redact',
      secretRule: 'default/tickets-redact',
      location: 'messages[0].content',
    });
    expect(row['actor']).toBe('dev@example.com');
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('observes: forwards the client bytes unchanged and records the match', async () => {
    const text = JSON.stringify(body('deploy with AKIA2OGYBAH6QWERT7XZ'));
    fx.fake.requests.length = 0;
    const res = await post(text);
    expect(res.status).toBe(200);
    expect(fx.fake.requests.at(-1)!.body.toString()).toBe(text);
    const row = (await auditRows('gateway.secret_observed')).at(-1)!;
    expect(row['detail']).toMatchObject({ rule: 'aws-access-key-id', action: 'observe', secretRule: 'default/cloud-observe' });
    expect(JSON.stringify(row)).not.toContain('AKIA2OGYBAH6QWERT7XZ');
  });

  it('blocks when a Block rule matches too, and the provider sees nothing', async () => {
    const random = randomBytes(30)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, 'x')
      .slice(0, 30);
    const github = `ghp_${random}${toBase62(crc32(random), 6)}`;
    fx.fake.requests.length = 0;
    const res = await post(JSON.stringify(body(`${github} and acme_${'ab'.repeat(16)}`)));
    expect(res.status).toBe(400);
    expect(fx.fake.requests).toHaveLength(0);
    expect((await auditRows('gateway.secret_blocked')).at(-1)!['detail']).toMatchObject({ rule: 'github-token', action: 'block' });
  });
});
