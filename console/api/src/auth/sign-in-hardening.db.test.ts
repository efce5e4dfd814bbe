import type { AddressInfo } from 'node:net';
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consoleConfigSchema } from '../config.ts';
import { adminEmail, adminPassword, startTestConsole } from '../testing/test-console.ts';
import { ensureBootstrapAdmin } from './bootstrap-admin.ts';
import type { ThrottlePolicies } from './login-throttle.ts';

// Sign-in hardening over real HTTP (a listening console, fetch) on real PostgreSQL. The test
// process is the console's only peer, 127.0.0.1, which this console trusts as its proxy, so
// X-Forwarded-For plays the part of the client address an ingress reports.
const policies: ThrottlePolicies = {
  pair: { free: 3, baseSeconds: 1, maxSeconds: 8, windowSeconds: 600 },
  source: { free: 8, baseSeconds: 30, maxSeconds: 60, windowSeconds: 600 },
  account: { free: 6, baseSeconds: 30, maxSeconds: 60, windowSeconds: 600 },
};
type Console = Awaited<ReturnType<typeof startTestConsole>>;
let t: Console;
let base: string;
/** The admin's own browser: signed in before any attack, so it holds a device cookie. */
let adminBrowser: Browser;

async function listen(c: Console): Promise<string> {
  await c.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(c.app.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await startTestConsole({ env: { TRUST_PROXY: '127.0.0.1' }, throttle: policies });
  base = await listen(t);
  adminBrowser = browser();
  expect((await login(adminBrowser, adminEmail, adminPassword, '192.0.2.1')).status).toBe(200);
});
afterAll(() => t.close());

type Browser = { cookies: Map<string, string> };
const browser = (): Browser => ({ cookies: new Map() });

async function login(
  b: Browser,
  email: string,
  password: string,
  from: string,
  url = base,
): Promise<{ status: number; retryAfter: number; csrf?: string; setCookies: string[] }> {
  const response = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': from,
      cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    },
    body: JSON.stringify({ email, password }),
  });
  const setCookies = response.headers.getSetCookie();
  for (const line of setCookies) {
    const [pair] = line.split(';');
    const [name, value] = pair!.split('=');
    b.cookies.set(name!, value!);
  }
  const body = (await response.json()) as { csrfToken?: string };
  return { status: response.status, retryAfter: Number(response.headers.get('retry-after') ?? 0), csrf: body.csrfToken, setCookies };
}

async function api(b: Browser, csrf: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      'x-csrf-token': csrf,
      cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}
const sessionOk = async (b: Browser) =>
  (await fetch(`${base}/api/session`, { headers: { cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } })).status;

async function createUser(email: string, password: string, role = 'member'): Promise<string> {
  const { csrf } = await login(adminBrowser, adminEmail, adminPassword, '192.0.2.1');
  const created = await api(adminBrowser, csrf!, 'POST', '/api/users', { email, role, password });
  return (created.json['user'] as { id: string }).id;
}

