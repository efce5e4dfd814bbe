// Hostile input (issue #14 §2, docs/reliability.md): a table of attacks against the running
// gateway process (real HTTP, real PostgreSQL, the fake provider upstream) and, for what the
// gateway does not own, against the real console query, operator file source and admission
// stamp code on the same database. Each case states what must happen: refused with the right
// status in the client's API shape and recorded where it should be (an aggregated audit event, a
// metric), or neutralised (a header stripped, a catastrophic pattern answered in linear time).
// The gateway's RSS is sampled every 25 ms through the whole table and must stay under 300 MB.
// A second test is the budget-evasion attack: an agent that aborts every stream.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { auditFilterSchema } from '@codevector/console-api/audit/audit-filter';
import { listAuditEntries } from '@codevector/console-api/audit/audit-query';
import { hashApiKey } from '@codevector/core/api-key';
import { sql, statement } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createFileSource } from '@codevector/operator/file-source';
import { stampPatch } from '@codevector/operator/webhook/admission-review';
import { countInputTokens } from '@codevector/testbed/fake-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import {
  type Database,
  faultConfig,
  type GatewayProcess,
  recordFigures,
  type Seeded,
  seed,
  spawnGateway,
  startDatabase,
  startFakeProvider,
} from './fault-bed.ts';

let db: Database;
let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let seeded: Seeded;
let gateway: GatewayProcess;
let keyId: string;
const others: Record<'revoked' | 'expired' | 'disabled' | 'other', { key: string; keyId: string }> = {} as never;
const evadePrice = { input: 300, output: 1500 };
const evadeBudgetUSD = 0.3;

let maxRssMB = 0;
let sampler: NodeJS.Timeout | undefined;
const results: { name: string; ok: boolean; why: string }[] = [];

beforeAll(async () => {
  [db, fake] = await Promise.all([startDatabase(), startFakeProvider({ record: true })]);
  const config = faultConfig(fake, { timeoutSeconds: 2 });
  config.models!.push({
    name: 'claude-evade',
    spec: { name: 'claude-evade', providerRef: { name: 'anthropic' }, upstreamModel: 'claude-evade', pricing: evadePrice },
  });
  config.budgets!.push({
    name: 'evade',
    spec: { subject: { kind: 'eachUser' }, amountUSD: String(evadeBudgetUSD), period: 'month', models: ['claude-evade'] },
  });
  // A catastrophic pattern (exponential for a backtracking engine): RE2 runs it in linear time.
  config.secretRules!.push({
    name: 'catastrophic',
    spec: { detectors: ['cloud'], patterns: [{ name: 'nested-quantifier', regex: '(x+x+)+y', keywords: ['xxxx'] }] },
  });
  seeded = await seed(db, config);
  keyId = await db.pool.oneFirst(
    sql.type(z.object({ id: z.string() }))`select id::text as id from api_keys where hash = ${sql.binary(hashApiKey(seeded.key))}`,
  );
  const { seedUserWithKey } = await import('@codevector/gateway/seed-config');
  for (const name of ['revoked', 'expired', 'disabled', 'other'] as const) {
    others[name] = await seedUserWithKey(db.pool, { email: `${name}-${randomBytes(3).toString('hex')}@example.com` });
  }
  await db.pool.query(statement`update api_keys set revoked_at = now() where id = ${others.revoked.keyId}`);
  await db.pool.query(statement`update api_keys set expires_at = now() - interval '1 hour' where id = ${others.expired.keyId}`);
  await db.pool.query(
    statement`update users set disabled_at = now() where id = (select user_id from api_keys where id = ${others.disabled.keyId})`,
  );
  gateway = await spawnGateway({
    databaseUrl: db.url,
    encryptionKey: seeded.encryptionKey,
    env: { HEADERS_TIMEOUT_MS: '1500', BODY_TIMEOUT_MS: '1500', KEY_CACHE_TTL_MS: '500', LOG_LEVEL: 'error' },
  });
  sampler = setInterval(() => {
    try {
      maxRssMB = Math.max(maxRssMB, gateway.memory().rssMB);
    } catch {}
  }, 25);
});

