import {
  hasValidCrc32Base62,
  hasValidGitlabRoutableCrc,
  isAzureStorageKey,
  isBase64PrivateKey,
  isKnownExample,
  isLiveJwt,
  isParsablePrivateKey,
  isPlausibleAwsKeyId,
  isPypiMacaroon,
  isRealDatabasePassword,
  isSecretLikeValue,
  looksLikePlaceholder,
  shannonEntropy,
} from './validate-token.ts';

/**
 * One built-in detector: literal keywords for the prefilter (case-sensitive, as they appear in
 * the raw JSON), a linear pattern (no nested quantifiers; run only on strings that hold a
 * keyword) and a validator that has the final word. `pack` groups detectors for SecretRule
 * `detectors` (a pack name, a detector id or `all`).
 */
export type BuiltinDetector = {
  id: string;
  pack: string;
  description: string;
  keywords: string[];
  /**
   * Keywords (lowercase) matched case-insensitively by the prefilter and the keyword finder, placed
   * like `keywords` (they are listed there too). For key names (`DB_PASSWORD`, `clientSecret`).
   */
  looseKeywords?: string[];
  pattern: RegExp;
  /**
   * The secret's span within a match (default: the whole match), e.g. the value of `password=…`
   * without its key: what Redact replaces and what the fingerprint is taken of. The pattern
   * is compiled with `d` (indices) when this is set.
   */
  span?: (match: RegExpExecArray) => [start: number, end: number];
  /** Reports only where no other detector's match overlaps (generic rules yield to specific ones). */
  fallback?: boolean;
  /** `text` is the whole decoded string, `match` the regex match within it. */
  validate?: (match: RegExpExecArray, text: string) => boolean;
  /** No literal start (or a backreference): expensive enough on long strings to cache results. */
  costly?: boolean;
  /** Bigram pairs for the keyword finder (FinderKeyword `pair`), where its model picks common ones. */
  keywordPairs?: Record<string, number>;
  /**
   * Where a match starts relative to a keyword hit: `match.index = hit - offset`. Keywords not
   * listed start the match (offset 0). Every match holds one of its keywords at such an offset, so
   * the pattern is tried (sticky) only there instead of over the whole string.
   */
  keywordOffsets?: Record<string, number[]>;
  /**
   * A cheap necessary condition for a match at `start`, tried before the pattern. Starts come in
   * ascending order for one string; `memo` lives for that string, so a check can remember how far
   * it has looked and stay linear over many starts.
   */
  mayMatchAt?: (text: string, start: number, memo: Map<string, number>) => boolean;
  /**
   * For a pattern without a literal start: every match the validator can accept is at most
   * `maxLength` long and starts within `[hit + from, hit + to]` of a hit of `context` (matched
   * case-insensitively) or of one of `keywords` (a hit that `accept` rejects places nothing), so
   * the pattern is run only over those ranges.
   */
  window?: {
    maxLength: number;
    context: { keywords: string[]; from: number; to: number };
    keywords: Record<string, [from: number, to: number]>;
    accept?: (text: string, hit: number) => boolean;
  };
};

const boundary = '(?<![A-Za-z0-9_])';
const end = '(?![A-Za-z0-9_])';
const now = () => Math.floor(Date.now() / 1000);
const entropyAtLeast = (value: string, bits: number) => shannonEntropy(value) >= bits && !looksLikePlaceholder(value);
const awsKeyIdAt = /(?:AKIA|ASIA)[A-Z2-7]{16}/y;

