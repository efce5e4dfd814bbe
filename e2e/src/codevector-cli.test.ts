import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';

// The one `codevector` command a user runs: each subcommand is served by the service that owns it.
const cli = fileURLToPath(new URL('../../bin/codevector', import.meta.url));
const run = (args: string[], input?: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(cli, args, { env: process.env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input ?? '');
  });

const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** A GitHub-format token whose last six characters are the CRC32 of the rest, as GitHub issues them. */
function githubToken(): string {
  let random = '';
  for (let i = 0; i < 30; i++) random += base62[Math.floor(Math.random() * 62)];
  let n = crc32(random);
  let check = '';
  while (n > 0) {
    check = base62[n % 62] + check;
    n = Math.floor(n / 62);
  }
  return `ghp_${random}${check.padStart(6, '0')}`;
}

describe('codevector command', () => {
  it('scan blocks a checksum-valid GitHub token and names where, never the value', async () => {
    const token = githubToken();
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: `push with ${token}` }] }] });
    const result = await run(['scan'], body);
    const line = JSON.parse(result.stdout) as { blocked: boolean; matches: { path: string; text?: string }[] };
    expect(line.blocked).toBe(true);
    expect(line.matches[0]?.path).toBe('messages[0].content[0].text');
    expect(result.stdout).not.toContain(token);
  });

  it('scan lets a token with a wrong checksum through', async () => {
    const token = githubToken();
    const broken = `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`;
    const result = await run(['scan'], JSON.stringify({ model: 'm', messages: [{ role: 'user', content: broken }] }));
    expect(JSON.parse(result.stdout)).toMatchObject({ blocked: false });
  });

  it('migrate is idempotent and audit verify reports an intact chain on this database', async () => {
    expect((await run(['migrate'])).code).toBe(0);
    const verify = await run(['audit', 'verify', '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  });

  it('prints usage and exits 2 for an unknown command', async () => {
    const result = await run(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('codevector scan');
  });
});
