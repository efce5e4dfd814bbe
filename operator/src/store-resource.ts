import { bumpConfigVersion } from '@codevector/core/config-snapshot';
import { type DatabasePool, type DatabaseTransactionConnection, sql, statement } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { z } from 'zod';
import type { Actor } from './actor.ts';
import type { AuditTarget } from './kinds.ts';
import { auditView, type DesiredRow, planResource, type RowPlan, type StoredRow } from './plan-resource.ts';

export type StoreResult = { plan: RowPlan; configVersion: number | null };

const tableByTarget = {
  provider: 'providers',
  model: 'models',
  budget: 'budgets',
  rate_limit: 'rate_limits',
  secret_rule: 'secret_rules',
  audit_sink: 'audit_sinks',
} as const satisfies Record<AuditTarget, string>;

const storedRowSchema = z.object({
  uid: z.string(),
  namespace: z.string(),
  name: z.string(),
  generation: z.number(),
  spec: z.record(z.string(), z.unknown()),
  api_key_fingerprint: z.string().nullable(),
});

/**
 * Load → plan → apply for one resource in ONE transaction (DESIGN §5.1): the row, its audit row,
 * the config_state bump and the NOTIFY (delivered at commit) succeed or fail together. An
 * advisory lock on kind/namespace/name serialises concurrent reconciles of one resource, even
 * across operator processes, so the plan always sees the latest committed row and two writers
 * never both record the same change.
 *
 * `desired` null means the resource is gone. `apiKeySealed` is the encrypted provider key,
 * stored only when the plan changes the fingerprint.
 * @throws CodeVectorError CORE_AUDIT_WRITE_FAILED (nothing was written), or database errors.
 */
export async function storeResource(
  db: DatabasePool,
  input: {
    target: AuditTarget;
    namespace: string;
    name: string;
    desired: DesiredRow | null;
    actor: Actor;
    /** Chooses the actor by what changed (a key rotation is the Secret editor's change); defaults to `actor`. */
    actorFor?: (plan: RowPlan) => Actor;
    /** Actor for removing a row of the same name but another uid (the object was recreated while we were away). */
    replacedActor?: Actor;
    sealApiKey?: () => Buffer | null;
  },
): Promise<StoreResult> {
  const table = sql.identifier([tableByTarget[input.target]]);
  const targetName = `${input.namespace}/${input.name}`;
  return db.transaction(async (tx) => {
    await tx.query(statement`select pg_advisory_xact_lock(hashtextextended(${`${input.target}/${input.namespace}/${input.name}`}, 0))`);
    const byName = await tx.maybeOne(sql.type(storedRowSchema)`
      select uid, namespace, name, generation, spec, ${input.target === 'provider' ? sql.fragment`api_key_fingerprint` : sql.fragment`null::text as api_key_fingerprint`}
      from ${table} where namespace = ${input.namespace} and name = ${input.name} for update`);
    let current: StoredRow | null = byName ? toStored(byName) : null;
    let changed = false;
    if (current && input.desired && current.uid !== input.desired.uid) {
      // Same name, new uid: the old object was deleted and recreated without us seeing the
      // delete. Record the delete of the old one, then create the new one.
      await applyPlan(
        tx,
        table,
        input.target,
        planResource(null, current),
        targetName,
        input.replacedActor ?? input.actor,
        input.sealApiKey,
      );
      current = null;
      changed = true;
    }
    const plan = planResource(input.desired, current);
    const actor = input.actorFor?.(plan) ?? input.actor;
    changed = (await applyPlan(tx, table, input.target, plan, targetName, actor, input.sealApiKey)) || changed;
    if (!changed) return { plan, configVersion: null };
    return { plan, configVersion: await bumpConfigVersion(tx) };
  });
}

function toStored(row: z.infer<typeof storedRowSchema>): StoredRow {
  return {
    uid: row.uid,
    namespace: row.namespace,
    name: row.name,
    generation: row.generation,
    spec: row.spec,
    apiKeyFingerprint: row.api_key_fingerprint,
  };
}

