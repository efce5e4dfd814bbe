import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { stableStringify } from '@codevector/core/audit-diff';
import { z } from 'zod';

// Signed checkpoints of the audit chain head, kept outside PostgreSQL (docs/adr/0401): a database
// superuser can rewrite rows and recompute the whole chain, but cannot sign a checkpoint that
// matches the rewrite, nor remove the checkpoints already written.

export const checkpointPurposes = ['periodic', 'manual', 'retention'] as const;

export const checkpointSchema = z.object({
  v: z.literal(1),
  /** Chain position and the chain hash there (hex), as the sealer computed it. */
  seq: z.number().int().nonnegative(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The audit row sealed at `seq` (null for an empty chain). */
  auditId: z.number().int().nullable(),
  /** When the checkpoint was signed (ISO 8601). */
  at: z.string(),
  /** `retention`: rows up to `seq` may be pruned; verify then starts here. */
  purpose: z.enum(checkpointPurposes),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

export const signedCheckpointSchema = z.object({ checkpoint: checkpointSchema, keyId: z.string(), signature: z.string() });
export type SignedCheckpoint = z.infer<typeof signedCheckpointSchema>;

/** A checkpoint that could not be trusted: unreadable, or not signed by a known key. */
export type RejectedCheckpoint = { name: string; seq: number | null; why: string };

/** Short stable id of a public key: the first 16 hex digits of SHA-256 over its SPKI DER. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

export type CheckpointSigner = { keyId: string; sign(checkpoint: Checkpoint): SignedCheckpoint };
export type CheckpointVerifier = { keyIds: string[]; check(signed: SignedCheckpoint): boolean };

/**
 * The signer for an Ed25519 private key (PKCS#8 PEM, what `codevector audit keygen` and the
 * chart write).
 * @throws when the key is not an Ed25519 private key.
 */
export function createCheckpointSigner(privateKeyPem: string): CheckpointSigner & { publicKeyPem: string } {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the audit checkpoint key must be an Ed25519 private key');
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  return {
    keyId,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (checkpoint) => ({
      checkpoint,
      keyId,
      signature: sign(null, Buffer.from(stableStringify(checkpoint)), privateKey).toString('base64'),
    }),
  };
}

/**
 * A verifier for one or more Ed25519 public keys (SPKI PEM blocks, concatenated: old keys stay
 * listed after a rotation so older checkpoints still verify). A private key PEM works too.
 * @throws when a block is not an Ed25519 key.
 */
export function createCheckpointVerifier(pem: string): CheckpointVerifier {
  const blocks = pem.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  const keys = new Map<string, KeyObject>();
  for (const block of blocks) {
    const key = createPublicKey(block);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('audit checkpoint keys must be Ed25519');
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) throw new Error('no Ed25519 public key found for audit checkpoints');
  return {
    keyIds: [...keys.keys()],
    check(signed) {
      const key = keys.get(signed.keyId);
      if (!key) return false;
      return verify(null, Buffer.from(stableStringify(signed.checkpoint)), key, Buffer.from(signed.signature, 'base64'));
    },
  };
}

/** Where checkpoints go: written once each, never overwritten; listed in sequence order. */
export type CheckpointSink = {
  /** Stores a checkpoint; returns false when one for the same seq and purpose already exists. */
  write(signed: SignedCheckpoint): Promise<boolean>;
  /** Every stored checkpoint, the ones whose file does not parse as rejects. */
  list(): Promise<{ checkpoints: SignedCheckpoint[]; rejected: RejectedCheckpoint[] }>;
  /** The stored checkpoint with the highest seq, or null. */
  latest(): Promise<SignedCheckpoint | null>;
  /** A human-readable location for logs and reports. */
  describe(): string;
};

const fileName = (seq: number, purpose: string) => `${String(seq).padStart(20, '0')}-${purpose}.json`;
const filePattern = /^(\d{20})-(periodic|manual|retention)\.json$/;

/**
 * A folder of checkpoint files: a PersistentVolume in the chart, any folder in development, and
 * easy to ship on to write-once storage (object lock, WORM). Each file is written to a temporary
 * name, flushed, then hard-linked to its final name, which fails if it exists: a checkpoint is
 * never overwritten and never seen half-written.
 */
export function createDirectoryCheckpointSink(dir: string): CheckpointSink {
  const names = async () => {
    await mkdir(dir, { recursive: true });
    return (await readdir(dir)).filter((name) => filePattern.test(name)).sort();
  };
  const read = async (name: string): Promise<SignedCheckpoint | RejectedCheckpoint> => {
    const seq = Number(filePattern.exec(name)?.[1] ?? Number.NaN);
    try {
      const parsed = signedCheckpointSchema.safeParse(JSON.parse(await readFile(path.join(dir, name), 'utf8')));
      if (!parsed.success) return { name, seq, why: 'not a checkpoint' };
      if (parsed.data.checkpoint.seq !== seq) return { name, seq, why: 'file name and checkpoint disagree' };
      return parsed.data;
    } catch (error) {
      return { name, seq, why: `unreadable: ${(error as Error).message}` };
    }
  };
  return {
    describe: () => dir,
    async write(signed) {
      await mkdir(dir, { recursive: true });
      const final = path.join(dir, fileName(signed.checkpoint.seq, signed.checkpoint.purpose));
      const temporary = path.join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
      const handle = await open(temporary, 'wx', 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(signed, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await link(temporary, final);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      } finally {
        await rm(temporary, { force: true });
        const folder = await open(dir, 'r');
        await folder.sync().finally(() => folder.close());
      }
    },
    async list() {
      const checkpoints: SignedCheckpoint[] = [];
      const rejected: RejectedCheckpoint[] = [];
      for (const name of await names()) {
        const entry = await read(name);
        if ('why' in entry) rejected.push(entry);
        else checkpoints.push(entry);
      }
      return { checkpoints, rejected };
    },
    async latest() {
      const all = await names();
      for (let i = all.length - 1; i >= 0; i--) {
        const entry = await read(all[i]!);
        if (!('why' in entry)) return entry;
      }
      return null;
    },
  };
}

/**
 * The sink's checkpoints split into those signed by a known key and the rest (forged, damaged,
 * or signed by a key nobody listed).
 */
export async function loadCheckpoints(
  sink: CheckpointSink,
  verifier: CheckpointVerifier,
): Promise<{ trusted: Checkpoint[]; rejected: RejectedCheckpoint[] }> {
  const { checkpoints, rejected } = await sink.list();
  const trusted: Checkpoint[] = [];
  for (const signed of checkpoints) {
    if (verifier.check(signed)) trusted.push(signed.checkpoint);
    else
      rejected.push({
        name: fileName(signed.checkpoint.seq, signed.checkpoint.purpose),
        seq: signed.checkpoint.seq,
        why: 'bad signature',
      });
  }
  return { trusted, rejected };
}