describe('sign-in throttling', () => {
  it('backs off exponentially per account and source, before checking the password, without locking the account elsewhere', async () => {
    const email = 'pat@example.com';
    await createUser(email, 'pat password 123');
    const attacker = browser();
    for (let i = 0; i < 2; i++) expect((await login(attacker, email, `guess ${i}`, '198.51.100.7')).status).toBe(401);
    // The third failure locks this pair for 1 s, the next for 2 s: each try waits longer.
    expect((await login(attacker, email, 'guess 2', '198.51.100.7')).status).toBe(401);
    const first = await login(attacker, email, 'pat password 123', '198.51.100.7');
    expect(first).toMatchObject({ status: 429, retryAfter: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await login(attacker, email, 'guess 3', '198.51.100.7')).status).toBe(401);
    const second = await login(attacker, email, 'pat password 123', '198.51.100.7');
    expect(second).toMatchObject({ status: 429, retryAfter: 2 });
    // Pat, from their own address, is not affected.
    expect((await login(browser(), email, 'pat password 123', '203.0.113.20')).status).toBe(200);
  });

  it('a stranger spraying the admin from many addresses cannot lock out the admin’s own browser', async () => {
    expect(adminBrowser.cookies.get('cv_device')).toBeTruthy();
    const stranger = browser();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login(stranger, adminEmail, `guess ${i}`, `198.51.100.${100 + i}`)).status);
    // From unknown devices the account as a whole backs off after `account.free` failures...
    expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(statuses.slice(6)).toEqual([429, 429, 429, 429]);
    expect((await login(browser(), adminEmail, adminPassword, '198.51.100.200')).status).toBe(429);
    // ...but the admin's browser, which signed in before, goes straight through, even from a new address.
    expect((await login(adminBrowser, adminEmail, adminPassword, '203.0.113.99')).status).toBe(200);
    // A device cookie forged or taken from another account does not count.
    const forger = browser();
    forger.cookies.set('cv_device', `${'A'.repeat(22)}.${'B'.repeat(43)}`);
    expect((await login(forger, adminEmail, adminPassword, '198.51.100.201')).status).toBe(429);
    const ownDevice = adminBrowser.cookies.get('cv_device')!;
    const other = browser();
    other.cookies.set('cv_device', ownDevice);
    expect((await login(other, 'pat@example.com', 'wrong', '198.51.100.202')).status).toBe(401);
  });

  it('limits one source across accounts (a spray), leaving other sources alone', async () => {
    const sprayer = browser();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login(sprayer, `user${i}@example.com`, 'Winter2026!', '198.51.100.50')).status);
    expect(statuses.slice(0, 8).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(8)).toEqual([429, 429]);
    expect((await login(browser(), 'pat@example.com', 'pat password 123', '198.51.100.51')).status).toBe(200);
  });

  it('believes X-Forwarded-For and X-Forwarded-Proto only from a trusted proxy', async () => {
    const direct = await startTestConsole({ env: { TRUST_PROXY: '10.255.255.1' }, throttle: policies });
    try {
      const url = await listen(direct);
      // Rotating X-Forwarded-For does not help an untrusted peer: the pair is (account, 127.0.0.1).
      const b = browser();
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await login(b, 'nobody@example.com', 'x', `198.51.100.${i}`, url)).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      // Nor does claiming https: the cookie is Secure only when a trusted proxy says so.
      const device = `cv_device=${adminBrowser.cookies.get('cv_device')}`;
      const plain = await fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.1', cookie: device },
        body: JSON.stringify({ email: adminEmail, password: adminPassword }),
      });
      expect(plain.status).toBe(200);
      expect(plain.headers.getSetCookie().find((c) => c.startsWith('cv_session='))).not.toMatch(/;\s*Secure/i);
    } finally {
      await direct.close();
    }
    const proxied = await login(adminBrowser, adminEmail, adminPassword, '203.0.113.2');
    expect(proxied.setCookies.find((c) => c.startsWith('cv_session='))).not.toMatch(/;\s*Secure/i);
    const https = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '203.0.113.3',
        cookie: `cv_device=${adminBrowser.cookies.get('cv_device')}`,
      },
      body: JSON.stringify({ email: adminEmail, password: adminPassword }),
    });
    const cookies = https.headers.getSetCookie();
    expect(cookies.find((c) => c.startsWith('cv_session='))).toMatch(/;\s*Secure/i);
    expect(cookies.find((c) => c.startsWith('cv_device='))).toMatch(/;\s*Secure/i);
    expect(() =>
      consoleConfigSchema.parse({ DATABASE_URL: 'postgres://x@y/z', SESSION_SECRET: 'x'.repeat(32), TRUST_PROXY: 'true' }),
    ).toThrow(/not `true`/);
  });
});

