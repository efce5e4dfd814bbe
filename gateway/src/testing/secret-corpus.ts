import { createPrivateKey } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { toBase62 } from '../secret-scan/validate-token.ts';

// A labelled corpus for the secret scanner, generated from the formats' specifications
// (shared/notes/secret-formats.md) with a seeded generator: every run builds the same samples,
// and no sample is a real credential. Positives are one secret each in the surroundings agents
// send (file reads, shell sessions, configs, prose, JSON-escaped or wrapped); negatives are the
// high-entropy text that is not a secret (lockfile hashes, git SHAs, UUIDs, base64 images,
// minified code, documentation examples, placeholders, public keys, expired tokens).

export type CorpusSample = {
  /** Credential kind (positives) or kind of look-alike (negatives). */
  kind: string;
  positive: boolean;
  /** The text as an agent would send it (one message or tool-result string). */
  text: string;
  /** Positives: the secret as issued (before escaping or wrapping), which a match must cover. */
  secret?: string;
};

type Random = () => number;

/** mulberry32: small, fast and seedable. */
function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const hexChars = '0123456789abcdef';
const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const b64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function makeTools(rng: Random) {
  const int = (n: number) => Math.floor(rng() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chars = (alphabet: string, n: number) => {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[int(alphabet.length)];
    return out;
  };
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const digits = (n: number) => String(1 + int(9)) + chars('0123456789', n - 1);
  const password = () => {
    // What people and password managers pick: mixed classes, 12–24 characters.
    const symbols = '!#%*+-.=?@^_~';
    const length = 12 + int(13);
    let out = chars(alnum, length - 3) + chars('0123456789', 1) + chars(symbols, 1) + chars('ABCDEFGHJKLMNPQRSTUVWXYZ', 1);
    out = [...out].sort(() => rng() - 0.5).join('');
    return out;
  };
  return { int, pick, chars, bytes, digits, password };
}
type Tools = ReturnType<typeof makeTools>;

const checksummed = (t: Tools, prefix: string) => {
  const random = t.chars(alnum, 30);
  return `${prefix}${random}${toBase62(crc32(random), 6)}`;
};

function awsKeyId(t: Tools, prefix = 'AKIA'): string {
  // 16 base32 characters; the first 48 bits carry a 12-digit account id in bits 46..7.
  const account = BigInt(100_000_000_000 + t.int(899_999_999_999));
  let bits = (account << 7n) | BigInt(t.int(128));
  bits = (bits << 32n) | BigInt(t.int(2 ** 32));
  let body = '';
  for (let i = 15; i >= 0; i--) body += b32[Number((bits >> BigInt(i * 5)) & 31n)];
  return /[2-7]/.test(body) ? prefix + body : awsKeyId(t, prefix);
}

function awsSecret(t: Tools): string {
  for (;;) {
    const value = t.chars(b64, 40);
    if (/[0-9]/.test(value) && /[a-z]/.test(value) && /[A-Z]/.test(value)) return value;
  }
}

function gitlabRoutable(t: Tools): string {
  const payload = Buffer.from(`c:1\no:${t.int(99999).toString(36)}\nu:${t.int(999999).toString(36)}`);
  const raw = Buffer.concat([t.bytes(16), payload, Buffer.from([payload.length])]);
  const body = `glpat-${raw.toString('base64url')}.01.${payload.length.toString(36).padStart(2, '0')}`;
  return body + crc32(body).toString(36).padStart(7, '0');
}

function pypiToken(t: Tools): string {
  const uuid = [8, 4, 4, 4, 12].map((n) => t.chars(hexChars, n)).join('-');
  const macaroon = Buffer.concat([
    Buffer.from([0x02, 0x01, 0x08]),
    Buffer.from('pypi.org'),
    Buffer.from([0x02, 0x01, 0x24]),
    Buffer.from(uuid),
    Buffer.from([0x00, 0x02, 0x2a]),
    Buffer.from(`[1,{"version":1,"permissions":"user"}]`.slice(0, 42)),
    Buffer.from([0x00, 0x06, 0x20]),
    t.bytes(32),
  ]);
  return `pypi-${macaroon.toString('base64url')}`;
}

function anthropicKey(t: Tools, admin = false): string {
  return `sk-ant-${admin ? 'admin01' : 'api03'}-${t.chars(b64url, 86)}-${t.chars(b64url, 6)}AA`;
}

function openaiKey(t: Tools, kind: 'proj' | 'svcacct' | 'legacy'): string {
  if (kind === 'legacy') return `sk-${t.chars(alnum, 20)}T3BlbkFJ${t.chars(alnum, 20)}`;
  return `sk-${kind}-${t.chars(b64url, 74)}T3BlbkFJ${t.chars(b64url, 74)}`;
}

function jwt(t: Tools, payload: Record<string, unknown>, alg = 'HS256'): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg, typ: 'JWT' })}.${part(payload)}.${t.bytes(32).toString('base64url')}`;
}

// --- private keys, deterministic: DER built from seeded numbers ---

function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 255]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
const seq = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const oid = (hex: string) => der(0x06, Buffer.from(hex, 'hex'));

function pem(label: string, body: Buffer): string {
  return `-----BEGIN ${label}-----\n${body.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----`;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

function isProbablePrime(n: bigint, t: Tools): boolean {
  for (const p of [3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n]) if (n % p === 0n) return n === p;
  let d = n - 1n;
  let r = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    r++;
  }
  for (let round = 0; round < 12; round++) {
    const a = 2n + (BigInt(`0x${t.bytes(16).toString('hex')}`) % (n - 4n));
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    let composite = true;
    for (let i = 1; i < r; i++) {
      x = (x * x) % n;
      if (x === n - 1n) {
        composite = false;
        break;
      }
    }
    if (composite) return false;
  }
  return true;
}

function prime(bits: number, t: Tools): bigint {
  for (;;) {
    const raw = t.bytes(bits / 8);
    raw[0]! |= 0xc0;
    raw[raw.length - 1]! |= 1;
    const candidate = BigInt(`0x${raw.toString('hex')}`);
    if (isProbablePrime(candidate, t)) return candidate;
  }
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

const b64u = (n: bigint) => {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
};

function rsaKey(t: Tools): string {
  const e = 65537n;
  for (;;) {
    const p = prime(512, t);
    const q = prime(512, t);
    const phi = (p - 1n) * (q - 1n);
    if (p === q || phi % e === 0n) continue;
    const d = modInverse(e, phi);
    const jwk = {
      kty: 'RSA',
      n: b64u(p * q),
      e: b64u(e),
      d: b64u(d),
      p: b64u(p),
      q: b64u(q),
      dp: b64u(d % (p - 1n)),
      dq: b64u(d % (q - 1n)),
      qi: b64u(modInverse(q, p)),
    };
    return createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs1', format: 'pem' }).toString().trim();
  }
}

function ecKey(t: Tools, type: 'sec1' | 'pkcs8'): string {
  const d = t.bytes(32);
  d[0]! &= 0x7f;
  const sec1 = seq(der(0x02, Buffer.from([1])), der(0x04, d), der(0xa0, oid('2a8648ce3d030107')));
  return createPrivateKey({ key: sec1, format: 'der', type: 'sec1' }).export({ type, format: 'pem' }).toString().trim();
}

function ed25519Key(t: Tools): string {
  return pem('PRIVATE KEY', Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), t.bytes(32)]));
}

function opensshKey(t: Tools): string {
  const str = (value: Buffer | string) => {
    const b = Buffer.from(value);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  const publicKey = t.bytes(32);
  const pub = Buffer.concat([str('ssh-ed25519'), str(publicKey)]);
  const check = t.int(2 ** 32);
  let priv = Buffer.concat([
    u32(check),
    u32(check),
    str('ssh-ed25519'),
    str(publicKey),
    str(Buffer.concat([t.bytes(32), publicKey])),
    str(`dev@host${t.int(99)}`),
  ]);
  const padding = Buffer.from(Array.from({ length: (8 - (priv.length % 8)) % 8 }, (_, i) => i + 1));
  priv = Buffer.concat([priv, padding]);
  const blob = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), u32(1), str(pub), str(priv)]);
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${blob.toString('base64').replace(/.{70}/g, '$&\n').replace(/\n$/, '')}\n-----END OPENSSH PRIVATE KEY-----`;
}

