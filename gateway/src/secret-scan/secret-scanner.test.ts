import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { SnapshotSecretRule } from '@codevector/core/config-snapshot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSecretScanner } from './secret-scanner.ts';

type Rules = Pick<SnapshotSecretRule, 'namespace' | 'name' | 'detectors' | 'patterns'>[];

import { toBase62 } from './validate-token.ts';

const builtin: Rules = [{ namespace: 'default', name: 'builtin', detectors: ['all'], patterns: [] }];

function randomBase62(length: number): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let out = '';
  for (const byte of randomBytes(length)) out += alphabet[byte % 62];
  return out;
}

/** A token in GitHub's checksummed format (what GitHub itself issues). */
export function fakeGithubToken(prefix = 'ghp_'): string {
  const random = randomBase62(30);
  return `${prefix}${random}${toBase62(crc32(random), 6)}`;
}

// Bodies under 64 KB skip the raw prefilter; the describes that matter run with it forced on too.
let prefilterMinBytes: number | undefined;
const prefilterModes = [
  { mode: 'decoded search only (small body)', minBytes: undefined },
  { mode: 'raw prefilter first', minBytes: 0 },
];

// The generic pack's key names are in nearly every body, so a scanner with it skips the raw
// prefilter (ADR 0115); the prefilter mode runs the other packs, which keep it.
const prefiltered: Rules = [
  {
    namespace: 'default',
    name: 'builtin',
    detectors: [
      'cloud',
      'vcs',
      'package-registries',
      'payments',
      'llm-providers',
      'messaging',
      'private-keys',
      'jwt',
      'database-urls',
      'codevector',
      'connection-strings',
    ],
    patterns: [],
  },
];

function scan(body: unknown, rules: Rules = builtin) {
  const raw = Buffer.from(JSON.stringify(body));
  const used = prefilterMinBytes === 0 && rules === builtin ? prefiltered : rules;
  return createSecretScanner(used, undefined, { prefilterMinBytes }).scan(raw, JSON.parse(raw.toString()), { all: true });
}

const anthropicBody = (text: string) => ({
  model: 'claude-sonnet-5',
  max_tokens: 1000,
  system: [{ type: 'text', text: 'You are helpful.' }],
  messages: [
    { role: 'user', content: 'hello' },
    { role: 'assistant', content: [{ type: 'text', text: 'hi' }] },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'look' },
        { type: 'text', text },
      ],
    },
  ],
});

