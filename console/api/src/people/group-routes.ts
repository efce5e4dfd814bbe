import { auditDiff } from '@codevector/core/audit-diff';
import { sql } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import { auditConsoleChange, requireRole } from '../auth/request-context.ts';
import type { Ok } from '../http/http-contract.ts';
import { parseInput } from '../http/http-errors.ts';
import {
  addMemberInputSchema,
  type CreatedGroup,
  type Group,
  type GroupList,
  groupInputSchema,
  type UpdatedGroup,
} from './people-contract.ts';

const groupRow = z.object({ id: z.string(), name: z.string(), description: z.string(), created_at: z.date() });
type GroupRow = z.infer<typeof groupRow>;
const memberRow = z.object({ group_id: z.string(), user_id: z.string(), email: z.string() });
const idParam = z.string().uuid();

const toGroup = (row: GroupRow, members: Group['members']): Group => ({
  id: row.id,
  name: row.name,
  description: row.description,
  createdAt: row.created_at.toISOString(),
  members,
});

/** Groups and their members (budget and rate-limit subjects); every change audited in its transaction. */
export const groupRoutes: FastifyPluginAsync<Pick<AppDeps, 'pool'>> = async (app, deps) => {
  app.get<{ Reply: GroupList }>('/api/groups', async (request) => {
    requireRole(request, 'admin', 'auditor');
    const groups = await deps.pool.any(sql.type(groupRow)`select id, name, description, created_at from groups order by lower(name)`);
    const members = await deps.pool.any(sql.type(memberRow)`
      select gm.group_id, gm.user_id, u.email from group_members gm join users u on u.id = gm.user_id order by lower(u.email)`);
    return {
      groups: groups.map((g) =>
        toGroup(
          g,
          members.filter((m) => m.group_id === g.id).map((m) => ({ userId: m.user_id, email: m.email })),
        ),
      ),
    };
  });

  app.post<{ Reply: CreatedGroup }>('/api/groups', async (request, reply) => {
    requireRole(request, 'admin');
    const input = parseInput(groupInputSchema, request.body);
    const group = await deps.pool.transaction(async (tx) => {
      const row = await tx.one(sql.type(groupRow)`
        insert into groups (name, description) values (${input.name}, ${input.description}) returning id, name, description, created_at`);
      await auditConsoleChange(tx, request, {
        action: 'group.created',
        targetType: 'group',
        targetId: row.id,
        targetName: row.name,
        detail: auditDiff(null, { name: row.name, description: row.description }) ?? {},
      });
      return row;
    });
    void reply.status(201);
    return { group: { id: group.id, name: group.name, description: group.description, members: [] } };
  });

  app.patch<{ Params: { id: string }; Reply: UpdatedGroup }>('/api/groups/:id', async (request) => {
    requireRole(request, 'admin');
    const id = parseInput(idParam, request.params.id);
    const input = parseInput(groupInputSchema.partial(), request.body);
    return deps.pool.transaction(async (tx) => {
      const before = await tx.maybeOne(
        sql.type(groupRow)`select id, name, description, created_at from groups where id = ${id} for update`,
      );
      if (!before) throw new CodeVectorError('CON_NOT_FOUND', 'No such group.');
      const after = await tx.one(sql.type(groupRow)`
        update groups set name = coalesce(${input.name ?? null}, name), description = coalesce(${input.description ?? null}, description),
          updated_at = now() where id = ${id} returning id, name, description, created_at`);
      const diff = auditDiff({ name: before.name, description: before.description }, { name: after.name, description: after.description });
      // Invariant: a change that changes nothing writes nothing.
      if (diff)
        await auditConsoleChange(tx, request, {
          action: 'group.updated',
          targetType: 'group',
          targetId: id,
          targetName: after.name,
          detail: diff,
        });
      return { group: { id: after.id, name: after.name, description: after.description } };
    });
  });

  app.delete<{ Params: { id: string }; Reply: Ok }>('/api/groups/:id', async (request) => {
    requireRole(request, 'admin');
    const id = parseInput(idParam, request.params.id);
    await deps.pool.transaction(async (tx) => {
      const before = await tx.maybeOne(sql.type(groupRow)`delete from groups where id = ${id} returning id, name, description, created_at`);
      if (!before) throw new CodeVectorError('CON_NOT_FOUND', 'No such group.');
      await auditConsoleChange(tx, request, {
        action: 'group.deleted',
        targetType: 'group',
        targetId: id,
        targetName: before.name,
        detail: auditDiff({ name: before.name, description: before.description }, null) ?? {},
      });
    });
    return { ok: true };
  });

  app.post<{ Params: { id: string }; Reply: Ok }>('/api/groups/:id/members', async (request, reply) => {
    requireRole(request, 'admin');
    const id = parseInput(idParam, request.params.id);
    const { userId } = parseInput(addMemberInputSchema, request.body);
    await deps.pool.transaction(async (tx) => {
      const names = await tx.maybeOne(sql.type(z.object({ group_name: z.string(), email: z.string() }))`
        select g.name as group_name, u.email from groups g, users u where g.id = ${id} and u.id = ${userId}`);
      if (!names) throw new CodeVectorError('CON_NOT_FOUND', 'No such group or user.');
      const inserted = await tx.maybeOne(sql.type(z.object({ user_id: z.string() }))`
        insert into group_members (group_id, user_id) values (${id}, ${userId}) on conflict do nothing returning user_id`);
      if (!inserted) return; // already a member: nothing changed, nothing to audit
      await auditConsoleChange(tx, request, {
        action: 'group.member_added',
        targetType: 'group',
        targetId: id,
        targetName: names.group_name,
        detail: auditDiff({ members: {} }, { members: { [userId]: names.email } }) ?? {},
      });
    });
    void reply.status(201);
    return { ok: true };
  });

  app.delete<{ Params: { id: string; userId: string }; Reply: Ok }>('/api/groups/:id/members/:userId', async (request) => {
    requireRole(request, 'admin');
    const id = parseInput(idParam, request.params.id);
    const userId = parseInput(idParam, request.params.userId);
    await deps.pool.transaction(async (tx) => {
      const removed = await tx.maybeOne(sql.type(z.object({ group_name: z.string(), email: z.string() }))`
        delete from group_members gm using groups g, users u
        where gm.group_id = ${id} and gm.user_id = ${userId} and g.id = gm.group_id and u.id = gm.user_id
        returning g.name as group_name, u.email`);
      if (!removed) throw new CodeVectorError('CON_NOT_FOUND', 'That user is not in this group.');
      await auditConsoleChange(tx, request, {
        action: 'group.member_removed',
        targetType: 'group',
        targetId: id,
        targetName: removed.group_name,
        detail: auditDiff({ members: { [userId]: removed.email } }, { members: {} }) ?? {},
      });
    });
    return { ok: true };
  });
};
