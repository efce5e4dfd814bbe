import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { User } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenFileAuthenticator, tokenFileProvider } from './token-file-auth.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'token-file-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup(file: string) {
  let t = 1_000_000;
  const auth = createTokenFileAuthenticator({ checkEveryMs: 1_000, maxAgeMs: 60_000, now: () => t });
  const user: User = { name: 'u', authProvider: { name: tokenFileProvider, config: { path: file } } };
  const header = async () => {
    const opts: { headers?: Record<string, string> } = {};
    await auth.applyAuthentication(user, opts);
    return opts.headers?.['Authorization'];
  };
  return { auth, user, header, advance: (ms: number) => (t += ms) };
}

describe('token file authenticator', () => {
  it('claims only users that kube-config.ts handed to it', () => {
    const { auth, user } = setup(path.join(dir, 'unused'));
    expect(auth.isAuthProvider(user)).toBe(true);
    expect(auth.isAuthProvider({ name: 'x', authProvider: { name: 'tokenFile', config: { tokenFile: '/t' } } })).toBe(false);
    expect(auth.isAuthProvider({ name: 'x', token: 'abc' })).toBe(false);
  });

  it('sends the trimmed token and picks up a rotation at the next check, not only after a minute', async () => {
    const file = path.join(dir, 'rotating');
    writeFileSync(file, 'first-token\n');
    const { header, advance } = setup(file);
    expect(await header()).toBe('Bearer first-token');
    writeFileSync(file, 'second-token-longer');
    advance(500);
    expect(await header()).toBe('Bearer first-token');
    advance(600);
    expect(await header()).toBe('Bearer second-token-longer');
  });

  it('keeps the last token while the file is briefly missing, and throws when there never was one', async () => {
    const file = path.join(dir, 'vanishing');
    writeFileSync(file, 'kept');
    const { header, advance } = setup(file);
    expect(await header()).toBe('Bearer kept');
    rmSync(file);
    advance(2_000);
    expect(await header()).toBe('Bearer kept');
    await expect(setup(path.join(dir, 'never')).header()).rejects.toThrow(/ENOENT/);
  });
});
