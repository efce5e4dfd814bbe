// `npm run bench -- secrets [--rounds N]`: the secret scanner's accuracy on the labelled corpus
// (gateway/src/testing/secret-corpus.ts, generated and seeded) and its throughput on agent
// bodies, written to bench/results/secrets.json.
//
// Throughput is CPU time (process.cpuUsage, user + system) of the scan alone: the gateway
// parses the body anyway, so JSON.parse is outside the timed part (and reported beside it). The
// machine is shared, so each body is scanned `rounds` times by one scanner whose clean-string
// cache is off (a cold scan, the worst case), and the median and best rounds are reported.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSecretScanner } from '@codevector/gateway/secret-scan/secret-scanner';
import { corpusKinds, scoreScanner, secretCorpus } from '@codevector/gateway/testing/secret-corpus';
import { startFakeProvider } from '@codevector/testbed/fake-provider';

const root = fileURLToPath(new URL('../../', import.meta.url));
const log = (message: string) => process.stderr.write(`[bench secrets] ${message}\n`);

const allPacks = [{ namespace: 'bench', name: 'builtin', detectors: ['all'], patterns: [] }];

/** This repository's sources and docs, in a fixed order: the code and prose agents read. */
export function sources(): string[] {
  const files: string[] = [];
  for (const dir of ['core/src', 'gateway/src', 'gateway/src/pipeline', 'operator/src', 'console/api/src', 'docs', 'docs/adr']) {
    try {
      for (const name of readdirSync(`${root}${dir}`).sort()) if (/\.(ts|md)$/.test(name)) files.push(`${root}${dir}/${name}`);
    } catch {
      // a folder this checkout does not have
    }
  }
  // The scanner's own sources and tests are full of credential look-alikes by design; they are
  // left out, as no agent body is mostly detector code.
  return files.filter((file) => !file.includes('secret-scan') && !file.includes('/testing/')).map((file) => readFileSync(file, 'utf8'));
}

/** Deterministic base64 that looks like a PNG screenshot. */
function pngBase64(bytes: number, seed: number): string {
  const out = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  out.write('\x89PNG\r\n\x1a\n', 0, 'latin1');
  return out.toString('base64');
}

/**
 * A Claude Code turn of about `bytes`: system prompt, ~30 KB of tool definitions, then turns of
 * assistant tool_use (Read, Bash, Edit) and user tool_result blocks holding this repository's
 * files (line-numbered, as the Read tool returns them), shell output, a screenshot now and then,
 * until the size is reached.
 */
export function agentBody(bytes: number, files: readonly string[], claudeCode: Record<string, unknown> | null = null): string {
  const synthetic = Array.from({ length: 18 }, (_, i) => ({
    name: ['Read', 'Write', 'Edit', 'Bash', 'Glob', 'Grep', 'WebFetch', 'TodoWrite', 'Task'][i % 9]! + (i >= 9 ? `_${i}` : ''),
    description: `${files[i % files.length]!.slice(0, 1200)}\nUsage: the tool reads files and returns up to 2000 lines; long outputs are truncated to save tokens.`,
    input_schema: {
      type: 'object',
      properties: {
        file_path: { type: 'string', description: 'The absolute path to the file' },
        limit: { type: 'number' },
        offset: { type: 'number' },
      },
      required: ['file_path'],
    },
  }));
  // A real Claude Code request's system prompt, tools and first turn when one was captured.
  const tools = (claudeCode?.['tools'] as unknown[] | undefined) ?? synthetic;
  const system = claudeCode?.['system'] ?? [
    { type: 'text', text: 'You are Claude Code, an interactive CLI tool that helps users with software engineering tasks.' },
  ];
  const messages: unknown[] = (claudeCode?.['messages'] as unknown[] | undefined)?.slice(0, 1) ?? [
    { role: 'user', content: [{ type: 'text', text: 'Fix the failing test in gateway and explain the change.' }] },
  ];
  let size = JSON.stringify({ tools, system, messages }).length;
  for (let turn = 0; size < bytes; turn++) {
    const file = files[(turn * 7) % files.length]!;
    const numbered = file
      .split('\n')
      .slice(0, 400)
      .map((line, i) => `${String(i + 1).padStart(6)}→${line}`)
      .join('\n');
    const id = `toolu_01${String(turn).padStart(22, 'A')}`;
    const kind = turn % 5;
    messages.push({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me look at the next file.' },
        {
          type: 'tool_use',
          id,
          name: kind === 3 ? 'Bash' : 'Read',
          input: kind === 3 ? { command: 'npx vitest run gateway/src' } : { file_path: `/work/src/file${turn}.ts` },
        },
      ],
    });
    const result =
      kind === 4 && turn % 10 === 4
        ? [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: pngBase64(24_000, turn + 1) } }]
        : [{ type: 'text', text: kind === 3 ? `> vitest run\n${file.slice(0, 3000)}\n Test Files 1 failed | 12 passed` : numbered }];
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: result }] });
    size += JSON.stringify(messages[messages.length - 1]).length + JSON.stringify(messages[messages.length - 2]).length;
  }
  return JSON.stringify({
    model: 'claude-sonnet-5',
    max_tokens: 32000,
    stream: true,
    ...claudeCode,
    system,
    tools,
    messages,
  });
}

