import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encrypts provider keys at rest with AES-256-GCM (DESIGN §3). The 32-byte key comes from a
 * Kubernetes Secret mounted into operator and gateway; layout of a sealed value is
 * nonce (12) || tag (16) || ciphertext.
 */
export type SecretBox = {
  seal(plaintext: string): Buffer;
  /** @throws when the value was not sealed with this key or was altered. */
  open(sealed: Buffer): string;
};

/** @throws when the key is not 32 bytes of base64. */
export function createSecretBox(base64Key: string): SecretBox {
  const key = Buffer.from(base64Key, 'base64');
  if (key.length !== 32) throw new Error('the encryption key must be 32 bytes, base64-encoded');
  return {
    seal(plaintext) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([nonce, cipher.getAuthTag(), body]);
    },
    open(sealed) {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(12, 28));
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}

/**
 * A short, stable fingerprint of a secret for audit diffs and logs: enough to see that a key
 * changed, far too short to recover or confirm a guess of a high-entropy key.
 */
export function fingerprintSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`;
}
