import { readFile } from 'node:fs/promises';
import { toSnapshotSecretRule } from '@codevector/core/config-snapshot';
import { secretRuleSpecSchema } from '@codevector/crds';
import { parseAllDocuments } from 'yaml';
import { redactBody, redactionPlaceholder, secretEventActions } from './secret-scan/secret-actions.ts';
import { createSecretScanner, type SecretAction } from './secret-scan/secret-scanner.ts';

const usage = `usage: codevector scan [--rules <SecretRule manifest>...] [--action block|redact|observe]
                       [--redacted] [--reveal] < request-body.json

Scans one request body (JSON, as an agent would send it) with the built-in detector packs and the
custom patterns of the given SecretRule manifests, and prints one JSON line saying what the
gateway would do:
  {"blocked": bool, "decision": "block"|"redact"|"observe"|"forward", "rule": string|null,
   "matches": [{"rule", "secretRule", "action", "effect", "event", "path", "start", "end"}]}
Each match carries its rule's action (a manifest's spec.action; --action sets it for the
built-in packs, block by default), what that action does with it and the audit event it records.
--redacted adds "redactedBody": the body as a Redact rule would forward it. --reveal adds each
match's "text". Exit status: 0 forwarded (clean, redacted or observed), 1 blocked, 2 usage or
input error.`;

const effects: Record<SecretAction, (rule: string) => string> = {
  block: () => 'request refused before it reaches the provider',
  redact: (rule) => `replaced with ${redactionPlaceholder(rule)}; the request is forwarded`,
  observe: () => 'forwarded unchanged; the event is recorded',
};

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
  let showRedacted = false;
  let builtinAction: SecretAction = 'block';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--reveal') reveal = true;
    else if (arg === '--redacted') showRedacted = true;
    else if (arg === '--action' || arg.startsWith('--action=')) {
      const value = arg === '--action' ? args[++i] : arg.slice(9);
      if (value !== 'block' && value !== 'redact' && value !== 'observe') {
        io.stderr.write(`--action must be block, redact or observe\n${usage}\n`);
        return 2;
      }
      builtinAction = value;
    } else if (arg === '--rules') {
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
  const scanner = createSecretScanner(
    [{ namespace: 'builtin', name: 'builtin', detectors: ['all'], patterns: [], action: builtinAction }, ...rules],
    (problem) => problems.push(`${problem.secretRule} pattern ${problem.pattern}: ${problem.error}`),
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
    secretRule: m.secretRule,
    action: m.action,
    effect: effects[m.action](m.rule),
    event: secretEventActions[m.action],
    path: m.path,
    start: m.start,
    end: m.end,
    ...(reveal ? { text: m.text } : {}),
  }));
  // Block wins over Redact, Redact over Observe (what the gateway does with the same matches).
  const decision = result.blocked
    ? 'block'
    : result.matches.some((m) => m.action === 'redact')
      ? 'redact'
      : result.matches.length > 0
        ? 'observe'
        : 'forward';
  const first = result.matches.find((m) => m.action === 'block') ?? result.matches[0];
  const out: Record<string, unknown> = { blocked: result.blocked, decision, rule: first?.rule ?? null, matches };
  if (showRedacted && !result.blocked) {
    const redacted = body as Record<string, unknown>;
    redactBody(redacted, result.matches);
    out['redactedBody'] = redacted;
  }
  io.stdout.write(`${JSON.stringify(out)}\n`);
  return result.blocked ? 1 : 0;
}
