import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from '@codevector/core/create-pool';
import { type GatewayFixture, startGatewayFixture, upstreamKeys } from '@codevector/gateway/testing/gateway-fixture';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runClaudeCode } from './claude-code-cli.ts';
import { runCodex } from './codex-cli.ts';

// The real agents on a Model of the other API (ADR 0124): Claude Code (Anthropic Messages) on an
// openai-compatible Provider, Codex (OpenAI Responses, over SSE and the WebSocket) on an
// Anthropic one, each completing a tool round trip through the gateway's translation, with real
// PostgreSQL under the gateway and the fake provider speaking the upstream's wire format.
let fx: GatewayFixture;
let root: string;
type Json = Record<string, unknown>;
const pricing = { input: 3, output: 15 };

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [
        { name: 'anthropic', spec: { type: 'anthropic', baseURL: fake.url, timeoutSeconds: 10 }, apiKey: upstreamKeys.anthropic },
        { name: 'vllm', spec: { type: 'openai-compatible', baseURL: `${fake.url}/v1`, timeoutSeconds: 10 }, apiKey: 'sk-vllm' },
      ],
      models: [
        { name: 'claude-on-vllm', spec: { name: 'claude-on-vllm', providerRef: { name: 'vllm' }, upstreamModel: 'qwen3-coder', pricing } },
        {
          name: 'codex-on-claude',
          spec: { name: 'codex-on-claude', providerRef: { name: 'anthropic' }, upstreamModel: 'claude-opus-x', pricing },
        },
      ],
    }),
    user: { email: 'translate@example.com' },
  });
  root = await mkdtemp(path.join(tmpdir(), 'cv-translate-'));
}, 300_000);

afterAll(async () => {
  await fx?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const sentTo = (model: string) =>
  fx.fake.requests
    .filter((r) => r.method === 'POST' && (r.json as Json | null)?.['model'] === model)
    .map((r) => ({ url: r.url, json: r.json as Json }));

/** The usage rows of a Model's answered requests, once two of them were billed (the agent's two turns). */
const billed = (model: string, endpoint: string) =>
  waitFor(async () => {
    const rows = await fx.pool.any(sql.type(z.object({ cost: z.string(), output_tokens: z.number() }))`
      select cost_usd::text as cost, output_tokens from usage where model = ${model} and endpoint = ${endpoint} and outcome = 'ok'`);
    return rows.filter((r) => Number(r.cost) > 0).length >= 2 ? rows : null;
  });

describe('Claude Code on an openai-compatible Model', () => {
  it('completes a tool round trip: Bash calls as Chat tool_calls, the results as tool messages', async () => {
    const home = await mkdtemp(path.join(root, 'claude-'));
    const work = path.join(home, 'work');
    await mkdir(work);
    for (const name of ['alpha.txt', 'beta.txt', 'gamma.txt']) await writeFile(path.join(work, name), name);
    const output = await runClaudeCode({
      args: ['-p', 'run ls and count the files', '--model', 'claude-on-vllm', '--output-format', 'json'],
      cwd: work,
      home,
      baseUrl: fx.base,
      apiKey: fx.key,
    });
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as { result: string; is_error: boolean };
    expect(result).toMatchObject({ is_error: false, result: 'There are 3 files: alpha.txt, beta.txt, gamma.txt.' });
    const sent = sentTo('qwen3-coder');
    expect(sent.every((r) => r.url === '/v1/chat/completions')).toBe(true);
    const last = sent.at(-1)!.json['messages'] as Json[];
    const call = last.find((m) => m['role'] === 'assistant' && Array.isArray(m['tool_calls']))!;
    expect((call['tool_calls'] as Json[])[0]).toMatchObject({ type: 'function', function: { name: 'Bash' } });
    expect(last.find((m) => m['role'] === 'tool')).toMatchObject({ content: expect.stringContaining('beta.txt') });
    // Both turns billed from the Chat server's usage.
    const rows = await billed('claude-on-vllm', 'messages');
    expect(rows.every((r) => Number(r.cost) > 0)).toBe(true);
  }, 120_000);
});

describe('Codex on a Claude Model', () => {
  const toolPrompt = `CALL_TOOL:exec_command:${JSON.stringify({ cmd: 'cat note.txt' })}`;
  const files = { 'note.txt': 'the codex tool saw 42 apples\n' };

  it('over SSE: a tool round trip as Messages tool_use / tool_result upstream', async () => {
    const home = await mkdtemp(path.join(root, 'codex-sse-'));
    await mkdir(path.join(home, '.codex'));
    const run = await runCodex({
      home,
      prompt: toolPrompt,
      files,
      config: [
        'model_provider="codevector"',
        'model="codex-on-claude"',
        'model_providers.codevector.name="CodeVector"',
        `model_providers.codevector.base_url="${fx.base}/v1"`,
        'model_providers.codevector.env_key="CODEVECTOR_API_KEY"',
        'model_providers.codevector.wire_api="responses"',
      ],
      env: { CODEVECTOR_API_KEY: fx.key },
    });
    expect(run.lastMessage).toContain('42 apples');
    const sent = sentTo('claude-opus-x');
    expect(sent.every((r) => r.url === '/v1/messages')).toBe(true);
    const messages = sent.at(-1)!.json['messages'] as Json[];
    expect(messages.at(-1)).toMatchObject({
      role: 'user',
      content: [{ type: 'tool_result', content: expect.stringContaining('42 apples') }],
    });
    const rows = await billed('codex-on-claude', 'responses');
    expect(rows.every((r) => Number(r.cost) > 0)).toBe(true);
  }, 120_000);

  it('over the WebSocket (the built-in provider): the gateway keeps the conversation Codex chains by previous_response_id', async () => {
    const home = await mkdtemp(path.join(root, 'codex-ws-'));
    await mkdir(path.join(home, '.codex'));
    const before = fx.fake.requests.length;
    const run = await runCodex({
      home,
      prompt: toolPrompt,
      files,
      config: [`openai_base_url="${fx.base}/v1"`, 'model="codex-on-claude"'],
      env: { CODEX_API_KEY: fx.key },
    });
    expect(run.lastMessage).toContain('42 apples');
    // Nothing was relayed on an upstream socket: every turn was a Messages request carrying the whole conversation.
    expect(fx.fake.websocketMessages).toHaveLength(0);
    const turns = fx.fake.requests.slice(before).filter((r) => (r.json as Json | null)?.['model'] === 'claude-opus-x');
    expect(turns.length).toBeGreaterThanOrEqual(2);
    const messages = (turns.at(-1)!.json as Json)['messages'] as Json[];
    expect(messages.some((m) => (m['content'] as Json[]).some((b) => b['type'] === 'tool_use'))).toBe(true);
    expect(messages.at(-1)).toMatchObject({ role: 'user', content: [{ type: 'tool_result' }] });
    // Billed from the Anthropic usage; only Codex's warm-ups (nothing generated, nothing sent upstream) cost nothing.
    const rows = await billed('codex-on-claude', 'responses.websocket');
    expect(rows.filter((r) => Number(r.cost) === 0).every((r) => r.output_tokens === 0)).toBe(true);
  }, 120_000);
});
