// The agent conformance suite (`npm run test:agents`, docs/clients.md "Conformance"): the real
// Claude Code and Codex CLIs of the lockfile, through a real gateway on real PostgreSQL, against
// the fake provider, on every surface an agent can reach a model by. Each `it` is one cell of the
// matrix agent × surface × check; run-agents.ts turns the report into bench/results/agents.json
// and the table in docs/clients.md.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { sql } from '@codevector/core/create-pool';
import { type GatewayFixture, type SeedResource, startGatewayFixture, upstreamKeys } from '@codevector/gateway/testing/gateway-fixture';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runClaudeCode } from '../claude-code-cli.ts';
import { runCodex } from '../codex-cli.ts';

const require = createRequire(import.meta.url);
const claudeVersion = (require('@anthropic-ai/claude-code/package.json') as { version: string }).version;
const codexVersion = (require('@openai/codex/package.json') as { version: string }).version;

/** A surface: how the agent's wire format reaches the provider's (the same, or translated). */
type Surface = { name: string; model: string; upstream: string; translated: boolean };
// Surfaces whose translation the gateway does not do yet are listed in CODEVECTOR_AGENT_SURFACES
// to run them anyway; by default only surfaces the gateway serves are in the matrix.
const claudeSurfaces: Surface[] = [
  { name: 'anthropic', model: 'claude-sonnet-5', upstream: 'claude-sonnet-5', translated: false },
  { name: 'openai-compatible (translated)', model: 'claude-on-openai', upstream: 'qwen3-coder', translated: true },
];
const codexSurfaces: Surface[] = [
  { name: 'openai', model: 'gpt-5', upstream: 'gpt-5-upstream', translated: false },
  { name: 'anthropic (translated)', model: 'gpt-on-anthropic', upstream: 'claude-opus-upstream', translated: true },
];
const translation = process.env['CODEVECTOR_AGENT_TRANSLATION'] !== '0';
const served = (s: Surface) => translation || !s.translated;

// The long session: ≥30 turns whose bodies grow past 150 KB, as a day's work with an agent does.
const sessionTurns = 30;
const turnText = (i: number) =>
  `Turn ${i}. Here is more of the file we are reviewing:\n${'const value = compute(input); // keeps the cache warm\n'.repeat(110)}\nSay hello.`;

const secretPrompt = 'Deploy with AKIA2OGYBAH6QWERT7XZ and aws_secret_access_key=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 please.';

let fx: GatewayFixture;
let root: string;
const users: Record<'budget' | 'main', { key: string; keyId: string }> = {} as never;
// One rate-limited user per agent × surface: the cells share no window, so one cell's requests
// cannot leave the next one a nearly reset limit (whose short wait agents retry on their own).
const limitedSurfaces = [...claudeSurfaces.map((s) => `claude-${s.name}`), ...codexSurfaces.map((s) => `codex-${s.name}`)];
const limitedEmail = (cell: string) => `limited-${limitedSurfaces.indexOf(cell)}@example.com`;
const limitedUsers = new Map<string, { key: string; keyId: string }>();

