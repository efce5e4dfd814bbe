import { type DatabasePool, sql } from '@codevector/core/create-pool';
import { z } from 'zod';
import type { PasswordIdentityProvider } from './identity-provider.ts';
import { verifyPassword } from './password-hasher.ts';

const userRow = z.object({ id: z.string(), password_hash: z.string().nullable(), disabled_at: z.date().nullable() });

/** Local accounts: e-mail + argon2id password hash in `users`. */
export function createLocalIdentityProvider(pool: DatabasePool): PasswordIdentityProvider {
  return {
    kind: 'password',
    id: 'local',
    async authenticate(email, password) {
      const user = await pool.maybeOne(sql.type(userRow)`
        select id, password_hash, disabled_at from users where lower(email) = lower(${email}) and idp = 'local'`);
      const ok = await verifyPassword(user?.password_hash ?? null, password);
      if (!user || !ok || user.disabled_at !== null) return null;
      return { userId: user.id, idp: 'local' };
    },
  };
}
