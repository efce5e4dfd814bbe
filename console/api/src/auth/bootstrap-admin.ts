import { type DatabasePool, sql } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { z } from 'zod';
import { hashPassword, verifyPassword } from './password-hasher.ts';

/**
 * Makes sure the admin named in configuration (a Kubernetes Secret in the chart) exists and can
 * sign in with the configured password. Creates it with a `user.created` row by `system`; if
 * the Secret's password changed, updates the hash with a `user.password_changed` row. Leaves
 * role and disabled state alone: an admin who disabled the bootstrap account meant it.
 */
export async function ensureBootstrapAdmin(
  pool: DatabasePool,
  email: string,
  password: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const existing = await pool.maybeOne(sql.type(z.object({ id: z.string(), password_hash: z.string().nullable() }))`
    select id, password_hash from users where lower(email) = lower(${email})`);
  if (existing && (await verifyPassword(existing.password_hash, password))) return 'unchanged';
  const passwordHash = await hashPassword(password);
  return pool.transaction(async (tx) => {
    const row = await tx.one(sql.type(z.object({ id: z.string(), inserted: z.boolean() }))`
      insert into users (email, display_name, role, password_hash) values (${email}, 'Bootstrap admin', 'admin', ${passwordHash})
      on conflict (lower(email)) do update set password_hash = excluded.password_hash, updated_at = now()
      returning id, (xmax = 0) as inserted`);
    await writeAuditEntry(tx, {
      action: row.inserted ? 'user.created' : 'user.password_changed',
      targetType: 'user',
      targetId: row.id,
      targetName: email,
      actor: 'system',
      actorSource: 'system',
      detail: row.inserted
        ? {
            before: null,
            after: { email, displayName: 'Bootstrap admin', role: 'admin', disabled: false },
            reason: 'bootstrap admin from configuration',
          }
        : { fields: ['password'], reason: 'bootstrap admin password changed in configuration' },
    });
    return row.inserted ? 'created' : 'updated';
  });
}