async function applyPlan(
  tx: DatabaseTransactionConnection,
  table: ReturnType<typeof sql.identifier>,
  target: AuditTarget,
  plan: RowPlan,
  targetName: string,
  actor: Actor,
  sealApiKey: (() => Buffer | null) | undefined,
): Promise<boolean> {
  if (plan.type === 'none') return false;
  const none = statement;
  if (plan.type === 'delete') {
    await tx.query(none`delete from ${table} where uid = ${plan.uid}`);
  } else {
    const { row } = plan;
    const spec = sql.jsonb(row.spec as never);
    if (target === 'provider') {
      const sealed = sealApiKey?.() ?? null;
      const ciphertext = sealed === null ? null : sql.binary(sealed);
      await tx.query(none`
        insert into providers (uid, namespace, name, generation, spec, api_key_ciphertext, api_key_fingerprint, updated_at)
        values (${row.uid}, ${row.namespace}, ${row.name}, ${row.generation}, ${spec}, ${ciphertext}, ${row.apiKeyFingerprint}, now())
        on conflict (uid) do update set generation = excluded.generation, spec = excluded.spec,
          api_key_ciphertext = excluded.api_key_ciphertext, api_key_fingerprint = excluded.api_key_fingerprint, updated_at = now()`);
    } else {
      await tx.query(none`
        insert into ${table} (uid, namespace, name, generation, spec, updated_at)
        values (${row.uid}, ${row.namespace}, ${row.name}, ${row.generation}, ${spec}, now())
        on conflict (uid) do update set generation = excluded.generation, spec = excluded.spec, updated_at = now()`);
    }
  }
  await writeAuditEntry(tx, {
    action: `${target}.${plan.verb}`,
    targetType: target,
    targetId: plan.type === 'delete' ? plan.uid : plan.row.uid,
    targetName,
    actor: actor.actor,
    actorSource: actor.actorSource,
    detail: actor.origin ? { ...plan.detail, origin: actor.origin } : plan.detail,
  });
  return true;
}

/**
 * A refusal on the installation's terms (ADR 0120: a lost Model name conflict, an unmarked Secret,
 * a baseURL outside the allow-list), in one transaction: the resource's stored row, if any, is
 * withdrawn, and one audit row `<target>.conflict` or `<target>.refused` says why. `announce`
 * false (the object already reports this refusal) with no row to withdraw writes nothing, so
 * resyncs and restarts never repeat the row.
 * @throws CodeVectorError CORE_AUDIT_WRITE_FAILED (nothing was written), or database errors.
 */
export async function withdrawResource(
  db: DatabasePool,
  input: {
    target: AuditTarget;
    namespace: string;
    name: string;
    uid: string;
    verb: 'conflict' | 'refused';
    reason: string;
    message: string;
    announce: boolean;
  },
): Promise<{ withdrawn: boolean; audited: boolean; configVersion: number | null }> {
  const table = sql.identifier([tableByTarget[input.target]]);
  return db.transaction(async (tx) => {
    await tx.query(statement`select pg_advisory_xact_lock(hashtextextended(${`${input.target}/${input.namespace}/${input.name}`}, 0))`);
    const stored = await tx.maybeOne(sql.type(storedRowSchema)`
      select uid, namespace, name, generation, spec, ${input.target === 'provider' ? sql.fragment`api_key_fingerprint` : sql.fragment`null::text as api_key_fingerprint`}
      from ${table} where namespace = ${input.namespace} and name = ${input.name} for update`);
    if (!stored && !input.announce) return { withdrawn: false, audited: false, configVersion: null };
    if (!stored) {
      // Nothing to withdraw and the record already says so (a restart of the file source, which
      // keeps no status across runs): the same refusal is not written twice in a row.
      const last = await tx.maybeOne(sql.type(z.object({ action: z.string(), reason: z.string().nullable() }))`
        select action, detail->>'reason' as reason from audit_log
        where target_id = ${input.uid} and target_type = ${input.target}
        order by at desc, id desc limit 1`);
      if (last?.action === `${input.target}.${input.verb}` && last.reason === input.reason)
        return { withdrawn: false, audited: false, configVersion: null };
    }
    if (stored) await tx.query(statement`delete from ${table} where uid = ${stored.uid}`);
    await writeAuditEntry(tx, {
      action: `${input.target}.${input.verb}`,
      targetType: input.target,
      targetId: input.uid,
      targetName: `${input.namespace}/${input.name}`,
      actor: 'system',
      actorSource: 'system',
      detail: {
        before: stored ? auditView(toStored(stored)) : null,
        after: null,
        reason: input.reason,
        message: input.message,
        withdrawn: stored !== null,
      },
    });
    return { withdrawn: stored !== null, audited: true, configVersion: stored ? await bumpConfigVersion(tx) : null };
  });
}
