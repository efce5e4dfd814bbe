import { sql } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import { z } from 'zod';

const optionalText = z
  .string()
  .trim()
  .max(200)
  .optional()
  .transform((value) => (value ? value : undefined));
const optionalInstant = optionalText.refine((value) => value === undefined || !Number.isNaN(Date.parse(value)), {
  message: 'must be an ISO 8601 date or date-time',
});

/** The audit log's filters as the URL carries them (page, API and export share this). */
export const auditFilterSchema = z.object({
  /** Free text matched anywhere in the action name, case-insensitive. */
  action: optionalText,
  actor: optionalText,
  targetType: optionalText,
  /**
   * Where admin changes came from (operator change-origin.ts): `argocd`, `flux`, `helm`,
   * `kubectl` or `api` matches the tool; other text matches part of the Application/Kustomization,
   * the repository, or the start of the revision.
   */
  origin: optionalText,
  /** Inclusive lower bound on `at`. */
  from: optionalInstant,
  /** Exclusive upper bound on `at`. */
  to: optionalInstant,
});
export type AuditFilter = z.infer<typeof auditFilterSchema>;

export type AuditCursor = { at: string; id: number };

/** Opaque keyset cursor: the (at, id) of a row, `at` kept at microsecond precision as text. */
export function encodeCursor(cursor: AuditCursor): string {
  return Buffer.from(`${cursor.at}|${cursor.id}`).toString('base64url');
}

/** @throws CodeVectorError CON_VALIDATION for a cursor this API did not make. */
export function decodeCursor(text: string): AuditCursor {
  const [at, id] = Buffer.from(text, 'base64url').toString().split('|');
  if (!at || !id || !/^\d+$/.test(id) || Number.isNaN(Date.parse(at))) throw new CodeVectorError('CON_VALIDATION', 'invalid cursor');
  return { at, id: Number(id) };
}

/** `%`, `_` and `\` are literal in the action filter, not LIKE wildcards. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const originTools = new Set(['argocd', 'flux', 'helm', 'kubectl', 'api']);

/**
 * Date-range and origin conditions on audit_log alias `a` (usable inside every strategy's scan;
 * the origin one is served by the partial index of rows that have an origin, migration 0500).
 */
export function rangeConditions(filter: AuditFilter) {
  const parts = [];
  if (filter.from) parts.push(sql.fragment`a.at >= ${filter.from}::timestamptz`);
  if (filter.to) parts.push(sql.fragment`a.at < ${filter.to}::timestamptz`);
  if (filter.origin) {
    const text = filter.origin;
    const part = likePattern(text);
    parts.push(
      originTools.has(text.toLowerCase())
        ? sql.fragment`a.detail ? 'origin' and a.detail->'origin'->>'via' = ${text.toLowerCase()}`
        : sql.fragment`a.detail ? 'origin' and (a.detail->'origin'->>'application' ilike ${part}
            or a.detail->'origin'->>'repository' ilike ${part} or a.detail->'origin'->>'revision' like ${`${likePattern(text).slice(1)}`})`,
    );
  }
  return parts;
}

/** Text form of `at` that round-trips exactly (JS Dates would drop the microseconds). */
export const atText = sql.fragment`to_char(a.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