function encryptedKey(t: Tools): string {
  const algorithm = seq(
    oid('2a864886f70d01050d'),
    seq(
      seq(oid('2a864886f70d01050c'), seq(der(0x04, t.bytes(8)), der(0x02, Buffer.from([0x08, 0x00])))),
      seq(oid('608648016503040102a'.slice(0, 18)), der(0x04, t.bytes(16))),
    ),
  );
  return pem('ENCRYPTED PRIVATE KEY', seq(algorithm, der(0x04, t.bytes(48 + 16 * t.int(4)))));
}

// --- surroundings ---

const lineNumbered = (text: string) =>
  text
    .split('\n')
    .map((line, i) => `${String(i + 1).padStart(6)}→${line}`)
    .join('\n');

function surround(t: Tools, secret: string, name: string): string {
  const templates = [
    () => `# .env\nNODE_ENV=production\nPORT=8080\n${name}=${secret}\nLOG_LEVEL=info\n`,
    () => `$ export ${name}="${secret}"\n$ npm run deploy\n> deploy\n> node scripts/deploy.js\n`,
    () => lineNumbered(`import os\n\nclient = Client(\n    key="${secret}",\n    timeout=30,\n)\n`),
    () => `I get a 401 with this key: ${secret} — is it revoked or is my request wrong?`,
    () =>
      `curl -sS https://api.internal.example.net/v1/items \\\n  -H "Authorization: Bearer ${secret}" \\\n  -H 'content-type: application/json'`,
    () => `{\n  "service": "billing",\n  "credentials": {\n    "key": "${secret}"\n  },\n  "retries": 3\n}`,
    () => `config:\n  region: eu-west-1\n  auth:\n    value: ${secret}\n  replicas: 2\n`,
    () =>
      `diff --git a/config/app.ts b/config/app.ts\n@@ -3,6 +3,7 @@\n export const settings = {\n-  key: process.env.KEY,\n+  key: '${secret}',\n   retries: 3,\n`,
  ];
  return t.pick(templates)();
}

type Generated = { text: string; secret: string };
type Generator = (t: Tools) => Generated;