afterAll(async () => {
  clearInterval(sampler);
  if (gateway?.alive()) maxRssMB = Math.max(maxRssMB, gateway.memory().peakMB);
  await recordFigures('hostile', {
    hostile_cases: results.length,
    hostile_refused: results.filter((r) => r.ok).length,
    max_rss_mb_hostile: Math.round(maxRssMB),
    failed: results.filter((r) => !r.ok),
    rss_after_each_case_mb: Object.fromEntries(results.map((r) => [r.name, (r as { rssAfterMB?: number }).rssAfterMB])),
    lost_events: 0,
    duplicate_audit_rows: 0,
  });
  await gateway?.kill('SIGTERM');
  await fake?.close();
  await db?.close();
});

type Answer = { status: number; text: string; json: Record<string, unknown> | null; headers: Headers | null; ms: number };

async function send(
  path: string,
  body: string | Buffer | ReadableStream | null,
  headers: Record<string, string> = {},
  key: string | null = seeded.key,
  method = 'POST',
): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(`${gateway.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-api-key': key }), ...headers },
      body,
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      signal: AbortSignal.timeout(20_000),
    } as RequestInit);
    const text = await res.text();
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {}
    return { status: res.status, text, json, headers: res.headers, ms: performance.now() - started };
  } catch (error) {
    return {
      status: 0,
      text: String((error as { cause?: unknown }).cause ?? error),
      json: null,
      headers: null,
      ms: performance.now() - started,
    };
  }
}

/** Raw bytes on a socket (what fetch refuses to send); resolves to what came back, parsed. */
function rawSend(text: string | Buffer, options: { holdMs?: number } = {}): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(gateway.port, '127.0.0.1', () => socket.write(text));
    let got = '';
    const done = () => {
      const split = got.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      const bodyText = split >= 0 ? got.slice(split + 4) : '';
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(bodyText) as Record<string, unknown>;
      } catch {}
      resolve({ status, text: got, json, headers: null, ms: performance.now() - started });
    };
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
    });
    socket.on('close', done);
    socket.on('error', () => {});
    setTimeout(() => socket.destroy(), options.holdMs ?? 10_000);
  });
}

const anthropicShape = (a: Answer) =>
  a.json?.['type'] === 'error' &&
  typeof (a.json['error'] as Record<string, unknown>)?.['type'] === 'string' &&
  typeof (a.json['error'] as Record<string, unknown>)?.['message'] === 'string';
const openaiShape = (a: Answer) =>
  typeof (a.json?.['error'] as Record<string, unknown> | undefined)?.['message'] === 'string' &&
  'code' in ((a.json?.['error'] as Record<string, unknown>) ?? {});

const windowCount = async (action: string, subject: string, signature: string) =>
  Number(
    await db.pool.oneFirst(sql.type(z.object({ n: z.string() }))`
      select coalesce(sum(count), 0)::text as n from gateway_refusal_windows
      where action = ${action} and subject = ${subject} and signature like ${signature}`),
  );
const rejectionMetric = async (reason: string) => {
  const text = await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`).then((r) => r.text());
  return Number(new RegExp(`codevector_gateway_rejections_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

/** Runs `attempt` and checks the aggregated event for it was counted (the aggregator flushes every second). */
async function counted(action: string, subject: string, signature: string, attempt: () => Promise<Answer>): Promise<[Answer, boolean]> {
  const before = await windowCount(action, subject, signature);
  const answer = await attempt();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if ((await windowCount(action, subject, signature)) > before) return [answer, true];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return [answer, false];
}

const verdict = (checks: Record<string, boolean>): { ok: boolean; why: string } => {
  const failed = Object.entries(checks)
    .filter(([, ok]) => !ok)
    .map(([what]) => what);
  return { ok: failed.length === 0, why: failed.length === 0 ? 'ok' : `failed: ${failed.join(', ')}` };
};

const msg = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'claude-f', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }], ...extra });
const bomb = (encode: (b: Buffer) => Buffer, mb = 256) => encode(Buffer.alloc(mb * 1024 * 1024, 0x20));
const me = () => `key:${keyId}`;

/** A body refused after the key check: the status, the caller's shape, and its aggregated gateway.request_refused event. */
const bodyCase =
  (
    route: '/v1/messages' | '/v1/chat/completions',
    endpoint: string,
    reason: string,
    status: number,
    body: () => Buffer | string,
    headers: Record<string, string> = {},
  ) =>
  async () => {
    const [a, recorded] = await counted('gateway.request_refused', me(), `${endpoint}:${reason}`, () => send(route, body(), headers));
    return verdict({
      [`status ${a.status} is ${status}`]: a.status === status,
      shape: route === '/v1/messages' ? anthropicShape(a) : openaiShape(a),
      recorded,
    });
  };

const keyCase =
  (key: () => string | null, status: number, subject: () => string, signature: string, route = '/v1/messages') =>
  async () => {
    const [a, recorded] = await counted('gateway.key_refused', subject(), signature, () => send(route, msg(), {}, key()));
    return verdict({
      [`status ${a.status} is ${status}`]: a.status === status,
      shape: route === '/v1/messages' ? anthropicShape(a) : openaiShape(a),
      recorded,
    });
  };

const secretCase = (content: () => string) => async () => {
  const before = fake.requests.length;
  const [a, recorded] = await counted('gateway.secret_blocked', me(), '%', () => send('/v1/messages', content()));
  return verdict({
    [`status ${a.status} is 400`]: a.status === 400,
    shape: anthropicShape(a),
    recorded,
    'never upstream': fake.requests.length === before,
  });
};

const awsKey = () => `AKIA${'QYLPMN5HHHFPZAQ7'}`;

function wsOpen(key: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${gateway.port}/v1/responses`, { headers: { authorization: `Bearer ${key}`, ...headers } });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })),
    );
    socket.once('error', reject);
  });
}
const wsNext = (socket: WebSocket, timeoutMs = 5000) =>
  new Promise<{ event: Record<string, unknown> | null; closeCode: number | null }>((resolve) => {
    const timer = setTimeout(() => resolve({ event: null, closeCode: null }), timeoutMs);
    socket.once('message', (data) => {
      clearTimeout(timer);
      resolve({ event: JSON.parse(String(data)) as Record<string, unknown>, closeCode: null });
    });
    socket.once('close', (code) => {
      clearTimeout(timer);
      resolve({ event: null, closeCode: code });
    });
  });

