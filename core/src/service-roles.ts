import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The NOLOGIN group role of each service (core/migrations/0400_service_roles.sql holds their
 * grants). A service's login role is a member of exactly one of them.
 */
export const serviceGroupRoles = {
  operator: 'codevector_operator',
  gateway: 'codevector_gateway',
  console: 'codevector_console',
} as const;
export type Service = keyof typeof serviceGroupRoles;

/** A login role `codevector migrate` makes sure exists, with this password, in this service's group. */
export type ServiceLogin = { service: Service; user: string; password: string };

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 7677, as `pg_authid` holds
 * it). Sending the verifier instead of the password keeps the password out of the server's
 * statement log and `pg_stat_statements`. Passwords are used as bytes (no SASLprep): fine for
 * the generated ASCII passwords this is made for.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** The URL a service connects with: `baseUrl`'s server and database with the login's credentials. */
export function serviceDatabaseUrl(baseUrl: string, login: Pick<ServiceLogin, 'user' | 'password'>): string {
  const url = new URL(baseUrl);
  url.username = encodeURIComponent(login.user);
  url.password = encodeURIComponent(login.password);
  return url.toString();
}

const roleRow = (row: unknown) => row as { rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean };

/**
 * Creates each login role when missing (or sets its password when it exists) and makes it a
 * member of its service's group role and of no other CodeVector group. Runs after the
 * migrations, as the migrator, which needs CREATEROLE (or a DBA who created the logins and
 * granted the migrator ADMIN on them). Tolerates a concurrent migrator creating the same role.
 * @throws when a login role is a superuser or may bypass row security (it would defeat the
 * grants), or when the migrator may not manage roles.
 */
export async function provisionServiceLogins(
  databaseUrl: string,
  logins: ServiceLogin[],
  log: (line: string) => void = () => {},
): Promise<void> {
  if (logins.length === 0) return;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'codevector-migrate' });
  await client.connect();
  try {
    for (const login of logins) {
      const user = client.escapeIdentifier(login.user);
      const verifier = client.escapeLiteral(scramVerifier(login.password));
      const existing = await client.query('select rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = $1', [login.user]);
      let created = false;
      if (existing.rowCount === 0) {
        try {
          await client.query(`create role ${user} login inherit password ${verifier}`);
          created = true;
        } catch (error) {
          // 42710 duplicate_object: another migrator (or test file) created it meanwhile.
          if ((error as { code?: string }).code !== '42710') throw error;
        }
      } else {
        const attributes = roleRow(existing.rows[0]);
        if (attributes.rolsuper || attributes.rolbypassrls || attributes.rolcreaterole) {
          throw new Error(
            `database role ${login.user} is a superuser, bypasses row security or may create roles; give ${login.service} an ordinary login role`,
          );
        }
      }
      if (!created) await client.query(`alter role ${user} with login password ${verifier}`);
      // The login has its group's privileges and no other CodeVector group's.
      const group = client.escapeIdentifier(serviceGroupRoles[login.service]);
      await client.query(`grant ${group} to ${user}`);
      for (const [service, other] of Object.entries(serviceGroupRoles)) {
        if (service !== login.service) await client.query(`revoke ${client.escapeIdentifier(other)} from ${user}`);
      }
      log(`database login ${login.user} ready (${serviceGroupRoles[login.service]})`);
    }
  } finally {
    await client.end();
  }
}
