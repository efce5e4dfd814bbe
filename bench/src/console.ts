// `npm run bench -- console`: the audit log at 10 million rows.
//  1. Seeds 10M audit rows in SQL (generate_series; indexes dropped during the load and rebuilt,
//     facets filled in one pass, then VACUUM ANALYZE) into a kept database, so re-runs skip it.
//     Mix: 90% gateway rejections from 2,000 users, 8% Kubernetes changes by 20 identities,
//     2% console mutations by 15 admins, spread over 180 days.
//  2. first_page_p95_ms_worst: the console API (its own process, real HTTP, signed in) serving
//     the first page of every combination of the five filters (action text, actor, target type,
//     from, to: 32 combinations), 30 requests each with random values, p95 per combination.
//  3. export_1m_s / export_peak_rss_mb: a CSV export of a filter matching ~1M rows, streamed and
//     counted by the client; peak RSS is the console process's VmHWM (flat memory means it stays
//     near its idle footprint).
// Options: --rows N (default 10000000), --reseed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { migrate } from '@codevector/core/migrate';
import { freePort } from '@codevector/testbed/free-port';
import { runAdminStatements, startPostgres } from '@codevector/testbed/postgres';
import pg from 'pg';

const root = fileURLToPath(new URL('../../', import.meta.url));
const database = 'bench_console';
const adminEmail = 'bench-admin@example.com';
const adminPassword = 'bench admin password';
const requestsPerCombination = 30;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const log = (message: string) => process.stderr.write(`[console bench] ${message}\n`);

