import { createHmac } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { AuditSinkSpec } from '@codevector/crds';

/** One sealed audit row as sinks receive it: the record plus its place and hash in the chain. */
export type ChainedAuditRow = {
  seq: number;
  hash: string;
  id: number;
  at: string;
  action: string;
  targetType: string;
  targetId: string | null;
  targetName: string | null;
  actor: string;
  actorSource: string;
  detail: unknown;
  requestId: string | null;
};

export type SinkCredentials = { hmacKey?: string; headers?: Record<string, string> };

export class SinkDeliveryError extends Error {}

const rejection = (row: ChainedAuditRow) => row.action.startsWith('gateway.');

/** OTLP/HTTP JSON (opentelemetry-proto logs): one LogRecord per row, its chain position as attributes. */
export function otlpBody(rows: ChainedAuditRow[]): string {
  const str = (key: string, value: string | null) => (value === null ? [] : [{ key, value: { stringValue: value } }]);
  const nanos = (at: string) => {
    // `at` has microseconds: keep them (a Date would not).
    const [whole = '', fraction = '0'] = at.replace('Z', '').split('.');
    return (BigInt(Date.parse(`${whole}Z`)) * 1_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9))).toString();
  };
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'codevector' } }] },
        scopeLogs: [
          {
            scope: { name: 'codevector.audit', version: '1' },
            logRecords: rows.map((row) => ({
              timeUnixNano: nanos(row.at),
              severityNumber: rejection(row) ? 13 : 9,
              severityText: rejection(row) ? 'WARN' : 'INFO',
              eventName: row.action,
              body: { stringValue: JSON.stringify(row) },
              attributes: [
                { key: 'audit.seq', value: { intValue: String(row.seq) } },
                { key: 'audit.hash', value: { stringValue: row.hash } },
                { key: 'audit.id', value: { intValue: String(row.id) } },
                ...str('audit.action', row.action),
                ...str('audit.target_type', row.targetType),
                ...str('audit.target_name', row.targetName),
                ...str('audit.actor', row.actor),
                ...str('audit.actor_source', row.actorSource),
                ...str('audit.request_id', row.requestId),
              ],
            })),
          },
        ],
      },
    ],
  });
}

/** RFC 5424 message with the chain position as structured data, octet-counted for TCP (RFC 6587 §3.4.1). */
export function syslogFrame(row: ChainedAuditRow, appName: string, hostname: string): string {
  // Facility 13 (log audit); severity 4 (warning) for rejections, 6 (informational) otherwise.
  const pri = 13 * 8 + (rejection(row) ? 4 : 6);
  const sdValue = (value: string) => value.replace(/[\\"\]]/g, (c) => `\\${c}`);
  const sd = `[audit@32473 seq="${row.seq}" hash="${row.hash}" action="${sdValue(row.action)}" actor="${sdValue(row.actor)}"]`;
  const msgId = row.action.slice(0, 32).replace(/[^!-~]/g, '_');
  const message = `<${pri}>1 ${row.at} ${hostname || '-'} ${appName} - ${msgId} ${sd} \ufeff${JSON.stringify(row)}`;
  return `${Buffer.byteLength(message)} ${message}`;
}

/** `sha256=<hex>` over `<timestamp>.<body>`, what the receiver recomputes (timestamp against replays). */
export function webhookSignature(key: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Sends one batch; resolves once the sink acknowledged it (an HTTP 2xx; for syslog, the bytes
 * written and the connection closed cleanly), throws SinkDeliveryError otherwise.
 */
export async function deliver(
  spec: AuditSinkSpec,
  rows: ChainedAuditRow[],
  credentials: SinkCredentials,
  options: { hostname: string; timeoutMs: number },
): Promise<void> {
  if (spec.type === 'syslog' && spec.syslog) return sendSyslog(spec.syslog, rows, options);
  let url: string;
  let body: string;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(credentials.headers ?? {}) };
  if (spec.type === 'otlp' && spec.otlp) {
    url = spec.otlp.endpoint;
    body = otlpBody(rows);
  } else if (spec.type === 'webhook' && spec.webhook) {
    url = spec.webhook.url;
    body = JSON.stringify({ rows });
    const timestamp = String(Math.floor(Date.now() / 1000));
    headers['x-codevector-timestamp'] = timestamp;
    headers['x-codevector-signature'] = webhookSignature(credentials.hmacKey ?? '', timestamp, body);
  } else {
    throw new SinkDeliveryError(`type ${spec.type} has no ${spec.type} settings`);
  }
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new SinkDeliveryError(`POST ${url} failed: ${cause ?? (error as Error).message}`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) throw new SinkDeliveryError(`POST ${url} answered ${response.status}: ${text.slice(0, 200)}`);
  if (spec.type === 'otlp') {
    // OTLP partial success: records the collector refused are not retried by the protocol; say so.
    const rejected = Number(
      (JSON.parse(text || '{}') as { partialSuccess?: { rejectedLogRecords?: string } }).partialSuccess?.rejectedLogRecords ?? 0,
    );
    if (rejected > 0) throw new SinkDeliveryError(`the collector rejected ${rejected} of ${rows.length} records`);
  }
}

async function sendSyslog(
  target: NonNullable<AuditSinkSpec['syslog']>,
  rows: ChainedAuditRow[],
  options: { hostname: string; timeoutMs: number },
): Promise<void> {
  const at = target.address.lastIndexOf(':');
  const host = target.address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(target.address.slice(at + 1));
  const payload = rows.map((row) => syslogFrame(row, target.appName, options.hostname)).join('');
  await new Promise<void>((resolve, reject) => {
    // SNI is the host name by default, and never an IP address (RFC 6066); the certificate is
    // checked against the host either way.
    const socket = target.tls ? tls.connect({ host, port }) : net.connect({ host, port });
    const fail = (error: Error) => {
      socket.destroy();
      reject(new SinkDeliveryError(`syslog ${target.address}: ${(error as { code?: string }).code ?? error.message}`));
    };
    socket.setTimeout(options.timeoutMs, () => fail(new Error('timed out')));
    socket.once('error', fail);
    socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      socket.end(payload);
    });
    socket.once('close', (hadError) => {
      if (!hadError) resolve();
    });
  });
}
