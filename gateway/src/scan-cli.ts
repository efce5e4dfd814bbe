import { readFile } from 'node:fs/promises';
import { toSnapshotSecretRule } from '@codevector/core/config-snapshot';
import { secretRuleSpecSchema } from '@codevector/crds';
import { parseAllDocuments } from 'yaml';
import { createSecretScanner } from './secret-scan/secret-scanner.ts';

const usage = `usage: codevector scan [--rules <SecretRule manifest>...] [--reveal] < request-body.json

Scans one request body (JSON, as an agent would send it) with the built-in detector packs and the
custom patterns of the given SecretRule manifests, and prints one JSON line:
  {"blocked": bool, "rule": string|null, "matches": [{"rule", "path", "start", "end"}]}
--reveal adds each match's "text". Exit status: 0 clean, 1 blocked, 2 usage or input error.`;

/** Reads SecretRule resources (YAML or JSON, several documents per file) into scanner rules. */
export async function readSecretRuleManifests(files: readonly string[]) {
  const rules = [];
  for (const file of files) {
    for (const document of parseAllDocuments(await readFile(file, 'utf8'))) {
      const value = document.toJS() as {
        kind?: string;
        metadata?: { name?: string; namespace?: string };
        spec?: Record<string, unknown>;
      } | null;
      if (value?.kind !== 'SecretRule') continue;
      rules.push(
        toSnapshotSecretRule(
          {
            uid: `${file}#${value.metadata?.name ?? ''}`,
            namespace: value.metadata?.namespace ?? 'default',
            name: value.metadata?.name ?? 'unnamed',
          },
          // The same validation the apiserver applies, so the CLI refuses what a cluster would.
          secretRuleSpecSchema.parse(value.spec ?? {}),
        ),
      );
    }
  }
  return rules;
}

/** `codevector scan`: returns the exit status. */
export async function runScanCli(
  args: string[],
  io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const files: string[] = [];
  let reveal = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--reveal') reveal = true;
    else if (arg === '--rules') {
      while (args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) files.push(args[++i]!);
    } else if (arg.startsWith('--rules=')) files.push(arg.slice(8));
    else if (arg === '--help' || arg === '-h') {
      io.stdout.write(`${usage}\n`);
      return 0;
    } else {
      io.stderr.write(`unknown argument ${arg}\n${usage}\n`);
      return 2;
    }
  }
  const problems: string[] = [];
  let rules: Awaited<ReturnType<typeof readSecretRuleManifests>>;
  try {
    rules = await readSecretRuleManifests(files);
  } catch (error) {
    io.stderr.write(`could not read rules: ${(error as Error).message}\n`);
    return 2;
  }
  const scanner = createSecretScanner([{ namespace: 'builtin', name: 'builtin', detectors: ['all'], patterns: [] }, ...rules], (problem) =>
    problems.push(`${problem.secretRule} pattern ${problem.pattern}: ${problem.error}`),
  );
  for (const problem of problems) io.stderr.write(`pattern does not compile: ${problem}\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    io.stderr.write('stdin is not a JSON request body\n');
    return 2;
  }
  const result = scanner.scan(raw, body, { all: true });
  // Report in body order: by where the string is, then by offset within it.
  const order = new Map<string, number>();
  for (const m of result.matches) if (!order.has(m.path)) order.set(m.path, order.size);
  result.matches.sort((a, b) => order.get(a.path)! - order.get(b.path)! || a.start - b.start);
  const matches = result.matches.map((m) => ({
    rule: m.rule,
    path: m.path,
    start: m.start,
    end: m.end,
    ...(reveal ? { text: m.text } : {}),
  }));
  io.stdout.write(`${JSON.stringify({ blocked: result.blocked, rule: result.matches[0]?.rule ?? null, matches })}\n`);
  return result.blocked ? 1 : 0;
}
