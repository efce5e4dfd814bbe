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
      rule: 'internal-token',
      matches: [{ rule: 'internal-token', path: 'messages[0].content[0].text', start: 2, end: 38 }],
    });
    expect(hidden.line).not.toContain(token);
    const shown = await scan(body, ['--rules', manifest, '--reveal']);
    expect(JSON.parse(shown.line).matches[0].text).toBe(token);
    const clean = await scan(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'AKIAIOSFODNN7EXAMPLE' }] }), []);
    expect(JSON.parse(clean.line)).toEqual({ blocked: false, rule: null, matches: [] });
    expect(clean.code).toBe(0);
  });
});
