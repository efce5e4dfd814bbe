import { auditDiff } from '@codevector/core/audit-diff';
import { type DatabaseTransactionConnection, sql, statement } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import { roles } from '../auth/auth-contract.ts';
import { sessionCookie } from '../auth/auth-routes.ts';
import { hashPassword } from '../auth/password-hasher.ts';
import { auditConsoleChange, requireRole } from '../auth/request-context.ts';
import { parseInput } from '../http/http-errors.ts';
import { createUserInputSchema, patchUserInputSchema, type User, type UserList, type UserResponse } from './people-contract.ts';

const userRow = z.object({
  id: z.string(),
  email: z.string(),
  display_name: z.string(),
  role: z.enum(roles),
  idp: z.string(),
  disabled_at: z.date().nullable(),
  created_at: z.date(),
});
type UserRow = z.infer<typeof userRow>;

const userColumns = sql.fragment`id, email, display_name, role, idp, disabled_at, created_at`;

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    role: row.role,
    idp: row.idp,
    disabled: row.disabled_at !== null,
    createdAt: row.created_at.toISOString(),
  };
}

/** What an audit diff may show of a user: never the password hash. */
function auditView(row: UserRow) {
  return { email: row.email, displayName: row.display_name, role: row.role, disabled: row.disabled_at !== null };
}

async function assertAnotherAdmin(tx: DatabaseTransactionConnection, userId: string): Promise<void> {
  // Locks the admins' rows so two concurrent demotions cannot both pass the check.
  const others = await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    select id from users where role = 'admin' and disabled_at is null and id <> ${userId} for update`);
  if (others.length === 0) throw new CodeVectorError('CON_LAST_ADMIN');
}

/** Local accounts: list, create, change role, disable, reset password; every change audited in its transaction. */
export const userRoutes: FastifyPluginAsync<Pick<AppDeps, 'pool' | 'sessions'>> = async (app, deps) => {
  app.get<{ Reply: UserList }>('/api/users', async (request) => {
    requireRole(request, 'admin', 'auditor');
    const rows = await deps.pool.any(sql.type(userRow)`select ${userColumns} from users order by lower(email)`);
    return { users: rows.map(toUser) };
  });

  app.post<{ Reply: UserResponse }>('/api/users', async (request, reply) => {
    requireRole(request, 'admin');
    const input = parseInput(createUserInputSchema, request.body);
    const passwordHash = await hashPassword(input.password);
    const row = await deps.pool.transaction(async (tx) => {
      const created = await tx.one(sql.type(userRow)`
        insert into users (email, display_name, role, password_hash) values (${input.email}, ${input.displayName}, ${input.role}, ${passwordHash})
        returning ${userColumns}`);
      await auditConsoleChange(tx, request, {
        action: 'user.created',
        targetType: 'user',
        targetId: created.id,
        targetName: created.email,
        detail: auditDiff(null, auditView(created)) ?? {},
      });
      return created;
    });
    void reply.status(201);
    return { user: toUser(row) };
  });

  app.patch<{ Params: { id: string }; Reply: UserResponse }>('/api/users/:id', async (request) => {
    const actor = requireRole(request, 'admin');
    const id = parseInput(z.string().uuid(), request.params.id);
    const input = parseInput(patchUserInputSchema, request.body);
    const passwordHash = input.password ? await hashPassword(input.password) : null;
    const row = await deps.pool.transaction(async (tx) => {
      const before = await tx.maybeOne(sql.type(userRow)`select ${userColumns} from users where id = ${id} for update`);
      if (!before) throw new CodeVectorError('CON_NOT_FOUND', 'No such user.');
      const losesAdmin =
        before.role === 'admin' && before.disabled_at === null && ((input.role && input.role !== 'admin') || input.disabled === true);
      if (losesAdmin) await assertAnotherAdmin(tx, id);
      if (input.disabled === true && id === actor.id) throw new CodeVectorError('CON_VALIDATION', 'You cannot disable your own account.');
      const after = await tx.one(sql.type(userRow)`
        update users set
          display_name = coalesce(${input.displayName ?? null}, display_name),
          role = coalesce(${input.role ?? null}, role),
          disabled_at = case when ${input.disabled ?? null}::boolean is null then disabled_at
                             when ${input.disabled ?? null}::boolean then coalesce(disabled_at, now()) else null end,
          password_hash = coalesce(${passwordHash}, password_hash),
          updated_at = now()
        where id = ${id} returning ${userColumns}`);
      const target = { targetType: 'user', targetId: id, targetName: after.email };
      // One audit row per kind of change, so the log reads as what happened.
      if (before.role !== after.role) {
        await auditConsoleChange(tx, request, {
          action: 'user.role_changed',
          ...target,
          detail: auditDiff({ role: before.role }, { role: after.role }) ?? {},
        });
      }
      const wasDisabled = before.disabled_at !== null;
      const isDisabled = after.disabled_at !== null;
      if (wasDisabled !== isDisabled) {
        await auditConsoleChange(tx, request, {
          action: isDisabled ? 'user.disabled' : 'user.enabled',
          ...target,
          detail: auditDiff({ disabled: wasDisabled }, { disabled: isDisabled }) ?? {},
        });
        // A disabled user's sessions end now, not when they expire.
        if (isDisabled) await tx.query(statement`delete from sessions where user_id = ${id}`);
      }
      if (before.display_name !== after.display_name) {
        await auditConsoleChange(tx, request, {
          action: 'user.updated',
          ...target,
          detail: auditDiff({ displayName: before.display_name }, { displayName: after.display_name }) ?? {},
        });
      }
      if (passwordHash) {
        // The diff says that the password changed, never what it is or was.
        await auditConsoleChange(tx, request, { action: 'user.password_changed', ...target, detail: { fields: ['password'] } });
      }
      // A new password or role ends the user's other sessions now: a session opened with the old
      // password, or holding the old role's rights, must not outlive the change. The admin's own
      // session survives a change to their own account.
      if ((passwordHash || before.role !== after.role) && !isDisabled) {
        await deps.sessions.endOtherSessions(tx, id, id === actor.id ? request.cookies[sessionCookie] : undefined);
      }
      return after;
    });
    return { user: toUser(row) };
  });
};