const inContext =
  (make: (t: Tools) => string, name: string): Generator =>
  (t) => {
    const secret = make(t);
    return { secret, text: surround(t, secret, name) };
  };

const keyBlock =
  (make: (t: Tools) => string): Generator =>
  (t) => {
    const secret = make(t);
    const text = t.pick([
      () => `$ cat ~/.ssh/deploy_key\n${secret}\n$ ssh-keygen -y -f ~/.ssh/deploy_key`,
      () => lineNumbered(`${secret}\n`),
      () => `Here is the key the CI uses, can you tell me why it is rejected?\n\n\`\`\`\n${secret}\n\`\`\``,
      () => `const signingKey = \`${secret}\`;\n`,
    ])();
    return { secret, text };
  };

const host = (t: Tools) =>
  `${t.pick(['db', 'pg-main', 'orders', 'cache', 'mq', 'cluster0'])}-${t.chars('abcdefghijklmnopqrstuvwxyz0123456789', 5)}.${t.pick(['internal.acme.io', 'prod.corp.net', 'eu-west-1.rds.amazonaws.com', 'a1b2c.mongodb.net', 'cache.windows.net'])}`;
const user = (t: Tools) => t.pick(['app', 'svc_orders', 'billing', 'deploy', 'analytics', 'webapp']);