/**
 * The request the installed Claude Code CLI sends for its first turn, captured by the fake
 * provider (its system prompt and ~30 KB of tool definitions are what every agent body starts
 * with); null when the CLI cannot run here.
 */
async function captureClaudeCodeRequest(): Promise<Record<string, unknown> | null> {
  const fake = await startFakeProvider();
  const home = await mkdtemp(path.join(tmpdir(), 'cv-bench-claude-'));
  try {
    const require = createRequire(`${root}gateway/package.json`);
    const claude = path.join(path.dirname(require.resolve('@anthropic-ai/claude-code/package.json')), 'bin', 'claude.exe');
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        claude,
        ['-p', 'Read package.json and summarise it', '--output-format', 'json', '--model', 'claude-sonnet-5'],
        {
          cwd: root,
          timeout: 90_000,
          env: {
            PATH: process.env['PATH'],
            HOME: home,
            ANTHROPIC_BASE_URL: fake.url,
            ANTHROPIC_API_KEY: 'sk-ant-bench',
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
            DISABLE_TELEMETRY: '1',
            DISABLE_AUTOUPDATER: '1',
          },
        },
        (error) => (error ? reject(error) : resolve()),
      );
      child.stdin?.end();
    });
    const request = fake.requests.find((r) => r.url.startsWith('/v1/messages') && r.json !== null);
    return (request?.json as Record<string, unknown> | undefined) ?? null;
  } catch (error) {
    log(`Claude Code request not captured (${(error as Error).message.split('\n')[0]}); synthetic tools instead`);
    return null;
  } finally {
    await fake.close();
    await rm(home, { recursive: true, force: true });
  }
}