async function seed(client: pg.Client, rows: number): Promise<number> {
  const started = performance.now();
  await client.query(`set maintenance_work_mem = '1GB'`);
  await client.query('set max_parallel_maintenance_workers = 2');
  const indexes = (
    await client.query<{ indexname: string; indexdef: string }>(
      `select indexname, indexdef from pg_indexes where tablename = 'audit_log' and indexname <> 'audit_log_pkey'`,
    )
  ).rows;
  await client.query('alter table audit_log disable trigger audit_log_record_facets');
  for (const index of indexes) await client.query(`drop index ${index.indexname}`);
  const chunk = 1_000_000;
  for (let start = 0; start < rows; start += chunk) {
    const end = Math.min(rows, start + chunk);
    // Rows are spread evenly over 180 days ending now; r1..r3 pick the kind, actor and action.
    await client.query(
      `insert into audit_log (at, action, target_type, target_id, target_name, actor, actor_source, detail, request_id)
       select at, action, target_type, target_id, target_name, actor, actor_source, detail, request_id from (
         select now() - interval '180 days' + (i::float8 / $3) * interval '180 days' as at, r1, r2, r3, i
         from (select i, random() as r1, random() as r2, random() as r3 from generate_series($1::int, $2::int - 1) i) s
       ) s2,
       lateral (select
         case when r1 < 0.90 then (array['gateway.rate_limit_exceeded','gateway.rate_limit_exceeded','gateway.budget_exceeded','gateway.secret_blocked','gateway.model_not_found'])[1 + floor(r3 * 5)::int]
              when r1 < 0.98 then (array['provider','model','budget','rate_limit','secret_rule'])[1 + floor(r3 * 5)::int] || (array['.created','.updated','.updated','.deleted'])[1 + floor(r2 * 4)::int]
              else (array['user.created','user.role_changed','user.disabled','group.created','group.member_added','api_key.created','api_key.revoked'])[1 + floor(r3 * 7)::int] end as action,
         case when r1 < 0.90 then case when r3 >= 0.8 then 'model' else 'api_key' end
              when r1 < 0.98 then (array['provider','model','budget','rate_limit','secret_rule'])[1 + floor(r3 * 5)::int]
              else (array['user','user','user','group','group','api_key','api_key'])[1 + floor(r3 * 7)::int] end as target_type,
         md5(i::text) as target_id,
         'name-' || (i % 5000) as target_name,
         case when r1 < 0.90 then 'user' || floor(2000 * r2 * r2)::int || '@corp.example'
              when r1 < 0.98 then (array['kubernetes-admin','system:serviceaccount:argocd:argocd-application-controller','system:serviceaccount:flux-system:kustomize-controller'])[1 + floor(r2 * 3)::int] || case when r2 > 0.9 then '-' || floor(r3 * 17)::int else '' end
              else 'admin' || floor(r2 * 15)::int || '@corp.example' end as actor,
         case when r1 < 0.90 then 'gateway' when r1 < 0.98 then 'kubernetes' else 'console' end as actor_source,
         case when r1 < 0.90 then jsonb_build_object('rule', 'aws-access-key', 'limit', 100, 'model', 'claude-sonnet-5')
              else jsonb_build_object('before', jsonb_build_object('timeoutSeconds', 30), 'after', jsonb_build_object('timeoutSeconds', 60)) end as detail,
         'req-' || i as request_id) x`,
      [start, end, rows],
    );
    log(`seeded ${end.toLocaleString()} rows (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  for (const index of indexes) {
    await client.query(index.indexdef);
    log(`rebuilt ${index.indexname} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  await client.query(`insert into audit_facets (action, target_type, actor, actor_source)
    select action, target_type, actor, actor_source from audit_log group by 1, 2, 3, 4 on conflict do nothing`);
  await client.query('alter table audit_log enable trigger audit_log_record_facets');
  await client.query('vacuum analyze audit_log');
  await client.query('vacuum analyze audit_facets');
  return (performance.now() - started) / 1000;
}

async function waitForHttp(url: string, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`console exited:\n${output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`console did not start:\n${output()}`);
}

async function peakRssMb(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.95) - 1]!;
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

export async function run(args: string[]): Promise<void> {
  const rows = Number(option(args, '--rows') ?? 10_000_000);
  const external = process.env['DATABASE_URL'];
  const server = external ? null : await startPostgres({ dataDir: `${root}.data/bench-console-pg`, durable: false });
  const adminUrl = external ?? server!.adminUrl;
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  let child: ChildProcess | undefined;
  try {
    const exists = await (async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        return (await c.query('select 1 from pg_database where datname = $1', [database])).rowCount === 1;
      } finally {
        await c.end();
      }
    })();
    if (exists && args.includes('--reseed')) await runAdminStatements(adminUrl, [`drop database ${database} with (force)`]);
    if (!exists || args.includes('--reseed')) await runAdminStatements(adminUrl, [`create database ${database}`]);
    await migrate(databaseUrl);

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    let seedSeconds: number | null = null;
    const present = Number((await client.query('select count(*) as n from audit_log')).rows[0].n);
    if (present < rows) {
      if (present > 0) await client.query('truncate audit_log, audit_facets, audit_chain');
      log(`seeding ${rows.toLocaleString()} audit rows`);
      seedSeconds = await seed(client, rows);
    } else {
      log(`reusing ${present.toLocaleString()} seeded rows (--reseed to start over)`);
    }
    const actors = (await client.query<{ actor: string; actor_source: string }>('select distinct actor, actor_source from audit_facets'))
      .rows;
    const bySource = new Map<string, string[]>();
    for (const a of actors) bySource.set(a.actor_source, [...(bySource.get(a.actor_source) ?? []), a.actor]);
    const targetTypes = (await client.query<{ t: string }>('select distinct target_type as t from audit_facets')).rows.map((r) => r.t);
    const total = Number((await client.query('select count(*) as n from audit_log')).rows[0].n);
    const bounds = (await client.query<{ lo: Date; hi: Date }>('select min(at) as lo, max(at) as hi from audit_log')).rows[0]!;
    await client.end();

    // The console as in production: its own process, real HTTP.
    const port = await freePort();
    let output = '';
    child = spawn(process.execPath, [`${root}console/api/src/main.ts`], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST: '127.0.0.1',
        SESSION_SECRET: 'bench-secret-bench-secret-bench-secret-00',
        CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL: adminEmail,
        CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
        // Sealing 10M backfilled rows would compete with the measurement; it is benchmarked apart.
        AUDIT_SEALER_ENABLED: 'false',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    child.stderr?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/healthz`, child, () => output);
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: adminEmail, password: adminPassword }),
    });
    if (!login.ok) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');

    const actionTexts = ['exceeded', 'rate_limit', 'secret', 'created', 'provider.', 'group.member', 'model_not', 'deleted', 'role'];
    const sources = [...bySource.keys()];
    const span = bounds.hi.getTime() - bounds.lo.getTime();
    const filterNames = ['action', 'actor', 'targetType', 'from', 'to'] as const;
    const randomFilter = (mask: number): Record<string, string> => {
      const f: Record<string, string> = {};
      if (mask & 1) f['action'] = pick(actionTexts);
      if (mask & 2) f['actor'] = pick(bySource.get(pick(sources))!);
      if (mask & 4) f['targetType'] = pick(targetTypes);
      const lo = bounds.lo.getTime() + Math.random() * span * 0.9;
      const days = 1 + Math.floor(Math.random() * 30);
      if (mask & 8) f['from'] = new Date(lo).toISOString();
      if (mask & 16)
        f['to'] = new Date(
          Math.min(bounds.hi.getTime(), (mask & 8 ? lo : bounds.lo.getTime() + Math.random() * span) + days * 86_400_000),
        ).toISOString();
      return f;
    };
    const timePage = async (filter: Record<string, string>) => {
      const started = performance.now();
      const response = await fetch(`${base}/api/audit?${new URLSearchParams({ ...filter, limit: '50' })}`, { headers: { cookie } });
      const body = (await response.json()) as { entries?: unknown[] };
      if (!response.ok || !body.entries) throw new Error(`page failed: ${response.status} ${JSON.stringify(body)}`);
      return { ms: performance.now() - started, count: body.entries.length };
    };

    log('measuring first pages');
    const combinations: { filters: string[]; p95_ms: number; max_ms: number; empty_pages: number }[] = [];
    for (let mask = 0; mask < 32; mask++) {
      await timePage(randomFilter(mask)); // warm-up
      const times: number[] = [];
      let empty = 0;
      for (let i = 0; i < requestsPerCombination; i++) {
        const { ms, count } = await timePage(randomFilter(mask));
        times.push(ms);
        if (count === 0) empty++;
      }
      const names = filterNames.filter((_, bit) => mask & (1 << bit));
      combinations.push({
        filters: names,
        p95_ms: Number(p95(times).toFixed(2)),
        max_ms: Number(Math.max(...times).toFixed(2)),
        empty_pages: empty,
      });
      log(`${(names.join('+') || 'none').padEnd(36)} p95 ${p95(times).toFixed(1)} ms`);
    }
    const worst = combinations.reduce((a, b) => (b.p95_ms > a.p95_ms ? b : a));

    // ~1M rows: rows are spread evenly over time, so a window of total/1M of the span.
    const exportSpan = (span * 1_000_000) / total;
    const exportFilter = { from: new Date(bounds.hi.getTime() - exportSpan).toISOString(), format: 'csv' };
    const before = await peakRssMb(child.pid!);
    log(`exporting ~1M rows (console RSS ${before.rss.toFixed(0)} MB, peak so far ${before.hwm.toFixed(0)} MB)`);
    let sampledPeak = before.rss;
    const sampler = setInterval(() => {
      void peakRssMb(child!.pid!).then((m) => {
        sampledPeak = Math.max(sampledPeak, m.rss);
      });
    }, 100);
    const started = performance.now();
    const response = await fetch(`${base}/api/audit/export?${new URLSearchParams(exportFilter)}`, { headers: { cookie } });
    let bytes = 0;
    let lines = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (const byte of chunk) if (byte === 10) lines++;
    }
    const exportSeconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const after = await peakRssMb(child.pid!);
    log(
      `exported ${(lines - 1).toLocaleString()} rows, ${(bytes / 1e6).toFixed(0)} MB in ${exportSeconds.toFixed(1)} s; console peak RSS ${after.hwm.toFixed(0)} MB`,
    );

    const result = {
      benchmark: 'console',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
      audit_rows: total,
      seed_s: seedSeconds === null ? null : Number(seedSeconds.toFixed(1)),
      requests_per_combination: requestsPerCombination,
      first_page_p95_ms_worst: worst.p95_ms,
      first_page_worst_combination: worst.filters.join('+') || 'none',
      first_page_combinations: combinations,
      export_rows: lines - 1,
      export_bytes: bytes,
      export_1m_s: Number(exportSeconds.toFixed(2)),
      export_rows_per_s: Math.round((lines - 1) / exportSeconds),
      export_peak_rss_mb: Number(after.hwm.toFixed(1)),
      export_sampled_peak_rss_mb: Number(sampledPeak.toFixed(1)),
      rss_before_export_mb: Number(before.rss.toFixed(1)),
      peak_rss_before_export_mb: Number(before.hwm.toFixed(1)),
    };
    await mkdir(`${root}bench/results`, { recursive: true });
    await writeFile(`${root}bench/results/console.json`, `${JSON.stringify(result, null, 2)}\n`);
    log(
      `wrote bench/results/console.json: worst first-page p95 ${worst.p95_ms} ms (${result.first_page_worst_combination}), export ${result.export_1m_s} s, peak RSS ${result.export_peak_rss_mb} MB`,
    );
  } finally {
    child?.kill('SIGTERM');
    await server?.stop();
  }
}
