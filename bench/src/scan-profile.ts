// Secret-scan throughput and results, outside the full bench: the same measurement as section 3
// of bench/src/gateway.ts (chat bodies of 1, 5 and 10 MB of this repository's sources, all
// built-in packs plus one custom RE2 pattern, a fresh scanner per run, `{ all: true }`, best of 3),
// optionally side by side with the scanner at an earlier commit in the same process, and a check
// that both return the same matches.
//
//   node bench/src/scan-profile.ts [--baseline <rev>[,<rev>…]] [--rounds N] [--sizes 1,5,10]
//                                  [--corpus <file>] [--save-corpus <file>] [--check] [--only] [--shapes]
//
// --baseline  also load gateway/src/secret-scan at each <rev> (copied to a temp dir), alternate runs
// --corpus    read the corpus text from a file (a frozen corpus: the sources, this scanner among
//             them, change as people work); --save-corpus writes the one built from the sources
// --check     compare every match (rule, path, offsets, text) on the largest body, old vs new
// --only      the `{ all: true }` scan alone (without the bench's other two scans in between), for --cpu-prof
// --shapes    instead, bodies of other shapes: many small strings (the raw prefilter's case), escapes,
//             and keyword-dense worst cases
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createSecretScanner, type SecretMatch } from '@codevector/gateway/secret-scan/secret-scanner';
import { chatBody, corpus } from './agent-corpus.ts';

type CreateScanner = typeof createSecretScanner;

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '1,5,10' },
    corpus: { type: 'string' },
    'save-corpus': { type: 'string' },
    check: { type: 'boolean', default: false },
    only: { type: 'boolean', default: false },
    shapes: { type: 'boolean', default: false },
  },
});

/** The scanner at `rev`, copied out of git with its imports pointed back at this workspace. */
async function loadBaseline(rev: string): Promise<CreateScanner> {
  const dir = mkdtempSync(join(tmpdir(), 'scan-baseline-'));
  const listing = execFileSync('git', ['-C', root, 'ls-tree', '--name-only', `${rev}:gateway/src/secret-scan`], { encoding: 'utf8' });
  const resolve = (specifier: string) => import.meta.resolve(specifier, pathToFileURL(`${root}gateway/src/secret-scan/x.ts`));
  for (const name of listing.split('\n')) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
    let source = execFileSync('git', ['-C', root, 'show', `${rev}:gateway/src/secret-scan/${name}`], { encoding: 'utf8' });
    source = source.replace(/from '((?:re2|@codevector\/[^']+))'/g, (_, specifier: string) => `from '${resolve(specifier)}'`);
    writeFileSync(join(dir, name), source);
  }
  const module = (await import(pathToFileURL(join(dir, 'secret-scanner.ts')).href)) as { createSecretScanner: CreateScanner };
  return module.createSecretScanner;
}

const rules = [
  {
    namespace: 'b',
    name: 'all',
    detectors: ['all'],
    patterns: [{ name: 'internal-token', regex: 'itk_[a-f0-9]{32}', keywords: ['itk_'] }],
  },
];

const builtinOnly = [{ namespace: 'b', name: 'all', detectors: ['all'], patterns: [] }];

const largest = Math.max(...args.sizes.split(',').map(Number)) * 1_000_000;
const text = args.corpus ? readFileSync(args.corpus, 'utf8') : corpus(largest);
if (args['save-corpus']) writeFileSync(args['save-corpus'], text);
const scanners: [string, CreateScanner][] = [['new', createSecretScanner]];
for (const rev of args.baseline?.split(',').reverse() ?? []) scanners.unshift([`old ${rev}`, await loadBaseline(rev)]);

const key = (m: SecretMatch) => `${m.rule}\t${m.secretRule}\t${m.path}\t${m.start}\t${m.end}\t${m.text}\t${m.fingerprint}`;

if (args.check) {
  const raw = Buffer.from(chatBody(largest, text));
  const parsed: unknown = JSON.parse(raw.toString('utf8'));
  const results = scanners.map(([name, create]) => [name, create(rules).scan(raw, parsed, { all: true }).matches.map(key)] as const);
  for (const [name, matches] of results) console.log(`${name}: ${matches.length} matches`);
  for (const [name, a] of results.slice(0, -1)) {
    const b = results.at(-1)![1];
    console.log(`${name} vs new:`);
    const same = a.length === b.length && a.every((m, i) => m === b[i]);
    const sameSet = new Set(a).size === new Set(b).size && a.every((m) => b.includes(m));
    console.log(`identical (same order): ${same}; identical as sets: ${sameSet}`);
    if (!sameSet) {
      for (const m of a) if (!b.includes(m)) console.log(`only old: ${m.replace(/\t[^\t]*\tsha256/, '\t<text>\tsha256')}`);
      for (const m of b) if (!a.includes(m)) console.log(`only new: ${m.replace(/\t[^\t]*\tsha256/, '\t<text>\tsha256')}`);
      process.exitCode = 1;
    }
  }
  // The first-match scan (built-in packs only, as the bench runs it) must stop at the same match.
  const firsts = scanners.map(([, create]) => create(builtinOnly).scan(raw, parsed).matches.map(key).join('\n'));
  console.log(`first match identical: ${firsts.every((first) => first === firsts.at(-1))}`);
  if (!firsts.every((first) => first === firsts.at(-1))) process.exitCode = 1;
  const counts = new Map<string, number>();
  for (const m of results.at(-1)![1]) counts.set(m.split('\t')[0]!, (counts.get(m.split('\t')[0]!) ?? 0) + 1);
  console.log(Object.fromEntries(counts));
}

