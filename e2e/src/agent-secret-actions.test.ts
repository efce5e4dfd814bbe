// Redact and Observe through the real Claude Code CLI (the version in the lockfile): a prompt
// holding an AWS key id (a Redact rule) and an internal ticket token (an Observe rule) still gets
// its answer; the fake provider receives the placeholder and never the key, and the ticket token
// unchanged; both events are in the audit log with the action taken, without either value.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from '@codevector/core/create-pool';
import { fakeProviders, type GatewayFixture, startGatewayFixture } from '@codevector/gateway/testing/gateway-fixture';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { runClaudeCode } from './claude-code-cli.ts';

let fx: GatewayFixture;
const examples = fileURLToPath(new URL('../../examples/30-models.yaml', import.meta.url));

beforeAll(async () => {
  const models = parseAllDocuments(await readFile(examples, 'utf8'))
    .map((doc) => doc.toJS() as { metadata: { name: string }; spec: Record<string, unknown> })
    .map((m) => ({ name: m.metadata.name, spec: m.spec }));
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 30 }),
      models,
      secretRules: [
        { name: 'cloud-redact', spec: { detectors: ['cloud'], action: 'redact' } },
        {
          name: 'tickets-observe',
          spec: { patterns: [{ name: 'acme-ticket', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }], action: 'observe' },
        },
      ],
    }),
    user: { email: 'dev@example.com' },
  });
});
afterAll(async () => {
  await fx?.close();
});

function runClaude(prompt: string, home: string): Promise<string> {
  return runClaudeCode({ args: ['-p', prompt, '--output-format', 'json'], cwd: home, home, baseUrl: fx.base, apiKey: fx.key });
}

describe('Claude Code through Redact and Observe SecretRules', () => {
  it('answers a prompt whose AWS key is redacted and whose ticket token is observed', async () => {
    const keyId = 'AKIA2OGYBAH6QWERT7XZ';
    const ticket = `acme_${randomBytes(16).toString('hex')}`;
    const home = await mkdtemp(path.join(tmpdir(), 'cv-claude-secrets-'));
    fx.fake.requests.length = 0;
    try {
      const output = await runClaude(`Deploy with ${keyId} for ticket ${ticket}, then say hello.`, home);
      const result = JSON.parse(output) as { result: string; is_error: boolean };
      expect(result.is_error).toBe(false);
      expect(result.result).toContain('Hello from the fake provider');

      const upstream = fx.fake.requests.filter((r) => r.url.startsWith('/v1/messages'));
      const withPrompt = upstream.filter((r) => r.body.toString().includes('then say hello'));
      expect(withPrompt.length).toBeGreaterThan(0);
      for (const request of upstream) expect(request.body.toString()).not.toContain(keyId);
      for (const request of withPrompt) {
        expect(request.body.toString()).toContain('[REDACTED:aws-access-key-id]');
        expect(request.body.toString()).toContain(ticket);
      }

      const rows = await fx.pool.any(
        sql.type(z.object({ action: z.string(), actor: z.string(), detail: z.record(z.string(), z.unknown()) }))`
          select action, actor, detail from audit_log where action in ('gateway.secret_redacted', 'gateway.secret_observed') order by id`,
      );
      expect(rows.map((row) => [row.action, row.detail['rule'], row.detail['action']])).toEqual(
        expect.arrayContaining([
          ['gateway.secret_redacted', 'aws-access-key-id', 'redact'],
          ['gateway.secret_observed', 'acme-ticket', 'observe'],
        ]),
      );
      expect(rows.every((row) => row.actor === 'dev@example.com')).toBe(true);
      const recorded = JSON.stringify(rows);
      expect(recorded).not.toContain(keyId);
      expect(recorded).not.toContain(ticket);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);
});
