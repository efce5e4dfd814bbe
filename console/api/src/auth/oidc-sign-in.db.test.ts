import type { AddressInfo } from 'node:net';
import { sql } from '@codevector/core/create-pool';
import { type OidcTestProvider, startOidcProvider } from '@codevector/testbed/oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';

// SSO against a real OpenID provider (node-oidc-provider, OpenID Certified) over real HTTP: the
// authorization code flow with PKCE, driven the way a browser would (redirects, cookies, the
// IdP's own sign-in and consent forms). e2e/src/console-browser.test.ts does it in Chromium.
let idp: OidcTestProvider;
let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
let consoleOrigin: string;

const accounts = [
  { id: 'alice', email: 'alice@corp.example', name: 'Alice Admin', groups: ['platform-admins', 'ml-team'] },
  { id: 'bob', email: 'bob@corp.example', name: 'Bob Builder', groups: ['engineering'] },
  { id: 'eve', email: 'admin@example.com', name: 'Eve', groups: ['platform-admins'] },
];

beforeAll(async () => {
  // The console's port must be known for the IdP's redirect URI: reserve it by listening first.
  const probe = await startTestConsole();
  await probe.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (probe.app.server.address() as AddressInfo).port;
  await probe.close();
  consoleOrigin = `http://127.0.0.1:${port}`;
  idp = await startOidcProvider({ redirectUris: [`${consoleOrigin}/api/auth/oidc/callback`], accounts });
  t = await startTestConsole({
    env: {
      OIDC_ISSUER_URL: idp.issuer,
      OIDC_CLIENT_ID: idp.clientId,
      OIDC_CLIENT_SECRET: idp.clientSecret,
      OIDC_ROLE_MAPPING: 'platform-admins=admin,security=auditor',
      OIDC_GROUP_MAPPING: 'ml-team=ml',
      OIDC_DISPLAY_NAME: 'Corp SSO',
      OIDC_IDP_NAME: 'corp',
    },
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  admin = await t.signIn();
  expect((await admin.request('POST', '/api/groups', { name: 'ml', description: 'ML team' })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await idp?.close();
});

/** A browser's cookie jar and redirect following, enough for the code flow. */
function browser() {
  const jar = new Map<string, Map<string, string>>();
  const cookieHeader = (url: URL) => [...(jar.get(url.host) ?? new Map())].map(([k, v]) => `${k}=${v}`).join('; ');
  const remember = (url: URL, response: Response) => {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const cookies = jar.get(url.host) ?? new Map<string, string>();
      const value = pair.slice(at + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) cookies.delete(pair.slice(0, at));
      else cookies.set(pair.slice(0, at), value);
      jar.set(url.host, cookies);
    }
  };
  async function go(
    start: string,
    init: { method?: string; form?: Record<string, string> } = {},
  ): Promise<{ url: URL; status: number; html: string }> {
    let url = new URL(start);
    let method = init.method ?? 'GET';
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      const response = await fetch(url, {
        method,
        redirect: 'manual',
        headers: { cookie: cookieHeader(url), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(body ? { body } : {}),
      });
      remember(url, response);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        url = new URL(location, url);
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url, status: response.status, html: await response.text() };
    }
    throw new Error('too many redirects');
  }
  /** Signs in at the IdP as `login`, consenting when asked; returns where the console sent the browser. */
  async function signIn(login: string, returnTo = '/admin/audit-log') {
    let page = await go(`${consoleOrigin}/api/auth/oidc/start?returnTo=${encodeURIComponent(returnTo)}`);
    for (let step = 0; step < 3 && page.url.origin === idp.issuer; step++) {
      const action = /<form[^>]*action="([^"]+)"/.exec(page.html)?.[1];
      if (!action) throw new Error(`no form on ${page.url}: ${page.html.slice(0, 300)}`);
      const prompt = /name="prompt" value="(\w+)"/.exec(page.html)?.[1] ?? 'login';
      page = await go(new URL(action, page.url).href, {
        method: 'POST',
        form: prompt === 'login' ? { prompt, login, password: 'unused' } : { prompt },
      });
    }
    return page;
  }
  return { go, signIn, cookie: (host: string, name: string) => jar.get(host)?.get(name) };
}

