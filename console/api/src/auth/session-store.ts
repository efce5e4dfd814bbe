import { createHmac, randomBytes } from 'node:crypto';
import { type CommonQueryMethods, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { z } from 'zod';
import { roleSchema, type SessionUser } from './auth-contract.ts';
import type { Identity } from './identity-provider.ts';

export type Session = { user: SessionUser; csrfToken: string; idp: string; expiresAt: Date };

const sessionRow = z.object({
  csrf_token: z.string(),
  idp: z.string(),
  expires_at: z.date(),
  user_id: z.string(),
  email: z.string(),
  display_name: z.string(),
  role: roleSchema,
});

/** Server-side sessions keyed by an HMAC of the cookie token (a stolen table yields no cookies). */
export function createSessionStore(pool: DatabasePool, options: { secret: string; ttlMs: number }) {
  const digest = (token: string) => createHmac('sha256', options.secret).update(token).digest();
  return {
    async create(identity: Identity, meta: { userAgent?: string | undefined; ip?: string | undefined }) {
      const token = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(24).toString('base64url');
      const expiresAt = await pool.oneFirst(sql.type(z.object({ expires_at: z.date() }))`
        insert into sessions (token_hash, user_id, csrf_token, idp, expires_at, user_agent, ip)
        values (${sql.binary(digest(token))}, ${identity.userId}, ${csrfToken}, ${identity.idp},
                now() + ${`${options.ttlMs} milliseconds`}::interval, ${meta.userAgent ?? null}, ${meta.ip ?? null})
        returning expires_at`);
      // Opportunistic clean-up keeps the table small without a separate job.
      await pool.query(statement`delete from sessions where expires_at < now() - interval '1 day'`);
      return { token, csrfToken, expiresAt };
    },
    /** The live session for a cookie token, or null (unknown, expired, or the user is disabled). */
    async find(token: string): Promise<Session | null> {
      const row = await pool.maybeOne(sql.type(sessionRow)`
        select s.csrf_token, s.idp, s.expires_at, u.id as user_id, u.email, u.display_name, u.role
        from sessions s join users u on u.id = s.user_id
        where s.token_hash = ${sql.binary(digest(token))} and s.expires_at > now() and u.disabled_at is null`);
      if (!row) return null;
      return {
        user: { id: row.user_id, email: row.email, displayName: row.display_name, role: row.role },
        csrfToken: row.csrf_token,
        idp: row.idp,
        expiresAt: row.expires_at,
      };
    },
    /**
     * Ends every session of a user except `keepToken`'s (the caller's own, when they changed
     * their own password or role), inside the caller's transaction. Returns how many ended.
     */
    async endOtherSessions(tx: CommonQueryMethods, userId: string, keepToken: string | undefined): Promise<number> {
      const keep = keepToken ? sql.binary(digest(keepToken)) : null;
      const ended = await tx.any(sql.type(z.object({ user_id: z.string() }))`
        delete from sessions where user_id = ${userId} and (${keep}::bytea is null or token_hash <> ${keep}::bytea) returning user_id`);
      return ended.length;
    },
    async delete(token: string): Promise<void> {
      await pool.query(statement`delete from sessions where token_hash = ${sql.binary(digest(token))}`);
    },
    /** Ends the session of a cookie token inside the caller's transaction; who it was, or null if none was live. */
    async end(tx: CommonQueryMethods, token: string) {
      return tx.maybeOne(sql.type(z.object({ user_id: z.string(), email: z.string(), idp: z.string() }))`
        delete from sessions s using users u
        where s.token_hash = ${sql.binary(digest(token))} and u.id = s.user_id and s.expires_at > now()
        returning s.user_id::text, u.email, s.idp`);
    },
  };
}
export type SessionStore = ReturnType<typeof createSessionStore>;
