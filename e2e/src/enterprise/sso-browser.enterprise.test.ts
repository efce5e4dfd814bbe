// biome-ignore-all lint/performance/useDomNodeTextContent: these are Playwright's innerText(), not the DOM property
// Single sign-on in a real browser (issue #13 §1): Debian's Chromium, driven by playwright-core,
// signs people in to the console through a real OpenID provider (node-oidc-provider, OpenID
// Certified, run as a server: testbed/src/oidc-provider.ts; Dex does not build from the module
// proxy here, ADR 0305), clicking the IdP's own sign-in and consent pages. Groups in the claim
// map to roles at every sign-in; sign-in, refused sign-in, role change and sign-out are audit rows.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ensureBootstrapAdmin } from '@codevector/console-api/auth/bootstrap-admin';
import { buildApp } from '@codevector/console-api/build-app';
import { consoleConfigSchema } from '@codevector/console-api/config';
import { createDeps } from '@codevector/console-api/create-deps';
import { sql, statement } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { freePort } from '@codevector/testbed/free-port';
import { type OidcTestProvider, startOidcProvider } from '@codevector/testbed/oidc-provider';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { launchChromium } from '../chromium.ts';
import { recordEnterpriseFigures } from './enterprise-figures.ts';

const webDir = fileURLToPath(new URL('../../../console/web/', import.meta.url));
const dist = `${webDir}dist`;
const shots = fileURLToPath(new URL('../../../test-results/', import.meta.url));

let browser: Browser;
let idp: OidcTestProvider;
let baseUrl: string;
let deps: Awaited<ReturnType<typeof createDeps>>;
let close: () => Promise<void>;
const contexts: BrowserContext[] = [];
let lastPage: Page | undefined;
const figures = {
  sso_login_ok: 0,
  sso_role_from_claim_ok: 0,
  sso_role_change_ok: 0,
  sso_refused_ok: 0,
  sso_cancelled_ok: 0,
  sso_sign_out_ok: 0,
};

beforeAll(async () => {
  if (!existsSync(`${dist}/index.html`)) {
    const vite = fileURLToPath(new URL('../../../node_modules/vite/bin/vite.js', import.meta.url));
    const build = spawnSync(process.execPath, [vite, 'build'], { cwd: webDir, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`web build failed:\n${build.stdout}\n${build.stderr}`);
  }
  await mkdir(shots, { recursive: true });
  // The IdP needs the console's redirect URI before either listens: pick the port first.
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  idp = await startOidcProvider({
    redirectUris: [`${baseUrl}/api/auth/oidc/callback`],
    accounts: [
      { id: 'alice', email: 'alice@corp.example', name: 'Alice Admin', groups: ['platform-admins', 'ml-team'] },
      { id: 'sam', email: 'sam@corp.example', name: 'Sam Security', groups: ['security'] },
      { id: 'mallory', email: 'mallory@corp.example', name: 'Mallory', groups: ['contractors'] },
    ],
  });
  const config = consoleConfigSchema.parse({
    DATABASE_URL: process.env['DATABASE_URL'],
    SESSION_SECRET: 'sso-browser-secret-sso-browser-secret-01',
    GATEWAY_PUBLIC_URL: 'https://gateway.example.com',
    CONSOLE_WEB_DIST: dist,
    PORT: String(port),
    OIDC_ISSUER_URL: idp.issuer,
    OIDC_CLIENT_ID: idp.clientId,
    OIDC_CLIENT_SECRET: idp.clientSecret,
    OIDC_DISPLAY_NAME: 'Corp SSO',
    OIDC_IDP_NAME: 'corp',
    OIDC_ROLE_MAPPING: 'platform-admins=admin,security=auditor,engineering=member',
    OIDC_GROUP_MAPPING: 'ml-team=ml',
    // People in no mapped group are refused rather than let in as members.
    OIDC_DEFAULT_ROLE: 'none',
  });
  const logger = createLogger({ name: 'sso-e2e', level: 'silent' });
  deps = await createDeps(config, logger);
  await ensureBootstrapAdmin(deps.pool, 'admin@example.com', 'correct horse battery staple');
  // The CodeVector group the IdP's ml-team maps to (Budgets and RateLimits name groups).
  await deps.pool.query(statement`insert into groups (name, description) values ('ml', 'ML team')`);
  const app = await buildApp(deps);
  await app.listen({ port, host: '127.0.0.1' });
  browser = await launchChromium();
  close = async () => {
    await browser.close();
    await app.close();
    await deps.close();
    await idp.close();
  };
});
afterAll(async () => {
  recordEnterpriseFigures('sso', figures);
  await close?.();
});
afterEach(async (context) => {
  if (context.task.result?.state === 'fail' && lastPage)
    await lastPage.screenshot({ path: `${shots}sso-failed-${context.task.name.replace(/\W+/g, '-')}.png`, fullPage: true }).catch(() => {});
});

/** A browser profile of its own (its own IdP session), on the console's sign-in page. */
async function freshPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'UTC' });
  contexts.push(context);
  const page = await context.newPage();
  lastPage = page;
  await page.goto(`${baseUrl}/admin/audit-log`);
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  return page;
}

/** Clicks through the IdP: its sign-in form (when it has no session yet) and its consent page. */
async function signInAtIdp(page: Page, login: string): Promise<void> {
  await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
  await page.waitForURL((url) => url.href.startsWith(idp.issuer));
  for (let step = 0; step < 3; step++) {
    await page.waitForLoadState();
    if (!page.url().startsWith(idp.issuer)) return;
    const loginField = page.locator('input[name="login"]');
    if (await loginField.count()) {
      await loginField.fill(login);
      await page.locator('input[name="password"]').fill('any password');
      await Promise.all([page.waitForNavigation(), page.locator('button[type="submit"]').click()]);
    } else {
      // The consent page: one form, one submit button.
      await Promise.all([page.waitForNavigation(), page.locator('button[type="submit"]').first().click()]);
    }
  }
}

