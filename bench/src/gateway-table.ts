// `node bench/src/gateway-table.ts`: the agent-shaped figures of bench/results/gateway.json as the
// Markdown tables of docs/performance.md, so the page is pasted from a run, never typed.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Cell = {
  rps: number;
  cpu_ms_per_request: number;
  sys_ms_per_request?: number;
  cores: number;
  added_p50_ms: number;
  added_p99_ms: number;
  rss_mb: number;
  non2xx: number;
  errors: number;
  requests: number;
  mean_body_bytes: number;
};
const root = fileURLToPath(new URL('../../', import.meta.url));
const results = JSON.parse(readFileSync(`${root}bench/results/gateway.json`, 'utf8')) as Record<string, unknown>;
const table = results['agent_saturation'] as Record<string, Record<string, Cell>>;
const bodies = results['agent_bodies'] as Record<string, { mean_body_bytes: number | null; mode: string }>;
const sizes = Object.keys(bodies);
const targets = Object.keys(table);
const kb = (bytes: number | null) =>
  bytes === null ? '?' : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} KB`;
const lines: string[] = [];
const header = (what: string) => {
  lines.push(`| ${what} | ${sizes.map((s) => `${s.replace('_', ' ')} (${kb(bodies[s]!.mean_body_bytes)})`).join(' | ')} |`);
  lines.push(`| --- | ${sizes.map(() => '---:').join(' | ')} |`);
};
const block = (title: string, cell: (c: Cell) => string) => {
  lines.push(`**${title}**`, '');
  header('target');
  for (const target of targets)
    lines.push(`| ${target} | ${sizes.map((s) => (table[target]?.[s] ? cell(table[target][s]) : '—')).join(' | ')} |`);
  lines.push('');
};
block(
  'Requests per second (50 connections, gateway pinned to one core)',
  (c) => `${c.rps}${c.non2xx + c.errors > 0 ? ` (${c.non2xx + c.errors} failed)` : ''}`,
);
block(
  'CPU ms per request (kernel share in brackets)',
  (c) => `${c.cpu_ms_per_request}${c.sys_ms_per_request !== undefined ? ` (${c.sys_ms_per_request})` : ''}`,
);
block('Cores used while loaded', (c) => String(c.cores));
block('Added latency p50 / p99, ms (one connection, minus direct)', (c) => `${c.added_p50_ms} / ${c.added_p99_ms}`);
block('RSS under load, MB', (c) => String(c.rss_mb));
const fields = [
  'cpu_ms_per_request_2kb',
  'cpu_ms_per_request_200kb_warm',
  'cpu_ms_per_request_200kb_cold',
  'rss_mb_idle_gateway',
  'rss_mb_idle_console',
  'ratio_vs_best_peer_2kb',
  'ratio_vs_best_peer_12kb',
  'ratio_vs_best_peer_50kb',
  'ratio_vs_best_peer_200kb',
  'ratio_vs_best_peer_200kb_cold',
  'ratio_vs_best_peer_1mb',
  'cpu_ratio_vs_best_peer_12kb',
  'cpu_ratio_vs_best_peer_200kb',
  'cpu_ratio_vs_best_peer_200kb_cold',
];
lines.push('| field | value |', '| --- | ---: |');
for (const field of fields) lines.push(`| \`${field}\` | ${String(results[field])} |`);
lines.push(
  '',
  `Measured ${String(results['measured_at'])} on ${JSON.stringify(results['machine'])}; peers ${JSON.stringify(results['peer_versions'])}.`,
);
console.log(lines.join('\n'));
