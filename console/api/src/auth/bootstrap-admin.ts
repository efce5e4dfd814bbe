import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { z } from 'zod';
import { hashPassword } from './password-hasher.ts';

/**
 * Creates the admin named in configuration (a Kubernetes Secret in the chart) once, with a
 * `user.created` row by `system`, and remembers it in `bootstrap_admin`. From then on the account
 * belongs to the console: a password changed there is not put back by the next restart, and
 * nobody who can read the Secret regains the account by restarting a pod (ADR 0402). An existing
 * account of that e-mail (an installation from before this rule) is adopted as it is.
 *
 * `reset` is the break-glass path (CODEVECTOR_BOOTSTRAP_ADMIN_RESET=true for one start): the
 * configured password is applied again, audited, and the account's sessions end.
 */
export async function ensureBootstrapAdmin(
  pool: DatabasePool,
  email: string,
  password: string,
  options: { reset?: boolean } = {},
): Promise<'created' | 'adopted' | 'reset' | 'unchanged'> {
  const known = await pool.maybeOneFirst(sql.type(z.object({ user_id: z.string() }))`select user_id from bootstrap_admin`);
  if (known && !options.reset) return 'unchanged';
  const passwordHash = await hashPassword(password);
  return pool.transaction(async (tx) => {
    // Serialises console replicas starting at once (any constant; the same in every replica).
    await tx.query(statement`select pg_advisory_xact_lock(7412003402)`);
    const recorded = await tx.maybeOneFirst(sql.type(z.object({ user_id: z.string() }))`select user_id from bootstrap_admin`);
    if (recorded && !options.reset) return 'unchanged';
    const existing = await tx.maybeOne(sql.type(z.object({ id: z.string() }))`
      select id from users where ${recorded ? sql.fragment`id = ${recorded}` : sql.fragment`lower(email) = lower(${email})`}`);
    if (existing && !options.reset) {
      await tx.query(statement`insert into bootstrap_admin (user_id) values (${existing.id})`);
      return 'adopted';
    }
    if (existing) {
      await tx.query(statement`update users set password_hash = ${passwordHash}, updated_at = now() where id = ${existing.id}`);
      await tx.query(statement`delete from sessions where user_id = ${existing.id}`);
      if (!recorded) await tx.query(statement`insert into bootstrap_admin (user_id) values (${existing.id})`);
      await writeAuditEntry(tx, {
        action: 'user.password_changed',
        targetType: 'user',
        targetId: existing.id,
        targetName: email,
        actor: 'system',
        actorSource: 'system',
        detail: { fields: ['password'], reason: 'bootstrap admin reset from configuration (CODEVECTOR_BOOTSTRAP_ADMIN_RESET)' },
      });
      return 'reset';
    }
    const id = await tx.oneFirst(sql.type(z.object({ id: z.string() }))`
      insert into users (email, display_name, role, password_hash) values (${email}, 'Bootstrap admin', 'admin', ${passwordHash})
      returning id`);
    await tx.query(statement`insert into bootstrap_admin (user_id) values (${id})`);
    await writeAuditEntry(tx, {
      action: 'user.created',
      targetType: 'user',
      targetId: id,
      targetName: email,
      actor: 'system',
      actorSource: 'system',
      detail: {
        before: null,
        after: { email, displayName: 'Bootstrap admin', role: 'admin', disabled: false },
        reason: 'bootstrap admin from configuration',
      },
    });
    return 'created';
  });
}