// Key names that hold secrets; the value check (isSecretLikeValue) keeps precision.
// Key names, in the spellings they take (`token`, `TOKEN`, `Token` of `authToken`): exact
// keywords, because the keyword finder samples two bigrams of each and a case-insensitive keyword
// makes every case of them a candidate. Lowercase words common in prose and code (`token`,
// `pass`, `secret`) are spelled with what ends a key (`token=`, `token:`, `token"`, `secret_`),
// whose last bigram (`n=`, `t_`) is rare, so "the token budget" costs nothing.
const keyEnds = ['=', ':', '"', "'", '_'];
const genericKeywords = [
  ...['token', 'secret'].flatMap((word) => keyEnds.map((end) => word + end)),
  // `pass` with what ends a YAML, JSON or .env key (`user: x, pass: y` of mailer configs).
  'pass:',
  'pass"',
  'pass=',
  // `stripe_secret = …`, `auth_token = …`: the underscore before is as rare as a key end.
  '_token',
  '_secret',
  ...[
    'password',
    'passwd',
    'pwd',
    'api_key',
    'apikey',
    'api-key',
    'apiKey',
    'access_key',
    'accesskey',
    'accessKey',
    'private_key',
    'privatekey',
    'privateKey',
  ],
  ...['TOKEN', 'PASS', 'SECRET', 'PWD', 'API_KEY', 'APIKEY', 'API-KEY', 'ACCESS_KEY', 'PRIVATE_KEY'],
  ...['Token', 'Password', 'Passwd', 'Secret', 'Pwd', 'ApiKey', 'Api-Key', 'AccessKey', 'PrivateKey'],
];
/** Each spelling of each word: as written, upper case, Capitalized_Words and camelCase. */
const spellings = (...words: string[]) => [
  ...new Set(
    words.flatMap((word) => [
      word,
      word.toUpperCase(),
      word.replace(/(^|[_-])([a-z])/g, (_, sep: string, c: string) => sep + c.toUpperCase()),
      word.replace(/[_-]([a-z])/g, (_, c: string) => c.toUpperCase()),
    ]),
  ),
];
const genericKeyName = '(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)';
const genericKeyStart = new RegExp(`^${genericKeyName}`, 'i');
// Key names that describe a secret rather than hold it: `password_hash`, `tokenUrl`, `secretName`.
const describingSuffixes = new Set(
  'hash hashed digest length len min max policy field fields type name names label file path url uri endpoint count ttl expiry expires expiration timeout prompt reset regex pattern header param format mode id ids limit limits size strength rotation ref arn version enabled required env var location dir store manager provider method kind placeholder input hint help schema class error errors rule rules usage budget count estimate'.split(
    ' ',
  ),
);

function isLetterAt(text: string, at: number): boolean {
  const code = text.charCodeAt(at) | 32;
  return code >= 97 && code <= 122;
}

function caseAt(text: string, at: number): 'lower' | 'upper' | null {
  const code = text.charCodeAt(at);
  if (code >= 97 && code <= 122) return 'lower';
  if (code >= 65 && code <= 90) return 'upper';
  return null;
}

/** The keyword begins a word: `bypass`, `mytoken` are not key names, `DB_PASSWORD`, `dbPassword` are. */
function keywordStartsWord(text: string, start: number): boolean {
  const before = caseAt(text, start - 1);
  return before === null || before !== caseAt(text, start);
}

const keyNameWord = /pass|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential/gi;

// Bodies repeat the same few hundred keys (`type`, `text`, `input_schema`, …) in every message.
const objectKeyVerdicts = new Map<string, boolean>();

/** A JSON object key that names a secret (`stripeSecret`, `db_password`), wherever the keyword is in it. */
export function isSecretObjectKey(key: string): boolean {
  if (key.length < 3 || key.length > 64) return false;
  let verdict = objectKeyVerdicts.get(key);
  if (verdict === undefined) {
    verdict = namesSecret(key);
    if (objectKeyVerdicts.size >= 4096) objectKeyVerdicts.clear();
    objectKeyVerdicts.set(key, verdict);
  }
  return verdict;
}

function namesSecret(key: string): boolean {
  keyNameWord.lastIndex = 0;
  for (let m = keyNameWord.exec(key); m !== null; m = keyNameWord.exec(key)) {
    if (isSecretKeyName(key.slice(m.index), key, m.index)) return true;
  }
  return false;
}

/** The matched key is a secret's name: the keyword is a whole word of it, and the key does not describe the secret. */
export function isSecretKeyName(key: string, text = key, at = 0): boolean {
  if (at > 0 && !keywordStartsWord(text, at)) return false;
  const base = genericKeyStart.exec(key)?.[0];
  if (!base) return false;
  // `tokenizer`, `secretary`, `passage`: the word goes on in the same case.
  if (base.length < key.length) {
    const last = caseAt(base, base.length - 1);
    if (last !== null && caseAt(key, base.length) === last) return false;
  }
  const words = key.split(/[_.-]|(?<=[a-z0-9])(?=[A-Z])/).filter(Boolean);
  const lastWord = words[words.length - 1]!.toLowerCase();
  return words.length === 1 || !describingSuffixes.has(lastWord);
}

/** The value a generic assignment matched (the first alternative that took part). */
function assignedValue(m: RegExpExecArray): string {
  return m[2] ?? m[3] ?? m[4] ?? m[5]!;
}

function valueSpan(m: RegExpExecArray): [number, number] {
  const indices = m.indices!;
  return (indices[2] ?? indices[3] ?? indices[4] ?? indices[5]!) as [number, number];
}