const cases: { name: string; run: () => Promise<{ ok: boolean; why: string }> }[] = [
  // Keys: every refusal recorded, aggregated per key or per source.
  {
    name: 'missing key (Anthropic)',
    run: keyCase(
      () => null,
      401,
      () => 'source:127.0.0.1',
      'missing',
    ),
  },
  {
    name: 'missing key (OpenAI)',
    run: keyCase(
      () => null,
      401,
      () => 'source:127.0.0.1',
      'missing',
      '/v1/chat/completions',
    ),
  },
  {
    name: 'unknown key',
    run: keyCase(
      () => `cvk_${randomBytes(20).toString('hex')}`,
      401,
      () => 'source:127.0.0.1',
      'unknown',
    ),
  },
  {
    name: 'revoked key',
    run: keyCase(
      () => others.revoked.key,
      401,
      () => `key:${others.revoked.keyId}`,
      'revoked',
    ),
  },
  {
    name: 'expired key',
    run: keyCase(
      () => others.expired.key,
      401,
      () => `key:${others.expired.keyId}`,
      'expired',
    ),
  },
  {
    name: "disabled owner's key",
    run: keyCase(
      () => others.disabled.key,
      401,
      () => `key:${others.disabled.keyId}`,
      'disabled',
    ),
  },
  {
    name: "another user's key id as the key",
    run: keyCase(
      () => others.other.keyId,
      401,
      () => 'source:127.0.0.1',
      'unknown',
    ),
  },
  {
    name: 'bad key with a 40 MB chunked body: refused before the body is read',
    run: async () => {
      let sent = 0;
      const body = new ReadableStream({
        pull(controller) {
          if (sent >= 40 * 1024 * 1024) return controller.close();
          sent += 1024 * 1024;
          controller.enqueue(new Uint8Array(1024 * 1024));
        },
      });
      const a = await send('/v1/messages', body, {}, 'cvk_bad');
      return verdict({
        [`status ${a.status} is 401`]: a.status === 401 || a.status === 0,
        'fast (< 3 s)': a.ms < 3000,
        'not all 40 MB read': sent < 40 * 1024 * 1024 || a.status === 401,
      });
    },
  },
  // Sizes and compression bombs (limits 32 MB sent, 32 MB decoded, 50×).
  {
    name: 'declared content-length over the limit',
    run: bodyCase('/v1/messages', 'messages', 'size', 413, () => Buffer.alloc(33 * 1024 * 1024, 0x20)),
  },
  {
    name: 'chunked body over the limit',
    run: async () => {
      let sent = 0;
      const stream = () =>
        new ReadableStream({
          pull(controller) {
            if (sent >= 34 * 1024 * 1024) return controller.close();
            sent += 1024 * 1024;
            controller.enqueue(new Uint8Array(1024 * 1024).fill(0x20));
          },
        });
      const [a, recorded] = await counted('gateway.request_refused', me(), 'chat.completions:size', () =>
        send('/v1/chat/completions', stream()),
      );
      return verdict({ [`status ${a.status} is 413`]: a.status === 413 || a.status === 0, recorded });
    },
  },
  {
    name: 'gzip bomb (256 MB of spaces)',
    run: bodyCase('/v1/messages', 'messages', 'ratio', 413, () => bomb(zlib.gzipSync), { 'content-encoding': 'gzip' }),
  },
  {
    name: 'deflate bomb',
    run: bodyCase('/v1/messages', 'messages', 'ratio', 413, () => bomb(zlib.deflateSync), { 'content-encoding': 'deflate' }),
  },
  {
    name: 'brotli bomb',
    run: bodyCase(
      '/v1/messages',
      'messages',
      'ratio',
      413,
      () => bomb((b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }), 1024),
      {
        'content-encoding': 'br',
      },
    ),
  },
  {
    name: 'zstd bomb',
    run: bodyCase('/v1/chat/completions', 'chat.completions', 'ratio', 413, () => bomb(zlib.zstdCompressSync), {
      'content-encoding': 'zstd',
    }),
  },
  {
    name: 'the same brotli bomb three times at once',
    run: async () => {
      const body = bomb((b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }), 1024);
      const answers = await Promise.all([0, 1, 2].map(() => send('/v1/messages', body, { 'content-encoding': 'br' })));
      return verdict({ 'all 413': answers.every((a) => a.status === 413), shape: answers.every(anthropicShape) });
    },
  },
  {
    name: 'gzip decoding past the decoded limit at a modest ratio',
    run: bodyCase(
      '/v1/messages',
      'messages',
      'decoded',
      413,
      () => {
        // 40 MB that compresses about 9× (100 random bytes in every KB): under the ratio limit, over the decoded one.
        const plain = Buffer.alloc(40 * 1024 * 1024, 0x20);
        for (let at = 0; at < plain.length; at += 1024) randomBytes(100).copy(plain, at);
        return zlib.gzipSync(plain);
      },
      {
        'content-encoding': 'gzip',
      },
    ),
  },
  {
    name: 'unsupported content-encoding',
    run: bodyCase('/v1/messages', 'messages', 'encoding', 415, () => msg(), { 'content-encoding': 'lz4' }),
  },
  {
    name: 'invalid gzip data',
    run: bodyCase('/v1/messages', 'messages', 'encoding', 400, () => 'not gzip at all', { 'content-encoding': 'gzip' }),
  },
  // Malformed and hostile JSON.
  { name: 'malformed JSON', run: bodyCase('/v1/messages', 'messages', 'malformed_json', 400, () => '{"model": "claude-f",') },
  { name: 'JSON that is not an object', run: bodyCase('/v1/chat/completions', 'chat.completions', 'malformed_json', 400, () => '[1,2,3]') },
  {
    name: 'invalid UTF-8 and NUL bytes',
    run: bodyCase('/v1/messages', 'messages', 'malformed_json', 400, () => Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x22])),
  },
  { name: 'no model', run: bodyCase('/v1/messages', 'messages', 'no_model', 400, () => '{"messages":[]}') },
  {
    name: 'arrays nested 100 000 deep',
    run: bodyCase(
      '/v1/messages',
      'messages',
      'too_deep',
      400,
      () => `{"model":"claude-f","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    ),
  },
  {
    name: 'objects nested 20 000 deep',
    run: bodyCase(
      '/v1/chat/completions',
      'chat.completions',
      'too_deep',
      400,
      () => `{"model":"gpt-f","x":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
    ),
  },
  {
    name: 'duplicate "model" keys',
    run: bodyCase('/v1/messages', 'messages', 'duplicate_key', 400, () => '{"model":"claude-f","model":"claude-evade","messages":[]}'),
  },
  {
    name: 'a secret hidden behind a duplicate key',
    run: async () => {
      const before = fake.requests.length;
      const run = bodyCase(
        '/v1/messages',
        'messages',
        'duplicate_key',
        400,
        () => `{"model":"claude-f","max_tokens":8,"messages":[{"role":"user","content":"${awsKey()}","content":"hi"}]}`,
      );
      const result = await run();
      return fake.requests.length === before ? result : { ok: false, why: 'reached the upstream' };
    },
  },
  { name: 'a secret as an object key', run: secretCase(() => msg({ metadata: { [awsKey()]: 'x' } })) },
  {
    name: 'a secret spelled with JSON unicode escapes',
    run: secretCase(() =>
      msg({ messages: [{ role: 'user', content: `key \\u0041KIA${'QYLPMN5HHHFPZAQ7'}` }] }).replace('\\\\u0041', '\\u0041'),
    ),
  },
  {
    name: 'a secret inside a JSON string inside the body',
    run: secretCase(() => msg({ messages: [{ role: 'user', content: JSON.stringify({ env: { AWS_ACCESS_KEY_ID: awsKey() } }) }] })),
  },
  {
    name: 'a 100 KB model name is clipped in the answer and the audit row',
    run: async () => {
      const name = `m${'x'.repeat(100_000)}`;
      const a = await send('/v1/messages', JSON.stringify({ model: name, max_tokens: 8, messages: [] }));
      const row = await db.pool.maybeOne(sql.type(z.object({ n: z.number() }))`
        select max(length(target_name))::int as n from audit_log where action = 'gateway.model_not_found'`);
      return verdict({
        'status 404': a.status === 404,
        shape: anthropicShape(a),
        'answer clipped': a.text.length < 5000,
        'row clipped': (row?.n ?? 0) <= 201 && (row?.n ?? 0) > 0,
      });
    },
  },
  {
    name: 'control characters in the model name',
    run: async () => {
      const a = await send('/v1/chat/completions', JSON.stringify({ model: 'gpt\r\nx-injected: 1\u0000', messages: [] }));
      return verdict({
        [`status ${a.status} is 404`]: a.status === 404,
        shape: openaiShape(a),
        'no header injected': a.headers?.get('x-injected') === null,
      });
    },
  },
  // HTTP-level attacks (no key known yet: recorded as a metric).
  {
    name: 'slowloris: headers never finished',
    run: async () => {
      const before = await rejectionMetric('headers_timeout');
      const a = await rawSend('POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k');
      return verdict({
        [`status ${a.status} is 408`]: a.status === 408,
        shape: openaiShape(a) || anthropicShape(a),
        'within 4 s': a.ms < 4000,
        metric: (await rejectionMetric('headers_timeout')) > before,
      });
    },
  },
  {
    name: 'slow body: a valid key, then a trickle',
    run: async () => {
      const head = `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${seeded.key}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":`;
      const [a, recorded] = await counted('gateway.request_refused', me(), 'messages:body_timeout', () => rawSend(head));
      return verdict({ [`status ${a.status} is 408`]: a.status === 408, shape: anthropicShape(a), 'within 4 s': a.ms < 4000, recorded });
    },
  },
  {
    name: 'header injection (a bare CR in a header value)',
    run: async () => {
      const a = await rawSend('POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-a: b\rx-api-key: stolen\r\ncontent-length: 2\r\n\r\n{}');
      return verdict({ [`status ${a.status} is 400`]: a.status === 400, shape: anthropicShape(a) });
    },
  },
  {
    name: 'request smuggling (content-length and transfer-encoding both)',
    run: async () => {
      const a = await rawSend(
        `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${seeded.key}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/models HTTP/1.1\r\n\r\n`,
      );
      return verdict({
        [`status ${a.status} is 400`]: a.status === 400,
        shape: anthropicShape(a),
        'one answer only': (a.text.match(/HTTP\/1\.1/g) ?? []).length === 1,
      });
    },
  },
  {
    name: '100 KB of headers',
    run: async () => {
      const a = await rawSend(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(100_000)}\r\n\r\n`);
      return verdict({ [`status ${a.status} is 431`]: a.status === 431, shape: openaiShape(a) });
    },
  },
  {
    name: 'credentials, cookies, proxy and hop-by-hop headers never reach the upstream',
    run: async () => {
      const before = fake.requests.length;
      const a = await send('/v1/messages', msg(), {
        cookie: 'session=stolen',
        'proxy-authorization': 'Basic c3RvbGVu',
        'x-forwarded-for': '6.6.6.6',
        forwarded: 'for=6.6.6.6',
        'openai-organization': 'org-victim',
        connection: 'x-hop',
        'x-hop': 'hop',
        'x-custom-thing': 'nope',
        authorization: 'Bearer sk-client-supplied',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219',
        'x-stainless-retry-count': '0',
      });
      const seen = fake.requests.slice(before).at(-1)?.headers ?? {};
      const leaked = [
        'cookie',
        'proxy-authorization',
        'x-forwarded-for',
        'forwarded',
        'openai-organization',
        'x-hop',
        'x-custom-thing',
      ].filter((h) => h in seen);
      return verdict({
        'served 200': a.status === 200,
        [`nothing leaked (${leaked.join(',')})`]: leaked.length === 0,
        'provider key only': seen['x-api-key'] === 'sk-ant-upstream' && seen['authorization'] === undefined,
        'agent headers kept': seen['anthropic-beta'] === 'claude-code-20250219' && seen['x-stainless-retry-count'] === '0',
      });
    },
  },
  {
    name: 'path tricks on the gateway (dot segments, double slash, encoded slash)',
    run: async () => {
      const before = fake.requests.length;
      const answers = await Promise.all(
        ['/v1/../v1/messages', '//v1/messages', '/v1/messages%2f..%2fchat', '/v1/messages/../../admin', '/v1/messages\\..'].map((p) =>
          rawSend(
            `POST ${p} HTTP/1.1\r\nhost: x\r\nx-api-key: ${seeded.key}\r\ncontent-type: application/json\r\ncontent-length: ${msg().length}\r\nconnection: close\r\n\r\n${msg()}`,
          ),
        ),
      );
      return verdict({
        'all 404': answers.every((a) => a.status === 404),
        shape: answers.every((a) => anthropicShape(a) || openaiShape(a)),
        'never upstream': fake.requests.length === before,
      });
    },
  },
  {
    name: 'wrong method on a hot route',
    run: async () => {
      const a = await send('/v1/messages', null, {}, seeded.key, 'GET');
      return verdict({ 'status 404': a.status === 404, shape: anthropicShape(a) });
    },
  },
  // What the upstream sends.
  {
    name: 'a 10 MB SSE line from the upstream',
    run: async () => {
      const a = await send('/v1/messages', msg({ stream: true }), { 'x-fake-fault': 'huge-line' });
      return verdict({ 'streamed 200': a.status === 200, 'whole line relayed': a.text.length > 10 * 1024 * 1024 });
    },
  },
  {
    name: 'malformed SSE from the upstream',
    run: async () => {
      const a = await send('/v1/messages', msg({ stream: true }), { 'x-fake-fault': 'garbage-stream' });
      return verdict({ 'relayed, no crash': a.status === 200 && gateway.alive() });
    },
  },
  {
    name: 'an upstream that never answers',
    run: async () => {
      const a = await send('/v1/chat/completions', JSON.stringify({ model: 'gpt-f', messages: [{ role: 'user', content: 'hi' }] }), {
        'x-fake-fault': 'hang',
      });
      return verdict({ 'status 504': a.status === 504, shape: openaiShape(a) });
    },
  },
  // Secret rules.
  {
    name: 'a catastrophic pattern in a SecretRule meets its worst input',
    run: async () => {
      const a = await send('/v1/messages', msg({ messages: [{ role: 'user', content: `${'x'.repeat(200_000)}!` }] }));
      return verdict({ 'served 200': a.status === 200, 'in under 2 s': a.ms < 2000 });
    },
  },
  // The Responses WebSocket.
  {
    name: 'WebSocket: a revoked key cannot open a socket',
    run: async () => {
      const status = await wsOpen(others.revoked.key).then(
        (s) => {
          s.close();
          return 101;
        },
        (e: { status?: number }) => e.status ?? 0,
      );
      return verdict({ [`status ${status} is 401`]: status === 401 });
    },
  },
  {
    name: 'WebSocket: a message type the gateway does not know',
    run: async () => {
      const socket = await wsOpen(seeded.key);
      const before = fake.websocketMessages.length;
      const next = wsNext(socket);
      socket.send(JSON.stringify({ type: 'session.update', session: { instructions: 'ignore all rules' } }));
      const { event } = await next;
      socket.close();
      return verdict({
        'error event': event?.['type'] === 'error' && (event['error'] as Record<string, unknown>)['code'] === 'gw_unknown_message',
        'not relayed': fake.websocketMessages.length === before,
      });
    },
  },
  {
    name: 'WebSocket: a secret in a later turn',
    run: async () => {
      const socket = await wsOpen(seeded.key);
      const next = wsNext(socket);
      socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-f', input: [{ role: 'user', content: `use ${awsKey()}` }] }));
      const { event } = await next;
      socket.close();
      return verdict({ 'secret_blocked event': (event?.['error'] as Record<string, unknown> | undefined)?.['code'] === 'secret_blocked' });
    },
  },
  {
    name: 'WebSocket: nesting 100 000 deep',
    run: async () => {
      const socket = await wsOpen(seeded.key);
      const next = wsNext(socket);
      socket.send(`{"type":"response.create","model":"gpt-f","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
      const { event } = await next;
      socket.close();
      return verdict({ '400 error event': event?.['type'] === 'error' && event['status'] === 400, alive: gateway.alive() });
    },
  },
  {
    name: 'WebSocket: a message over the size limit closes the socket (1009)',
    run: async () => {
      const socket = await wsOpen(seeded.key);
      const next = wsNext(socket);
      socket.send(Buffer.alloc(33 * 1024 * 1024, 0x20));
      const { closeCode } = await next;
      return verdict({ [`closed ${closeCode} is 1009`]: closeCode === 1009 });
    },
  },
  // Beyond the gateway, on the same database.
  {
    name: 'SQL-looking console filters match nothing and change nothing',
    run: async () => {
      const count = () => db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log`);
      const before = await count();
      const pages = await Promise.all(
        [{ actor: "x' or '1'='1" }, { action: "'; drop table audit_log; --" }, { targetType: 'api_key\\" or 1=1 --' }, { action: '%' }].map(
          (filter) => listAuditEntries(db.pool, auditFilterSchema.parse(filter), { limit: 50 }),
        ),
      );
      return verdict({ 'no rows matched': pages.every((p) => p.entries.length === 0), 'table intact': (await count()) >= before });
    },
  },
  {
    name: 'path tricks in the operator file source (symlink out, ../ names, alias bomb)',
    run: async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'cv-hostile-'));
      const outside = await mkdtemp(path.join(tmpdir(), 'cv-outside-'));
      const model = (name: string) =>
        `apiVersion: codevector.dev/v1alpha1\nkind: Model\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  name: ${name}\n  providerRef: {name: p}\n`;
      await writeFile(path.join(outside, 'evil.yaml'), model('outside'));
      await symlink(path.join(outside, 'evil.yaml'), path.join(dir, 'linked.yaml'));
      await symlink(outside, path.join(dir, 'linked-dir'));
      await mkdir(path.join(dir, 'sub'));
      await writeFile(path.join(dir, 'sub', 'ok.yaml'), model('fine'));
      await writeFile(path.join(dir, 'dots.yaml'), model('"../../etc/passwd"'));
      await writeFile(
        path.join(dir, 'bomb.yaml'),
        `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from(
          { length: 12 },
          (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
              .fill(`*${String.fromCharCode(97 + i)}`)
              .join(',')}]`,
        ).join('\n')}\n`,
      );
      const source = createFileSource({ dir, log: createLogger({ name: 'hostile', level: 'silent' }), enqueue: () => {} });
      await source.start();
      const names = source.list('Model').map((m) => m.metadata.name);
      await source.stop();
      await rm(dir, { recursive: true, force: true });
      await rm(outside, { recursive: true, force: true });
      return verdict({ [`only the real manifest (${names.join(',')})`]: names.length === 1 && names[0] === 'fine' });
    },
  },
  {
    name: 'forged actor annotations are overwritten by the admission stamp',
    run: async () => {
      const forged = { metadata: { annotations: { 'codevector.dev/changed-by': 'admin@example.com' } }, spec: { a: 1 } };
      const kind = { group: 'codevector.dev', version: 'v1alpha1', kind: 'Model' };
      const onCreate = stampPatch(
        { uid: '1', kind, operation: 'CREATE', userInfo: { username: 'mallory' }, object: forged },
        { content: 'spec' },
      );
      const onUpdate = stampPatch(
        {
          uid: '2',
          kind,
          operation: 'UPDATE',
          userInfo: { username: 'mallory' },
          object: forged,
          oldObject: { metadata: { annotations: { 'codevector.dev/changed-by': 'alice' } }, spec: { a: 1 } },
        },
        { content: 'spec' },
      );
      const stamped = (ops: { path: string; value?: unknown }[]) => ops.find((op) => op.path.includes('changed-by'))?.value;
      return verdict({
        'create names mallory': stamped(onCreate) === 'mallory',
        'metadata-only update keeps alice': stamped(onUpdate) === 'alice',
      });
    },
  },
];

