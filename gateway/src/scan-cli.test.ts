import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runScanCli } from './scan-cli.ts';

async function scan(body: string, args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  const code = await runScanCli(args, {
    stdin: Readable.from([Buffer.from(body)]) as never,
    stdout: stdout as never,
    stderr: stderr as never,
  });
  return { code, line: Buffer.concat(out).toString() };
}

describe('codevector scan', () => {
  it('prints one JSON line with built-in and manifest rules, revealing text only when asked', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cv-scan-'));
    const manifest = path.join(dir, 'rules.yaml');
    await writeFile(
      manifest,
      `apiVersion: codevector.dev/v1alpha1\nkind: SecretRule\nmetadata: {name: internal, namespace: team}\nspec:\n  patterns:\n  - name: internal-token\n    regex: "itk_[a-f0-9]{32}"\n    keywords: [ITK_]\n`,
    );
    const token = `itk_${'0a'.repeat(16)}`;
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: `x ${token}` }] }] });
    const hidden = await scan(body, ['--rules', manifest]);
    expect(hidden.code).toBe(1);
    expect(hidden.line.endsWith('\n')).toBe(true);
    expect(JSON.parse(hidden.line)).toEqual({
      blocked: true,
      decision: 'block',
      rule: 'internal-token',
      matches: [
        {
          rule: 'internal-token',
          secretRule: 'team/internal',
          action: 'block',
          effect: 'request refused before it reaches the provider',
          event: 'gateway.secret_blocked',
          path: 'messages[0].content[0].text',
          start: 2,
          end: 38,
        },
      ],
    });
    expect(hidden.line).not.toContain(token);
    const shown = await scan(body, ['--rules', manifest, '--reveal']);
    expect(JSON.parse(shown.line).matches[0].text).toBe(token);
    const clean = await scan(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'AKIAIOSFODNN7EXAMPLE' }] }), []);
    expect(JSON.parse(clean.line)).toEqual({ blocked: false, decision: 'forward', rule: null, matches: [] });
    expect(clean.code).toBe(0);
  });

  it('shows what Redact and Observe would do, and the body a Redact rule forwards', async () => {
    const key = 'AKIA2OGYBAH6QWERT7XZ';
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `deploy with ${key} please` }] });
    const redact = await scan(body, ['--action', 'redact', '--redacted']);
    expect(redact.code).toBe(0);
    const result = JSON.parse(redact.line);
    expect(result.decision).toBe('redact');
    expect(result.matches[0]).toMatchObject({
      action: 'redact',
      event: 'gateway.secret_redacted',
      effect: expect.stringContaining('[REDACTED:aws-access-key-id]'),
    });
    expect(result.redactedBody.messages[0].content).toBe('deploy with [REDACTED:aws-access-key-id] please');
    expect(redact.line).not.toContain(key);
    const observe = await scan(body, ['--action=observe']);
    expect(observe.code).toBe(0);
    expect(JSON.parse(observe.line)).toMatchObject({
      blocked: false,
      decision: 'observe',
      matches: [{ action: 'observe', event: 'gateway.secret_observed' }],
    });
    expect((await scan(body, ['--action', 'nope'])).code).toBe(2);
  });
});
