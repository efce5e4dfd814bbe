import { createPrivateKey } from 'node:crypto';
import { crc32 } from 'node:zlib';

// Offline validity checks behind the built-in detectors (shared/notes/secret-formats.md). A
// format match alone blocks only where the format is distinctive; these checks turn the rest
// into near-zero false positives and keep documentation examples from blocking.

const base62Alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Writes n in base62 (`0-9A-Za-z`), left-padded with `0` to `width`. */
export function toBase62(n: number, width: number): string {
  let out = '';
  let value = n;
  while (value > 0) {
    out = base62Alphabet[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out.padStart(width, '0');
}

/** GitHub classic and npm tokens: the last 6 characters are CRC32(random part) in base62. */
export function hasValidCrc32Base62(body: string): boolean {
  if (body.length !== 36) return false;
  const random = body.slice(0, 30);
  return toBase62(crc32(random), 6) === body.slice(30);
}

/** GitLab routable tokens end in a 7-character base36 CRC32 of everything before it. */
export function hasValidGitlabRoutableCrc(token: string): boolean {
  const checksum = token.slice(-7);
  const expected = crc32(token.slice(0, -7)).toString(36).padStart(7, '0');
  return checksum.toLowerCase() === expected;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1);
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

const placeholderPattern =
  /example|sample|dummy|placeholder|your[_-]?|redacted|xxxxx|XXXXX|00000000|11111111|abcdefgh|ABCDEFGH|\*\*\*|\.\.\./i;

/** True for documentation examples and placeholders (`AKIAIOSFODNN7EXAMPLE`, `xoxb-000…`, `sk-...`). */
export function looksLikePlaceholder(value: string): boolean {
  return placeholderPattern.test(value);
}

/** AWS access key ids decode to a 12-digit account id (not for the old AKIAI/AKIAJ keys). */
export function isPlausibleAwsKeyId(keyId: string): boolean {
  if (keyId.endsWith('EXAMPLE')) return false;
  const body = keyId.slice(4);
  // Enum-like words fit the charset (ASIAPACIFICSOUTHEAST); real ids almost always hold a digit.
  if (!/[2-7]/.test(body)) return false;
  if (keyId.startsWith('AKIAI') || keyId.startsWith('AKIAJ')) return true;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0n;
  for (const char of body) bits = (bits << 5n) | BigInt(alphabet.indexOf(char));
  // 16 base32 characters = 80 bits; the account id is bits 46..7 of the first 48.
  const first48 = bits >> 32n;
  const account = (first48 & 0x7fffffffff80n) >> 7n;
  return account <= 999_999_999_999n;
}

function decodeBase64Url(value: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return null;
  return Buffer.from(value, 'base64url');
}

/** A JWT whose header and payload decode, that is signed, not the jwt.io example and not expired. */
export function isLiveJwt(token: string, nowSeconds: number): boolean {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return false;
  try {
    const head = JSON.parse(decodeBase64Url(header)?.toString('utf8') ?? 'null') as { alg?: unknown } | null;
    const body = JSON.parse(decodeBase64Url(payload)?.toString('utf8') ?? 'null') as Record<string, unknown> | null;
    if (!head || typeof head.alg !== 'string' || head.alg.toLowerCase() === 'none') return false;
    if (!body || typeof body !== 'object') return false;
    if (body['sub'] === '1234567890' && body['name'] === 'John Doe') return false;
    if (typeof body['exp'] === 'number' && body['exp'] < nowSeconds) return false;
    return true;
  } catch {
    return false;
  }
}

// Line-number prefixes that file-read tools add (`  12→`, `12\t`, `12: `).
const lineNumberPrefix = /^\s*\d+(?:→|\t|: |\| )/;

/** Parses a PEM private key block (PKCS#1, PKCS#8, SEC1, encrypted PKCS#8 or OpenSSH). */
export function isParsablePrivateKey(block: string): boolean {
  const text = block.replace(/\\r/g, '').replace(/\\n/g, '\n');
  const lines = text.split(/\r?\n/).map((line) => line.replace(lineNumberPrefix, '').trim());
  const begin = lines.findIndex((line) => /^-----BEGIN [A-Z ]*PRIVATE KEY-----$/.test(line));
  const end = lines.findIndex((line) => /^-----END [A-Z ]*PRIVATE KEY-----$/.test(line));
  if (begin < 0 || end <= begin) return false;
  const label = lines[begin]!.slice(11, -5);
  const bodyLines = lines.slice(begin + 1, end).filter((line) => line && !line.includes(':'));
  const body = bodyLines.join('');
  if (body.length < 64 || !/^[A-Za-z0-9+/=]+$/.test(body)) return false;
  const der = Buffer.from(body, 'base64');
  if (label === 'OPENSSH PRIVATE KEY') return der.subarray(0, 15).toString('latin1') === 'openssh-key-v1\0';
  if (label === 'ENCRYPTED PRIVATE KEY') return isDerSequence(der);
  try {
    createPrivateKey({ key: `-----BEGIN ${label}-----\n${bodyLines.join('\n')}\n-----END ${label}-----\n`, format: 'pem' });
    return true;
  } catch {
    return false;
  }
}

/** Base64 (line breaks allowed) of a PEM private key block that `isParsablePrivateKey` accepts. */
export function isBase64PrivateKey(encoded: string): boolean {
  const text = Buffer.from(encoded.replace(/\s+/g, ''), 'base64').toString('latin1');
  return text.startsWith('-----BEGIN ') && text.includes('PRIVATE KEY-----') && isParsablePrivateKey(text);
}

function isDerSequence(der: Buffer): boolean {
  if (der[0] !== 0x30 || der.length < 4) return false;
  const first = der[1]!;
  if (first < 0x80) return first + 2 === der.length;
  const octets = first & 0x7f;
  if (octets < 1 || octets > 4) return false;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + der[2 + i]!;
  return length + 2 + octets === der.length;
}

/** PyPI tokens are base64url v2 macaroons whose location is pypi.org (or test.pypi.org). */
export function isPypiMacaroon(token: string): boolean {
  const decoded = Buffer.from(token.slice(5), 'base64url');
  const text = decoded.toString('latin1');
  return decoded[0] === 0x02 && (text.includes('pypi.org') || text.includes('test.pypi.org'));
}

const defaultPasswords = new Set([
  'password',
  'passwd',
  'pass',
  'secret',
  'changeme',
  'postgres',
  'root',
  'admin',
  'guest',
  'mysql',
  'redis',
  'example',
  'test',
  'user',
]);
const localHosts =
  /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\]|0\.0\.0\.0|host|hostname|example\.(com|org|net)|.*\.example(\.com)?|db|database|your[-_].*)$/i;