describe.each(prefilterModes)('built-in detectors, $mode', ({ minBytes }) => {
  beforeEach(() => {
    prefilterMinBytes = minBytes;
  });
  afterEach(() => {
    prefilterMinBytes = undefined;
  });

  it('blocks a checksummed GitHub token and names where it is', () => {
    const token = fakeGithubToken();
    const result = scan(anthropicBody(`export GITHUB_TOKEN=${token}\n`));
    expect(result.blocked).toBe(true);
    expect(result.matches[0]).toMatchObject({ rule: 'github-token', path: 'messages[2].content[1].text', start: 20, end: 60, text: token });
    expect(result.matches[0]!.fingerprint).toMatch(/^sha256:[0-9a-f]{12}$/);
  });

  it('ignores the GitHub docs example whose checksum fails', () => {
    expect(scan(anthropicBody('token gho_16C7e42F292c6912E7710c838347Ae178B4a')).blocked).toBe(false);
  });

  it('ignores AWS documentation examples but blocks a real-looking pair', () => {
    expect(scan(anthropicBody('AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).blocked).toBe(false);
    expect(scan(anthropicBody('region ASIAPACIFICSOUTHEAST')).blocked).toBe(false);
    const result = scan(
      anthropicBody('aws_access_key_id = AKIA2OGYBAH6QWERT7XZ\naws_secret_access_key = 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'),
    );
    expect(result.matches.map((m) => m.rule).sort()).toEqual(['aws-access-key-id', 'aws-secret-access-key']);
  });

  it('finds a PEM private key JSON-escaped inside a tool-call argument', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const body = {
      model: 'gpt-5',
      messages: [
        { role: 'user', content: 'write the key' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'write_file', arguments: JSON.stringify({ path: 'k.pem', content: pem }) } },
          ],
        },
      ],
    };
    const result = scan(body);
    expect(result.matches[0]).toMatchObject({ rule: 'private-key', path: 'messages[1].tool_calls[0].function.arguments.content' });
    // A public key or a parser that names the header strings does not block.
    expect(scan(anthropicBody('-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----')).blocked).toBe(
      false,
    );
    expect(
      scan(anthropicBody("if (line === '-----BEGIN RSA PRIVATE KEY-----') { parse(); } // -----END RSA PRIVATE KEY-----")).blocked,
    ).toBe(false);
  });

  it('finds keys after many bare PEM headers and END lines of other labels', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    // Headers named without a key (a parser's source, or a crafted body), with END lines of other
    // labels among them: none may start a match, and the keys after them are still found.
    const noise = `${'-----BEGIN DSA PRIVATE KEY-----\n'.repeat(50)}-----END RSA PRIVATE KEY-----\n${'-----BEGIN ENCRYPTED PRIVATE KEY-----\n'.repeat(50)}-----END X-----\n`;
    const result = scan(anthropicBody(`${noise}${rsa}\n${noise}${ec}`));
    expect(result.matches.map((m) => [m.rule, m.text])).toEqual([
      ['private-key', rsa.trim()],
      ['private-key', ec.trim()],
    ]);
  });

  it('finds a base64 PEM private key (Kubernetes Secret data, wrapped base64), not a base64 public key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const encoded = Buffer.from(pem).toString('base64');
    const secret = `apiVersion: v1\nkind: Secret\ndata:\n  tls.key: ${encoded}\n  tls.crt: x\n`;
    expect(scan(anthropicBody(secret)).matches.map((m) => [m.rule, m.text])).toEqual([['private-key-base64', encoded]]);
    const wrapped = encoded.replace(/.{76}/g, '$&\n');
    expect(scan(anthropicBody(`$ base64 key.pem\n${wrapped}\n$ `)).matches.map((m) => m.rule)).toEqual(['private-key-base64']);
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(scan(anthropicBody(`tls.crt: ${Buffer.from(publicPem).toString('base64')}`)).blocked).toBe(false);
  });

  it('handles Stripe, Slack, JWT, database URLs, LLM keys and our own keys, skipping placeholders', () => {
    const placeholder = ['$', '{DB_PASSWORD}'].join('');
    const live = `sk_live_${randomBase62(40)}`;
    expect(scan(anthropicBody(`STRIPE=${live}`)).matches[0]?.rule).toBe('stripe-live-key');
    expect(scan(anthropicBody('STRIPE=sk_test_BQokikJOvBiI2HlWgH4olfQ2')).blocked).toBe(false);
    expect(scan(anthropicBody(`xoxb-1234567890123-1234567890123-${randomBase62(24)}`)).matches[0]?.rule).toBe('slack-token');
    expect(scan(anthropicBody('xoxb-0000000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx')).blocked).toBe(false);
    const jwtPart = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const jwt = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: 'u1', exp: 4_000_000_000 })}.${randomBase62(43)}`;
    expect(scan(anthropicBody(`Authorization: Bearer ${jwt}`)).matches[0]?.rule).toBe('jwt');
    const jwtIo = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: '1234567890', name: 'John Doe', iat: 1516239022 })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
    expect(scan(anthropicBody(jwtIo)).blocked).toBe(false);
    expect(scan(anthropicBody('DATABASE_URL=postgres://app:Q7v!x9Lk2Pz4@db.prod.internal:5432/app')).matches[0]?.rule).toBe('database-url');
    expect(scan(anthropicBody(`postgres://postgres:postgres@localhost:5432/app postgres://user:${placeholder}@db.prod/app`)).blocked).toBe(
      false,
    );
    expect(scan(anthropicBody(`key sk-ant-api03-${randomBase62(93)}AA`)).matches[0]?.rule).toBe('anthropic-api-key');
    expect(scan(anthropicBody(`key sk-proj-${randomBase62(74)}T3BlbkFJ${randomBase62(74)}`)).matches[0]?.rule).toBe('openai-api-key');
    expect(scan(anthropicBody('use sk-... or sk-proj-your-key-here')).blocked).toBe(false);
    expect(scan(anthropicBody(`cvk_${randomBase62(40)}`)).matches[0]?.rule).toBe('codevector-api-key');
  });
});

