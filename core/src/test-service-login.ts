// Test support (not a test): a login role of one service on the per-file test database, the way
// `codevector migrate` provisions it, so tests run services with their production privileges.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { provisionServiceLogins, type Service, serviceDatabaseUrl } from './service-roles.ts';

/** Creates a uniquely named login in `service`'s group; returns its URL and a drop function. */
export async function createTestServiceLogin(
  service: Service,
  adminUrl = process.env['DATABASE_URL']!,
): Promise<{ user: string; url: string; drop(): Promise<void> }> {
  const user = `cvt_${randomBytes(5).toString('hex')}_${service}`;
  const password = randomBytes(18).toString('base64url');
  await provisionServiceLogins(adminUrl, [{ service, user, password }]);
  return {
    user,
    url: serviceDatabaseUrl(adminUrl, { user, password }),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        // Sessions of the login may linger in pools being closed; end them first.
        await client.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [user]);
        await client.query(`drop role if exists ${client.escapeIdentifier(user)}`);
      } finally {
        await client.end();
      }
    },
  };
}