const signedInAs = async (page: Page) => {
  const badge = page.locator('header .badge');
  await badge.waitFor();
  return { header: await page.locator('header').innerText(), role: await badge.innerText() };
};
const audit = (email: string) =>
  deps.pool.any(sql.type(z.object({ action: z.string(), actor: z.string(), actor_source: z.string(), detail: z.any() }))`
    select action, actor, actor_source, detail from audit_log where target_name = ${email} order by id`);

const members = (group: string) =>
  deps.pool.anyFirst(sql.type(z.object({ email: z.string() }))`
    select u.email from group_members gm join groups g on g.id = gm.group_id join users u on u.id = gm.user_id
    where g.name = ${group} order by u.email`);

describe('single sign-on in Chromium through a real OpenID provider', () => {
  it('shows the SSO button and signs a platform admin in as admin, on the record', async () => {
    const page = await freshPage();
    await signInAtIdp(page, 'alice');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/audit-log');
    const who = await signedInAs(page);
    expect(who.header).toContain('alice@corp.example');
    expect(who.role).toBe('admin');
    const session = (await page.evaluate(async () => (await fetch('/api/session')).json())) as { user: unknown };
    expect(session.user).toMatchObject({ email: 'alice@corp.example', role: 'admin' });
    expect((await audit('alice@corp.example')).map((r) => [r.action, r.actor, r.actor_source])).toEqual([
      ['user.created', 'corp', 'idp'],
      ['user.signed_in', 'alice@corp.example', 'console'],
    ]);
    expect(await members('ml')).toEqual(['alice@corp.example']);
    figures.sso_login_ok = 1;
  });

  it('maps the security group to the auditor role', async () => {
    const page = await freshPage();
    await signInAtIdp(page, 'sam');
    expect((await signedInAs(page)).role).toBe('auditor');
    figures.sso_role_from_claim_ok = 1;
  });

  it('signs out, on the record', async () => {
    const page = lastPage!;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    expect(await page.evaluate(async () => (await fetch('/api/session')).status)).toBe(401);
    expect((await audit('sam@corp.example')).at(-1)).toMatchObject({
      action: 'user.signed_out',
      actor: 'sam@corp.example',
      detail: { idp: 'corp' },
    });
    figures.sso_sign_out_ok = 1;
  });

  it('changes the role at the next sign-in once the IdP moves the person to another group, on the record', async () => {
    idp.setGroups('alice', ['security']);
    const page = await freshPage();
    await signInAtIdp(page, 'alice');
    expect((await signedInAs(page)).role).toBe('auditor');
    const rows = await audit('alice@corp.example');
    expect(rows.find((r) => r.action === 'user.role_changed')).toMatchObject({
      actor: 'corp',
      actor_source: 'idp',
      detail: { before: { role: 'admin' }, after: { role: 'auditor' }, source: 'group claim' },
    });
    // The IdP took her out of ml-team too: out of the CodeVector group, on the record.
    expect(await members('ml')).toEqual([]);
    const groupRows = await deps.pool.anyFirst(sql.type(z.object({ action: z.string() }))`
      select action from audit_log where target_name = 'ml' and actor = 'corp' order by id`);
    expect(groupRows).toEqual(['group.member_added', 'group.member_removed']);
    // An auditor reads the audit log but changes nothing: the console refuses their mutations.
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const status = await page.evaluate(async () => {
      const { csrfToken } = (await (await fetch('/api/session')).json()) as { csrfToken: string };
      const r = await fetch('/api/groups', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
        body: JSON.stringify({ name: 'sneaky', description: '' }),
      });
      return r.status;
    });
    expect(status).toBe(403);
    figures.sso_role_change_ok = 1;
  });

  it('refuses a person none of whose groups is mapped, says why, and records the refusal', async () => {
    const page = await freshPage();
    await signInAtIdp(page, 'mallory');
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    await expect.poll(() => page.locator('body').innerText()).toMatch(/no group of this person is mapped to a console role/);
    expect(await page.evaluate(async () => (await fetch('/api/session')).status)).toBe(401);
    expect(await audit('mallory@corp.example')).toEqual([
      expect.objectContaining({ action: 'user.sign_in_failed', actor: 'mallory@corp.example', actor_source: 'idp' }),
    ]);
    figures.sso_refused_ok = 1;
  });
  it('records a sign-in the person cancelled at the IdP as refused, and lets nobody in', async () => {
    const page = await freshPage();
    const before = await deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log where action = 'user.sign_in_failed'`);
    await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
    await page.locator('input[name="login"]').waitFor();
    await page.getByRole('link', { name: '[ Cancel ]' }).click();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    await expect.poll(() => page.locator('body').innerText()).toMatch(/identity provider refused the sign-in: access_denied/);
    expect(await page.evaluate(async () => (await fetch('/api/session')).status)).toBe(401);
    const refused = await deps.pool.any(sql.type(z.object({ actor: z.string(), detail: z.any() }))`
      select actor, detail from audit_log where action = 'user.sign_in_failed' order by id offset ${before}`);
    expect(refused).toEqual([expect.objectContaining({ actor: 'unknown', detail: expect.objectContaining({ idp: 'corp' }) })]);
    expect(String(refused[0]!.detail.reason)).toMatch(/^the identity provider refused the sign-in: access_denied/);
    figures.sso_cancelled_ok = 1;
  });
});
