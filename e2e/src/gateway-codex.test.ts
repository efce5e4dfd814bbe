import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from '@codevector/core/create-pool';
import { type GatewayFixture, startGatewayFixture, upstreamKeys } from '@codevector/gateway/testing/gateway-fixture';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CodexOptions, type CodexRun, runCodex as runCodexCli } from './codex-cli.ts';

// The Codex CLI (`@openai/codex`, a native binary) → the gateway → the fake provider, with real
// PostgreSQL under the gateway. Codex runs headless (`codex exec`) with HOME and CODEX_HOME in a
// temporary folder, update checks, analytics and feedback off, and every non-loopback
// connection sent to a dead proxy, so nothing leaves the machine.
let fx: GatewayFixture;
let home: string;

type Json = Record<string, unknown>;
const anyRow = z.record(z.string(), z.unknown());

/** `codex exec` once, in a fresh working folder under this file's home. */
const runCodex = (options: Omit<CodexOptions, 'home'>) => runCodexCli({ home, ...options });

/** The built-in provider pointed at the gateway: WebSocket first (`CODEX_API_KEY` is its key). */
const builtInProvider = (key = fx.key) => ({ config: [`openai_base_url="${fx.base}/v1"`, 'model="gpt-5"'], env: { CODEX_API_KEY: key } });

/** A custom provider with `wire_api = "responses"`: POST /v1/responses over SSE. */
const customProvider = (key = fx.key) => ({
  config: [
    'model_provider="codevector"',
    'model="gpt-5"',
    'model_providers.codevector.name="CodeVector"',
    `model_providers.codevector.base_url="${fx.base}/v1"`,
    'model_providers.codevector.env_key="CODEVECTOR_API_KEY"',
    'model_providers.codevector.wire_api="responses"',
  ],
  env: { CODEVECTOR_API_KEY: key },
});

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [{ name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1`, timeoutSeconds: 10 }, apiKey: upstreamKeys.openai }],
      models: [
        {
          name: 'gpt',
          // gpt-* serves Codex's own default model, whichever release this is (as examples/ do).
          spec: {
            name: 'gpt-5',
            providerRef: { name: 'openai' },
            upstreamModel: 'gpt-5-2026',
            pricing: { input: 1.25, output: 10 },
            patterns: ['gpt-*'],
          },
        },
      ],
      secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
    }),
    user: { email: 'codex@example.com' },
  });
  home = await mkdtemp(path.join(tmpdir(), 'cv-codex-'));
  await mkdir(path.join(home, '.codex'));
});

afterAll(async () => {
  await fx?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

beforeEach(() => {
  fx.fake.requests.length = 0;
  fx.fake.websocketMessages.length = 0;
});

/** The usage rows of a key's answered turns on `endpoint`; they are written in the background. */
function usageRows(endpoint: string, { keyId = fx.keyId, atLeast = 1 } = {}) {
  return waitFor(async () => {
    const rows = await fx.pool.any(
      sql.type(anyRow)`select * from usage where endpoint = ${endpoint} and api_key_id = ${keyId} and output_tokens > 0`,
    );
    return rows.length >= atLeast ? rows : null;
  });
}

describe('Codex CLI', () => {
  it('runs codex exec with the built-in provider over the Responses WebSocket', async () => {
    const run = await runCodex({ prompt: 'Say hello.', ...builtInProvider() });
    expect(run.lastMessage.trim()).toBe('Hello from the fake provider.');
    expect(run.events.some((event) => event['type'] === 'turn.completed')).toBe(true);
    // Codex opened the WebSocket (GET /v1/responses upgrade) and the gateway relayed the turn
    // to the provider's WebSocket with the provider's key and the upstream model.
    const upgrade = fx.fake.requests.find((r) => r.method === 'GET' && r.url.startsWith('/v1/responses'));
    expect(upgrade?.headers['authorization']).toBe(`Bearer ${upstreamKeys.openai}`);
    const turns = fx.fake.websocketMessages as Record<string, unknown>[];
    // A warm-up (`generate: false`), then the turn chained to it with previous_response_id.
    expect(turns[0]).toMatchObject({ type: 'response.create', model: 'gpt-5-2026', generate: false });
    expect(turns.at(-1)).toMatchObject({ type: 'response.create', model: 'gpt-5-2026', previous_response_id: expect.any(String) });
    expect(fx.fake.requests.some((r) => r.method === 'POST' && r.url.startsWith('/v1/responses'))).toBe(false);
    const rows = await usageRows('responses.websocket');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows[0]).toMatchObject({ model: 'gpt-5', status: 200, outcome: 'ok' });
    expect(Number(rows[0]!['cost_usd'])).toBeGreaterThan(0);
  });

  it('runs codex exec with a custom provider over SSE', async () => {
    const run = await runCodex({ prompt: 'Say hello.', ...customProvider() });
    expect(run.lastMessage.trim()).toBe('Hello from the fake provider.');
    expect(run.events.some((event) => event['type'] === 'turn.completed')).toBe(true);
    const forwarded = fx.fake.requests.filter((r) => r.method === 'POST' && r.url === '/v1/responses');
    expect(forwarded.length).toBeGreaterThanOrEqual(1);
    const turn = forwarded.at(-1)!;
    expect(turn.headers['authorization']).toBe(`Bearer ${upstreamKeys.openai}`);
    expect(turn.json).toMatchObject({ model: 'gpt-5-2026', stream: true, store: false });
    const rows = await usageRows('responses');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.at(-1)).toMatchObject({ model: 'gpt-5', status: 200, outcome: 'ok' });
  });
});

// A key the gateway refuses must end Codex's attempt at once with the gateway's words. Codex
// (the version in the lockfile) ignores x-should-retry and retries every 4xx but 400 five times
// (~7 s over SSE, ~15 s with its WebSocket attempts first), so the gateway answers Codex's final
// refusals with 400 (pipeline/refuse.ts retryHints).
describe('Codex CLI on a refused key', () => {
  for (const [name, provider] of [
    ['the built-in provider (WebSocket first)', builtInProvider],
    ['a custom provider (SSE)', customProvider],
  ] as const) {
    it(`stops at once with the gateway's message, with ${name}`, async () => {
      const started = performance.now();
      const error = await runCodex({ prompt: 'Say hello.', ...provider('cvk_not_a_key') }).catch((e: unknown) => e as Error);
      const seconds = (performance.now() - started) / 1000;
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain('The CodeVector API key is not valid.');
      expect(seconds).toBeLessThan(4);
      expect(fx.fake.requests).toHaveLength(0);
    });
  }
});