const rounds = Number(args.rounds);
// Best rate per scanner, figure (the headline whole-body scan, first match, with JSON.parse) and size.
const best = new Map<string, Record<string, number>>();
const record = (name: string, size: string, bytes: number, ms: number): void => {
  const row = best.get(name) ?? {};
  row[size] = Math.max(row[size] ?? 0, Math.round(bytes / 1e3 / ms));
  best.set(name, row);
};
if (args.shapes) {
  const clean = 'The quick brown fox jumps over the lazy dog while the agent reads files and writes code. ';
  const small = Array.from({ length: 5000 }, (_, i) => ({
    role: 'user',
    content: [{ type: 'text', text: clean.slice(0, 20 + (i % 60)) }],
  }));
  const bodies: Record<string, string> = {
    'conversation, 300 x 1.5 KB of sources': JSON.stringify({
      messages: Array.from({ length: 300 }, (_, i) => ({
        role: i % 2 ? 'assistant' : 'user',
        content: text.slice(i * 1500, i * 1500 + 1500),
      })),
    }),
    '200 tool results of 4 KB sources': JSON.stringify({
      messages: Array.from({ length: 200 }, (_, i) => ({
        role: 'user',
        content: [{ type: 'tool_result', content: text.slice(i * 4000, i * 4000 + 4000) }],
      })),
    }),
    '5,000 small clean strings': JSON.stringify({ messages: small }),
    '5,000 small strings, one \\u0000': JSON.stringify({ messages: small }).replace('The', '\\u0000The'),
    '5,000 small strings, one \\u0054': JSON.stringify({ messages: small }).replace('The', '\\u0054he'),
    '500 KB prose, no keyword': JSON.stringify({ messages: [{ role: 'user', content: clean.repeat(5500) }] }),
    'eyJ x 625 K': JSON.stringify({ messages: [{ role: 'user', content: 'eyJ '.repeat(625_000) }] }),
    'PEM headers without keys': JSON.stringify({
      messages: [{ role: 'user', content: '-----BEGIN PRIVATE KEY-----\n'.repeat(36_000) }],
    }),
  };
  for (const [shape, json] of Object.entries(bodies)) {
    const raw = Buffer.from(json);
    const parsed: unknown = JSON.parse(json);
    for (let i = 0; i < rounds; i++) {
      for (const [name, create] of i % 2 === 0 ? scanners : [...scanners].reverse()) {
        const scanner = create(rules);
        const t0 = performance.now();
        scanner.scan(raw, parsed, { all: true });
        record(name, `${shape} (${Math.round(raw.length / 1e3)} KB)`, raw.length, performance.now() - t0);
      }
    }
  }
  for (const [name, row] of best) console.log(`${name}: MB/s`, row);
  process.exit();
}
for (const mb of args.sizes.split(',').map(Number)) {
  const raw = Buffer.from(chatBody(mb * 1_000_000, text.slice(0, mb * 1_000_000)));
  const parsed: unknown = JSON.parse(raw.toString('utf8'));
  for (let i = 0; i < rounds; i++) {
    // Alternate which scanner goes first, so drift on a shared machine hits both alike.
    const order = i % 2 === 0 ? scanners : [...scanners].reverse();
    for (const [name, create] of order) {
      const scanner = create(rules);
      const t0 = performance.now();
      scanner.scan(raw, parsed, { all: true });
      record(name, `${mb}mb`, raw.length, performance.now() - t0);
      if (!args.only) {
        // As the bench does: a first-match scan and a scan with its own JSON.parse in between.
        const firstMatch = create(builtinOnly);
        const t1 = performance.now();
        firstMatch.scan(raw, parsed);
        record(`${name} first match`, `${mb}mb`, raw.length, performance.now() - t1);
        const withParse = create(builtinOnly);
        const t2 = performance.now();
        withParse.scan(raw, JSON.parse(raw.toString('utf8')), { all: true });
        record(`${name} with JSON.parse`, `${mb}mb`, raw.length, performance.now() - t2);
      }
    }
  }
}
for (const [name, row] of best) console.log(`${name}: ${JSON.stringify(row)} min ${Math.min(...Object.values(row))} MB/s`);
