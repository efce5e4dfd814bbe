import { createHash, randomBytes } from 'node:crypto';

const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const apiKeyPrefix = 'cvk_';
const bodyLength = 40;

/**
 * Creates a virtual API key: `cvk_` + 40 base62 characters (~238 bits). The console shows it
 * once; only `displayPrefix` and `hash` are stored. The fixed `cvk_` prefix lets secret
 * scanners (ours included) recognise a leaked CodeVector key.
 */
export function generateApiKey(): { key: string; displayPrefix: string; hash: Buffer } {
  const bytes = randomBytes(bodyLength);
  let body = '';
  // 248 = 62 * 4: rejecting larger bytes keeps every character equally likely.
  for (let i = 0; body.length < bodyLength; i++) {
    const byte = i < bytes.length ? bytes[i]! : randomBytes(1)[0]!;
    if (byte < 248) body += alphabet[byte % 62];
  }
  const key = `${apiKeyPrefix}${body}`;
  return { key, displayPrefix: key.slice(0, 12), hash: hashApiKey(key) };
}

/** SHA-256 of the whole key: keys are high-entropy, so a fast hash is safe and keeps lookups O(1). */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