describe('custom patterns and caching', () => {
  const custom: Rules = [
    {
      namespace: 'team',
      name: 'internal',
      detectors: [],
      patterns: [{ name: 'acme-token', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }],
    },
  ];

  it('runs RE2 patterns only where their keyword occurs', () => {
    const token = `acme_${randomBytes(16).toString('hex')}`;
    const result = scan({ model: 'm', input: [{ role: 'user', content: `token ${token}` }] }, custom);
    expect(result.matches[0]).toMatchObject({ rule: 'acme-token', secretRule: 'team/internal', path: 'input[0].content', start: 6 });
    expect(scan({ model: 'm', input: 'nothing here' }, custom).scannedStrings).toBe(0);
  });

  it('runs a pattern without keywords on every string', () => {
    const token = `acme_${randomBytes(16).toString('hex')}`;
    const rules: Rules = [
      { namespace: 't', name: 'k', detectors: [], patterns: [{ name: 'any', regex: 'acme_[a-f0-9]{32}', keywords: [] }] },
    ];
    expect(scan({ model: 'm', input: [{ role: 'user', content: `plain ${token}` }] }, rules).matches.map((m) => m.path)).toEqual([
      'input[0].content',
    ]);
  });

  it('reports a pattern that does not compile and keeps the others', () => {
    const problems: string[] = [];
    const scanner = createSecretScanner(
      [{ namespace: 'a', name: 'b', detectors: [], patterns: [{ name: 'bad', regex: '(a', keywords: [] }, ...custom[0]!.patterns] }],
      (p) => problems.push(p.pattern),
    );
    expect(problems).toEqual(['bad']);
    expect(scanner.ruleCount).toBe(1);
  });

  it('does not search again a long string it already found clean (resent conversation turns)', () => {
    const scanner = createSecretScanner(builtin);
    const history = `AKIA and aws_secret are keywords; ${'lorem ipsum '.repeat(100)}`;
    const turn1 = { messages: [{ role: 'user', content: history }] };
    const turn2 = {
      messages: [
        { role: 'user', content: history },
        { role: 'user', content: 'more about AKIA' },
      ],
    };
    const raw1 = Buffer.from(JSON.stringify(turn1));
    expect(scanner.scan(raw1, turn1).scannedStrings).toBe(1);
    const raw2 = Buffer.from(JSON.stringify(turn2));
    const second = scanner.scan(raw2, turn2);
    expect(second).toMatchObject({ blocked: false, cachedStrings: 1, scannedStrings: 1 });
  });
});

