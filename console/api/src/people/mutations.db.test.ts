import { hashApiKey } from '@codevector/core/api-key';
import { sql, statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
});
afterAll(() => t.close());

const auditRow = z.object({
  action: z.string(),
  target_type: z.string(),
  target_id: z.string().nullable(),
  actor: z.string(),
  actor_source: z.string(),
  detail: z.any(),
  request_id: z.string().nullable(),
});
const auditFor = (targetId: string) =>
  t.deps.pool.any(
    sql.type(
      auditRow,
    )`select action, target_type, target_id, actor, actor_source, detail, request_id from audit_log where target_id = ${targetId} order by id`,
  );
const count = (table: 'users' | 'groups' | 'api_keys' | 'audit_log' | 'group_members') =>
  t.deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from ${sql.identifier([table])}`);

describe('user mutations', () => {
  it('creates a user with its audit row, without the password or hash', async () => {
    const r = await admin.request('POST', '/api/users', {
      email: 'dev@example.com',
      displayName: 'Dev',
      role: 'member',
      password: 'dev password 123',
    });
    expect(r.status).toBe(201);
    const rows = await auditFor(r.json.user.id);
    expect(rows).toEqual([
      expect.objectContaining({
        action: 'user.created',
        actor: 'admin@example.com',
        actor_source: 'console',
        detail: { before: null, after: { email: 'dev@example.com', displayName: 'Dev', role: 'member', disabled: false } },
      }),
    ]);
    expect(rows[0]!.request_id).toBeTruthy();
    expect(JSON.stringify(rows)).not.toMatch(/argon|password 123/);
  });

  it('changes role and disables with one row per change, diff showing only what changed', async () => {
    const { json } = await admin.request('POST', '/api/users', { email: 'ops@example.com', role: 'member', password: 'ops password 123' });
    const id = json.user.id as string;
    expect((await admin.request('PATCH', `/api/users/${id}`, { role: 'auditor' })).status).toBe(200);
    expect((await admin.request('PATCH', `/api/users/${id}`, { disabled: true })).status).toBe(200);
    const rows = await auditFor(id);
    expect(rows.map((r) => [r.action, r.detail])).toEqual([
      ['user.created', expect.anything()],
      ['user.role_changed', { before: { role: 'member' }, after: { role: 'auditor' } }],
      ['user.disabled', { before: { disabled: false }, after: { disabled: true } }],
    ]);
  });

  it('refuses to demote the last admin', async () => {
    const me = (await admin.request('GET', '/api/session')).json.user.id as string;
    const r = await admin.request('PATCH', `/api/users/${me}`, { role: 'member' });
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe('CON_LAST_ADMIN');
  });

  it('rejects invalid input with the field named', async () => {
    const r = await admin.request('POST', '/api/users', { email: 'not-an-email', role: 'member', password: 'long enough password' });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'CON_VALIDATION', message: expect.stringContaining('email') });
    const dup = await admin.request('POST', '/api/users', { email: 'DEV@example.com', role: 'member', password: 'long enough password' });
    expect(dup.json.error.code).toBe('CON_CONFLICT');
  });
});

describe('groups and membership', () => {
  it('audits create, update, member added/removed; a no-op writes nothing', async () => {
    const g = (await admin.request('POST', '/api/groups', { name: 'platform', description: 'Platform team' })).json.group;
    const u = (await admin.request('POST', '/api/users', { email: 'pat@example.com', role: 'member', password: 'pat password 123' })).json
      .user;
    expect((await admin.request('PATCH', `/api/groups/${g.id}`, { description: 'Platform engineering' })).status).toBe(200);
    expect((await admin.request('PATCH', `/api/groups/${g.id}`, { description: 'Platform engineering' })).status).toBe(200);
    expect((await admin.request('POST', `/api/groups/${g.id}/members`, { userId: u.id })).status).toBe(201);
    expect((await admin.request('POST', `/api/groups/${g.id}/members`, { userId: u.id })).status).toBe(201);
    const list = (await admin.request('GET', '/api/groups')).json.groups;
    expect(list.find((x: { id: string }) => x.id === g.id).members).toEqual([{ userId: u.id, email: 'pat@example.com' }]);
    expect((await admin.request('DELETE', `/api/groups/${g.id}/members/${u.id}`)).status).toBe(200);
    const rows = await auditFor(g.id);
    expect(rows.map((r) => r.action)).toEqual(['group.created', 'group.updated', 'group.member_added', 'group.member_removed']);
    expect(rows[1]!.detail).toEqual({ before: { description: 'Platform team' }, after: { description: 'Platform engineering' } });
    expect(rows[2]!.detail).toEqual({ before: { members: {} }, after: { members: { [u.id]: 'pat@example.com' } } });
  });
});

describe('API keys', () => {
  it('shows a created key once, stores only its hash, and lets members manage only their own', async () => {
    await admin.request('POST', '/api/users', { email: 'mem@example.com', role: 'member', password: 'mem password 123' });
    await admin.request('POST', '/api/users', { email: 'other@example.com', role: 'member', password: 'other password 1' });
    const mem = await t.signIn('mem@example.com', 'mem password 123');
    const other = await t.signIn('other@example.com', 'other password 1');
    const created = await mem.request('POST', '/api/api-keys', { name: 'laptop' });
    expect(created.status).toBe(201);
    expect(created.json.key).toMatch(/^cvk_[0-9A-Za-z]{40}$/);
    const stored = await t.deps.pool.one(sql.type(z.object({ hash: z.instanceof(Buffer), prefix: z.string() }))`
      select hash, prefix from api_keys where id = ${created.json.apiKey.id}`);
    expect(stored.hash.equals(hashApiKey(created.json.key))).toBe(true);
    expect(created.json.key.startsWith(stored.prefix)).toBe(true);
    // Listing never returns the key again.
    const listed = await mem.request('GET', '/api/api-keys');
    expect(listed.body).not.toContain(created.json.key);
    expect(listed.json.apiKeys).toHaveLength(1);
    // Another member cannot revoke it, or create keys for someone else, or list all.
    expect((await other.request('POST', `/api/api-keys/${created.json.apiKey.id}/revoke`)).status).toBe(404);
    expect((await other.request('POST', '/api/api-keys', { name: 'x', userId: created.json.apiKey.userId })).status).toBe(403);
    expect((await other.request('GET', '/api/api-keys?scope=all')).status).toBe(403);
    // The owner can; the audit trail has both rows, neither with key material.
    expect((await mem.request('POST', `/api/api-keys/${created.json.apiKey.id}/revoke`)).json.apiKey.revokedAt).toBeTruthy();
    const rows = await auditFor(created.json.apiKey.id);
    expect(rows.map((r) => [r.action, r.actor])).toEqual([
      ['api_key.created', 'mem@example.com'],
      ['api_key.revoked', 'mem@example.com'],
    ]);
    expect(rows[1]!.detail).toEqual({ before: { revoked: false }, after: { revoked: true } });
    expect(JSON.stringify(rows)).not.toContain(created.json.key.slice(12));
    // Admins can create for others and see all keys.
    const forOther = await admin.request('POST', '/api/api-keys', { name: 'ci', userId: created.json.apiKey.userId });
    expect(forOther.status).toBe(201);
    expect((await admin.request('GET', '/api/api-keys?scope=all')).json.apiKeys.length).toBeGreaterThanOrEqual(2);
  });
});

describe('a failing audit write', () => {
  it('fails every kind of mutation with nothing changed', async () => {
    const user = (await admin.request('POST', '/api/users', { email: 'keep@example.com', role: 'member', password: 'keep password 1' }))
      .json.user;
    const group = (await admin.request('POST', '/api/groups', { name: 'keep' })).json.group;
    const key = (await admin.request('POST', '/api/api-keys', { name: 'keep' })).json.apiKey;
    await t.deps.pool.query(statement`
      create function console_fail_audit() returns trigger language plpgsql as $$ begin raise exception 'audit storage offline'; end $$`);
    await t.deps.pool.query(statement`
      create trigger console_fail_audit before insert on audit_log for each row execute function console_fail_audit()`);
    const before = await Promise.all((['users', 'groups', 'api_keys', 'audit_log', 'group_members'] as const).map(count));
    try {
      const attempts = [
        await admin.request('POST', '/api/users', { email: 'never@example.com', role: 'member', password: 'never password 1' }),
        await admin.request('PATCH', `/api/users/${user.id}`, { role: 'admin' }),
        await admin.request('POST', '/api/groups', { name: 'never' }),
        await admin.request('POST', `/api/groups/${group.id}/members`, { userId: user.id }),
        await admin.request('POST', '/api/api-keys', { name: 'never' }),
        await admin.request('POST', `/api/api-keys/${key.id}/revoke`),
      ];
      for (const attempt of attempts) {
        expect(attempt.status).toBe(500);
        expect(attempt.json.error.code).toBe('CORE_AUDIT_WRITE_FAILED');
      }
      expect(await Promise.all((['users', 'groups', 'api_keys', 'audit_log', 'group_members'] as const).map(count))).toEqual(before);
      const unchanged = await t.deps.pool.one(sql.type(z.object({ role: z.string(), revoked: z.boolean() }))`
        select (select role from users where id = ${user.id}) as role, (select revoked_at is not null from api_keys where id = ${key.id}) as revoked`);
      expect(unchanged).toEqual({ role: 'member', revoked: false });
    } finally {
      await t.deps.pool.query(statement`drop trigger console_fail_audit on audit_log`);
    }
  });
});
