import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionServiceLogins, type Service, serviceDatabaseUrl } from './service-roles.ts';
import { createTestServiceLogin } from './test-service-login.ts';

// Every service role against the audit log, on a real PostgreSQL with the real migrations: the
// refusals are PostgreSQL's own (42501 insufficient_privilege), not the application's.
const adminUrl = process.env['DATABASE_URL']!;
const services: Service[] = ['operator', 'gateway', 'console'];
const logins = new Map<Service, Awaited<ReturnType<typeof createTestServiceLogin>>>();
const clients = new Map<Service, pg.Client>();
let admin: pg.Client;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`insert into audit_log (action, target_type, actor, actor_source) values ('test.seed', 'test', 'system', 'system')`);
  for (const service of services) {
    const login = await createTestServiceLogin(service);
    logins.set(service, login);
    const client = new pg.Client({ connectionString: login.url });
    await client.connect();
    clients.set(service, client);
  }
});
afterAll(async () => {
  for (const client of clients.values()) await client.end();
  for (const login of logins.values()) await login.drop();
  await admin.end();
});

async function sqlState(service: Service, text: string): Promise<string | null> {
  try {
    await clients.get(service)!.query(text);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'unknown';
  }
}

describe.each(services)('the %s role and the audit log', (service) => {
  it('may insert an audit row under its own actor_source (and read back its id)', async () => {
    const source = { operator: 'kubernetes', gateway: 'gateway', console: 'console' }[service];
    const result = await clients
      .get(service)!
      .query(`insert into audit_log (action, target_type, actor, actor_source) values ('test.inserted', 'test', $1, $2) returning id`, [
        service,
        source,
      ]);
    expect(result.rows[0].id).toBeDefined();
  });

  it.each([
    ['UPDATE', `update audit_log set actor = 'mallory'`],
    ['DELETE', 'delete from audit_log'],
    ['TRUNCATE', 'truncate audit_log'],
    ['TRUNCATE … CASCADE', 'truncate audit_log, audit_chain cascade'],
    ['DISABLE TRIGGER ALL', 'alter table audit_log disable trigger all'],
    ['DISABLE TRIGGER forbid_update', 'alter table audit_log disable trigger audit_log_forbid_update'],
    ['DROP TRIGGER', 'drop trigger audit_log_forbid_update on audit_log'],
    ['session_replication_role (skips triggers)', 'set session_replication_role = replica'],
    ['UPDATE the chain', 'update audit_chain set hash = hash'],
    ['DELETE the chain', 'delete from audit_chain'],
    ['move the retention base', 'update audit_chain_state set base_seq = 0'],
    ['change retention', 'update audit_retention set days = 1'],
    [
      'replace the facet trigger function',
      'create or replace function audit_log_record_facets() returns trigger language plpgsql as $$ begin return null; end $$',
    ],
    ['create a table', 'create table sneaky (id int)'],
  ])('is refused %s', async (_label, statement) => {
    expect(await sqlState(service, statement)).toBe('42501');
  });
});

describe("audit rows under another service's name", () => {
  const insert = (source: string) =>
    `insert into audit_log (action, target_type, actor, actor_source) values ('user.created', 'user', 'admin@example.com', '${source}')`;
  it.each([
    ['gateway', 'console'],
    ['gateway', 'kubernetes'],
    ['gateway', 'system'],
    ['operator', 'console'],
    ['operator', 'gateway'],
    ['console', 'kubernetes'],
    ['console', 'gateway'],
  ] as const)('%s may not write a row with actor_source %s', async (service, source) => {
    expect(await sqlState(service, insert(source))).toBe('42501');
  });
  it.each([
    ['gateway', 'gateway'],
    ['operator', 'kubernetes'],
    ['operator', 'system'],
    ['console', 'console'],
    ['console', 'system'],
  ] as const)('%s may write a row with actor_source %s', async (service, source) => {
    expect(await sqlState(service, insert(source))).toBeNull();
  });
});