describe('keyword-placed search', () => {
  const keyId = 'AKIA2OGYBAH6QWERT7XZ';
  const secret = '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';
  const filler = (length: number) => ' -'.repeat(Math.ceil(length / 2)).slice(0, length);
  // Long strings find keywords with RE2 over a one-byte copy; short ones with a V8 RegExp.
  const sizes = [['short', 0] as const, ['long', 40_000] as const];

  for (const [size, padding] of sizes) {
    it(`finds a token far from other keywords, at the right offset after non-ASCII text (${size})`, () => {
      const token = fakeGithubToken();
      const text = `AKIA ghp_ sk-ant- → ≥ 😀 ${filler(padding + 2_000)} é token=${token}`;
      const result = scan(anthropicBody(text));
      expect(result.matches.map((m) => [m.rule, m.start, m.text])).toEqual([['github-token', text.indexOf(token), token]]);
    });

    it(`pairs an AWS secret with a key id right at the 512-character edge, not past it (${size})`, () => {
      const at = (gap: number) => `${filler(padding)} ${keyId}${filler(gap - keyId.length - 1)} ${secret} ${filler(padding)}`;
      // The key id starts exactly 512 characters before the secret: paired.
      const paired = scan(anthropicBody(at(512)));
      expect(paired.matches.map((m) => m.rule).sort()).toEqual(['aws-access-key-id', 'aws-secret-access-key']);
      expect(paired.matches.find((m) => m.rule === 'aws-secret-access-key')?.text).toBe(secret);
      // One more character: the validator does not pair them (the key id alone still blocks).
      expect(scan(anthropicBody(at(513))).matches.map((m) => m.rule)).toEqual(['aws-access-key-id']);
      // A key id after the secret, within 552 characters of its start.
      const after = `${filler(padding)} ${secret} ${filler(480)} ${keyId} ${filler(padding)}`;
      expect(
        scan(anthropicBody(after))
          .matches.map((m) => m.rule)
          .sort(),
      ).toEqual(['aws-access-key-id', 'aws-secret-access-key']);
    });

    it(`ignores keywords that non-ASCII code units fake in the one-byte copy (${size})`, () => {
      // Ł ŋ ŉ Ł have the low bytes of A K I A.
      const text = `\u0141\u014b\u0149\u0141${keyId} ${filler(padding)}`;
      expect(scan(anthropicBody(text)).matches.map((m) => [m.rule, m.start])).toEqual([['aws-access-key-id', 4]]);
      expect(scan(anthropicBody(`\u0141\u014b\u0149\u01412OGYBAH6QWERT7XZ ${filler(padding)}`)).blocked).toBe(false);
    });

    it(`places AWS secret windows on context keywords in any case, far from the keyword that enabled the rule (${size})`, () => {
      const text = `region ASIA ${filler(padding + 3_000)} Aws_Secret_Access_Key = ${secret}`;
      expect(scan(anthropicBody(text)).matches.map((m) => m.rule)).toEqual(['aws-secret-access-key']);
    });

    it(`pairs an AWS secret with a keyword starting 200 characters before it, and a key id starting 512 after, not further (${size})`, () => {
      const rules = (text: string) =>
        scan(anthropicBody(text))
          .matches.map((m) => m.rule)
          .sort();
      const keyword = (gap: number) => `${filler(padding)} secret_access_key${filler(gap - 17)}${secret} ${filler(padding)}`;
      expect(rules(keyword(200))).toEqual(['aws-secret-access-key']);
      expect(rules(keyword(201))).toEqual([]);
      const after = (gap: number) => `${filler(padding)} ${secret}${filler(gap - 40)}${keyId} ${filler(padding)}`;
      expect(rules(after(512))).toEqual(['aws-access-key-id', 'aws-secret-access-key']);
      expect(rules(after(533))).toEqual(['aws-access-key-id']);
      // The first key id near the secret decides: an implausible one before a plausible one.
      const implausible = `${filler(padding)} ASIAPACIFICSOUTHEAST ${secret} ${keyId} ${filler(padding)}`;
      expect(rules(implausible)).toEqual(['aws-access-key-id']);
    });

    it(`finds detectors whose keyword is not at the match start (${size})`, () => {
      const legacy = `sk-${randomBase62(20)}T3BlbkFJ${randomBase62(20)}`;
      expect(scan(anthropicBody(`${filler(padding)} key ${legacy}`)).matches.map((m) => m.text)).toEqual([legacy]);
      const webhook = `https://hooks.slack.com/services/T12345678/B12345678/${randomBase62(24)}`;
      expect(scan(anthropicBody(`${filler(padding)} post ${webhook}`)).matches.map((m) => m.text)).toEqual([webhook]);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const sec1 = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
      const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const result = scan(anthropicBody(`${filler(padding)}\n${sec1}\n${filler(padding)}\n${pkcs8}`));
      expect(result.matches.map((m) => [m.rule, m.text.trim()])).toEqual([
        ['private-key', sec1.trim()],
        ['private-key', pkcs8.trim()],
      ]);
    });

    it(`reports custom pattern offsets in characters after non-ASCII text (${size})`, () => {
      const token = `acme_${randomBytes(16).toString('hex')}`;
      const text = `ünïcödé 😀 ${filler(padding)} ${token}`;
      const rules: Rules = [
        { namespace: 't', name: 'c', detectors: ['all'], patterns: [{ name: 'acme', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }] },
      ];
      const result = scan(anthropicBody(text), rules);
      expect(result.matches.map((m) => [m.rule, m.start, m.end, m.text])).toEqual([
        ['acme', text.indexOf(token), text.indexOf(token) + token.length, token],
      ]);
    });
  }
});

describe('long strings with custom patterns', () => {
  const rules: Rules = [
    { namespace: 't', name: 'c', detectors: [], patterns: [{ name: 'acme', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }] },
  ];
  const token = () => `acme_${randomBytes(16).toString('hex')}`;

  it('reports every match at its character offset in a string encoded through UTF-16 (emoji, arrows, a lone surrogate)', () => {
    for (const odd of ['', '\ud800']) {
      const tokens = [token(), token(), token()];
      const text = `😀 ${tokens[0]} ${'→ lorem '.repeat(10_000)}${odd} ${tokens[1]} é ${'ipsum 😀 '.repeat(5_000)} ${tokens[2]}`;
      const result = scan(anthropicBody(text), rules);
      expect(result.matches.map((m) => [m.start, m.end, m.text])).toEqual(
        tokens.map((t) => [text.indexOf(t), text.indexOf(t) + t.length, t]),
      );
    }
  });
});

