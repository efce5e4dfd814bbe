import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adminEmail, adminPassword, startTestConsole } from '../testing/test-console.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
beforeAll(async () => {
  t = await startTestConsole({
    throttle: {
      pair: { free: 3, baseSeconds: 60, maxSeconds: 60, windowSeconds: 60 },
      source: { free: 100, baseSeconds: 60, maxSeconds: 60, windowSeconds: 60 },
      account: { free: 100, baseSeconds: 60, maxSeconds: 60, windowSeconds: 60 },
    },
  });
});
afterAll(() => t.close());

describe('console authentication', () => {
  it('creates the bootstrap admin once, audited as system', async () => {
    const rows = await t.deps.pool.any(sql.type(
      z.object({ action: z.string(), actor: z.string(), actor_source: z.string(), detail: z.unknown() }),
    )`
      select action, actor, actor_source, detail from audit_log where target_name = ${adminEmail}`);
    expect(rows).toEqual([
      expect.objectContaining({
        action: 'user.created',
        actor: 'system',
        actor_source: 'system',
        detail: expect.objectContaining({ after: expect.objectContaining({ role: 'admin' }) }),
      }),
    ]);
    expect(JSON.stringify(rows)).not.toContain('argon2');
    const { ensureBootstrapAdmin } = await import('./bootstrap-admin.ts');
    expect(await ensureBootstrapAdmin(t.deps.pool, adminEmail, adminPassword)).toBe('unchanged');
  });

  it('stores argon2id hashes and sets an httpOnly SameSite=Lax session cookie', async () => {
    const hash = await t.deps.pool.oneFirst(
      sql.type(z.object({ password_hash: z.string() }))`select password_hash from users where email = ${adminEmail}`,
    );
    expect(hash).toMatch(/^\$argon2id\$/);
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: adminEmail, password: adminPassword },
    });
    expect(response.statusCode).toBe(200);
    const cookie = response.cookies.find((c) => c.name === 'cv_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(cookie.secure).toBeFalsy();
    // The token itself is not in the database, only its keyed hash.
    const stored = await t.deps.pool.anyFirst(sql.type(z.object({ token_hash: z.instanceof(Buffer) }))`select token_hash from sessions`);
    expect(stored.some((h) => h.toString('utf8').includes(cookie.value))).toBe(false);
  });

  it('marks the cookie Secure behind an https proxy', async () => {
    const secure = await startTestConsole({ env: { TRUST_PROXY: '127.0.0.1' } });
    try {
      const response = await secure.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { 'x-forwarded-proto': 'https' },
        payload: { email: adminEmail, password: adminPassword },
      });
      expect(response.cookies.find((c) => c.name === 'cv_session')?.secure).toBe(true);
    } finally {
      await secure.close();
    }
  });

  it('rejects wrong passwords without telling unknown accounts apart', async () => {
    const wrong = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: adminEmail, password: 'nope' } });
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'ghost@example.com', password: 'nope' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
    expect(wrong.json().error.code).toBe('CON_INVALID_CREDENTIALS');
  });

  it('throttles repeated failures per account and source, even with the right password', async () => {
    const email = 'victim@example.com';
    const admin = await t.signIn();
    await admin.request('POST', '/api/users', { email, role: 'member', password: 'a long enough password' });
    for (let i = 0; i < 3; i++) {
      const r = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: `guess-${i}` } });
      expect(r.statusCode).toBe(401);
    }
    const locked = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: 'a long enough password' } });
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error.code).toBe('CON_THROTTLED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('requires the CSRF header on mutations and refuses cross-site origins', async () => {
    const admin = await t.signIn();
    const noToken = await t.app.inject({ method: 'POST', url: '/api/groups', headers: { cookie: admin.cookie }, payload: { name: 'x' } });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.json().error.code).toBe('CON_CSRF');
    const badToken = await t.app.inject({
      method: 'POST',
      url: '/api/groups',
      headers: { cookie: admin.cookie, 'x-csrf-token': 'forged' },
      payload: { name: 'x' },
    });
    expect(badToken.json().error.code).toBe('CON_CSRF');
    const foreign = await t.app.inject({
      method: 'POST',
      url: '/api/groups',
      headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken, origin: 'https://evil.example' },
      payload: { name: 'x' },
    });
    expect(foreign.json().error.code).toBe('CON_CSRF');
    const ok = await admin.request('POST', '/api/groups', { name: 'csrf-ok' });
    expect(ok.status).toBe(201);
  });

  it('enforces roles: members cannot read the audit log or manage users', async () => {
    const admin = await t.signIn();
    await admin.request('POST', '/api/users', { email: 'member@example.com', role: 'member', password: 'member password 1' });
    await admin.request('POST', '/api/users', { email: 'auditor@example.com', role: 'auditor', password: 'auditor password 1' });
    const member = await t.signIn('member@example.com', 'member password 1');
    expect((await member.request('GET', '/api/audit')).status).toBe(403);
    expect((await member.request('POST', '/api/users', { email: 'x@example.com', role: 'admin', password: 'x'.repeat(12) })).status).toBe(
      403,
    );
    const auditor = await t.signIn('auditor@example.com', 'auditor password 1');
    expect((await auditor.request('GET', '/api/audit')).status).toBe(200);
    expect((await auditor.request('POST', '/api/groups', { name: 'nope' })).status).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/api/audit' })).json().error.code).toBe('CON_UNAUTHENTICATED');
  });

  it('ends the session on sign-out and when the user is disabled', async () => {
    const admin = await t.signIn();
    await admin.request('POST', '/api/users', { email: 'leaver@example.com', role: 'member', password: 'leaver password 1' });
    const leaver = await t.signIn('leaver@example.com', 'leaver password 1');
    expect((await leaver.request('GET', '/api/session')).status).toBe(200);
    const users = (await admin.request('GET', '/api/users')).json.users as { id: string; email: string }[];
    const id = users.find((u) => u.email === 'leaver@example.com')!.id;
    expect((await admin.request('PATCH', `/api/users/${id}`, { disabled: true })).status).toBe(200);
    expect((await leaver.request('GET', '/api/session')).status).toBe(401);
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/auth/login',
          payload: { email: 'leaver@example.com', password: 'leaver password 1' },
        })
      ).statusCode,
    ).toBe(401);

    const again = await t.signIn();
    expect((await again.request('POST', '/api/auth/logout')).status).toBe(200);
    expect((await again.request('GET', '/api/session')).status).toBe(401);
  });

  it('puts password sign-ins, refused sign-ins and sign-outs on the record, never the password', async () => {
    const since = await t.deps.pool.oneFirst(sql.type(z.object({ id: z.number() }))`select coalesce(max(id), 0)::int as id from audit_log`);
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'nobody@example.com', password: 'guess number one' },
      remoteAddress: '198.51.100.9',
    });
    expect(wrong.statusCode).toBe(401);
    const admin = await t.signIn();
    expect((await admin.request('POST', '/api/auth/logout')).status).toBe(200);
    // A cookie whose session is gone ends nothing and writes nothing.
    expect((await admin.request('POST', '/api/auth/logout')).status).toBe(200);
    const rows = await t.deps.pool.any(
      sql.type(
        z.object({ action: z.string(), actor: z.string(), actor_source: z.string(), target_name: z.string(), detail: z.any() }),
      )`select action, actor, actor_source, target_name, detail from audit_log where id > ${since} order by id`,
    );
    expect(rows.map((r) => [r.action, r.actor, r.actor_source, r.target_name])).toEqual([
      ['user.sign_in_failed', 'nobody@example.com', 'console', 'nobody@example.com'],
      ['user.signed_in', adminEmail, 'console', adminEmail],
      ['user.signed_out', adminEmail, 'console', adminEmail],
    ]);
    expect(rows[0]!.detail).toMatchObject({ idp: 'local', ip: '198.51.100.9' });
    expect(rows[2]!.detail).toMatchObject({ idp: 'local' });
    expect(JSON.stringify(rows)).not.toMatch(/guess number one|correct horse/);
  });
});
