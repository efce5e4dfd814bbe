import { auditDiff } from '@codevector/core/audit-diff';
import { type DatabasePool, type DatabaseTransactionConnection, sql, statement } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { ScimError, type ScimGroup, type ScimGroupInput, type ScimUser, type ScimUserInput, scimSchemas } from './scim-contract.ts';

/**
 * The accounts and groups one identity provider manages, stored in the console's own tables.
 * SCIM sees and changes only what this IdP created (users.idp, groups.managed_by): a local
 * account, the bootstrap admin included, can never be deactivated or renamed over SCIM, and a
 * clash with one is a 409 the admin resolves. Every change writes its audit row in the same
 * transaction, with the IdP as actor (actor source `idp`).
 */
export type ScimStore = ReturnType<typeof createScimStore>;

const userRow = z.object({
  id: z.string(),
  email: z.string(),
  display_name: z.string(),
  external_id: z.string().nullable(),
  scim: z.record(z.string(), z.unknown()).nullable(),
  disabled_at: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});
type UserRow = z.infer<typeof userRow>;
const userColumns = sql.fragment`id::text, email, display_name, external_id, scim, disabled_at, created_at, updated_at`;

const groupRow = z.object({
  id: z.string(),
  name: z.string(),
  external_id: z.string().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});
type GroupRow = z.infer<typeof groupRow>;
const memberRow = z.object({ group_id: z.string(), user_id: z.string(), email: z.string() });

/** A filter this service evaluates: equality on one attribute, all of them ANDed (what IdPs send). */
export type ScimFilter = { attribute: string; value: string }[];

/** What an audit diff shows of a SCIM account: what the IdP wrote (never a password: it is not stored). */
const view = (row: UserRow) => ({
  email: row.email,
  displayName: row.display_name,
  externalId: row.external_id,
  attributes: row.scim ?? {},
  disabled: row.disabled_at !== null,
});

