import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  createCheckpointSigner,
  createCheckpointVerifier,
  createDirectoryCheckpointSink,
  loadCheckpoints,
} from './audit-checkpoint.ts';

const pem = () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const checkpoint = (seq: number): Checkpoint => ({
  v: 1,
  seq,
  hash: 'ab'.repeat(32),
  auditId: seq,
  at: '2026-12-07T00:00:00.000Z',
  purpose: 'periodic',
});
const dirs: string[] = [];
const folder = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cv-cp-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('checkpoint signatures', () => {
  it('verify with the signer’s public key, fail on any changed field, and accept older keys listed after a rotation', () => {
    const old = createCheckpointSigner(pem());
    const current = createCheckpointSigner(pem());
    const verifier = createCheckpointVerifier(`${current.publicKeyPem}\n${old.publicKeyPem}`);
    const signed = old.sign(checkpoint(7));
    expect(verifier.check(signed)).toBe(true);
    expect(verifier.check(current.sign(checkpoint(8)))).toBe(true);
    expect(verifier.check({ ...signed, checkpoint: { ...signed.checkpoint, seq: 6 } })).toBe(false);
    expect(verifier.check({ ...signed, checkpoint: { ...signed.checkpoint, hash: 'cd'.repeat(32) } })).toBe(false);
    expect(createCheckpointVerifier(current.publicKeyPem).check(signed)).toBe(false);
  });

  it('refuses keys that are not Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => createCheckpointSigner(rsa)).toThrow(/Ed25519/);
    expect(() => createCheckpointVerifier('no keys here')).toThrow(/no Ed25519/);
  });
});

describe('the folder sink', () => {
  it('writes each checkpoint once, never overwrites, leaves no temporary files, and lists in seq order', async () => {
    const dir = await folder();
    const sink = createDirectoryCheckpointSink(dir);
    const signer = createCheckpointSigner(pem());
    expect(await sink.write(signer.sign(checkpoint(12)))).toBe(true);
    expect(await sink.write(signer.sign(checkpoint(3)))).toBe(true);
    expect(await sink.write(signer.sign({ ...checkpoint(12), hash: 'ee'.repeat(32) }))).toBe(false);
    expect(await readdir(dir)).toEqual(['00000000000000000003-periodic.json', '00000000000000000012-periodic.json']);
    expect((await sink.latest())?.checkpoint).toEqual(checkpoint(12));
    const { checkpoints } = await sink.list();
    expect(checkpoints.map((c) => c.checkpoint.seq)).toEqual([3, 12]);
  });

  it('reports damaged files and checkpoints whose name and content disagree', async () => {
    const dir = await folder();
    const sink = createDirectoryCheckpointSink(dir);
    const signer = createCheckpointSigner(pem());
    await sink.write(signer.sign(checkpoint(5)));
    await writeFile(path.join(dir, '00000000000000000009-periodic.json'), '{not json');
    await writeFile(path.join(dir, '00000000000000000010-periodic.json'), JSON.stringify(signer.sign(checkpoint(11))));
    const { trusted, rejected } = await loadCheckpoints(sink, createCheckpointVerifier(signer.publicKeyPem));
    expect(trusted.map((c) => c.seq)).toEqual([5]);
    expect(rejected.map((r) => [r.seq, r.why.split(':')[0]])).toEqual([
      [9, 'unreadable'],
      [10, 'file name and checkpoint disagree'],
    ]);
  });
});