const connectionContext =
  /Server=|Data Source=|Host=|Hostname=|Driver=|jdbc:|User ID=|UID=|User=|Username=|Database=|Initial Catalog=|Provider=|DSN=|Port=|AccountName=/i;
const databaseSchemeBefore = /(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|rediss?|amqps?)$/;
const azureContext = spellings(
  'AccountKey',
  'AccountName',
  'account-key',
  'account-name',
  'account_key',
  'azure_storage',
  'storage_account',
);
const twilioContext = spellings('twilio', 'auth_token');

export const builtinDetectors: BuiltinDetector[] = [
  {
    id: 'github-token',
    pack: 'vcs',
    description: 'GitHub classic token (ghp_, gho_, ghu_, ghs_, ghr_) with a valid CRC32 checksum',
    keywords: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'],
    keywordPairs: { ghp_: 1, gho_: 1, ghu_: 1, ghs_: 1, ghr_: 1 },
    pattern: new RegExp(`${boundary}gh[pousr]_([A-Za-z0-9]{36})${end}`, 'g'),
    validate: (m) => hasValidCrc32Base62(m[1]!),
  },
  {
    id: 'github-fine-grained-token',
    pack: 'vcs',
    description: 'GitHub fine-grained personal access token',
    keywords: ['github_pat_'],
    pattern: new RegExp(`${boundary}github_pat_([A-Za-z0-9]{22}_[A-Za-z0-9]{59})${end}`, 'g'),
    validate: (m) => entropyAtLeast(m[1]!, 4),
  },
  {
    id: 'gitlab-token',
    pack: 'vcs',
    description: 'GitLab personal access token (legacy 20 characters, or routable with a valid CRC32)',
    keywords: ['glpat-', 'gloas-', 'glrt-', 'glptt-'],
    pattern: /(?<![A-Za-z0-9_])(gl(?:pat|oas|rt|ptt)-[A-Za-z0-9_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{2}[0-9a-z]{7})?)(?![A-Za-z0-9_-])/g,
    validate: (m) => {
      const token = m[1]!;
      if (/\.[0-9a-z]{2}\.[0-9a-z]{9}$/.test(token)) return hasValidGitlabRoutableCrc(token);
      const body = token.slice(token.indexOf('-') + 1);
      return body.length === 20 && entropyAtLeast(body, 3.5);
    },
  },
  {
    id: 'npm-token',
    pack: 'package-registries',
    description: 'npm access token with a valid CRC32 checksum',
    keywords: ['npm_'],
    pattern: new RegExp(`${boundary}npm_([A-Za-z0-9]{36})${end}`, 'g'),
    validate: (m) => hasValidCrc32Base62(m[1]!),
  },
  {
    id: 'pypi-token',
    pack: 'package-registries',
    description: 'PyPI API token (a pypi.org macaroon)',
    keywords: ['pypi-AgE'],
    pattern: /(?<![A-Za-z0-9_])(pypi-AgE[A-Za-z0-9_-]{60,})/g,
    validate: (m) => isPypiMacaroon(m[1]!),
  },
  {
    id: 'aws-access-key-id',
    pack: 'cloud',
    description: 'AWS access key id (AKIA, ASIA, ABIA, ACCA) that decodes to an account id',
    keywords: ['AKIA', 'ASIA', 'ABIA', 'ACCA'],
    pattern: /(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Z0-9])/g,
    validate: (m) => isPlausibleAwsKeyId(m[1]!),
  },
  {
    id: 'aws-secret-access-key',
    pack: 'cloud',
    description: 'AWS secret access key next to a key id or an aws_secret_access_key keyword',
    keywords: ['aws_secret', 'AWS_SECRET', 'SecretAccessKey', 'secret_access_key', 'AKIA', 'ASIA'],
    pattern: /(?<![A-Za-z0-9+/])([A-Za-z0-9+/]{40})(?![A-Za-z0-9+/=])/g,
    costly: true,
    // The validator wants a keyword within the 200 characters before the match (the keyword
    // starts at most 200 before it), or the first key id within [-512, +552) of its start to be
    // plausible: such an id starts at most 532 before and 512 after the match start.
    window: {
      maxLength: 40,
      context: { keywords: ['aws_secret', 'secret_access_key', 'secretaccesskey'], from: 0, to: 200 },
      keywords: { AKIA: [-532, 512], ASIA: [-532, 512] },
      accept: (text, hit) => {
        awsKeyIdAt.lastIndex = hit;
        const id = awsKeyIdAt.exec(text);
        return id !== null && isPlausibleAwsKeyId(id[0]);
      },
    },
    validate: (m, text) => {
      const value = m[1]!;
      if (!/[0-9]/.test(value) || !/[a-z]/.test(value) || !/[A-Z]/.test(value)) return false;
      if (value.includes('EXAMPLE') || shannonEntropy(value) < 4.25) return false;
      const before = text.slice(Math.max(0, m.index - 200), m.index);
      if (/aws_secret|secret_access_key|SecretAccessKey/i.test(before)) return true;
      // Pair rule: a plausible key id within ±512 characters.
      const near = text.slice(Math.max(0, m.index - 512), m.index + 552);
      const id = /(?:AKIA|ASIA)[A-Z2-7]{16}/.exec(near);
      return id !== null && isPlausibleAwsKeyId(id[0]);
    },
  },
  {
    id: 'google-api-key',
    pack: 'cloud',
    description: 'Google API key',
    keywords: ['AIza'],
    pattern: /(?<![A-Za-z0-9_-])(AIza[A-Za-z0-9_-]{35})(?![A-Za-z0-9_-])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(4), 3.5),
  },
  {
    id: 'stripe-live-key',
    pack: 'payments',
    description: 'Stripe live secret or restricted key',
    keywords: ['sk_live_', 'rk_live_'],
    keywordPairs: { sk_live_: 1, rk_live_: 1 },
    pattern: /(?<![A-Za-z0-9_])([sr]k_live_[A-Za-z0-9]{20,247})(?![A-Za-z0-9])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(8), 3.5),
  },
  {
    id: 'anthropic-api-key',
    pack: 'llm-providers',
    description: 'Anthropic API or admin key',
    keywords: ['sk-ant-'],
    pattern: /(?<![A-Za-z0-9_-])(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,120})(?![A-Za-z0-9_-])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(14), 4),
  },
  {
    id: 'openai-api-key',
    pack: 'llm-providers',
    description: 'OpenAI API key (project, service account, admin or legacy)',
    keywords: ['sk-proj-', 'sk-svcacct-', 'sk-admin-', 'sk-None-', 'T3BlbkFJ'],
    // Legacy keys: `sk-` and 20 characters before the marker.
    keywordOffsets: { T3BlbkFJ: [23] },
    pattern:
      /(?<![A-Za-z0-9_-])(sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))(?![A-Za-z0-9_-])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(3), 4),
  },
  {
    id: 'huggingface-token',
    pack: 'llm-providers',
    description: 'Hugging Face access token',
    keywords: ['hf_', 'api_org_'],
    keywordPairs: { api_org_: 2 },
    pattern: /(?<![A-Za-z0-9_])((?:hf_|api_org_)[A-Za-z0-9]{34})(?![A-Za-z0-9])/g,
    validate: (m) => entropyAtLeast(m[1]!.replace(/^(hf_|api_org_)/, ''), 4),
  },
  {
    id: 'slack-token',
    pack: 'messaging',
    description: 'Slack bot, user, workspace or app token',
    keywords: ['xoxb-', 'xoxp-', 'xoxa-', 'xoxr-', 'xoxe', 'xapp-'],
    pattern:
      /(?<![A-Za-z0-9_])(xox[bpar]-[0-9]{10,13}-[0-9]{10,13}(?:-[0-9]{10,13})?-[A-Za-z0-9]{24,34}|xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9]{100,}|xapp-\d-[A-Z0-9]{9,12}-\d{10,13}-[a-z0-9]{64})(?![A-Za-z0-9])/g,
    // The tails of user and app tokens are hex (at most 4 bits a character).
    validate: (m) => entropyAtLeast(m[1]!.slice(-24), 3),
  },
  {
    id: 'slack-webhook',
    pack: 'messaging',
    description: 'Slack incoming webhook URL',
    keywords: ['hooks.slack.com'],
    keywordOffsets: { 'hooks.slack.com': [8] },
    keywordPairs: { 'hooks.slack.com': 10 },
    pattern: /(https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{8,12}\/B[A-Z0-9]{8,12}\/[A-Za-z0-9]{24})(?![A-Za-z0-9])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(-24), 3.5),
  },
  {
    id: 'sendgrid-api-key',
    pack: 'messaging',
    description: 'SendGrid API key',
    keywords: ['SG.'],
    pattern: /(?<![A-Za-z0-9_])(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(3), 4),
  },
  {
    id: 'private-key',
    pack: 'private-keys',
    description: 'PEM private key (RSA, EC, DSA, PKCS#8, encrypted or OpenSSH) that parses',
    keywords: ['PRIVATE KEY-----'],
    // `-----BEGIN ` (11) plus '', 'EC ', 'RSA '/'DSA ', 'OPENSSH ' or 'ENCRYPTED '.
    keywordOffsets: { 'PRIVATE KEY-----': [11, 14, 15, 19, 21] },
    // Bounded body ({1,20000} lines of text) keeps the match linear and a broken block cheap.
    pattern: /-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----[\s\S]{64,20000}?-----END \1-----/g,
    costly: true,
    // Source code names the header without a key after it, and a crafted body can repeat it:
    // each would have the lazy body read 20,000 characters for an END line that is not there.
    mayMatchAt: pemEndFollows,
    validate: (m) => isParsablePrivateKey(m[0]),
  },
  {
    id: 'private-key-base64',
    pack: 'private-keys',
    description: 'Base64 of a PEM private key that parses (Kubernetes Secret data, `base64 key.pem`, wrapped or not)',
    // `-----BEGIN` in base64, when the PEM starts the encoded data (as it does in those).
    keywords: ['LS0tLS1CRUdJTi'],
    pattern: /(?<![A-Za-z0-9+/])(LS0tLS1CRUdJTi(?:[A-Za-z0-9+/]|\r?\n){60,40000}={0,2})/g,
    costly: true,
    validate: (m) => isBase64PrivateKey(m[1]!),
  },
  {
    id: 'jwt',
    pack: 'jwt',
    description: 'Signed, unexpired JSON Web Token',
    keywords: ['eyJ'],
    pattern: /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})(?![A-Za-z0-9_-])/g,
    validate: (m) => isLiveJwt(m[1]!, now()),
  },
  {
    id: 'database-url',
    pack: 'database-urls',
    description: 'Database connection URL with a real password',
    keywords: ['postgres://', 'postgresql://', 'mysql://', 'mongodb://', 'mongodb+srv://', 'redis://', 'rediss://', 'amqp://', 'amqps://'],
    // The bigram ending in `:` and the `:/` after it are rare; the model would pick `sq`, `rv`.
    keywordPairs: Object.fromEntries(
      ['postgres://', 'postgresql://', 'mysql://', 'mongodb://', 'mongodb+srv://', 'redis://', 'rediss://', 'amqp://', 'amqps://'].map(
        (k) => [k, k.indexOf(':') - 1],
      ),
    ),
    pattern:
      /(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|rediss?|amqps?):\/\/([^\s:@/"'`]{0,128}):([^\s@/"'`]{1,256})@([^\s/:?#"'`,]{1,253})/g,
    validate: (m) => isRealDatabasePassword(m[1]!, m[2]!, m[3]!),
  },
  {
    id: 'connection-string-password',
    pack: 'connection-strings',
    description: 'Password= / Pwd= in an ADO.NET, ODBC or JDBC connection string with a real password',
    keywords: spellings('password=', 'pwd='),
    pattern: /(?:password|pwd)=(?:\{([^}\r\n]{1,256})\}|([^;&"'\s]{1,256}))/dgi,
    span: (m) => (m.indices![1] ?? m.indices![2]!) as [number, number],
    mayMatchAt: (text, start) => !isLetterAt(text, start - 1),
    validate: (m, text) => {
      const around = text.slice(Math.max(0, m.index - 300), m.index + 300);
      if (!connectionContext.test(around)) return false;
      const value = m[1] ?? m[2]!;
      return isRealDatabasePassword('', value, 'remote') && !isKnownExample(value);
    },
  },
  {
    id: 'url-credentials',
    pack: 'connection-strings',
    description: 'user:password@ in the userinfo of any URL (https, ftp, git, sftp, …) with a real password',
    keywords: ['://'],
    pattern: /:\/\/([^\s:@/"'`<>\\]{1,128}):([^\s@/"'`<>\\]{3,256})@([A-Za-z0-9._-]{1,253})/dg,
    span: (m) => m.indices![2]! as [number, number],
    fallback: true,
    // Database schemes are the database-url detector's.
    mayMatchAt: (text, start) => !databaseSchemeBefore.test(text.slice(Math.max(0, start - 16), start)),
    validate: (m) => isRealDatabasePassword(m[1]!, m[2]!, m[3]!) && !isKnownExample(m[2]!),
  },
  {
    id: 'twilio-auth-token',
    pack: 'messaging',
    description: 'Twilio auth token (32 hex) next to an Account SID (AC + 32 hex)',
    keywords: twilioContext,
    pattern: /(?<![0-9A-Za-z])([0-9a-f]{32})(?![0-9A-Za-z])/g,
    costly: true,
    window: {
      maxLength: 32,
      context: { keywords: [], from: 0, to: 0 },
      keywords: Object.fromEntries(twilioContext.map((keyword) => [keyword, [-400, 400]])),
    },
    validate: (m, text) => {
      const value = m[1]!;
      if (shannonEntropy(value) < 3.2 || /^[0-9]+$/.test(value)) return false;
      const near = text.slice(Math.max(0, m.index - 434), m.index + 466);
      return /(?<![0-9A-Za-z])AC[0-9a-f]{32}(?![0-9A-Za-z])/.test(near);
    },
  },
  {
    id: 'azure-storage-key',
    pack: 'cloud',
    description: 'Azure storage account key (88 base64 characters of 64 bytes) in a connection string or next to the account name',
    keywords: azureContext,
    keywordPairs: { storageAccount: 6 },
    pattern: /(?<![A-Za-z0-9+/])([A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])/g,
    costly: true,
    window: {
      maxLength: 88,
      context: { keywords: [], from: 0, to: 0 },
      keywords: Object.fromEntries(azureContext.map((keyword) => [keyword, [-300, 300]])),
    },
    validate: (m) => isAzureStorageKey(m[1]!),
  },
  {
    id: 'codevector-api-key',
    pack: 'codevector',
    description: 'CodeVector virtual API key',
    keywords: ['cvk_'],
    pattern: /(?<![A-Za-z0-9_])(cvk_[0-9A-Za-z]{40})(?![A-Za-z0-9])/g,
    validate: (m) => entropyAtLeast(m[1]!.slice(4), 4),
  },
  {
    id: 'generic-secret-assignment',
    pack: 'generic',
    description:
      'A secret-named key (password, secret, token, api_key, private_key, credential…) assigned a random-looking value in .env, shell, YAML, JSON, TOML or code',
    keywords: genericKeywords,
    keywordOffsets: { _token: [-1], _secret: [-1] },
    keywordPairs: { _token: 2, _secret: 2, 'pass:': 2, 'pass"': 2, 'pass=': 2 },
    pattern: new RegExp(
      `(${genericKeyName}[A-Za-z0-9]{0,16}(?:[_.-][A-Za-z0-9]{1,16}){0,2})["']?[ \\t]{0,4}(?:=>|:=|=|:)[ \\t]{0,4}(?:"([^"\\s\\\\]{8,256})"|'([^'\\s\\\\]{8,256})'|\\{([^}\\s]{8,256})\\}|([^\\s"'\x60,;&<>(){}[\\]\\\\]{8,256}))`,
      'gid',
    ),
    span: valueSpan,
    fallback: true,
    mayMatchAt: (text, start) => keywordStartsWord(text, start),
    validate: (m, text) => isSecretKeyName(m[1]!, text, m.index) && isSecretLikeValue(assignedValue(m)),
  },
];

export const builtinPacks = [...new Set(builtinDetectors.map((detector) => detector.pack))];

/**
 * Resolves SecretRule `detectors` entries to detectors. Pack names are the ones the SecretRule CRD
 * documents (crds/src/secret-rule.ts); a single detector id is accepted too.
 */
export function selectBuiltinDetectors(names: readonly string[]): BuiltinDetector[] {
  const wanted = new Set(names);
  if (wanted.has('all')) return builtinDetectors;
  return builtinDetectors.filter((detector) => wanted.has(detector.pack) || wanted.has(detector.id));
}

/**
 * True when `-----END <label>-----` for the header at `start` follows within the private-key
 * pattern's bound. The next END of each label is remembered in `memo` (starts ascend), so many
 * headers cost one forward pass per label rather than one 20,000-character read each.
 */
function pemEndFollows(text: string, start: number, memo: Map<string, number>): boolean {
  if (!text.startsWith('-----BEGIN ', start)) return false;
  const close = text.indexOf('-----', start + 11);
  if (close < 0 || close - start > 40) return false;
  const label = text.slice(start + 11, close);
  let end = memo.get(label);
  if (end === undefined || (end >= 0 && end < start)) {
    end = text.indexOf(`-----END ${label}-----`, start);
    memo.set(label, end);
  }
  return end >= 0 && end - start <= 20_100;
}