export function createScimStore(pool: DatabasePool, options: { idp: string }) {
  const { idp } = options;
  const audit = (
    tx: DatabaseTransactionConnection,
    entry: { action: string; targetType: string; targetId: string; targetName: string; detail: Record<string, unknown> },
  ) => writeAuditEntry(tx, { ...entry, actor: idp, actorSource: 'idp' });
  const meta = (resourceType: 'User' | 'Group', row: { id: string; created_at: Date; updated_at: Date }) => ({
    resourceType,
    created: row.created_at.toISOString(),
    lastModified: row.updated_at.toISOString(),
    location: `/scim/v2/${resourceType}s/${row.id}`,
    version: `W/"${row.updated_at.getTime()}"`,
  });

  function toUser(row: UserRow): ScimUser {
    const extra = row.scim ?? {};
    return {
      ...extra,
      schemas: [scimSchemas.user],
      id: row.id,
      userName: row.email,
      ...(row.external_id ? { externalId: row.external_id } : {}),
      ...(row.display_name ? { displayName: row.display_name } : {}),
      active: row.disabled_at === null,
      meta: meta('User', row),
    };
  }

  async function membersOf(db: DatabaseTransactionConnection | DatabasePool, groupIds: string[]) {
    if (groupIds.length === 0) return [];
    return db.any(sql.type(memberRow)`
      select gm.group_id::text, gm.user_id::text, u.email from group_members gm join users u on u.id = gm.user_id
      where gm.group_id = any(${sql.array(groupIds, 'uuid')}) order by lower(u.email)`);
  }

  function toGroup(row: GroupRow, members: readonly z.infer<typeof memberRow>[] | null): ScimGroup {
    return {
      schemas: [scimSchemas.group],
      id: row.id,
      displayName: row.name,
      ...(row.external_id ? { externalId: row.external_id } : {}),
      members: (members ?? []).filter((m) => m.group_id === row.id).map((m) => ({ value: m.user_id, display: m.email })),
      meta: meta('Group', row),
    };
  }

  /** Condition on users `u` / groups `g` for a filter; unknown attributes are a 400 invalidFilter. */
  function filterSql(kind: 'User' | 'Group', filter: ScimFilter) {
    const parts = [sql.fragment`true`];
    for (const { attribute, value } of filter) {
      const name = attribute.toLowerCase();
      if (name === 'id') parts.push(/^[0-9a-f-]{36}$/i.test(value) ? sql.fragment`id = ${value}::uuid` : sql.fragment`false`);
      else if (name === 'externalid') parts.push(sql.fragment`external_id = ${value}`);
      // userName and displayName are caseExact false in RFC 7643.
      else if (kind === 'User' && name === 'username') parts.push(sql.fragment`lower(email) = lower(${value})`);
      else if (kind === 'User' && (name === 'emails.value' || name === 'emails')) parts.push(sql.fragment`lower(email) = lower(${value})`);
      else if (kind === 'Group' && name === 'displayname') parts.push(sql.fragment`lower(name) = lower(${value})`);
      else
        throw new ScimError(
          400,
          `Filtering on ${attribute} is not supported; use userName, externalId or id (displayName for groups).`,
          'invalidFilter',
        );
    }
    return sql.join(parts, sql.fragment` and `);
  }

  async function lockUser(tx: DatabaseTransactionConnection, id: string): Promise<UserRow> {
    const row = /^[0-9a-f-]{36}$/i.test(id)
      ? await tx.maybeOne(sql.type(userRow)`select ${userColumns} from users where id = ${id}::uuid and idp = ${idp} for update`)
      : null;
    if (!row) throw new ScimError(404, `User ${id} not found.`, 'noTarget');
    return row;
  }

  async function lockGroup(tx: DatabaseTransactionConnection, id: string): Promise<GroupRow> {
    const row = /^[0-9a-f-]{36}$/i.test(id)
      ? await tx.maybeOne(sql.type(groupRow)`
          select id::text, name, external_id, created_at, updated_at from groups where id = ${id}::uuid and managed_by = ${idp} for update`)
      : null;
    if (!row) throw new ScimError(404, `Group ${id} not found.`, 'noTarget');
    return row;
  }

  /** Ends a deactivated account's access now: its API keys are revoked (gateways see it within their 1 s key cache) and its sessions end. */
  async function cutAccess(tx: DatabaseTransactionConnection, userId: string): Promise<number> {
    const revoked = await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
      update api_keys set revoked_at = now() where user_id = ${userId}::uuid and revoked_at is null returning id::text`);
    await tx.query(statement`delete from sessions where user_id = ${userId}::uuid`);
    return revoked.length;
  }

  const uniqueness = (error: unknown, what: string): never => {
    if (error instanceof UniqueIntegrityConstraintViolationError) throw new ScimError(409, `${what} already exists.`, 'uniqueness');
    throw error;
  };

  const scimExtra = (input: ScimUserInput) => {
    const {
      userName: _u,
      externalId: _e,
      displayName: _d,
      active: _a,
      schemas: _s,
      id: _i,
      meta: _m,
      password: _p,
      ...rest
    } = input as Record<string, unknown>;
    return rest;
  };
  const displayNameOf = (input: ScimUserInput) =>
    input.displayName ?? input.name?.formatted ?? [input.name?.givenName, input.name?.familyName].filter(Boolean).join(' ');

  return {
    async listUsers(filter: ScimFilter, page: { startIndex: number; count: number }) {
      const where = filterSql('User', filter);
      const total = await pool.oneFirst(
        sql.type(z.object({ n: z.number() }))`select count(*)::int as n from users where idp = ${idp} and ${where}`,
      );
      const rows = await pool.any(sql.type(userRow)`
        select ${userColumns} from users where idp = ${idp} and ${where} order by created_at, id offset ${page.startIndex - 1} limit ${page.count}`);
      return { total, resources: rows.map(toUser) };
    },

    async getUser(id: string): Promise<ScimUser> {
      return pool.transaction(async (tx) => toUser(await lockUser(tx, id)));
    },

    async createUser(input: ScimUserInput): Promise<ScimUser> {
      return pool
        .transaction(async (tx) => {
          const row = await tx.one(sql.type(userRow)`
            insert into users (email, display_name, role, idp, external_id, scim, disabled_at)
            values (${input.userName}, ${displayNameOf(input)}, 'member', ${idp}, ${input.externalId ?? null},
              ${sql.jsonb(scimExtra(input) as never)}, ${input.active === false ? sql.fragment`now()` : null})
            returning ${userColumns}`);
          await audit(tx, {
            action: 'user.created',
            targetType: 'user',
            targetId: row.id,
            targetName: row.email,
            detail: auditDiff(null, view(row)) ?? {},
          });
          return toUser(row);
        })
        .catch((error: unknown) => uniqueness(error, `A user named ${input.userName}`));
    },

    /** PUT, and PATCH once applied: the account becomes `input`; one audit row per kind of change. */
    async replaceUser(id: string, next: (current: ScimUser) => ScimUserInput): Promise<ScimUser> {
      return pool
        .transaction(async (tx) => {
          const before = await lockUser(tx, id);
          const input = next(toUser(before));
          const after = await tx.one(sql.type(userRow)`
            update users set email = ${input.userName}, display_name = ${displayNameOf(input)}, external_id = ${input.externalId ?? null},
              scim = ${sql.jsonb(scimExtra(input) as never)},
              disabled_at = case when ${input.active ?? null}::boolean is null then disabled_at
                                 when ${input.active ?? null}::boolean then null else coalesce(disabled_at, now()) end,
              updated_at = now()
            where id = ${before.id}::uuid returning ${userColumns}`);
          const target = { targetType: 'user', targetId: after.id, targetName: after.email };
          const { disabled: wasDisabled, ...beforeRest } = view(before);
          const { disabled: isDisabled, ...afterRest } = view(after);
          const diff = auditDiff(beforeRest, afterRest);
          if (diff) await audit(tx, { action: 'user.updated', ...target, detail: diff });
          if (wasDisabled !== isDisabled) {
            const revokedApiKeys = isDisabled ? await cutAccess(tx, after.id) : 0;
            await audit(tx, {
              action: isDisabled ? 'user.disabled' : 'user.enabled',
              ...target,
              detail: { ...auditDiff({ disabled: wasDisabled }, { disabled: isDisabled }), ...(isDisabled ? { revokedApiKeys } : {}) },
            });
          }
          return toUser(after);
        })
        .catch((error: unknown) => uniqueness(error, 'A user with that userName'));
    },

    async deleteUser(id: string): Promise<void> {
      await pool.transaction(async (tx) => {
        const before = await lockUser(tx, id);
        const revokedApiKeys = await cutAccess(tx, before.id);
        await tx.query(statement`delete from users where id = ${before.id}::uuid`);
        await audit(tx, {
          action: 'user.deleted',
          targetType: 'user',
          targetId: before.id,
          targetName: before.email,
          detail: { ...auditDiff(view(before), null), revokedApiKeys },
        });
      });
    },

    async listGroups(filter: ScimFilter, page: { startIndex: number; count: number }, withMembers: boolean) {
      const where = filterSql('Group', filter);
      const total = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        select count(*)::int as n from groups where managed_by = ${idp} and ${where}`);
      const rows = await pool.any(sql.type(groupRow)`
        select id::text, name, external_id, created_at, updated_at from groups where managed_by = ${idp} and ${where}
        order by created_at, id offset ${page.startIndex - 1} limit ${page.count}`);
      const members = withMembers
        ? await membersOf(
            pool,
            rows.map((r) => r.id),
          )
        : null;
      return { total, resources: rows.map((r) => toGroup(r, members)) };
    },

    async getGroup(id: string, withMembers: boolean): Promise<ScimGroup> {
      return pool.transaction(async (tx) => {
        const row = await lockGroup(tx, id);
        return toGroup(row, withMembers ? await membersOf(tx, [row.id]) : null);
      });
    },

    async createGroup(input: ScimGroupInput): Promise<ScimGroup> {
      return pool
        .transaction(async (tx) => {
          const row = await tx.one(sql.type(groupRow)`
            insert into groups (name, managed_by, external_id) values (${input.displayName}, ${idp}, ${input.externalId ?? null})
            returning id::text, name, external_id, created_at, updated_at`);
          await audit(tx, {
            action: 'group.created',
            targetType: 'group',
            targetId: row.id,
            targetName: row.name,
            detail: auditDiff(null, { name: row.name, externalId: row.external_id }) ?? {},
          });
          await setMembers(tx, row, input.members?.map((m) => m.value) ?? []);
          return toGroup(row, await membersOf(tx, [row.id]));
        })
        .catch((error: unknown) => uniqueness(error, `A group named ${input.displayName}`));
    },

    async replaceGroup(id: string, next: (current: ScimGroup) => ScimGroupInput): Promise<ScimGroup> {
      return pool
        .transaction(async (tx) => {
          const before = await lockGroup(tx, id);
          const input = next(toGroup(before, await membersOf(tx, [before.id])));
          const after = await tx.one(sql.type(groupRow)`
            update groups set name = ${input.displayName}, external_id = ${input.externalId ?? null}, updated_at = now()
            where id = ${before.id}::uuid returning id::text, name, external_id, created_at, updated_at`);
          const diff = auditDiff(
            { name: before.name, externalId: before.external_id },
            { name: after.name, externalId: after.external_id },
          );
          if (diff)
            await audit(tx, { action: 'group.updated', targetType: 'group', targetId: after.id, targetName: after.name, detail: diff });
          // `members` absent from a PUT or a PATCH result means "no members" only if the IdP sent the attribute.
          if (input.members !== undefined)
            await setMembers(
              tx,
              after,
              input.members.map((m) => m.value),
            );
          return toGroup(after, await membersOf(tx, [after.id]));
        })
        .catch((error: unknown) => uniqueness(error, 'A group with that displayName'));
    },

    async deleteGroup(id: string): Promise<void> {
      await pool.transaction(async (tx) => {
        const before = await lockGroup(tx, id);
        await tx.query(statement`delete from groups where id = ${before.id}::uuid`);
        await audit(tx, {
          action: 'group.deleted',
          targetType: 'group',
          targetId: before.id,
          targetName: before.name,
          detail: auditDiff({ name: before.name, externalId: before.external_id }, null) ?? {},
        });
      });
    },
  };

  /** Makes the group's members exactly `userIds` (this IdP's users only), one audit row per member added or removed. */
  async function setMembers(tx: DatabaseTransactionConnection, group: GroupRow, userIds: string[]): Promise<void> {
    const wanted = [...new Set(userIds)];
    const known = await tx.any(sql.type(z.object({ id: z.string(), email: z.string() }))`
      select id::text, email from users where id = any(${sql.array(wanted, 'uuid')}) and idp = ${idp}`);
    const missing = wanted.filter((id) => !known.some((k) => k.id === id));
    if (missing.length > 0)
      throw new ScimError(400, `members: no user ${missing[0]} provisioned by this identity provider.`, 'invalidValue');
    const current = await membersOf(tx, [group.id]);
    const added = known.filter((k) => !current.some((c) => c.user_id === k.id));
    const removed = current.filter((c) => !wanted.includes(c.user_id));
    for (const user of added) {
      await tx.query(
        statement`insert into group_members (group_id, user_id) values (${group.id}::uuid, ${user.id}::uuid) on conflict do nothing`,
      );
      await audit(tx, {
        action: 'group.member_added',
        targetType: 'group',
        targetId: group.id,
        targetName: group.name,
        detail: auditDiff({ members: {} }, { members: { [user.id]: user.email } }) ?? {},
      });
    }
    for (const user of removed) {
      await tx.query(statement`delete from group_members where group_id = ${group.id}::uuid and user_id = ${user.user_id}::uuid`);
      await audit(tx, {
        action: 'group.member_removed',
        targetType: 'group',
        targetId: group.id,
        targetName: group.name,
        detail: auditDiff({ members: { [user.user_id]: user.email } }, { members: {} }) ?? {},
      });
    }
  }
}
