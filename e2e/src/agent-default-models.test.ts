// The README's "try it" line without --model: Claude Code (the version in the lockfile) asks for
// its own default model, which changes with every release, and the example Models' patterns
// route it. The test reads the model the installed CLI really sends instead of hard-coding one.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeProviders, type GatewayFixture, startGatewayFixture } from '@codevector/gateway/testing/gateway-fixture';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runClaudeCode } from './claude-code-cli.ts';

let fx: GatewayFixture;
const examples = fileURLToPath(new URL('../../examples/30-models.yaml', import.meta.url));

beforeAll(async () => {
  // The example Models exactly as shipped, on providers that point at the fake provider.
  const models = parseAllDocuments(await readFile(examples, 'utf8'))
    .map((doc) => doc.toJS() as { metadata: { name: string }; spec: Record<string, unknown> })
    .map((m) => ({ name: m.metadata.name, spec: m.spec }));
  fx = await startGatewayFixture({
    config: (fake) => ({ providers: fakeProviders(fake, { timeoutSeconds: 30 }), models }),
    user: { email: 'dev@example.com' },
  });
});
afterAll(async () => {
  await fx?.close();
});

describe('agents out of the box', () => {
  it('answers Claude Code without --model, whatever default model this release asks for', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'cv-claude-default-'));
    fx.fake.requests.length = 0;
    try {
      const output = await runClaudeCode({
        args: ['-p', 'hello', '--output-format', 'json'],
        cwd: home,
        home: home,
        baseUrl: fx.base,
        apiKey: fx.key,
        timeoutMs: 90_000,
      });
      const result = JSON.parse(output) as { result: string; is_error: boolean };
      expect(result.is_error).toBe(false);
      expect(result.result).toContain('Hello from the fake provider');
      // Whatever the CLI asked for reached a declared Model (by name, alias or pattern) and went
      // upstream as that Model's upstreamModel.
      const sent = (fx.fake.requests.at(-1)!.json as { model: string }).model;
      const upstreamModels = [...(await readFile(examples, 'utf8')).matchAll(/^\s+upstreamModel: (\S+)$/gm)].map((m) => m[1]);
      expect(upstreamModels).toContain(sent);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs "run ls and count the files" as the demo prints it: the fake provider calls Claude Code’s Bash tool, no marker needed', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'cv-claude-tool-'));
    const work = path.join(home, 'work');
    await mkdir(work);
    for (const name of ['alpha.txt', 'beta.txt', 'gamma.txt']) await writeFile(path.join(work, name), name);
    fx.fake.requests.length = 0;
    try {
      const output = await runClaudeCode({
        args: ['-p', 'run ls and count the files', '--output-format', 'json'],
        cwd: work,
        home: home,
        baseUrl: fx.base,
        apiKey: fx.key,
        timeoutMs: 90_000,
      });
      const result = JSON.parse(output) as { result: string; is_error: boolean; num_turns: number };
      expect(result.is_error).toBe(false);
      // Claude Code ran ls itself and sent its output back; the answer counts what ls printed.
      expect(result.result).toBe('There are 3 files: alpha.txt, beta.txt, gamma.txt.');
      const turns = fx.fake.requests.filter((r) => r.url.startsWith('/v1/messages'));
      const toolResult = JSON.stringify(turns.at(-1)!.json);
      expect(toolResult).toContain('tool_result');
      expect(toolResult).toContain('gamma.txt');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);

  it('ends Claude Code’s attempt at once on a key the gateway refuses, with the gateway’s message', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'cv-claude-refused-'));
    const started = performance.now();
    try {
      const output = await runClaudeCode({
        args: ['-p', 'hello', '--output-format', 'json'],
        cwd: home,
        home: home,
        baseUrl: fx.base,
        apiKey: 'cvk_not_a_key',
        timeoutMs: 60_000,
        allowFailure: true,
      });
      // Without x-should-retry: false it backs off and retries for minutes.
      expect((performance.now() - started) / 1000).toBeLessThan(15);
      expect(output).toContain('The CodeVector API key is not valid.');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 90_000);
});
