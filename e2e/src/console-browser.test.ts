// biome-ignore-all lint/performance/useDomNodeTextContent: these are Playwright's innerText(), not the DOM property
// The console in a real browser (DESIGN §7): Debian's Chromium driven by playwright-core against
// a console API on a real port, on this file's PostgreSQL database. Screenshots land in
// test-results/ (git-ignored).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startAuditSealer } from '@codevector/console-api/audit/audit-sealer';
import { ensureBootstrapAdmin } from '@codevector/console-api/auth/bootstrap-admin';
import { buildApp } from '@codevector/console-api/build-app';
import { consoleConfigSchema } from '@codevector/console-api/config';
import { createDeps } from '@codevector/console-api/create-deps';
import { sql, statement } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { launchChromium } from './chromium.ts';

const webDir = fileURLToPath(new URL('../../console/web/', import.meta.url));
const dist = `${webDir}dist`;
const shots = fileURLToPath(new URL('../../test-results/', import.meta.url));
const adminEmail = 'admin@example.com';
const adminPassword = 'correct horse battery staple';

let browser: Browser;
let page: Page;
let baseUrl: string;
let deps: Awaited<ReturnType<typeof createDeps>>;
let close: () => Promise<void>;

beforeAll(async () => {
  if (!existsSync(`${dist}/index.html`)) {
    const vite = fileURLToPath(new URL('../../node_modules/vite/bin/vite.js', import.meta.url));
    const build = spawnSync(process.execPath, [vite, 'build'], { cwd: webDir, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`web build failed:\n${build.stdout}\n${build.stderr}`);
  }
  await mkdir(shots, { recursive: true });
  const config = consoleConfigSchema.parse({
    DATABASE_URL: process.env['DATABASE_URL'],
    SESSION_SECRET: 'browser-test-secret-browser-test-secret',
    GATEWAY_PUBLIC_URL: 'https://gateway.example.com',
    CONSOLE_WEB_DIST: dist,
    PORT: '0',
  });
  const logger = createLogger({ name: 'console-e2e', level: 'silent' });
  deps = await createDeps(config, logger);
  await ensureBootstrapAdmin(deps.pool, adminEmail, adminPassword);
  // 120 gateway rejections and Kubernetes changes from 2 days ago, so there are pages to turn.
  await deps.pool.query(statement`
    insert into audit_log (at, action, target_type, target_name, actor, actor_source, detail)
    select now() - interval '2 days' + i * interval '1 minute',
      case when i % 3 = 0 then 'provider.updated' else 'gateway.budget_exceeded' end,
      case when i % 3 = 0 then 'provider' else 'api_key' end,
      case when i % 3 = 0 then 'team-a/anthropic' else 'laptop' end,
      case when i % 3 = 0 then 'system:serviceaccount:argocd:argocd-application-controller' else 'dev' || (i % 4) || '@example.com' end,
      case when i % 3 = 0 then 'kubernetes' else 'gateway' end,
      case when i % 3 = 0 then jsonb_build_object('before', jsonb_build_object('timeoutSeconds', 30, 'headers', jsonb_build_object('x-team', 'a')),
                                                  'after', jsonb_build_object('timeoutSeconds', 60, 'baseURL', 'https://proxy.internal'))
           else jsonb_build_object('budget', 'team-a/monthly', 'limitUsd', 100, 'spentUsd', 100.42, 'resetsAt', '2030-02-01T00:00:00Z') end
    from generate_series(1, 120) i`);
  const app = await buildApp(deps);
  const stopSealer = startAuditSealer(deps.pool, logger, 300);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  baseUrl = `http://127.0.0.1:${address.port}`;
  browser = await launchChromium();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1360, height: 900 }, timezoneId: 'UTC' });
  page = await context.newPage();
  page.on('dialog', (dialog) => void dialog.accept());
  close = async () => {
    await browser.close();
    await app.close();
    await stopSealer();
    await deps.close();
  };
});
afterAll(async () => {
  await close?.();
});
// A failing step leaves a picture of what the browser showed.
afterEach(async (context) => {
  if (context.task.result?.state === 'fail') await shot(`failed-${context.task.name.replace(/\W+/g, '-')}`).catch(() => {});
});

const shot = (name: string) => page.screenshot({ path: `${shots}console-${name}.png`, fullPage: true });
const rows = () => page.locator('table.audit-table tbody tr[data-audit-id]');
const columnTexts = (column: number) => rows().locator(`td:nth-child(${column})`).allInnerTexts();
const search = () => new URL(page.url()).searchParams;

