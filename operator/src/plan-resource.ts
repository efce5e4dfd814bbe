import { auditDiff } from '@codevector/core/audit-diff';

/** Audit target types and table names of the five kinds (DESIGN §4). */

/** A declared-config row as stored. */
export type StoredRow = {
  uid: string;
  namespace: string;
  name: string;
  generation: number;
  spec: Record<string, unknown>;
  /** Providers only: fingerprint of the stored key. */
  apiKeyFingerprint: string | null;
};

/** What the source declares, normalized. */
export type DesiredRow = {
  uid: string;
  namespace: string;
  name: string;
  /** metadata.generation; null for sources without one (the file source): the store counts. */
  generation: number | null;
  spec: Record<string, unknown>;
  apiKeyFingerprint: string | null;
};

export type AuditDetail = { before: unknown; after: unknown };

export type RowPlan =
  | { type: 'none'; why: 'unchanged' | 'stale' | 'absent' }
  | { type: 'insert' | 'update'; row: DesiredRow & { generation: number }; verb: 'created' | 'updated'; detail: AuditDetail }
  | { type: 'delete'; uid: string; verb: 'deleted'; detail: AuditDetail };

/**
 * What an audit row shows of a resource: the normalized spec, plus the key's fingerprint for
 * providers (never the key). The secret reference is part of the spec.
 */
export function auditView(row: { spec: Record<string, unknown>; apiKeyFingerprint: string | null }): Record<string, unknown> {
  return row.apiKeyFingerprint === null ? row.spec : { ...row.spec, keyFingerprint: row.apiKeyFingerprint };
}

/**
 * The pure middle of a reconcile (STYLE "Reconcile in three steps"): compares what the source
 * declares with the stored row and returns the row change and its audit diff. Nothing changes
 * when the normalized spec and key fingerprint are equal, whatever happened to metadata,
 * annotations or status. A desired generation older than the stored one is a stale view (a
 * leader that lost its lease, an old cache) and must not regress the row.
 */
export function planResource(desired: DesiredRow | null, current: StoredRow | null): RowPlan {
  if (desired === null) {
    if (current === null) return { type: 'none', why: 'absent' };
    return { type: 'delete', uid: current.uid, verb: 'deleted', detail: { before: auditView(current), after: null } };
  }
  if (current === null) {
    return {
      type: 'insert',
      verb: 'created',
      row: { ...desired, generation: desired.generation ?? 1 },
      detail: { before: null, after: auditView(desired) },
    };
  }
  if (desired.generation !== null && desired.generation < current.generation) return { type: 'none', why: 'stale' };
  const detail = auditDiff(auditView(current), auditView(desired));
  if (detail === null) {
    return { type: 'none', why: 'unchanged' };
  }
  return {
    type: 'update',
    verb: 'updated',
    row: { ...desired, generation: desired.generation ?? current.generation + 1 },
    detail,
  };
}