describe('sessions end when a password or role changes', () => {
  it('ends every session of a user whose password an admin reset, and of one whose role changed', async () => {
    const id = await createUser('sam@example.com', 'sam password 123');
    const laptop = browser();
    const phone = browser();
    await login(laptop, 'sam@example.com', 'sam password 123', '203.0.113.30');
    await login(phone, 'sam@example.com', 'sam password 123', '203.0.113.31');
    expect([await sessionOk(laptop), await sessionOk(phone)]).toEqual([200, 200]);
    const admin = adminBrowser;
    const { csrf } = await login(admin, adminEmail, adminPassword, '192.0.2.40');
    expect((await api(admin, csrf!, 'PATCH', `/api/users/${id}`, { password: 'sam new password 1' })).status).toBe(200);
    expect([await sessionOk(laptop), await sessionOk(phone)]).toEqual([401, 401]);
    expect(await sessionOk(admin)).toBe(200);
    await login(laptop, 'sam@example.com', 'sam new password 1', '203.0.113.30');
    expect(await sessionOk(laptop)).toBe(200);
    expect((await api(admin, csrf!, 'PATCH', `/api/users/${id}`, { role: 'auditor' })).status).toBe(200);
    expect(await sessionOk(laptop)).toBe(401);
    // A display-name change is not a reason to sign anyone out.
    await login(laptop, 'sam@example.com', 'sam new password 1', '203.0.113.30');
    expect((await api(admin, csrf!, 'PATCH', `/api/users/${id}`, { displayName: 'Sam' })).status).toBe(200);
    expect(await sessionOk(laptop)).toBe(200);
  });

  it('keeps the session of an admin who changes their own password, ending their others', async () => {
    const id = await createUser('ada@example.com', 'ada password 123', 'admin');
    const here = browser();
    const elsewhere = browser();
    const { csrf } = await login(here, 'ada@example.com', 'ada password 123', '203.0.113.50');
    await login(elsewhere, 'ada@example.com', 'ada password 123', '203.0.113.51');
    expect((await api(here, csrf!, 'PATCH', `/api/users/${id}`, { password: 'ada new password 1' })).status).toBe(200);
    expect([await sessionOk(here), await sessionOk(elsewhere)]).toEqual([200, 401]);
  });
});

describe('the bootstrap admin', () => {
  it('is set once: a password changed in the console survives restarts; the break-glass reset applies the configured one again', async () => {
    const admin = adminBrowser;
    const { csrf } = await login(admin, adminEmail, adminPassword, '192.0.2.60');
    const me = (await api(admin, csrf!, 'GET', '/api/session')).json['user'] as { id: string };
    expect((await api(admin, csrf!, 'PATCH', `/api/users/${me.id}`, { password: 'the admin chose this one' })).status).toBe(200);
    // A restart with the same configuration (what every pod start does).
    const restarted = await startTestConsole({ env: { TRUST_PROXY: '127.0.0.1' }, throttle: policies });
    try {
      const url = await listen(restarted);
      // (A second browser keeps the first one's session to watch it end on the reset.)
      const second: Browser = { cookies: new Map([['cv_device', admin.cookies.get('cv_device')!]]) };
      expect((await login(second, adminEmail, adminPassword, '192.0.2.61', url)).status).toBe(401);
      expect((await login(second, adminEmail, 'the admin chose this one', '192.0.2.62', url)).status).toBe(200);
      expect(await sessionOk(admin)).toBe(200);
      expect(await ensureBootstrapAdmin(restarted.deps.pool, adminEmail, adminPassword, { reset: true })).toBe('reset');
      expect(await sessionOk(admin)).toBe(401);
      expect((await login(second, adminEmail, adminPassword, '192.0.2.63', url)).status).toBe(200);
      const audit = await restarted.deps.pool.anyFirst(sql.type(z.object({ action: z.string() }))`
        select action from audit_log where target_name = ${adminEmail} and actor = 'system' order by id`);
      expect(audit).toEqual(['user.created', 'user.password_changed']);
    } finally {
      await restarted.close();
    }
  });
});