const pricing = { input: 3, output: 15 };
const models = (): SeedResource[] => [
  { name: 'sonnet', spec: { name: 'claude-sonnet-5', providerRef: { name: 'anthropic' }, upstreamModel: 'claude-sonnet-5', pricing } },
  { name: 'gpt', spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5-upstream', pricing } },
  {
    name: 'claude-on-openai',
    spec: { name: 'claude-on-openai', providerRef: { name: 'compatible' }, upstreamModel: 'qwen3-coder', pricing },
  },
  {
    name: 'gpt-on-anthropic',
    spec: { name: 'gpt-on-anthropic', providerRef: { name: 'anthropic' }, upstreamModel: 'claude-opus-upstream', pricing },
  },
];

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [
        { name: 'anthropic', spec: { type: 'anthropic', baseURL: fake.url, timeoutSeconds: 10 }, apiKey: upstreamKeys.anthropic },
        { name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1`, timeoutSeconds: 10 }, apiKey: upstreamKeys.openai },
        { name: 'compatible', spec: { type: 'openai-compatible', baseURL: `${fake.url}/v1`, timeoutSeconds: 10 }, apiKey: 'sk-vllm' },
      ],
      models: models(),
      secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
      budgets: [{ name: 'spent', spec: { subject: { kind: 'user', name: 'budget@example.com' }, amountUSD: '0.000001', period: 'month' } }],
      rateLimits: limitedSurfaces.map((cell) => ({
        name: `one-a-minute-${limitedSurfaces.indexOf(cell)}`,
        spec: { subject: { kind: 'user', name: limitedEmail(cell) }, requestsPerMinute: 1 },
      })),
    }),
    user: { email: 'agent@example.com' },
    env: { KEY_CACHE_TTL_MS: '500' },
  });
  users.main = { key: fx.key, keyId: fx.keyId };
  users.budget = await fx.seedUser({ email: 'budget@example.com' });
  for (const cell of limitedSurfaces) limitedUsers.set(cell, await fx.seedUser({ email: limitedEmail(cell) }));
  root = await mkdtemp(path.join(tmpdir(), 'cv-agents-'));
}, 300_000);

afterAll(async () => {
  await fx?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const usageOf = (keyId: string, model: string) =>
  fx.pool.any(sql.type(z.object({ outcome: z.string(), input_tokens: z.number(), output_tokens: z.number() }))`
    select outcome, input_tokens, output_tokens from usage where api_key_id = ${keyId} and model = ${model} order by at`);

/** The largest body the provider received for this surface's upstream model (the session's last turn). */
const largestBody = (surface: Surface) =>
  Math.max(
    0,
    ...fx.fake.requests
      .filter((r) => r.method === 'POST' && (r.json as { model?: string } | null)?.model === surface.upstream)
      .map((r) => r.body.length),
  );

async function scratch(name: string, files: Record<string, string> = {}) {
  const home = await mkdtemp(path.join(root, `${name}-`));
  const work = path.join(home, 'work');
  await mkdir(work);
  for (const [file, content] of Object.entries(files)) await writeFile(path.join(work, file), content);
  return { home, work };
}

describe(`Claude Code ${claudeVersion}`, () => {
  const claude = async (
    surface: Surface,
    prompt: string,
    options: {
      key?: string;
      args?: string[];
      files?: Record<string, string>;
      env?: Record<string, string>;
      dir?: { home: string; work: string };
    } = {},
  ) => {
    const dir = options.dir ?? (await scratch('claude', options.files));
    const output = await runClaudeCode({
      args: ['-p', prompt, '--model', surface.model, '--output-format', 'json', ...(options.args ?? [])],
      cwd: dir.work,
      home: dir.home,
      baseUrl: fx.base,
      apiKey: options.key ?? users.main.key,
      timeoutMs: 90_000,
      env: options.env,
      allowFailure: true,
    });
    // `--output-format json` prints one result object; what the user sees is its `result` text.
    const json = output
      .trim()
      .split('\n')
      .reverse()
      .find((line) => line.startsWith('{') && line.includes('"result"'));
    const result = json ? (JSON.parse(json) as { result: string; is_error: boolean; num_turns: number }) : null;
    return { output, result, text: result?.result ?? output };
  };

  for (const surface of claudeSurfaces.filter(served)) {
    describe(surface.name, () => {
      it('plain prompt', async () => {
        const { result, output } = await claude(surface, 'hello');
        expect(result, output).toMatchObject({ is_error: false, result: expect.stringContaining('Hello from the fake provider') });
      });

      it('tool round trip', async () => {
        const { result, output } = await claude(surface, 'run ls and count the files', {
          files: { 'alpha.txt': 'a', 'beta.txt': 'b', 'gamma.txt': 'c' },
        });
        expect(result?.result, output).toBe('There are 3 files: alpha.txt, beta.txt, gamma.txt.');
      });

      it(`long session (${sessionTurns} turns, ≥150 KB bodies)`, async () => {
        const dir = await scratch('claude-session');
        for (let i = 1; i <= sessionTurns; i++) {
          const { result, output } = await claude(surface, turnText(i), { dir, args: i > 1 ? ['--continue'] : [] });
          expect(result?.is_error, `turn ${i}: ${output}`).toBe(false);
        }
        expect(largestBody(surface)).toBeGreaterThanOrEqual(150_000);
      }, 900_000);

      it('interrupted stream', async () => {
        // The provider resets the connection after its first event; the agent must end with an
        // error (after its own retries), and the request is billed what the provider reported.
        // A user of its own: the main key's usage rows of earlier cells may still be landing.
        const cut = await fx.seedUser({ email: `cut-${randomBytes(4).toString('hex')}@example.com` });
        const { output, result } = await claude(surface, 'hello', {
          key: cut.key,
          env: { ANTHROPIC_CUSTOM_HEADERS: 'x-fake-fault: reset-mid-stream', CLAUDE_CODE_MAX_RETRIES: '1' },
        });
        expect(result?.is_error ?? true, output).toBe(true);
        const rows = await waitFor(async () => {
          const all = await usageOf(cut.keyId, surface.model);
          return all.length > 0 ? all : null;
        });
        expect(
          rows.every((r) => r.outcome !== 'ok' && r.input_tokens > 0),
          JSON.stringify(rows),
        ).toBe(true);
      }, 180_000);

      it('secret refused', async () => {
        const { text } = await claude(surface, secretPrompt);
        expect(text).toContain('Blocked by secret rule');
      });

      it('budget refused', async () => {
        const { text } = await claude(surface, 'hello', { key: users.budget.key });
        expect(text).toMatch(/Budget "[^"]+" .* is used up/);
      });

      it('rate limit refused', async () => {
        const limited = limitedUsers.get(`claude-${surface.name}`)!;
        await claude(surface, 'hello', { key: limited.key });
        const { text } = await claude(surface, 'hello', { key: limited.key, env: { CLAUDE_CODE_MAX_RETRIES: '0' } });
        expect(text).toMatch(/[Rr]ate limit/);
      }, 180_000);

      it('unknown model refused, naming the models that work', async () => {
        const { text } = await claude({ ...surface, model: 'no-such-model-9' }, 'hello');
        expect(text).toContain('no-such-model-9');
        expect(text).toContain(surface.model);
      });

      it('count_tokens (the SDK Claude Code uses)', async () => {
        const client = new Anthropic({ baseURL: fx.base, apiKey: users.main.key, maxRetries: 0 });
        const counted = await client.messages.countTokens({ model: surface.model, messages: [{ role: 'user', content: 'hello world' }] });
        expect(counted.input_tokens).toBeGreaterThan(0);
      });
    });
  }
});

describe(`Codex ${codexVersion}`, () => {
  /** A custom provider with `wire_api = "responses"`: POST /v1/responses over SSE. */
  const sse = (surface: Surface, key: string) => ({
    config: [
      'model_provider="codevector"',
      `model="${surface.model}"`,
      'model_providers.codevector.name="CodeVector"',
      `model_providers.codevector.base_url="${fx.base}/v1"`,
      'model_providers.codevector.env_key="CODEVECTOR_API_KEY"',
      'model_providers.codevector.wire_api="responses"',
      'model_providers.codevector.request_max_retries=0',
      'model_providers.codevector.stream_max_retries=0',
    ],
    env: { CODEVECTOR_API_KEY: key },
  });
  const codex = async (
    surface: Surface,
    prompt: string,
    options: { key?: string; files?: Record<string, string>; home?: string; resume?: boolean; keep?: boolean; work?: string } = {},
  ) => {
    const home = options.home ?? (await scratch('codex')).home;
    const run = await runCodex({
      home,
      prompt,
      ...sse(surface, options.key ?? users.main.key),
      files: options.files,
      work: options.work,
      resume: options.resume,
      keepSession: options.keep,
      allowFailure: true,
      timeoutMs: 90_000,
    });
    return { ...run, all: `${run.lastMessage}\n${run.stdout}\n${run.stderr}` };
  };

  for (const surface of codexSurfaces.filter(served)) {
    describe(surface.name, () => {
      it('plain prompt', async () => {
        const run = await codex(surface, 'Say hello.');
        expect(run.lastMessage.trim(), run.all).toBe('Hello from the fake provider.');
      });

      it('tool round trip', async () => {
        const run = await codex(surface, `CALL_TOOL:exec_command:${JSON.stringify({ cmd: 'cat note.txt' })}`, {
          files: { 'note.txt': 'the codex tool saw 42 apples\n' },
        });
        expect(run.lastMessage, run.all).toContain('42 apples');
      });

      it(`long session (${sessionTurns} turns, ≥150 KB bodies)`, async () => {
        const { home, work } = await scratch('codex-session');
        for (let i = 1; i <= sessionTurns; i++) {
          const run = await codex(surface, turnText(i), { home, work, resume: i > 1, keep: true });
          expect(run.code, `turn ${i}: ${run.all}`).toBe(0);
        }
        expect(largestBody(surface)).toBeGreaterThanOrEqual(150_000);
      }, 900_000);

      it('interrupted stream', async () => {
        const before = (await usageOf(users.main.keyId, surface.model)).length;
        const run = await codex(surface, 'Say hello.', {});
        expect(run.code).toBe(0);
        // Codex sends no custom headers per run; the fault goes in through the provider's config.
        const cutHome = (await scratch('codex-cut')).home;
        // Codex refuses to start without its home folder.
        await mkdir(path.join(cutHome, '.codex'), { recursive: true });
        const cut = await runCodex({
          home: cutHome,
          prompt: 'Say hello.',
          config: [
            ...sse(surface, users.main.key).config,
            'model_providers.codevector.http_headers={ "x-fake-fault" = "reset-mid-stream" }',
          ],
          env: { CODEVECTOR_API_KEY: users.main.key },
          allowFailure: true,
        });
        expect(cut.code, `${cut.stdout}\n${cut.stderr}`).not.toBe(0);
        const rows = await waitFor(async () => {
          const all = await usageOf(users.main.keyId, surface.model);
          return all.some((r) => r.outcome !== 'ok') ? all.slice(before) : null;
        });
        expect(rows.filter((r) => r.outcome !== 'ok').every((r) => r.input_tokens > 0)).toBe(true);
      }, 180_000);

      it('secret refused', async () => {
        const run = await codex(surface, secretPrompt);
        expect(run.all).toContain('Blocked by secret rule');
      });

      it('budget refused', async () => {
        const run = await codex(surface, 'Say hello.', { key: users.budget.key });
        expect(run.all).toMatch(/is used up/);
      });

      it('rate limit refused', async () => {
        const limited = limitedUsers.get(`codex-${surface.name}`)!;
        await codex(surface, 'Say hello.', { key: limited.key });
        const run = await codex(surface, 'Say hello.', { key: limited.key });
        expect(run.all).toMatch(/[Rr]ate limit/);
      }, 180_000);

      it('unknown model refused, naming the models that work', async () => {
        const run = await codex({ ...surface, model: 'no-such-model-9' }, 'Say hello.');
        expect(run.all).toContain('no-such-model-9');
        expect(run.all).toContain(surface.model);
      });

      it('Responses WebSocket (the built-in provider)', async () => {
        const { home } = await scratch('codex-ws');
        await mkdir(path.join(home, '.codex'), { recursive: true });
        fx.fake.websocketMessages.length = 0;
        const before = fx.fake.requests.length;
        const run = await runCodex({
          home,
          prompt: 'Say hello.',
          config: [`openai_base_url="${fx.base}/v1"`, `model="${surface.model}"`],
          env: { CODEX_API_KEY: users.main.key },
        });
        expect(run.lastMessage.trim()).toBe('Hello from the fake provider.');
        if (!surface.translated) expect(fx.fake.websocketMessages.length).toBeGreaterThan(0);
        else {
          // The gateway answered the socket itself, from a Messages request (ADR 0124).
          const sent = fx.fake.requests.slice(before).filter((r) => (r.json as { model?: string } | null)?.model === surface.upstream);
          expect(sent.map((r) => r.url)).toContain('/v1/messages');
          const rows = await waitFor(async () => {
            const found = await fx.pool.any(sql.type(z.object({ cost: z.string() }))`
              select cost_usd::text as cost from usage
              where api_key_id = ${users.main.keyId} and model = ${surface.model} and endpoint = 'responses.websocket'`);
            return found.length > 0 ? found : null;
          });
          expect(rows.some((r) => Number(r.cost) > 0)).toBe(true);
        }
      });
    });
  }
});