describe('console in Chromium', () => {
  it('signs in with the keyboard alone', async () => {
    await page.goto(`${baseUrl}/admin/audit-log`);
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    await shot('sign-in');
    // The email field has focus on load; Tab moves to the password; Enter submits.
    await page.keyboard.type(adminEmail);
    await page.keyboard.press('Tab');
    await page.keyboard.type(adminPassword);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/audit-log');
  });

  it('creates a user', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    const form = page.getByRole('form', { name: 'Create user' });
    await form.getByLabel('Email', { exact: true }).fill('dana@example.com');
    await form.getByLabel('Display name', { exact: true }).fill('Dana Scully');
    await form.getByLabel(/^Role/).selectOption('auditor');
    await form.getByLabel('Initial password', { exact: true }).fill('dana password 123');
    await form.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'Created dana@example.com' }).waitFor();
    await page.getByRole('cell', { name: 'dana@example.com', exact: true }).waitFor();
    await shot('users');
  });

  it('creates an API key and shows it once', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Key name', { exact: true }).fill('ci-runner');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByTestId('new-key').innerText();
    expect(key).toMatch(/^cvk_[0-9A-Za-z]{40}$/);
    await page.getByRole('cell', { name: 'ci-runner', exact: true }).waitFor();
    await shot('api-keys');
    await page.reload();
    await page.getByRole('cell', { name: 'ci-runner', exact: true }).waitFor();
    expect(await page.content()).not.toContain(key);
  });

  it('finds the new rows in the audit log and filters by each filter, in the URL', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await rows().first().waitFor();
    // Actor dropdown lists every actor seen, with its source.
    const actor = page.getByLabel(/^Actor/);
    expect(await actor.locator('option').allInnerTexts()).toEqual(
      expect.arrayContaining(['admin@example.com (console)', 'system (system)', 'dev1@example.com (gateway)']),
    );
    await actor.selectOption(adminEmail);
    await expect.poll(() => columnTexts(2)).toEqual(['api_key.created', 'user.created', 'user.signed_in']);
    expect(search().get('actor')).toBe(adminEmail);
    expect(await columnTexts(3)).toEqual(['api_key ci-runner', 'user dana@example.com', 'user admin@example.com']);
    await shot('audit-actor-filter');

    await actor.selectOption('');
    await page.getByLabel('Action', { exact: true }).fill('BUDGET');
    await expect.poll(() => search().get('action')).toBe('BUDGET');
    await expect.poll(async () => new Set(await columnTexts(2))).toEqual(new Set(['gateway.budget_exceeded']));

    await page.getByLabel('Action', { exact: true }).fill('');
    await page.getByLabel(/^Target type/).selectOption('user');
    await expect.poll(() => columnTexts(2)).toEqual(['user.created', 'user.signed_in', 'user.created']);
    expect(search().get('targetType')).toBe('user');

    // Date range: today finds the three user rows; a range in the past finds none.
    const today = new Date().toISOString().slice(0, 10);
    await page.getByLabel('From', { exact: true }).fill(today);
    await page.getByLabel('To', { exact: true }).fill(today);
    await expect.poll(() => columnTexts(2)).toEqual(['user.created', 'user.signed_in', 'user.created']);
    expect([search().get('from'), search().get('to')]).toEqual([today, today]);
    await page.getByLabel('From', { exact: true }).fill('2020-01-01');
    await page.getByLabel('To', { exact: true }).fill('2020-01-02');
    await page.getByText('No audit events match these filters.').waitFor();

    // A shared URL reproduces the view.
    await page.goto(`${baseUrl}/admin/audit-log?targetType=user&actor=${encodeURIComponent(adminEmail)}`);
    await expect.poll(() => columnTexts(2)).toEqual(['user.created', 'user.signed_in']);
    expect(await page.getByLabel(/^Target type/).inputValue()).toBe('user');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(() => page.url()).toBe(`${baseUrl}/admin/audit-log`);
  });

  it('opens a diff with added, removed and changed values, and rejection facts', async () => {
    await page.getByLabel(/^Target type/).selectOption('provider');
    await rows().first().waitFor();
    const button = rows().first().locator('button[aria-expanded]');
    expect(await button.innerText()).toContain('Show detail');
    // Keyboard: focus the toggle and press Enter.
    await button.focus();
    await page.keyboard.press('Enter');
    expect(await button.getAttribute('aria-expanded')).toBe('true');
    const diff = page.locator('.detail-row').first();
    await expect.poll(() => diff.locator('[data-change="changed"]').allInnerTexts()).toEqual([expect.stringContaining('timeoutSeconds')]);
    expect(await diff.locator('[data-change="added"]').allInnerTexts()).toEqual([expect.stringContaining('baseURL')]);
    expect(await diff.locator('[data-change="removed"]').allInnerTexts()).toEqual([expect.stringContaining('headers')]);
    await shot('audit-diff');
    await page.keyboard.press('Enter');
    expect(await button.getAttribute('aria-expanded')).toBe('false');

    await page.getByLabel(/^Target type/).selectOption('api_key');
    await page.getByLabel('Action', { exact: true }).fill('budget');
    await expect.poll(async () => new Set(await columnTexts(2))).toEqual(new Set(['gateway.budget_exceeded']));
    await rows()
      .first()
      .getByRole('button', { name: /Show detail/ })
      .click();
    const facts = page.getByRole('table', { name: 'Rejection facts' });
    await facts.waitFor();
    expect(await facts.innerText()).toContain('team-a/monthly');
    await shot('audit-rejection');
    await page.getByRole('button', { name: 'Clear filters' }).click();
  });

  it('pages through with stable keyset cursors and shows seals', async () => {
    await expect.poll(() => rows().count()).toBe(50);
    const first = await rows().evaluateAll((els) => els.map((e) => e.getAttribute('data-audit-id')));
    await page.getByRole('button', { name: 'Older →' }).click();
    await expect.poll(() => search().get('cursor')).toBeTruthy();
    await expect.poll(async () => (await rows().first().getAttribute('data-audit-id')) !== first[0]).toBe(true);
    const second = await rows().evaluateAll((els) => els.map((e) => e.getAttribute('data-audit-id')));
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    await page.getByRole('button', { name: 'Older →' }).click();
    const total = await deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log`);
    await expect.poll(async () => rows().count()).toBe(total - 100);
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(() => rows().evaluateAll((els) => els.map((e) => e.getAttribute('data-audit-id')))).toEqual(second);
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(() => search().get('cursor')).toBeNull();
    // The sealer runs in the background; the page picks up seals without a reload.
    await expect.poll(() => page.locator('.badge.sealed').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await shot('audit-log');
  });

  it('shows new rows without a reload', async () => {
    await deps.pool.transaction((tx) =>
      writeAuditEntry(tx, {
        action: 'gateway.secret_blocked',
        targetType: 'api_key',
        targetName: 'laptop',
        actor: 'mallory@example.com',
        actorSource: 'gateway',
        detail: { rule: 'aws-access-key', where: 'messages[4].content[1]' },
      }),
    );
    await expect.poll(() => columnTexts(2), { timeout: 15_000 }).toEqual(expect.arrayContaining(['gateway.secret_blocked']));
    expect((await columnTexts(2))[0]).toBe('gateway.secret_blocked');
  });

  it('exports the current filter as CSV', async () => {
    await page.getByLabel(/^Target type/).selectOption('provider');
    await expect.poll(async () => new Set(await columnTexts(2))).toEqual(new Set(['provider.updated']));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^codevector-audit-.*\.csv$/);
    const text = await readFile((await download.path())!, 'utf8');
    const lines = text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('id,at,action,target_type,target_id,target_name,actor,actor_source,request_id,sealed_seq,detail');
    expect(lines).toHaveLength(1 + 40);
    expect(lines.slice(1).every((l) => l.includes(',provider.updated,provider,'))).toBe(true);
  });

  it('verifies the chain from the page', async () => {
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByRole('status').filter({ hasText: 'Chain intact' }).waitFor();
  });

  it('labels every control', async () => {
    for (const path of ['/admin/audit-log', '/admin/users', '/admin/groups', '/keys', '/connect', '/admin/resources', '/dashboard']) {
      await page.goto(`${baseUrl}${path}`);
      await page.locator('main h1').waitFor();
      // Runs in the page (a string: this file is type-checked without DOM types).
      const unlabelled = await page.evaluate(`[...document.querySelectorAll('input, select, button, a[href]')]
        .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.textContent ?? '').trim()))
        .map((el) => el.outerHTML.slice(0, 80))`);
      expect(unlabelled, path).toEqual([]);
    }
  });

  it('fills the Connect page with the gateway URL and a key created on the spot', async () => {
    await page.goto(`${baseUrl}/connect`);
    await expect.poll(() => page.getByTestId('gateway-url').innerText()).toBe('https://gateway.example.com');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByTestId('new-key').innerText();
    const snippet = await page.getByTestId('snippet').innerText();
    expect(snippet).toContain('export ANTHROPIC_BASE_URL="https://gateway.example.com"');
    expect(snippet).toContain(`export ANTHROPIC_API_KEY="${key}"`);
    expect(snippet).toContain('CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1');
    await page.getByRole('tab', { name: 'Codex CLI' }).click();
    expect(await page.getByTestId('snippet').innerText()).toContain('base_url = "https://gateway.example.com/v1"');
    await shot('connect');
    await page.goto(`${baseUrl}/dashboard`);
    await page.getByText('Rejections by reason').waitFor();
    await shot('dashboard');
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    const status = await page.evaluate(async () => (await fetch('/api/session')).status);
    expect(status).toBe(401);
  });
});