/** A database URL whose password looks real: not a placeholder, default or local-only credential. */
export function isRealDatabasePassword(user: string, password: string, host: string): boolean {
  const decoded = safeDecode(password);
  if (decoded.length < 6) return false;
  if (/[${}<>[\]%]/.test(password) && /\$\{|\{\{|<|%\(|\[/.test(password)) return false;
  if (defaultPasswords.has(decoded.toLowerCase()) || decoded === user) return false;
  if (looksLikePlaceholder(decoded) || /^\*+$|^x+$/i.test(decoded)) return false;
  if (localHosts.test(host)) return false;
  return shannonEntropy(decoded) >= 2.5;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

// Published documentation examples and well-known development keys: never a leak, however well
// they fit a format. Placeholders that follow a pattern (`EXAMPLE`, `xxxx`) are `looksLikePlaceholder`.
const knownExamples = new Set([
  'AKIAIOSFODNN7EXAMPLE',
  'AKIAI44QH8DHBEXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  'gho_16C7e42F292c6912E7710c838347Ae178B4a',
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
  // Azurite / the storage emulator's fixed account key (devstoreaccount1), printed in its docs.
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
]);

/** True for a published documentation example or well-known development credential. */
export function isKnownExample(value: string): boolean {
  return knownExamples.has(value);
}

const symbolPattern = /[^A-Za-z0-9]/;
// Values that name a secret rather than hold one: references to variables, templates, code.
const referencePattern =
  /\$\{|\$\(|\{\{|<%|#\{|^\$[A-Za-z_]|^%[A-Za-z_(]|^<[^>]*>$|^<|process\.env|os\.environ|getenv|ENV\[|secrets\.|vault:|^!|^\[|^@|^&|^\*[A-Za-z]/i;
const memberExpression = /^[A-Za-z_$][\w$]*(?:(?:\.|\?\.|::|->)[A-Za-z_$][\w$]*)+\??$/;
const identifierLike = /^[A-Za-z_$][A-Za-z_$-]*$/;
const wordsInValue =
  /password|passwd|changeme|secret|example|sample|dummy|token|redacted|placeholder|insert|replace|masked|hidden|foobar|lorem|qwerty|letmein|hunter2|admin/i;
const pathOrUrl = /^(?:\/|\.\.?\/|~\/|[A-Za-z]:\\|[a-z][a-z0-9+.-]*:\/\/[^:@/]*(?:[/?#]|$))/i;
const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const numberLike = /^[0-9.,_:+-]+$|^0x[0-9a-f]+$/i;
const versionLike = /^v?\d+(?:\.\d+){1,3}(?:[-+][\w.]+)?$/;
const dateLike = /^\d{4}-\d{2}-\d{2}/;
const validatedPrefix = /^(?:gh[pousr]_|npm_|eyJ|AKIA|ASIA|pypi-|xox[a-z]-|[spr]k_test_|pk_live_|sk-ant-|-----)/;

/**
 * A value assigned to a secret-named key that looks like a real credential: long enough, random
 * enough (entropy floor growing with length), mixed characters, and not a reference to a variable,
 * a template, code, a path, a number, a placeholder or a dictionary word.
 */
export function isSecretLikeValue(value: string): boolean {
  const length = value.length;
  // Formats a specific detector validates (checksums, expiry) or that are public by design:
  // that detector has the final word, a failed checksum is not a generic secret.
  if (validatedPrefix.test(value)) return false;
  // Base64 of text (Kubernetes Secret data): the text is what is judged.
  if (length >= 8 && length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    const decoded = Buffer.from(value, 'base64').toString('latin1');
    if (/^[\x20-\x7e]+$/.test(decoded)) return decoded !== value && isSecretLikeValue(decoded);
  }
  if (length < 8 || length > 256) return false;
  if (isKnownExample(value) || looksLikePlaceholder(value) || referencePattern.test(value)) return false;
  if (memberExpression.test(value) || identifierLike.test(value) || pathOrUrl.test(value)) return false;
  if (numberLike.test(value) || versionLike.test(value) || dateLike.test(value) || uuidLike.test(value)) return false;
  if (wordsInValue.test(value) || defaultPasswords.has(value.toLowerCase())) return false;
  if (/(.)\1{4,}/.test(value)) return false;
  const lower = /[a-z]/.test(value);
  const upper = /[A-Z]/.test(value);
  const digit = /[0-9]/.test(value);
  const symbol = symbolPattern.test(value);
  const classes = Number(lower) + Number(upper) + Number(digit) + Number(symbol);
  if (classes < 2 || (!digit && !symbol)) return false;
  if (classes === 2 && length < 16) return false;
  // A random string of n distinct characters has log2(n) bits; ask for most of it, up to 3.5.
  // Hex values (digests of random keys) hold at most 4 bits a character.
  const floor = Math.min(/^[0-9a-f]+$/i.test(value) ? 3.2 : 3.5, Math.log2(length) - 0.6);
  return shannonEntropy(value) >= floor;
}

/** An Azure storage account key: base64 of 64 random bytes (88 characters ending in `==`). */
export function isAzureStorageKey(value: string): boolean {
  if (value.length !== 88 || !value.endsWith('==') || isKnownExample(value)) return false;
  return Buffer.from(value, 'base64').length === 64 && shannonEntropy(value) >= 5;
}
