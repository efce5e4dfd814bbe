import { generateApiKey } from '@codevector/core/api-key';
import { auditDiff } from '@codevector/core/audit-diff';
import { sql } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../app-deps.ts';
import { auditConsoleChange, requireRole } from '../auth/request-context.ts';
import { parseInput } from '../http/http-errors.ts';
import { type ApiKey, type ApiKeyList, type ApiKeyResponse, type CreatedApiKey, createApiKeyInputSchema } from './people-contract.ts';

const keyRow = z.object({
  id: z.string(),
  user_id: z.string(),
  email: z.string(),
  name: z.string(),
  prefix: z.string(),
  created_at: z.date(),
  last_used_at: z.date().nullable(),
  expires_at: z.date().nullable(),
  revoked_at: z.date().nullable(),
});
type KeyRow = z.infer<typeof keyRow>;

function toKey(row: KeyRow): ApiKey {
  return {
    id: row.id,
    userId: row.user_id,
    owner: row.email,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** Gateway API keys: list, create (the key leaves the server once), revoke. */
export const apiKeyRoutes: FastifyPluginAsync<Pick<AppDeps, 'pool'>> = async (app, deps) => {
  app.get<{ Querystring: { scope?: string }; Reply: ApiKeyList }>('/api/api-keys', async (request) => {
    const user = requireRole(request, 'admin', 'auditor', 'member');
    const all = request.query.scope === 'all';
    if (all && user.role === 'member') throw new CodeVectorError('CON_FORBIDDEN');
    const rows = await deps.pool.any(sql.type(keyRow)`
      select k.id, k.user_id, u.email, k.name, k.prefix, k.created_at, k.last_used_at, k.expires_at, k.revoked_at
      from api_keys k join users u on u.id = k.user_id
      where ${all ? sql.fragment`true` : sql.fragment`k.user_id = ${user.id}`}
      order by k.revoked_at is not null, k.created_at desc`);
    return { apiKeys: rows.map(toKey) };
  });

  app.post<{ Reply: CreatedApiKey }>('/api/api-keys', async (request, reply) => {
    const user = requireRole(request, 'admin', 'auditor', 'member');
    const input = parseInput(createApiKeyInputSchema, request.body);
    const ownerId = input.userId ?? user.id;
    if (ownerId !== user.id && user.role !== 'admin') throw new CodeVectorError('CON_FORBIDDEN');
    const generated = generateApiKey();
    const row = await deps.pool.transaction(async (tx) => {
      const created = await tx.maybeOne(sql.type(keyRow)`
        with k as (
          insert into api_keys (user_id, name, prefix, hash, expires_at)
          select id, ${input.name}, ${generated.displayPrefix}, ${sql.binary(generated.hash)}, ${input.expiresAt ?? null}::timestamptz
          from users where id = ${ownerId} and disabled_at is null
          returning *)
        select k.id, k.user_id, u.email, k.name, k.prefix, k.created_at, k.last_used_at, k.expires_at, k.revoked_at
        from k join users u on u.id = k.user_id`);
      if (!created) throw new CodeVectorError('CON_NOT_FOUND', 'No such enabled user.');
      await auditConsoleChange(tx, request, {
        action: 'api_key.created',
        targetType: 'api_key',
        targetId: created.id,
        targetName: created.name,
        // The prefix identifies the key in logs; the key and its hash never enter the audit log.
        detail:
          auditDiff(null, {
            name: created.name,
            prefix: created.prefix,
            owner: created.email,
            expiresAt: created.expires_at?.toISOString() ?? null,
          }) ?? {},
      });
      return created;
    });
    void reply.status(201);
    // The only time the full key leaves the server.
    return { apiKey: toKey(row), key: generated.key };
  });

  app.post<{ Params: { id: string }; Reply: ApiKeyResponse }>('/api/api-keys/:id/revoke', async (request) => {
    const user = requireRole(request, 'admin', 'auditor', 'member');
    const id = parseInput(z.string().uuid(), request.params.id);
    const row = await deps.pool.transaction(async (tx) => {
      const before = await tx.maybeOne(sql.type(keyRow)`
        select k.id, k.user_id, u.email, k.name, k.prefix, k.created_at, k.last_used_at, k.expires_at, k.revoked_at
        from api_keys k join users u on u.id = k.user_id where k.id = ${id} for update of k`);
      // Someone else's key reads as missing to a non-admin: no probing for key ids.
      if (!before || (before.user_id !== user.id && user.role !== 'admin')) throw new CodeVectorError('CON_NOT_FOUND', 'No such API key.');
      if (before.revoked_at) return before;
      const after = await tx.one(sql.type(keyRow)`
        with k as (update api_keys set revoked_at = now() where id = ${id} returning *)
        select k.id, k.user_id, u.email, k.name, k.prefix, k.created_at, k.last_used_at, k.expires_at, k.revoked_at
        from k join users u on u.id = k.user_id`);
      await auditConsoleChange(tx, request, {
        action: 'api_key.revoked',
        targetType: 'api_key',
        targetId: id,
        targetName: after.name,
        detail:
          auditDiff(
            { revoked: false, prefix: before.prefix, owner: before.email },
            { revoked: true, prefix: after.prefix, owner: after.email },
          ) ?? {},
      });
      return after;
    });
    return { apiKey: toKey(row) };
  });
};
