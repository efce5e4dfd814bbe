import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type AuditRecord, auditRecordSchema } from '@codevector/core/audit-entry';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { ExportFormat } from './audit-contract.ts';
import type { AuditFilter } from './audit-filter.ts';
import { filterConditions, matchFacets, recordColumns } from './audit-query.ts';

// The file's columns are named as the table's: a format of its own that need not follow the API's.
const csvHeader = [
  'id',
  'at',
  'action',
  'target_type',
  'target_id',
  'target_name',
  'actor',
  'actor_source',
  'request_id',
  'sealed_seq',
  'detail',
];

// Spreadsheets run cells that start with = + - @ (and tab/CR) as formulas; a leading quote keeps
// an attacker-chosen target name or actor from becoming one when a security team opens the file.
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function formatter(format: ExportFormat): Transform {
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(chunk: { data: unknown }, _encoding, callback) {
      const entry = chunk.data as AuditRecord;
      let line: string;
      if (format === 'ndjson') {
        line = `${JSON.stringify(entry)}\n`;
      } else {
        const cells = [
          entry.id,
          entry.at,
          entry.action,
          entry.targetType,
          entry.targetId,
          entry.targetName,
          entry.actor,
          entry.actorSource,
          entry.requestId,
          entry.sealed,
          entry.detail,
        ].map(csvCell);
        line = `${first ? `${csvHeader.join(',')}\r\n` : ''}${cells.join(',')}\r\n`;
      }
      first = false;
      callback(null, line);
    },
    flush(callback) {
      // An empty CSV still has its header.
      callback(null, format === 'csv' && first ? `${csvHeader.join(',')}\r\n` : '');
    },
  });
}

/**
 * Streams every row matching `filter`, newest first, into `out` as CSV or NDJSON. Rows come
 * through a server-side cursor and back-pressure reaches PostgreSQL, so memory stays flat at
 * any size. Uses its own pool (no statement timeout) so exports never starve page queries.
 */
export async function exportAuditLog(pool: DatabasePool, filter: AuditFilter, format: ExportFormat, out: Writable): Promise<void> {
  const facets = filter.action ? await matchFacets(pool, filter) : null;
  const where = sql.join([sql.fragment`true`, ...filterConditions(filter, facets)], sql.fragment` and `);
  const empty = facets !== null && facets.length === 0;
  await pool.stream(
    sql.type(auditRecordSchema)`
      select ${recordColumns}, c.seq as sealed
      from audit_log a left join audit_chain c on c.audit_id = a.id
      where ${where} and ${empty ? sql.fragment`false` : sql.fragment`true`}
      order by a.at desc, a.id desc`,
    (stream) => {
      pipeline(stream, formatter(format), out).catch((error: unknown) => stream.destroy(error as Error));
    },
  );
}