// A tool round trip: the fake provider answers the prompt `CALL_TOOL:exec_command:{…}` with a
// Responses `function_call` for Codex's shell tool (`exec_command`, whose argument is `cmd`),
// Codex runs the command, sends a `function_call_output` in its next request, and the fake
// provider answers "The tool said: <output>". The command reads a file only Codex's working
// folder holds, so its content can reach the provider only as the tool's output.
describe('Codex CLI tool round trip', () => {
  const note = 'the codex tool saw 42 apples';
  const prompt = `CALL_TOOL:exec_command:${JSON.stringify({ cmd: 'cat note.txt' })}`;
  const callId = /^call_[0-9a-f]{24}$/;

  /** Codex ran the command once, and printed the model's answer quoting its output. */
  function expectCommandAndAnswer(run: CodexRun) {
    const items = run.events.filter((event) => event['type'] === 'item.completed').map((event) => event['item'] as Json);
    const commands = items.filter((item) => item['type'] === 'command_execution');
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({
      command: expect.stringContaining('cat note.txt'),
      aggregated_output: `${note}\n`,
      exit_code: 0,
      status: 'completed',
    });
    const answer = items.filter((item) => item['type'] === 'agent_message').at(-1);
    expect(answer?.['text']).toMatch(/^The tool said: /);
    expect(answer?.['text']).toContain(note);
    expect(run.lastMessage).toContain(note);
    expect(run.events.at(-1)).toMatchObject({ type: 'turn.completed' });
  }

  it('runs a shell command for the model over the Responses WebSocket and sends its output back', async () => {
    const user = await fx.seedUser({ email: 'codex-tool-ws@example.com', keyName: 'codex-tool-ws' });
    const run = await runCodex({ prompt, ...builtInProvider(user.key), files: { 'note.txt': `${note}\n` } });
    expectCommandAndAnswer(run);
    // Through the gateway: the provider's key on the upgrade, the upstream model on every turn.
    const upgrade = fx.fake.requests.find((r) => r.method === 'GET' && r.url.startsWith('/v1/responses'));
    expect(upgrade?.headers['authorization']).toBe(`Bearer ${upstreamKeys.openai}`);
    expect(fx.fake.requests.some((r) => r.method === 'POST')).toBe(false);
    // The warm-up, the turn the model answered with the function_call, then the command's
    // output alone, chained to that answer with previous_response_id.
    const turns = fx.fake.websocketMessages as Json[];
    expect(turns).toHaveLength(3);
    expect(turns.every((turn) => turn['model'] === 'gpt-5-2026')).toBe(true);
    expect((turns[1]!['input'] as Json[]).at(-1)).toMatchObject({ role: 'user', content: [{ type: 'input_text', text: prompt }] });
    expect(turns[2]).toMatchObject({ type: 'response.create', previous_response_id: expect.stringMatching(/^resp_/) });
    expect(turns[2]!['input']).toEqual([
      expect.objectContaining({
        type: 'function_call_output',
        call_id: expect.stringMatching(callId),
        output: expect.stringContaining(note),
      }),
    ]);
    // Both turns that produced output were metered.
    const rows = await usageRows('responses.websocket', { keyId: user.keyId, atLeast: 2 });
    expect(rows.every((row) => row['status'] === 200 && row['outcome'] === 'ok')).toBe(true);
  });

  // The demo's line, no marker: the fake provider picks Codex's shell tool for a plain ask.
  for (const [name, provider] of [
    ['the Responses WebSocket', builtInProvider],
    ['SSE with a custom provider', customProvider],
  ] as const) {
    it(`answers "run ls and count the files" with Codex's shell tool over ${name}`, async () => {
      const user = await fx.seedUser({ email: `codex-ls-${name.length}@example.com`, keyName: `codex-ls-${name.length}` });
      const run = await runCodex({
        prompt: 'run ls and count the files',
        ...provider(user.key),
        files: { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c', 'd.txt': 'd' },
      });
      const items = run.events.filter((e) => e['type'] === 'item.completed').map((e) => e['item'] as Json);
      const command = items.find((item) => item['type'] === 'command_execution');
      expect(command).toMatchObject({ command: expect.stringContaining('ls'), exit_code: 0 });
      // What ls printed (the four files, and the -o file Codex writes its last message to).
      const listed = String(command!['aggregated_output']).trim().split('\n');
      expect(listed).toEqual(expect.arrayContaining(['a.txt', 'b.txt', 'c.txt', 'd.txt']));
      expect(run.lastMessage.trim()).toBe(`There are ${listed.length} files: ${listed.join(', ')}.`);
    });
  }

  it('answers the demo’s Codex line with Codex’s own default model, whose only shell is the code-mode exec tool', async () => {
    const user = await fx.seedUser({ email: 'codex-default@example.com', keyName: 'codex-default' });
    const run = await runCodex({
      prompt: 'run ls and count the files',
      config: [`openai_base_url="${fx.base}/v1"`],
      env: { CODEX_API_KEY: user.key },
      files: { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c', 'd.txt': 'd' },
    });
    const turns = fx.fake.websocketMessages as Json[];
    // The model this Codex release picks by itself (routed by gpt-*) runs tools in code mode:
    // the script's output came back as a custom_tool_call_output.
    expect(turns.some((t) => (t['input'] as Json[] | undefined)?.some((i) => i['type'] === 'custom_tool_call_output'))).toBe(true);
    expect(run.lastMessage.trim()).toMatch(/^There are [45] files: a\.txt, b\.txt, c\.txt, d\.txt(, last-message\.txt)?\.$/);
  });

  it('runs a shell command for the model over SSE with a custom provider and sends its output back', async () => {
    const user = await fx.seedUser({ email: 'codex-tool-sse@example.com', keyName: 'codex-tool-sse' });
    const run = await runCodex({ prompt, ...customProvider(user.key), files: { 'note.txt': `${note}\n` } });
    expectCommandAndAnswer(run);
    const forwarded = fx.fake.requests.filter((r) => r.method === 'POST' && r.url === '/v1/responses');
    expect(forwarded).toHaveLength(2);
    expect(forwarded.every((r) => r.headers['authorization'] === `Bearer ${upstreamKeys.openai}`)).toBe(true);
    // Without server-side state (store: false) the second request resends the whole history:
    // the prompt, the model's function_call as the provider sent it, and the command's output
    // under the same call_id.
    const second = forwarded[1]!.json as Json;
    expect(second).toMatchObject({ model: 'gpt-5-2026', stream: true, store: false });
    const input = second['input'] as Json[];
    const call = input.find((item) => item['type'] === 'function_call');
    expect(call).toMatchObject({
      name: 'exec_command',
      arguments: JSON.stringify({ cmd: 'cat note.txt' }),
      call_id: expect.stringMatching(callId),
    });
    expect(input.at(-1)).toMatchObject({ type: 'function_call_output', call_id: call!['call_id'], output: expect.stringContaining(note) });
    const rows = await usageRows('responses', { keyId: user.keyId, atLeast: 2 });
    expect(rows.every((row) => row['model'] === 'gpt-5' && row['status'] === 200)).toBe(true);
  });
});
