// `node bench/src/turn-profile.ts [size] [warm|cold] [turns]`: the gateway's own work on agent
// turns, in process (no HTTP): the body parsed as the pipeline parses it (ADR 0117) and scanned
// with every built-in detector and a custom pattern, as in `npm run bench -- gateway`. Prints ms
// of CPU per turn for each step; run it under `node --cpu-prof` to see where they go.
import { parseRequestBody } from '@codevector/gateway/pipeline/request-body';
import { createSecretScanner } from '@codevector/gateway/secret-scan/secret-scanner';
import { agentConversation, agentTurns } from './agent-corpus.ts';

// CPU time, not wall time: on a shared VM a preempted step would count the neighbours' work.
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const size = Number(process.argv[2] ?? 200_000);
const mode = process.argv[3] === 'cold' ? 'cold' : 'warm';
const count = Number(process.argv[4] ?? 2000);
const scanner = createSecretScanner([
  {
    namespace: 'b',
    name: 'all',
    detectors: ['all'],
    patterns: [{ name: 'internal-token', regex: 'itk_[a-f0-9]{32}', keywords: ['itk_'] }],
  },
]);
const turns = agentTurns(agentConversation(size), mode);
const bodies = Array.from({ length: count }, () => Buffer.from(turns.next().value!));
let parseMs = 0;
let scanMs = 0;
let matches = 0;
for (const [i, plain] of bodies.entries()) {
  const t0 = cpuMs();
  const parsed = parseRequestBody(plain);
  const t1 = cpuMs();
  if ('error' in parsed) throw new Error(parsed.error);
  const long = new Set(parsed.blocks.map((block) => block.path[0]));
  const rest = Object.fromEntries(Object.keys(parsed.body).map((key) => [key, long.has(key) ? null : parsed.body[key]]));
  const scan = scanner.scanBlocks(
    { raw: Buffer.from(JSON.stringify(rest)), value: rest },
    parsed.blocks.map((block) => ({
      raw: plain.subarray(block.start, block.end),
      hash: block.hash,
      path: block.path,
      value: () => (block.parsed ? block.parsed.value : (JSON.parse(plain.toString('utf8', block.start, block.end)) as unknown)),
    })),
  );
  const t2 = cpuMs();
  matches += scan.matches.length;
  // The first quarter warms the JIT and, for warm, the block caches.
  if (i >= count / 4) {
    parseMs += t1 - t0;
    scanMs += t2 - t1;
  }
}
const measured = count - Math.ceil(count / 4);
console.log(
  JSON.stringify({
    size,
    mode,
    mean_body_bytes: Math.round(bodies.reduce((sum, b) => sum + b.length, 0) / bodies.length),
    parse_ms: Number((parseMs / measured).toFixed(4)),
    scan_ms: Number((scanMs / measured).toFixed(4)),
    matches,
  }),
);
