import { sql } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import { requireRole } from '../auth/request-context.ts';
import type { DeclaredResource, ResourceKind, ResourceList } from './resource-contract.ts';

/** Declared kinds: written only by the operator from Kubernetes objects; the console only reads them. */
export const declaredKinds = {
  providers: { table: 'providers', kind: 'Provider' },
  models: { table: 'models', kind: 'Model' },
  budgets: { table: 'budgets', kind: 'Budget' },
  'rate-limits': { table: 'rate_limits', kind: 'RateLimit' },
  'secret-rules': { table: 'secret_rules', kind: 'SecretRule' },
} as const satisfies Record<ResourceKind, { table: string; kind: string }>;

// The columns every declared table has (core/migrations); the rest are read tolerantly below.
const declaredRow = z.looseObject({
  uid: z.string(),
  namespace: z.string(),
  name: z.string(),
  generation: z.number(),
  updated_at: z.string(),
  spec: z.record(z.string(), z.unknown()),
});

type Condition = { type?: unknown; status?: unknown; reason?: unknown; message?: unknown };

/**
 * Ready state from whatever the operator stores: a `status` jsonb with Kubernetes conditions,
 * or flat `ready`/`ready_reason` columns. Read tolerantly: the operator owns these columns and
 * may add them after the console ships; unknown means "not reported yet".
 */
function readiness(row: Record<string, unknown>): { ready: boolean | null; reason: string | null; message: string | null } {
  const status = row['status'] as { conditions?: Condition[] } | null | undefined;
  const condition = status?.conditions?.find((c) => c.type === 'Ready');
  if (condition) {
    return {
      ready: condition.status === 'True',
      reason: typeof condition.reason === 'string' ? condition.reason : null,
      message: typeof condition.message === 'string' ? condition.message : null,
    };
  }
  if (typeof row['ready'] === 'boolean') {
    return { ready: row['ready'], reason: typeof row['ready_reason'] === 'string' ? row['ready_reason'] : null, message: null };
  }
  return { ready: null, reason: null, message: null };
}

// Columns that must never leave the server, whatever the operator adds next to them.
const hiddenColumns = new Set(['api_key_ciphertext', 'api_key_encrypted', 'api_key']);

/** The declared (Kubernetes-managed) resources, read-only. */
export const resourceRoutes: FastifyPluginAsync<Pick<AppDeps, 'pool'>> = async (app, deps) => {
  app.get<{ Params: { kind: string }; Reply: ResourceList }>('/api/resources/:kind', async (request) => {
    requireRole(request, 'admin', 'auditor');
    const entry = declaredKinds[request.params.kind as ResourceKind];
    if (!entry) throw new CodeVectorError('CON_NOT_FOUND', 'No such resource kind.');
    const rows = await deps.pool.anyFirst(sql.type(z.object({ row: declaredRow }))`
      select to_jsonb(t) as row from ${sql.identifier([entry.table])} t order by t.namespace, t.name`);
    const spend = entry.table === 'budgets' ? await currentSpend(deps) : new Map<string, string>();
    return {
      kind: entry.kind,
      managedBy: 'kubernetes',
      items: rows.map((row): DeclaredResource => {
        const visible = Object.fromEntries(Object.entries(row).filter(([k]) => !hiddenColumns.has(k)));
        const fingerprint = visible['api_key_fingerprint'];
        return {
          uid: row.uid,
          namespace: row.namespace,
          name: row.name,
          generation: row.generation,
          updatedAt: row.updated_at,
          spec: row.spec,
          managedBy: 'kubernetes',
          ...readiness(row),
          ...(entry.table === 'providers' ? { apiKeyFingerprint: typeof fingerprint === 'string' ? fingerprint : null } : {}),
          ...(entry.table === 'budgets' ? { currentSpendUsd: spend.get(String(row['uid'])) ?? null } : {}),
        };
      }),
    };
  });
};

/**
 * Spend in each budget's current window, summed over subjects, as the exact decimal (ADR 0004);
 * empty when the gateway has not recorded any yet.
 */
async function currentSpend(deps: Pick<AppDeps, 'pool'>): Promise<Map<string, string>> {
  const exists = await deps.pool.oneFirst(sql.type(z.object({ exists: z.boolean() }))`
    select to_regclass('budget_windows') is not null as exists`);
  if (!exists) return new Map();
  const rows = await deps.pool.any(sql.type(z.object({ budget_uid: z.string(), spent: z.string() }))`
    select budget_uid, trim_scale(sum(spent_usd))::text as spent from budget_windows b
    where window_start <= now() and (window_end is null or window_end > now())
    group by budget_uid`);
  return new Map(rows.map((r) => [r.budget_uid, r.spent]));
}
