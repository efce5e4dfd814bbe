import { hash as digest } from 'node:crypto';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { Logger } from '@codevector/core/logger';
import { z } from 'zod';
import type { Principal } from './principal.ts';

export type KeyLookup =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' | 'disabled'; keyId?: string; keyPrefix?: string; email?: string };

/**
 * NOTIFY channel of migration 0510's triggers: a key revoked or expiring, a user disabled or
 * deleted, a membership changed. The payload is the user's id.
 */
export const keysChangedChannel = 'api_keys_changed';

export type KeyStore = {
  /** Resolves a presented virtual key; answers from memory while the entry is fresh. */
  authenticate(key: string): KeyLookup | Promise<KeyLookup>;
  /** Forgets what is cached for one user's keys (a notification on keysChangedChannel), or for every key. */
  invalidate(userId?: string): void;
  close(): Promise<void>;
};

const keyRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  revoked_at: z.date().nullable(),
  expires_at: z.date().nullable(),
  user_id: z.string(),
  email: z.string(),
  disabled_at: z.date().nullable(),
  groups: z.array(z.string()),
});

type Entry = { result: KeyLookup; expiresAt: number; refreshing: Promise<KeyLookup> | null };

/**
 * Virtual-key lookup by SHA-256 hash with a short-lived cache (ADR 0110). An entry is trusted
 * for `ttlMs` (default 1 s) and refreshed in the background in its second half, so a hot key
 * never waits on the database and a revoked key stops working within ttlMs plus one query.
 * Revocations also arrive as notifications (`invalidate`), which drop the user's entries at once:
 * the TTL is the bound when a notification is lost, not the usual delay.
 * Unknown keys are cached too (bounded), so a flood of bad keys costs one query per key per TTL.
 */
export function createKeyStore(options: {
  pool: DatabasePool;
  logger: Logger;
  ttlMs?: number;
  maxEntries?: number;
  clock?: () => number;
}): KeyStore {
  const { pool, logger } = options;
  const ttlMs = options.ttlMs ?? 1000;
  const maxEntries = options.maxEntries ?? 100_000;
  const clock = options.clock ?? Date.now;
  const cache = new Map<string, Entry>();
  const usedKeyIds = new Set<string>();

  async function load(hash: Buffer): Promise<KeyLookup> {
    const row = await pool.maybeOne(sql.type(keyRowSchema)`
      select k.id::text as id, k.name, k.prefix, k.revoked_at, k.expires_at, u.id::text as user_id, u.email, u.disabled_at,
        array(select g.name from group_members gm join groups g on g.id = gm.group_id where gm.user_id = u.id order by g.name) as groups
      from api_keys k join users u on u.id = k.user_id
      where k.hash = ${sql.binary(hash)}`);
    if (!row) return { ok: false, reason: 'unknown' };
    const known = { keyId: row.id, keyPrefix: row.prefix, email: row.email };
    if (row.revoked_at) return { ok: false, reason: 'revoked', ...known };
    if (row.disabled_at) return { ok: false, reason: 'disabled', ...known };
    if (row.expires_at && row.expires_at.getTime() <= clock()) return { ok: false, reason: 'expired', ...known };
    return {
      ok: true,
      principal: { keyId: row.id, keyName: row.name, keyPrefix: row.prefix, userId: row.user_id, email: row.email, groups: row.groups },
    };
  }

  // Bumped by every invalidation: a lookup that began before one may have read the row before the
  // revocation committed, so its answer is not cached.
  let generation = 0;

  function fetchInto(cacheKey: string, hash: Buffer): Promise<KeyLookup> {
    const startedIn = generation;
    const promise = load(hash).then(
      (result) => {
        if (startedIn !== generation) return result;
        if (cache.size >= maxEntries && !cache.has(cacheKey)) {
          const oldest = cache.keys().next().value;
          if (oldest !== undefined) cache.delete(oldest);
        }
        cache.set(cacheKey, { result, expiresAt: clock() + ttlMs, refreshing: null });
        return result;
      },
      (error: unknown) => {
        const entry = cache.get(cacheKey);
        if (entry) entry.refreshing = null;
        // Fails closed: a key nobody could check is not admitted, and the caller is told to
        // retry (503 + retry-after at the edge) rather than given a 500.
        throw new CodeVectorError(
          'CORE_DATABASE_UNAVAILABLE',
          'The API key could not be checked: the database is unavailable. Try again.',
          {
            cause: error,
          },
        );
      },
    );
    const entry = cache.get(cacheKey);
    if (entry) entry.refreshing = promise;
    return promise;
  }

  const inflight = new Map<string, Promise<KeyLookup>>();
  const lastUsedTimer = setInterval(() => {
    if (usedKeyIds.size === 0) return;
    const ids = [...usedKeyIds];
    usedKeyIds.clear();
    pool
      .query(statement`update api_keys set last_used_at = now() where id = any(${sql.array(ids, 'uuid')})`)
      .catch((error: unknown) => logger.warn({ err: error }, 'api key last_used_at update failed'));
  }, 30_000);
  lastUsedTimer.unref();

  return {
    authenticate(key) {
      // One-shot SHA-256 straight to the cache key (core's hashApiKey, without the Hash object
      // and Buffer); the bytes are rebuilt only when the database is asked.
      const cacheKey = digest('sha256', key, 'base64');
      const now = clock();
      const entry = cache.get(cacheKey);
      if (entry && now < entry.expiresAt) {
        // Refresh in the second half of the TTL so hot keys never wait on the database.
        if (!entry.refreshing && now > entry.expiresAt - ttlMs / 2) {
          fetchInto(cacheKey, Buffer.from(cacheKey, 'base64')).catch((error: unknown) =>
            logger.warn({ err: error }, 'api key refresh failed'),
          );
        }
        if (entry.result.ok) usedKeyIds.add(entry.result.principal.keyId);
        return entry.result;
      }
      let pending = inflight.get(cacheKey);
      if (!pending) {
        pending = fetchInto(cacheKey, Buffer.from(cacheKey, 'base64')).finally(() => inflight.delete(cacheKey));
        inflight.set(cacheKey, pending);
      }
      return pending.then((result) => {
        if (result.ok) usedKeyIds.add(result.principal.keyId);
        return result;
      });
    },
    invalidate(userId) {
      generation++;
      for (const [cacheKey, entry] of cache) {
        // Unknown keys stay cached: no revocation makes an unknown key valid.
        if (!entry.result.ok && entry.result.reason === 'unknown') continue;
        if (userId === undefined || !entry.result.ok || entry.result.principal.userId === userId) cache.delete(cacheKey);
      }
    },
    async close() {
      clearInterval(lastUsedTimer);
    },
  };
}