const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function run(args: string[]): Promise<void> {
  const roundsAt = args.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 7;

  log('generating the corpus');
  const samples = secretCorpus();
  const score = scoreScanner(createSecretScanner(allPacks), samples);
  log(
    `recall ${score.recall.toFixed(4)} precision ${score.precision.toFixed(4)} (${score.positives} positives, ${score.negatives} negatives)`,
  );
  for (const sample of score.missed) log(`missed ${sample.kind}`);
  for (const alarm of score.falseAlarms) log(`false positive ${alarm.sample.kind} (${alarm.rules.join(', ')})`);

  const files = sources();
  const claudeCode = await captureClaudeCodeRequest();
  const firstTurn = claudeCode ? Buffer.byteLength(JSON.stringify(claudeCode)) : 0;
  if (claudeCode) log(`captured a Claude Code request of ${firstTurn} bytes`);
  // With a captured request: that first turn as it is, then conversations grown from it.
  const sizes = claudeCode ? [0, 200_000, 1_000_000] : [12_000, 50_000, 200_000, 1_000_000];
  const throughput: Record<string, unknown> = {};
  let totalBytes = 0;
  let totalCpuMs = 0;
  for (const size of sizes) {
    const body = agentBody(size, files, claudeCode);
    const raw = Buffer.from(body);
    // Scans enough times for the CPU clock (1 ms granularity on some kernels) to resolve a round.
    const repeat = Math.max(1, Math.round(20_000_000 / raw.length));
    const parsed = Array.from({ length: repeat }, () => JSON.parse(body) as unknown);
    // One scanner, as the gateway keeps one per config snapshot (its scan plans are built once),
    // with its clean-string cache off: every scan reads the whole body.
    const scanner = createSecretScanner(allPacks, undefined, { rememberClean: false });
    // Warm-up round (JIT, scan plans), not counted.
    for (let i = 0; i < repeat; i++) scanner.scan(raw, parsed[i], { all: true });
    const perRound: number[] = [];
    let matches = 0;
    for (let round = 0; round < rounds; round++) {
      const start = cpuMs();
      for (let i = 0; i < repeat; i++) matches = scanner.scan(raw, parsed[i], { all: true }).matches.length;
      perRound.push((cpuMs() - start) / repeat);
    }
    const parseStart = cpuMs();
    for (let i = 0; i < repeat; i++) JSON.parse(body);
    const parseMs = (cpuMs() - parseStart) / repeat;
    const mb = raw.length / 1_000_000;
    totalBytes += raw.length * rounds;
    totalCpuMs += perRound.reduce((a, b) => a + b, 0);
    throughput[`${Math.round(raw.length / 1000)}kb`] = {
      bytes: raw.length,
      matches,
      cpu_ms_per_scan_median: Math.round(median(perRound) * 1000) / 1000,
      cpu_ms_per_scan_best: Math.round(Math.min(...perRound) * 1000) / 1000,
      mb_per_s_cpu_median: Math.round(mb / (median(perRound) / 1000)),
      mb_per_s_cpu_best: Math.round(mb / (Math.min(...perRound) / 1000)),
      json_parse_cpu_ms: Math.round(parseMs * 1000) / 1000,
    };
    log(`${Math.round(raw.length / 1000)} KB: ${JSON.stringify(throughput[`${Math.round(raw.length / 1000)}kb`])}`);
  }
  const perClass = Object.fromEntries(
    Object.entries(score.perKind).map(([kind, entry]) => [
      kind,
      entry.positive
        ? { samples: entry.samples, recall: entry.rate, rules: entry.rules }
        : { samples: entry.samples, false_positive_rate: entry.rate, rules: entry.rules },
    ]),
  );
  const mbPerS = Math.round(totalBytes / 1_000_000 / (totalCpuMs / 1000));
  const results = {
    generated_at: new Date().toISOString(),
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
      } catch {
        return null;
      }
    })(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, node: process.version },
    body_mix: claudeCode
      ? `the system prompt, tools and first turn of a real Claude Code ${String(claudeCode['model'] ?? '')} request (${firstTurn} bytes, captured from the installed CLI through the fake provider), then generated turns`
      : 'synthetic tools and system prompt (the Claude Code CLI could not run), then generated turns',
    method:
      "Accuracy: every sample of the seeded corpus (gateway/src/testing/secret-corpus.ts) in its own Anthropic request body, scanned with every built-in pack ({ all: true }). A positive counts when a match covers its secret; a negative counts as a false positive when anything matches. precision = true positives / (true positives + flagged negatives). Throughput: CPU time (user + system, process.cpuUsage) of scan() alone on agent bodies: the system prompt, tools and first turn of a real Claude Code request (see body_mix), alone and grown to 200 KB and 1 MB with turns of tool_use and tool_result blocks (line-numbered reads of this repository's sources and docs, shell output, a base64 screenshot every ten turns), one scanner (as the gateway keeps one per config snapshot) with its clean-string cache turned off, so every scan reads the whole body (cold), one warm-up round, median of the rounds; one core (the scan is synchronous). The host is shared with other work, so CPU time rather than wall time.",
    corpus: {
      seed: 12,
      positives: score.positives,
      negatives: score.negatives,
      positive_kinds: corpusKinds.positive.length,
      negative_kinds: corpusKinds.negative.length,
    },
    recall: Math.round(score.recall * 10000) / 10000,
    precision: Math.round(score.precision * 10000) / 10000,
    true_positives: score.truePositives,
    false_positives: score.falsePositives,
    missed: score.missed.map((sample) => sample.kind),
    per_class: perClass,
    rounds,
    throughput_by_size: throughput,
    mb_per_s: mbPerS,
    mb_per_s_min_by_size: Math.min(
      ...Object.values(throughput).map((entry) => (entry as { mb_per_s_cpu_median: number }).mb_per_s_cpu_median),
    ),
    goals: {
      recall_at_least_0_95: score.recall >= 0.95,
      precision_at_least_0_99: score.precision >= 0.99,
      mb_per_s_at_least_300: mbPerS >= 300,
    },
  };
  await writeFile(`${root}bench/results/secrets.json`, `${JSON.stringify(results, null, 2)}\n`);
  log(`mb_per_s ${mbPerS}; wrote bench/results/secrets.json`);
}