describe('least privilege beyond the audit log', () => {
  it.each([
    ['gateway', `insert into users (email, role) values ('x@example.com', 'admin')`],
    ['gateway', 'update api_keys set revoked_at = null'],
    ['gateway', 'delete from usage'],
    ['gateway', 'select * from sessions'],
    ['gateway', `update providers set spec = '{}'`],
    ['gateway', `select audit_prune(1, '\\x00')`],
    ['operator', 'select * from sessions'],
    ['operator', 'select * from users'],
    // The operator reads the audit log (it streams it to AuditSinks, ADR 0306) but never changes it.
    ['operator', 'delete from audit_chain'],
    ['operator', 'insert into audit_chain (seq, audit_id, hash) values (0, 0, null)'],
    ['operator', `select audit_prune(1, '\\x00')`],
    ['console', `update providers set spec = '{}'`],
    ['console', `insert into usage (request_id, model, status, outcome, latency_ms) values ('r', 'm', 200, 'ok', 1)`],
    ['console', 'update budget_windows set spent_usd = 0'],
  ] as const)('%s is refused: %s', async (service, statement) => {
    expect(await sqlState(service, statement)).toBe('42501');
  });

  it('the gateway may stamp a key as used but change nothing else about it', async () => {
    expect(await sqlState('gateway', 'update api_keys set last_used_at = now()')).toBeNull();
    expect(await sqlState('gateway', 'update api_keys set expires_at = null')).toBe('42501');
  });

  it('the console may prune only through audit_prune, which refuses while retention is unset', async () => {
    const error = await clients
      .get('console')!
      .query(`select audit_prune(1, '\\x00')`)
      .catch((e: unknown) => e as Error);
    expect(String(error)).toContain('audit retention is not configured');
  });
});

describe('every table has an owner-decided grant', () => {
  it('grants each table to at least one service role, and no service role owns anything', async () => {
    // A migration that adds a table must say which service may use it; running tests as the
    // superuser would never notice the missing grant, production would.
    const ungranted = async () =>
      (
        await admin.query(`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p')
        and not exists (
          select 1 from unnest(array['codevector_operator', 'codevector_gateway', 'codevector_console']) r
          where has_table_privilege(r, c.oid, 'select, insert, update, delete')
             or has_any_column_privilege(r, c.oid, 'select, insert, update'))
      order by 1`)
      ).rows.map((r) => r.relname);
    expect(await ungranted()).toEqual([]);
    // The check itself: a table added without a grant is named.
    await admin.query('create table ungranted_probe (id int)');
    try {
      expect(await ungranted()).toEqual(['ungranted_probe']);
    } finally {
      await admin.query('drop table ungranted_probe');
    }
    const owned = await admin.query(`
      select c.relname from pg_class c join pg_roles r on r.oid = c.relowner
      where not r.rolsuper and exists (
        select 1 from unnest(array['codevector_operator', 'codevector_gateway', 'codevector_console']) g
        where pg_has_role(r.oid, g, 'member'))`);
    expect(owned.rows).toEqual([]);
  });
});

describe('provisioning login roles', () => {
  it('stores a SCRAM verifier, rotates the password, and refuses a superuser login', async () => {
    const user = `cvt_${randomBytes(5).toString('hex')}_rotate`;
    const first = randomBytes(18).toString('base64url');
    const second = randomBytes(18).toString('base64url');
    await provisionServiceLogins(adminUrl, [{ service: 'gateway', user, password: first }]);
    try {
      const stored = await admin.query('select rolpassword from pg_authid where rolname = $1', [user]);
      expect(stored.rows[0].rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(stored.rows[0].rolpassword).not.toContain(first);
      await provisionServiceLogins(adminUrl, [{ service: 'gateway', user, password: second }]);
      const ok = new pg.Client({ connectionString: serviceDatabaseUrl(adminUrl, { user, password: second }) });
      await ok.connect();
      const membership = await ok.query(
        `select pg_has_role('codevector_gateway', 'usage') as gw, pg_has_role('codevector_console', 'usage') as con`,
      );
      await ok.end();
      expect(membership.rows[0]).toEqual({ gw: true, con: false });
      const stale = new pg.Client({ connectionString: serviceDatabaseUrl(adminUrl, { user, password: first }) });
      await expect(stale.connect()).rejects.toThrow(/password authentication failed/);
      await admin.query(`alter role ${admin.escapeIdentifier(user)} superuser`);
      await expect(provisionServiceLogins(adminUrl, [{ service: 'gateway', user, password: second }])).rejects.toThrow(/superuser/);
    } finally {
      await admin.query(`drop role if exists ${admin.escapeIdentifier(user)}`);
    }
  });
});