const urlGenerator =
  (scheme: string, port: string, name: string): Generator =>
  (t) => {
    const secret = t.password().replace(/[@/:?#%]/g, 'x');
    const url = `${scheme}://${scheme.startsWith('redis') && t.int(2) ? '' : user(t)}:${secret}@${host(t)}${port}/${t.pick(['app', 'orders', '0', 'prod', 'vhost'])}`;
    return { secret, text: surround(t, url, name) };
  };

const assignment = (t: Tools) => {
  const key = t.pick([
    'DB_PASSWORD',
    'API_KEY',
    'SECRET_KEY',
    'AUTH_TOKEN',
    'STRIPE_SECRET',
    'JWT_SECRET',
    'SESSION_SECRET',
    'ADMIN_PASSWORD',
    'PRIVATE_KEY',
    'ACCESS_TOKEN',
    'CLIENT_SECRET',
    'REDIS_PASS',
    'SMTP_PASSWORD',
    'WEBHOOK_SECRET',
  ]);
  const secret = t.pick([
    () => t.password(),
    () => t.chars(hexChars, 32 + 32 * t.int(2)),
    () => t.chars(b64url, 32 + t.int(20)),
    () => t.bytes(24 + t.int(16)).toString('base64'),
  ])();
  return { key, secret };
};

const camel = (key: string) => key.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

const positives: Record<string, Generator> = {
  'github-pat': inContext((t) => checksummed(t, 'ghp_'), 'GITHUB_TOKEN'),
  'github-oauth': inContext((t) => checksummed(t, 'gho_'), 'GH_OAUTH'),
  'github-user-to-server': inContext((t) => checksummed(t, 'ghu_'), 'GH_USER_TOKEN'),
  'github-server-to-server': inContext((t) => checksummed(t, 'ghs_'), 'GH_APP_TOKEN'),
  'github-refresh': inContext((t) => checksummed(t, 'ghr_'), 'GH_REFRESH'),
  'github-fine-grained': inContext((t) => `github_pat_${t.chars(alnum, 22)}_${t.chars(alnum, 59)}`, 'GITHUB_PAT'),
  'gitlab-legacy': inContext((t) => `glpat-${t.chars(`${alnum}_-`, 20)}`, 'GITLAB_TOKEN'),
  'gitlab-routable': inContext(gitlabRoutable, 'GITLAB_TOKEN'),
  npm: inContext((t) => checksummed(t, 'npm_'), 'NPM_TOKEN'),
  pypi: inContext(pypiToken, 'TWINE_PASSWORD'),
  'aws-access-key-id': inContext((t) => awsKeyId(t, t.pick(['AKIA', 'ASIA'])), 'AWS_ACCESS_KEY_ID'),
  'aws-secret-keyword': (t) => {
    const secret = awsSecret(t);
    return {
      secret,
      text: t.pick([
        () => `[default]\nregion = us-east-1\naws_secret_access_key = ${secret}\n`,
        () => `export AWS_SECRET_ACCESS_KEY=${secret}\n`,
        () => `{"SecretAccessKey": "${secret}", "Expiration": "2031-01-01T00:00:00Z"}`,
      ])(),
    };
  },
  'aws-secret-pair': (t) => {
    const secret = awsSecret(t);
    const id = awsKeyId(t);
    return {
      secret,
      text: t.pick([
        () => `User name,Access key ID,Secret access key\nci-deployer,${id},${secret}\n`,
        () => `const s3 = new S3Client({ credentials: { accessKeyId: "${id}", key2: "${secret}" } });`,
      ])(),
    };
  },
  'google-api-key': inContext((t) => `AIza${t.chars(`${alnum}_-`, 35)}`, 'GOOGLE_API_KEY'),
  'stripe-secret': inContext((t) => `sk_live_${t.pick(['', '51'])}${t.chars(alnum, t.pick([24, 97]))}`, 'STRIPE_KEY'),
  'stripe-restricted': inContext((t) => `rk_live_${t.chars(alnum, t.pick([24, 97]))}`, 'STRIPE_RESTRICTED_KEY'),
  anthropic: inContext((t) => anthropicKey(t, t.int(4) === 0), 'ANTHROPIC_API_KEY'),
  'openai-project': inContext((t) => openaiKey(t, 'proj'), 'OPENAI_API_KEY'),
  'openai-service-account': inContext((t) => openaiKey(t, 'svcacct'), 'OPENAI_API_KEY'),
  'openai-legacy': inContext((t) => openaiKey(t, 'legacy'), 'OPENAI_API_KEY'),
  huggingface: inContext((t) => `hf_${t.chars(alnum, 34)}`, 'HF_TOKEN'),
  'slack-bot': inContext((t) => `xoxb-${t.digits(12)}-${t.digits(13)}-${t.chars(alnum, 24)}`, 'SLACK_BOT_TOKEN'),
  'slack-user': inContext((t) => `xoxp-${t.digits(12)}-${t.digits(12)}-${t.digits(13)}-${t.chars(hexChars, 32)}`, 'SLACK_USER_TOKEN'),
  'slack-app': inContext(
    (t) => `xapp-1-A${t.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}-${t.digits(13)}-${t.chars(hexChars, 64)}`,
    'SLACK_APP_TOKEN',
  ),
  'slack-webhook': inContext(
    (t) =>
      `https://hooks.slack.com/services/T${t.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}/B${t.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}/${t.chars(alnum, 24)}`,
    'SLACK_WEBHOOK_URL',
  ),
  sendgrid: inContext((t) => `SG.${t.chars(b64url, 22)}.${t.chars(b64url, 43)}`, 'SENDGRID_API_KEY'),
  codevector: inContext((t) => `cvk_${t.chars(alnum, 40)}`, 'CODEVECTOR_KEY'),
  jwt: inContext(
    (t) => jwt(t, { sub: `user-${t.int(99999)}`, iss: 'https://auth.acme.io', iat: 1_790_000_000, exp: 4_102_444_800 }),
    'SESSION_JWT',
  ),
  'private-key-rsa': keyBlock(rsaKey),
  'private-key-ec': keyBlock((t) => ecKey(t, 'sec1')),
  'private-key-pkcs8': keyBlock((t) => (t.int(2) ? ecKey(t, 'pkcs8') : ed25519Key(t))),
  'private-key-openssh': keyBlock(opensshKey),
  'private-key-encrypted': keyBlock(encryptedKey),
  'private-key-json-escaped': (t) => {
    const secret = ed25519Key(t);
    return {
      secret,
      text: `{"type":"service_account","project_id":"acme-prod","private_key":${JSON.stringify(secret)},"client_email":"ci@acme-prod.iam.gserviceaccount.com"}`.replace(
        /^\{/,
        ' {',
      ),
    };
  },
  'postgres-url': urlGenerator('postgres', ':5432', 'DATABASE_URL'),
  'mysql-url': urlGenerator('mysql', ':3306', 'DATABASE_URL'),
  'mongodb-srv-url': urlGenerator('mongodb+srv', '', 'MONGO_URL'),
  'redis-url': urlGenerator('redis', ':6379', 'REDIS_URL'),
  'amqp-url': urlGenerator('amqps', ':5671', 'AMQP_URL'),
  'url-userinfo': (t) => {
    const secret = t.pick([
      () => checksummed(t, 'ghp_').slice(4),
      () => t.password().replace(/[@/:?#%]/g, 'x'),
      () => t.chars(b64url, 32),
    ])();
    const url = `${t.pick(['https', 'http', 'ftp', 'sftp', 'git+https'])}://${t.pick(['deploy', 'x-access-token', 'oauth2', 'ci-bot', 'admin'])}:${secret}@${t.pick(['git.acme.io', 'registry.corp.net', 'files.partner.com', 'nexus.internal.acme.io'])}/${t.pick(['org/repo.git', 'repository/npm/', 'upload/', 'simple/'])}`;
    return {
      secret,
      text: t.pick([
        () => `$ git remote -v\norigin\t${url} (fetch)\norigin\t${url} (push)`,
        () => `registry=${url}\n`,
        () => `Cloning from ${url} failed with 403`,
      ])(),
    };
  },
  'env-assignment': (t) => {
    const { key, secret } = assignment(t);
    return { secret, text: `# .env.production\nAPP_NAME=orders\nPORT=3000\n${key}=${secret}\nFEATURE_FLAGS=checkout,search\n` };
  },
  'shell-export': (t) => {
    const { key, secret } = assignment(t);
    return { secret, text: `$ export ${key}='${secret}'\n$ ./bin/migrate --env prod\nmigrations: 3 applied` };
  },
  'yaml-assignment': (t) => {
    const { key, secret } = assignment(t);
    return { secret, text: `database:\n  host: ${host(t)}\n  port: 5432\n  ${key.toLowerCase()}: "${secret}"\n  pool: 10\n` };
  },
  'json-config': (t) => {
    const { key, secret } = assignment(t);
    return { secret, text: lineNumbered(JSON.stringify({ name: 'orders', [camel(key)]: secret, retries: 3 }, null, 2)) };
  },
  'json-tool-argument': (t) => {
    const { key, secret } = assignment(t);
    return {
      secret,
      text: JSON.stringify({
        file_path: '/srv/app/config.json',
        content: JSON.stringify({ [camel(key)]: secret, region: 'eu-west-1' }, null, 2),
      }),
    };
  },
  'toml-config': (t) => {
    const { key, secret } = assignment(t);
    return { secret, text: `[server]\nport = 8080\n\n[credentials]\n${key.toLowerCase()} = "${secret}"\ntimeout = 30\n` };
  },
  'k8s-stringdata': (t) => {
    const { key, secret } = assignment(t);
    return {
      secret,
      text: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: orders-env\ntype: Opaque\nstringData:\n  ${key}: "${secret}"\n  LOG_LEVEL: info\n`,
    };
  },
  'k8s-data-base64': (t) => {
    const { key, secret } = assignment(t);
    const [name, value] = t.pick([
      () => [key.toLowerCase(), secret],
      () => ['.env', `APP_ENV=prod\n${key}=${secret}\n`],
      () => ['config.json', JSON.stringify({ [camel(key)]: secret })],
      () => [t.pick(['credentials', 'api-token', 'db-password']), secret],
    ])();
    const encoded = Buffer.from(value!).toString('base64');
    return {
      secret: encoded,
      text: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: orders\ntype: Opaque\ndata:\n  ${name}: ${encoded}\n  region: ZXUtd2VzdC0x\n`,
    };
  },
  'k8s-data-private-key': (t) => {
    const encoded = Buffer.from(`${ed25519Key(t)}\n`).toString('base64');
    return { secret: encoded, text: `apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n  tls.key: ${encoded}\n` };
  },
  'ado-net': (t) => {
    const secret = t.password().replace(/[;{}]/g, 'x');
    return {
      secret,
      text: `"ConnectionStrings": { "Default": "Server=tcp:${host(t)},1433;Initial Catalog=orders;User ID=${user(t)};Password=${secret};Encrypt=True;" }`,
    };
  },
  odbc: (t) => {
    const secret = t.password().replace(/[;{}]/g, 'x');
    return {
      secret,
      text: `conn = pyodbc.connect("Driver={ODBC Driver 18 for SQL Server};Server=${host(t)};Database=orders;UID=${user(t)};PWD={${secret}};")`,
    };
  },
  jdbc: (t) => {
    const secret = t.password().replace(/[;&{}]/g, 'x');
    return {
      secret,
      text: `spring.datasource.url=jdbc:postgresql://${host(t)}:5432/orders?user=${user(t)}&password=${secret}&sslmode=require\n`,
    };
  },
  'twilio-pair': (t) => {
    const secret = t.chars(hexChars, 32);
    const sid = `AC${t.chars(hexChars, 32)}`;
    return {
      secret,
      text: t.pick([
        () => `TWILIO_ACCOUNT_SID=${sid}\nTWILIO_AUTH_TOKEN=${secret}\n`,
        () => `from twilio.rest import Client\nclient = Client("${sid}", "${secret}")\n`,
        () => `account_sid = '${sid}'\nauth_token = '${secret}'\n`,
      ])(),
    };
  },
  'azure-connection-string': (t) => {
    const secret = t.bytes(64).toString('base64');
    return {
      secret,
      text: `AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acme${t.chars('abcdefghijklmnopqrstuvwxyz0123456789', 6)};AccountKey=${secret};EndpointSuffix=core.windows.net"`,
    };
  },
  'azure-key-pair': (t) => {
    const secret = t.bytes(64).toString('base64');
    return {
      secret,
      text: t.pick([
        () => `storage_account_name = "acme${t.chars('abcdefghijklmnopqrstuvwxyz', 6)}"\nkey = "${secret}"\n`,
        () => `az storage blob upload --account-name acme${t.chars('abcdefghijklmnopqrstuvwxyz', 6)} --account-key ${secret} -f build.zip`,
      ])(),
    };
  },
  'json-escaped-slash': (t) => {
    // A JSON file or log line read as text: its escapes are still there.
    if (t.int(2)) {
      const secret = awsSecret(t).replace(/^(.{10})./, '$1/');
      return { secret, text: `cat creds.json\n{"aws_secret_access_key":"${secret.replace(/\//g, '\\/')}","region":"us-east-1"} trailing` };
    }
    const secret = t.password().replace(/[@:?#%]/g, 'x');
    return { secret, text: `log: {"dsn":"postgres:\\/\\/app:${secret}@${host(t)}:5432\\/orders"} trailing` };
  },
  'json-escaped-unicode': (t) => {
    const secret = t.pick([() => `ghp_${''}`, () => ''])() === 'ghp_' ? checksummed(t, 'ghp_') : checksummed(t, 'npm_');
    const escaped = secret.replace('_', '\\u005f');
    return { secret, text: `console.log("{\\"token\\":\\"${escaped}\\"}") // from a minified bundle` };
  },
  'wrapped-token': (t) => {
    const secret = t.pick([
      () => openaiKey(t, 'proj'),
      () => `github_pat_${t.chars(alnum, 22)}_${t.chars(alnum, 59)}`,
      () => anthropicKey(t),
    ])();
    const wrapped = `token: ${secret}`.replace(/.{76}/g, '$&\n');
    return { secret, text: `The key from the email (my mail client wrapped it):\n${wrapped}\nthanks` };
  },
  heredoc: (t) => {
    const { key, secret } = assignment(t);
    return { secret, text: `cat > /etc/orders/env <<'EOF'\nAPP_ENV=prod\n${key}=${secret}\nEOF\nsystemctl restart orders` };
  },
};

// --- negatives ---

type NegativeGenerator = (t: Tools) => string;

const imageBase64 = (t: Tools, bytes: number) =>
  Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), t.bytes(bytes)]).toString('base64');

const negatives: Record<string, NegativeGenerator> = {
  'lockfile-integrity': (t) =>
    lineNumbered(
      Array.from({ length: 3 }, () => {
        const name = t.pick(['react', 'zod', 'undici', 'pino', 'vite', 'yaml', 'ws']);
        return `    "node_modules/${name}": {\n      "version": "${t.int(9)}.${t.int(20)}.${t.int(9)}",\n      "resolved": "https://registry.npmjs.org/${name}/-/${name}-1.2.3.tgz",\n      "integrity": "sha512-${t.bytes(64).toString('base64')}",\n      "license": "MIT"\n    },`;
      }).join('\n'),
    ),
  'yarn-lock': (t) =>
    `"@babel/core@^7.24.0":\n  version "7.24.${t.int(9)}"\n  resolved "https://registry.yarnpkg.com/@babel/core/-/core-7.24.5.tgz#${t.chars(hexChars, 40)}"\n  integrity sha512-${t.bytes(64).toString('base64')}\n`,
  'git-log': (t) =>
    Array.from(
      { length: 4 },
      () =>
        `commit ${t.chars(hexChars, 40)}\nAuthor: Dev <dev@acme.io>\nDate:   Mon Dec 7 10:${10 + t.int(49)}:00 2026\n\n    fix: token refresh race (#${t.int(999)})\n`,
    ).join('\n'),
  uuids: (t) =>
    JSON.stringify({
      request_id: [8, 4, 4, 4, 12].map((n) => t.chars(hexChars, n)).join('-'),
      trace: t.chars(hexChars, 32),
      span: t.chars(hexChars, 16),
      items: Array.from({ length: 3 }, () => [8, 4, 4, 4, 12].map((n) => t.chars(hexChars, n)).join('-')),
    }),
  'base64-image': (t) => `data:image/png;base64,${imageBase64(t, 300 + t.int(3000))}`,
  'minified-js': (t) => {
    const v = () => t.pick(['e', 't', 'n', 'r', 'o', 'i', 'a', 's']);
    return `!function(${v()},${v()}){"use strict";var ${v()}=${v()}.token||"",${v()}=function(${v()}){return ${v()}.password=${v()}.password,${v()}.secret=null,${v()}.headers.Authorization="Bearer "+${v()}.token};${v()}.exports={id:"${t.chars(hexChars, 8)}",hash:"${t.chars(b64url, 22)}",apiKeyHeader:"x-api-key",tokenKey:"access_token"}}(this,require);//# sourceMappingURL=app.${t.chars(hexChars, 20)}.js.map`;
  },
  'docs-examples': (t) =>
    t.pick([
      () => 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      () => 'export AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE\nexport AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
      () =>
        'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      () => 'curl -H "Authorization: token gho_16C7e42F292c6912E7710c838347Ae178B4a" https://api.github.com/user',
      () =>
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;',
      () => 'SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      () => 'stripe.api_key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"',
      () => 'DATABASE_URL=postgres://user:password@localhost:5432/mydb',
      () => 'TWILIO_ACCOUNT_SID=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\nTWILIO_AUTH_TOKEN=your_auth_token',
      () => 'SLACK_BOT_TOKEN=xoxb-000000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx',
    ])(),
  placeholders: (t) =>
    t.pick([
      () => `OPENAI_API_KEY=sk-...\nANTHROPIC_API_KEY=<your-anthropic-key>\nGITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`,
      () => `password: "\${DB_PASSWORD}"\napi_key: "{{ .Values.apiKey }}"\nsecret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256`,
      () => `DB_PASSWORD=changeme\nREDIS_PASSWORD=\nJWT_SECRET=your-jwt-secret-here\nAPI_TOKEN=********`,
      () => `mongodb+srv://<username>:<password>@cluster0.example.mongodb.net/test`,
      () => `env:\n  - name: API_TOKEN\n    valueFrom:\n      secretKeyRef:\n        name: api\n        key: token`,
      () => `AWS_SECRET_ACCESS_KEY=$(aws configure get aws_secret_access_key)\nGITHUB_TOKEN=\${{ secrets.GITHUB_TOKEN }}`,
    ])(),
  'code-referencing-secrets': (t) =>
    t.pick([
      () =>
        `const password = req.body.password;\nconst token = await getToken(user.id);\nconst apiKey = process.env.OPENAI_API_KEY ?? config.apiKey;\nif (!secret) throw new Error('missing secret');`,
      () =>
        `export const settingsSchema = z.object({\n  token: z.string().min(32),\n  secretName: z.string(),\n  passwordMinLength: z.number().default(12),\n  tokenUrl: z.string().url(),\n});`,
      () =>
        `def login(username: str, password: str) -> Token:\n    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())\n    token = jwt.encode({"sub": username}, settings.secret_key, algorithm="HS256")\n    return Token(access_token=token, token_type="bearer")`,
      () =>
        `    "max_tokens": 4096,\n    "input_tokens": ${t.int(99999)},\n    "cache_read_input_tokens": ${t.int(99999)},\n    "tokenizer": "cl100k_base",\n    "token_type": "Bearer"`,
      () => `password_hash = "$2b$12$${t.chars(b64.replace('+', '.'), 53)}"\nsecret_rotation_days = 90\ntoken_ttl = "15m"`,
      () => `func (c *Client) SetToken(token string) { c.token = token }\nvar passwordRegex = regexp.MustCompile(\`^(?=.*[A-Z]).{12,}$\`)`,
    ])(),
  'hashes-and-digests': (t) =>
    t.pick([
      () => `${t.chars(hexChars, 64)}  orders-linux-amd64.tar.gz\n${t.chars(hexChars, 64)}  orders-darwin-arm64.tar.gz`,
      () => `image: ghcr.io/acme/orders@sha256:${t.chars(hexChars, 64)}`,
      () =>
        `<script src="/assets/app.js" integrity="sha384-${t.bytes(48).toString('base64')}" nonce="${t.bytes(16).toString('base64')}"></script>`,
      () => `etag: "W/${t.chars(hexChars, 32)}"\nx-request-id: ${t.chars(hexChars, 32)}`,
    ])(),
  'public-keys-and-certs': (t) =>
    t.pick([
      () => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${t.bytes(32).toString('base64').slice(0, 43)} dev@laptop`,
      () => `-----BEGIN PUBLIC KEY-----\n${t.bytes(91).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PUBLIC KEY-----`,
      () => `-----BEGIN CERTIFICATE-----\n${t.bytes(600).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----`,
      () => `if (line.startsWith('-----BEGIN RSA PRIVATE KEY-----')) { inKey = true; }\nconst footer = '-----END RSA PRIVATE KEY-----';`,
    ])(),
  'expired-or-unsigned-jwt': (t) =>
    t.pick([
      () => `id_token=${jwt(t, { sub: `u${t.int(9999)}`, exp: 1_600_000_000 + t.int(100_000_000) })}`,
      () => `Authorization: Bearer ${jwt(t, { sub: 'test' }, 'none').replace(/\.[^.]+$/, '.')}`,
    ])(),
  'test-mode-and-public-keys': (t) =>
    t.pick([
      () => `STRIPE_PUBLISHABLE_KEY=pk_live_${t.chars(alnum, 24)}\nSTRIPE_TEST_KEY=sk_test_${t.chars(alnum, 24)}`,
      () => `.sk-chase { width: 40px; }\n.sk-chase-dot:nth-child(${t.int(6)}) { animation-delay: -1.${t.int(9)}s; }`,
      () =>
        `NEXT_PUBLIC_FIREBASE_PROJECT_ID=acme-${t.chars('abcdefghijklmnopqrstuvwxyz', 6)}\nNEXT_PUBLIC_SENTRY_DSN=https://${t.chars(hexChars, 32)}@o${t.digits(6)}.ingest.sentry.io/${t.digits(7)}`,
    ])(),
  'k8s-secret-non-secret-data': (t) =>
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: settings\ndata:\n  username: ${Buffer.from(t.pick(['admin', 'orders', 'app'])).toString('base64')}\n  port: ${Buffer.from(String(5000 + t.int(999))).toString('base64')}\n  password: ${Buffer.from(t.pick(['password', 'changeme', 'REPLACE_ME'])).toString('base64')}\n  region: ${Buffer.from('eu-west-1').toString('base64')}\n`,
  'urls-without-secrets': (t) =>
    `See https://github.com/acme/orders/blob/${t.chars(hexChars, 40)}/src/index.ts#L${t.int(300)} and https://user@git.acme.io/org/repo.git, redis://localhost:6379/0, postgres://postgres:postgres@127.0.0.1:5432/test`,
  'env-without-secrets': (t) =>
    `# .env\nAPP_VERSION=${t.int(9)}.${t.int(30)}.${t.int(9)}\nBUILD_SHA=${t.chars(hexChars, 40)}\nCACHE_KEY_PREFIX=orders-v${t.int(9)}\nPUBLIC_URL=https://orders.acme.io\nSESSION_COOKIE_NAME=sid\nTOKEN_TTL_SECONDS=${900 + t.int(3000)}\nPASSWORD_MIN_LENGTH=12\nSECRET_STORE=aws-secrets-manager\n`,
  'agent-transcript-ids': (t) =>
    JSON.stringify({
      type: 'tool_result',
      tool_use_id: `toolu_01${t.chars(alnum, 22)}`,
      id: `msg_01${t.chars(alnum, 22)}`,
      request_id: `req_011C${t.chars(alnum, 20)}`,
      signature: t.bytes(180 + t.int(200)).toString('base64'),
      usage: { input_tokens: t.int(99999), output_tokens: t.int(9999), cache_read_input_tokens: t.int(99999) },
      description: 'Fetches a page; the token budget limits how much is read. Never include secrets or passwords.',
    }),
  'test-fixtures': (t) =>
    t.pick([
      () =>
        `it('rejects a bad token', async () => {\n  const res = await app.inject({ headers: { authorization: 'Bearer not-a-real-token' } });\n  expect(res.statusCode).toBe(401);\n});`,
      () => `const fixture = { password: 'correct horse battery staple', token: 'test-token-123', secret: 'shh' };`,
      () => `assert.equal(hash("${t.chars(alnum, 12)}"), "${t.chars(hexChars, 64)}");`,
    ])(),
  prose: (t) =>
    t.pick([
      () => 'Rotate the token every 90 days and store the password in the vault; never paste a secret into a prompt.',
      () =>
        `The API key must be sent in the x-api-key header. Tokens expire after ${t.int(60)} minutes; refresh with the refresh token endpoint.`,
      () => 'Password requirements: at least 12 characters, one digit, one symbol. The secret manager rotates credentials nightly.',
    ])(),
};

/** Positive kinds (credential kinds and the ways they hide) and negative kinds. */
export const corpusKinds = { positive: Object.keys(positives), negative: Object.keys(negatives) };

/**
 * The corpus: `perPositiveKind` samples of each credential kind and `perNegativeKind` of each
 * look-alike, the same for the same seed.
 */
export function secretCorpus(options: { seed?: number; perPositiveKind?: number; perNegativeKind?: number } = {}): CorpusSample[] {
  const t = makeTools(seeded(options.seed ?? 12));
  const samples: CorpusSample[] = [];
  for (const [kind, make] of Object.entries(positives)) {
    for (let i = 0; i < (options.perPositiveKind ?? 12); i++) {
      const { text, secret } = make(t);
      samples.push({ kind, positive: true, text, secret });
    }
  }
  for (const [kind, make] of Object.entries(negatives)) {
    for (let i = 0; i < (options.perNegativeKind ?? 32); i++) samples.push({ kind, positive: false, text: make(t) });
  }
  return samples;
}

/** Whitespace, line numbers and JSON escapes removed: a match of a wrapped or escaped secret compares with the secret. */
function normalise(text: string): string {
  return text
    .replace(/^\s*\d+→/gm, '')
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    .replace(/\\n/g, '')
    .replace(/\\(.)/g, '$1')
    .replace(/\s+/g, '');
}

/** True when a match's text is (a large part of) the sample's secret. */
export function coversSecret(sample: CorpusSample, matchText: string): boolean {
  const secret = normalise(sample.secret!);
  const found = normalise(matchText);
  if (found.length < 8) return false;
  return found.includes(secret) || (secret.includes(found) && found.length >= Math.min(secret.length, 24));
}

type Scanner = { scan(raw: Buffer, body: unknown, options?: { all?: boolean }): { matches: { rule: string; text: string }[] } };

/** The request body a sample travels in: a user turn's text, or a tool result (every other sample). */
export function sampleBody(sample: CorpusSample, index: number): Record<string, unknown> {
  const content =
    index % 2 === 0
      ? [{ type: 'text', text: sample.text }]
      : [{ type: 'tool_result', tool_use_id: `toolu_${index}`, content: [{ type: 'text', text: sample.text }] }];
  return { model: 'claude-sonnet-5', max_tokens: 1024, messages: [{ role: 'user', content }] };
}

export type CorpusScore = {
  recall: number;
  precision: number;
  positives: number;
  negatives: number;
  truePositives: number;
  falsePositives: number;
  perKind: Record<string, { positive: boolean; samples: number; flagged: number; rate: number; rules: string[] }>;
  missed: CorpusSample[];
  falseAlarms: { sample: CorpusSample; rules: string[] }[];
};

/**
 * Recall: positives with a match covering their secret, over positives. Precision: those, over
 * them plus negatives with any match (a negative sample flagged at all is a false positive).
 */
export function scoreScanner(scanner: Scanner, samples: readonly CorpusSample[]): CorpusScore {
  const perKind: CorpusScore['perKind'] = {};
  const missed: CorpusSample[] = [];
  const falseAlarms: CorpusScore['falseAlarms'] = [];
  let truePositives = 0;
  let falsePositives = 0;
  samples.forEach((sample, index) => {
    const raw = Buffer.from(JSON.stringify(sampleBody(sample, index)));
    const { matches } = scanner.scan(raw, JSON.parse(raw.toString('utf8')), { all: true });
    perKind[sample.kind] ??= { positive: sample.positive, samples: 0, flagged: 0, rate: 0, rules: [] };
    const entry = perKind[sample.kind]!;
    entry.samples++;
    const hits = sample.positive ? matches.filter((m) => coversSecret(sample, m.text)) : matches;
    for (const m of hits) if (!entry.rules.includes(m.rule)) entry.rules.push(m.rule);
    if (hits.length > 0) {
      entry.flagged++;
      if (sample.positive) truePositives++;
      else {
        falsePositives++;
        falseAlarms.push({ sample, rules: hits.map((m) => m.rule) });
      }
    } else if (sample.positive) missed.push(sample);
  });
  for (const entry of Object.values(perKind)) entry.rate = Math.round((entry.flagged / entry.samples) * 1000) / 1000;
  const positives = samples.filter((s) => s.positive).length;
  return {
    recall: truePositives / positives,
    precision: truePositives / (truePositives + falsePositives),
    positives,
    negatives: samples.length - positives,
    truePositives,
    falsePositives,
    perKind,
    missed,
    falseAlarms,
  };
}