const sessionOf = async (b: ReturnType<typeof browser>) => {
  const response = await fetch(`${consoleOrigin}/api/session`, {
    headers: { cookie: `cv_session=${b.cookie(new URL(consoleOrigin).host, 'cv_session')}` },
  });
  return { status: response.status, json: (await response.json()) as { user?: { email: string; role: string } } };
};
const audit = () =>
  t.deps.pool.any(sql.type(
    z.object({ action: z.string(), actor: z.string(), actor_source: z.string(), target_name: z.string().nullable(), detail: z.any() }),
  )`
    select action, actor, actor_source, target_name, detail from audit_log order by id`);

describe('single sign-on through an OpenID provider', () => {
  it('tells the sign-in page that SSO is on', async () => {
    const r = await fetch(`${consoleOrigin}/api/auth/providers`);
    expect(await r.json()).toEqual({ password: true, sso: { name: 'Corp SSO', start: '/api/auth/oidc/start' } });
  });

  it('signs a new person in with the role and groups their IdP groups map to, and audits it', async () => {
    const b = browser();
    const landed = await b.signIn('alice');
    expect(landed.url.href).toBe(`${consoleOrigin}/admin/audit-log`);
    const session = await sessionOf(b);
    expect(session.json.user).toMatchObject({ email: 'alice@corp.example', role: 'admin' });
    const rows = (await audit()).filter(
      (r) => r.actor !== 'admin@example.com' && (r.target_name === 'ml' || r.target_name === 'alice@corp.example'),
    );
    expect(rows.map((r) => [r.action, r.actor, r.actor_source])).toEqual([
      ['user.created', 'corp', 'idp'],
      ['group.member_added', 'corp', 'idp'],
      ['user.signed_in', 'alice@corp.example', 'console'],
    ]);
  });

  it('gives people in no mapped group the default role', async () => {
    const b = browser();
    await b.signIn('bob');
    expect((await sessionOf(b)).json.user).toMatchObject({ email: 'bob@corp.example', role: 'member' });
  });

  it('takes the role and group away at the next sign-in once the IdP removes the person from the group', async () => {
    idp.setGroups('alice', ['engineering']);
    const b = browser();
    await b.signIn('alice');
    expect((await sessionOf(b)).json.user).toMatchObject({ role: 'member' });
    const rows = await audit();
    expect(rows.find((r) => r.action === 'user.role_changed')).toMatchObject({
      actor: 'corp',
      actor_source: 'idp',
      target_name: 'alice@corp.example',
      detail: { before: { role: 'admin' }, after: { role: 'member' }, source: 'group claim' },
    });
    expect(rows.filter((r) => r.action === 'group.member_removed' && r.target_name === 'ml')).toHaveLength(1);
    const members = await t.deps.pool.anyFirst(sql.type(z.object({ email: z.string() }))`
      select u.email from group_members gm join groups g on g.id = gm.group_id join users u on u.id = gm.user_id where g.name = 'ml'`);
    expect(members).toEqual([]);
  });

  it('never takes over a local account with the same e-mail', async () => {
    const b = browser();
    const landed = await b.signIn('eve');
    expect(landed.url.pathname).toBe('/');
    expect(landed.url.searchParams.get('signInError')).toMatch(/local account already uses this e-mail/);
    expect((await sessionOf(b)).status).toBe(401);
    expect((await audit()).at(-1)).toMatchObject({ action: 'user.sign_in_failed', actor: 'admin@example.com', actor_source: 'idp' });
  });

  it('refuses a callback that no sign-in attempt of this browser started (forged or replayed state)', async () => {
    const victim = browser();
    const start = await fetch(`${consoleOrigin}/api/auth/oidc/start`, { redirect: 'manual' });
    const authorize = new URL(start.headers.get('location')!);
    const forged = `${consoleOrigin}/api/auth/oidc/callback?code=stolen&state=${authorize.searchParams.get('state')}`;
    const landed = await victim.go(forged);
    expect(landed.url.searchParams.get('signInError')).toMatch(/no sign-in attempt/);
    expect((await sessionOf(victim)).status).toBe(401);
  });

  it('turns password sign-in off when the installation says so', async () => {
    const ssoOnly = await startTestConsole({ env: { CONSOLE_LOCAL_LOGIN: 'false' } });
    try {
      const r = await ssoOnly.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: 'admin@example.com', password: 'x' },
      });
      expect(r.statusCode).toBe(403);
      expect(r.json().error.message).toMatch(/sign in with SSO/);
    } finally {
      await ssoOnly.close();
    }
  });

  it('refuses to redirect anywhere but this console after sign-in', async () => {
    const b = browser();
    const landed = await b.signIn('bob', '//evil.example/phish');
    expect(landed.url.href).toBe(`${consoleOrigin}/`);
  });
});