describe.each(prefilterModes)('keywords written as JSON escapes, $mode', ({ minBytes }) => {
  beforeEach(() => {
    prefilterMinBytes = minBytes;
  });
  afterEach(() => {
    prefilterMinBytes = undefined;
  });
  const keyId = 'AKIA2OGYBAH6QWERT7XZ';
  // The raw body as an agent or SDK could write it, with `\uXXXX` or `\/` instead of characters.
  const scanRaw = (raw: string, rules: Rules = builtin) =>
    createSecretScanner(rules, undefined, { prefilterMinBytes }).scan(Buffer.from(raw), JSON.parse(raw), { all: true });

  it('finds keys whose keyword is \\u-escaped, which the raw prefilter would miss', () => {
    const escaped = `\\u0041${keyId.slice(1)}`;
    expect(scanRaw(`{"messages":[{"role":"user","content":"key ${escaped}"}]}`).matches.map((m) => [m.rule, m.text])).toEqual([
      ['aws-access-key-id', keyId],
    ]);
    const token = fakeGithubToken();
    const github = scanRaw(`{"input":"${token.slice(0, 3)}\\u005f${token.slice(4)}"}`);
    expect(github.matches.map((m) => [m.rule, m.text])).toEqual([['github-token', token]]);
  });

  it('finds an escaped keyword in JSON inside a string (tool-call arguments)', () => {
    const args = JSON.stringify({ path: 'x', content: `id ${keyId}` }).replace('AKIA', '\\u0041KIA');
    const body = {
      messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'w', arguments: args } }] }],
    };
    expect(scan(body).matches.map((m) => [m.rule, m.path])).toEqual([
      ['aws-access-key-id', 'messages[0].tool_calls[0].function.arguments.content'],
    ]);
  });

  it('finds a database URL written with escaped slashes', () => {
    const result = scanRaw('{"input":"DATABASE_URL=postgres:\\/\\/app:Q7v!x9Lk2Pz4@db.prod.internal:5432\\/app"}');
    expect(result.matches.map((m) => m.rule)).toEqual(['database-url']);
  });

  it('keeps the prefilter for bodies that escape only characters beyond ASCII', () => {
    expect(scanRaw('{"input":"caf\\u00e9 \\u2192 ok"}')).toMatchObject({ blocked: false, scannedStrings: 0 });
  });

  it('keeps the prefilter for escaped control characters (terminal colours) and characters no keyword holds', () => {
    expect(scanRaw('{"input":"\\u001b[31mred\\u001b[0m \\u003cb\\u003e \\u0026"}')).toMatchObject({ blocked: false, scannedStrings: 0 });
  });

  it('searches for custom keywords that JSON always escapes (quotes)', () => {
    const rules: Rules = [
      {
        namespace: 't',
        name: 'c',
        detectors: [],
        patterns: [{ name: 'json-token', regex: '"token": "[a-f0-9]{32}"', keywords: ['"token"'] }],
      },
    ];
    const text = JSON.stringify({ token: randomBytes(16).toString('hex') }, null, 1).replace('\n', '');
    expect(scan({ input: `config ${text}` }, rules).matches.map((m) => m.rule)).toEqual(['json-token']);
    // Inside JSON in a string (tool-call arguments) the keyword's quotes are escaped once more.
    const args = JSON.stringify({ path: 'config.json', content: `config ${text}` });
    const body = {
      messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'w', arguments: args } }] }],
    };
    expect(scan(body, rules).matches.map((m) => [m.rule, m.path])).toEqual([
      ['json-token', 'messages[0].tool_calls[0].function.arguments.content'],
    ]);
  });
});

describe('large bodies', () => {
  const filler = (length: number) => 'lorem ipsum '.repeat(Math.ceil(length / 12)).slice(0, length);

  it('finds secrets in a large body of long strings without the raw prefilter, and nothing in a clean one', () => {
    const token = fakeGithubToken();
    const text = `${filler(1_200_000)} ${token} ${filler(1000)}`;
    const result = scan(anthropicBody(text));
    expect(result.matches.map((m) => [m.rule, m.start])).toEqual([['github-token', text.indexOf(token)]]);
    // Nothing found in a clean one (the generic pack reads long strings itself: ADR 0115).
    const clean = scan(anthropicBody(filler(1_200_000)));
    expect(clean).toMatchObject({ blocked: false, matches: [] });
  });

  it('finds secrets in a large body of small strings (raw prefilter)', () => {
    const token = `sk_live_${randomBase62(40)}`;
    const messages = Array.from({ length: 800 }, (_, i) => ({ role: 'user', content: i === 700 ? `key ${token}` : filler(2000) }));
    const result = scan({ model: 'm', messages });
    expect(result.matches.map((m) => [m.rule, m.path])).toEqual([['stripe-live-key', 'messages[700].content']]);
  });
});