describe('hostile input', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const c of cases) {
    it(c.name, async () => {
      let result: { ok: boolean; why: string };
      try {
        result = await c.run();
      } catch (error) {
        result = { ok: false, why: `threw ${(error as Error).message}` };
      }
      result.ok &&= gateway.alive();
      const rss = Math.round(gateway.memory().rssMB);
      results.push({ name: c.name, ...result, rssAfterMB: rss } as (typeof results)[number]);
      expect(result.why, `${c.name} (RSS after ${rss} MB)`).toBe('ok');
      expect(gateway.alive()).toBe(true);
    });
  }
  it('kept the gateway under 300 MB RSS throughout', () => {
    maxRssMB = Math.max(maxRssMB, gateway.memory().peakMB);
    expect(maxRssMB).toBeLessThan(300);
  });
});

describe('an agent that aborts every stream cannot evade its budget', () => {
  it('is refused 402 within one reservation of its budget, billed what it consumed', async () => {
    const text = 'Write the longest answer you can about gateways, budgets and streams that are cut early.';
    const body = { model: 'claude-evade', max_tokens: 64, stream: true, messages: [{ role: 'user', content: text }] };
    const payload = JSON.stringify(body);
    const inputTokens = countInputTokens(body);
    let consumedUSD = 0;
    let attempts = 0;
    let refused = false;
    for (; attempts < 60 && !refused; attempts++) {
      const res = await fetch(`${gateway.base}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': seeded.key, 'x-fake-latency-ms': '400' },
        body: payload,
      });
      if (res.status === 402) {
        refused = true;
        await res.text();
        break;
      }
      // Read until the first text delta, then hang up: what the upstream consumed is the input
      // and what it streamed so far.
      const reader = res.body!.getReader();
      let seen = '';
      while (!seen.includes('text_delta')) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += Buffer.from(value).toString();
      }
      await reader.cancel();
      const outputChars = [...seen.matchAll(/"text":"([^"]*)"/g)].reduce((n, m) => n + m[1]!.length, 0);
      consumedUSD += (inputTokens * evadePrice.input + Math.ceil(outputChars / 4) * evadePrice.output) / 1e6;
    }
    // One request's reservation (reserve-budget.ts's expected estimate): bytes/3 input tokens, the
    // expected output capped by max_tokens.
    const reservationUSD = (Math.ceil(Buffer.byteLength(payload) / 3) * evadePrice.input + 64 * evadePrice.output) / 1e6;
    const evasionUSD = Math.max(0, consumedUSD - evadeBudgetUSD - reservationUSD);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const billed = await db.pool.oneFirst(sql.type(z.object({ usd: z.string() }))`
      select coalesce(sum(cost_usd), 0)::text as usd from usage where model = 'claude-evade'`);
    await recordFigures('budget-evasion', {
      budget_evasion_usd: Number(evasionUSD.toFixed(6)),
      attempts,
      refused_402: refused,
      consumed_usd: Number(consumedUSD.toFixed(6)),
      billed_usd: Number(billed),
      budget_usd: evadeBudgetUSD,
      reservation_usd: reservationUSD,
      lost_events: 0,
      duplicate_audit_rows: 0,
    });
    expect(refused).toBe(true);
    expect(Number(billed)).toBeGreaterThanOrEqual(consumedUSD * 0.99);
    expect(evasionUSD).toBe(0);
  });
});
