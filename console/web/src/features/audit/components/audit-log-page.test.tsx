// @vitest-environment jsdom
import type { AuditFacets, AuditPage } from '@codevector/console-api/audit/audit-contract';
import type { AuditRecord } from '@codevector/core/audit-entry';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ApiCall, deferred, mockApi } from '../../../testing/mock-api.ts';
import { AuditLogPage } from './audit-log-page.tsx';

const record = (over: Partial<AuditRecord> & Pick<AuditRecord, 'id' | 'action'>): AuditRecord => ({
  at: `2030-01-02T03:04:0${over.id % 10}.123456Z`,
  targetType: over.action.split('.')[0]!,
  targetId: null,
  targetName: null,
  actor: 'admin@example.com',
  actorSource: 'console',
  detail: {},
  requestId: null,
  sealed: null,
  ...over,
});

const providerUpdated = record({
  id: 3,
  action: 'provider.updated',
  targetName: 'team-a/anthropic',
  actor: 'system:serviceaccount:ops',
  actorSource: 'kubernetes',
  sealed: 7,
  requestId: 'req-42',
  detail: {
    before: { timeoutSeconds: 30, headers: { x: '1' } },
    after: { timeoutSeconds: 60, baseURL: 'https://api.example.com' },
    origin: {
      via: 'argocd',
      application: 'Application argocd/ai-gateway',
      repository: 'https://git.example.com/platform.git',
      revision: '2222222abcdef2222222222222222222222222ff',
      resolved: true,
    },
  },
});
const budgetExceeded = record({
  id: 2,
  action: 'gateway.budget_exceeded',
  targetType: 'api_key',
  targetName: 'laptop',
  actor: 'dev1@example.com',
  actorSource: 'gateway',
  detail: { budget: 'team-a/monthly', limitUsd: 100 },
});
const userCreated = record({ id: 1, action: 'user.created', targetName: 'dana@example.com' });

const facets: AuditFacets = {
  actors: [
    { actor: 'admin@example.com', source: 'console' },
    { actor: 'dev1@example.com', source: 'gateway' },
  ],
  targetTypes: ['api_key', 'provider', 'user'],
  actions: ['gateway.budget_exceeded', 'provider.updated', 'user.created'],
};

let api: ReturnType<typeof mockApi>;
/** What GET /api/audit answers; tests swap it. */
let answerPage: (call: ApiCall) => AuditPage | Promise<AuditPage>;

beforeEach(() => {
  window.history.replaceState(null, '', '/admin/audit-log');
  answerPage = () => ({ entries: [providerUpdated, budgetExceeded, userCreated], nextCursor: 'older-cursor' });
  api = mockApi({
    'GET /api/audit': (call) => answerPage(call),
    'GET /api/audit/facets': () => facets,
    'GET /api/audit/verify': () => ({ ok: true, checked: 12, headSeq: 12, baseSeq: 0, pending: 2, checkpoints: 3, firstBreak: null }),
  });
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const pageQueries = () => api.callsTo('GET', '/api/audit').map((c) => Object.fromEntries(c.query));
const rowTexts = () =>
  screen
    .getAllByRole('row')
    .filter((row) => row.hasAttribute('data-audit-id'))
    .map((row) => within(row).getByRole('code').textContent);

describe('audit log page', () => {
  it('renders one row per entry with its target, actor, source and seal', async () => {
    render(<AuditLogPage />);
    const row = (await screen.findByText('provider.updated')).closest('tr')!;
    expect(row.textContent).toContain('team-a/anthropic');
    expect(row.textContent).toContain('system:serviceaccount:ops');
    expect(within(row).getByText('kubernetes').className).toContain('source-kubernetes');
    expect(within(row).getByText('#7').getAttribute('title')).toBe('Chain position 7');
    // Where the change came from: the GitOps tool, its Application and the short revision.
    const origin = within(row).getByText('via Argo CD · Application argocd/ai-gateway @ 2222222');
    expect(origin.getAttribute('title')).toContain('https://git.example.com/platform.git');
    expect(rowTexts()).toEqual(['provider.updated', 'gateway.budget_exceeded', 'user.created']);
    const pending = screen.getByText('user.created').closest('tr')!;
    expect(within(pending).getByText('pending')).toBeTruthy();
    expect(pageQueries()).toEqual([{ limit: '50' }]);
  });

  it('says so when nothing matches', async () => {
    answerPage = () => ({ entries: [], nextCursor: null });
    render(<AuditLogPage />);
    await screen.findByText('No audit events match these filters.');
    expect((screen.getByRole('button', { name: 'Older →' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('sends each filter to the API and keeps it in the URL', async () => {
    const user = userEvent.setup();
    render(<AuditLogPage />);
    await screen.findByText('provider.updated');
    await screen.findByRole('option', { name: 'dev1@example.com (gateway)' });

    await user.selectOptions(screen.getByLabelText('Actor'), 'dev1@example.com');
    await waitFor(() => expect(pageQueries().at(-1)).toEqual({ actor: 'dev1@example.com', limit: '50' }));
    expect(window.location.search).toBe('?actor=dev1%40example.com');

    await user.selectOptions(screen.getByLabelText('Target type'), 'api_key');
    await waitFor(() => expect(pageQueries().at(-1)).toMatchObject({ actor: 'dev1@example.com', targetType: 'api_key' }));

    // The action box waits for a pause in typing: one request for the whole word.
    const before = pageQueries().length;
    await user.type(screen.getByLabelText('Action'), 'budget');
    await waitFor(() => expect(pageQueries().at(-1)).toMatchObject({ action: 'budget' }));
    expect(pageQueries().length).toBe(before + 1);

    await user.type(screen.getByLabelText('Origin'), 'argocd');
    await waitFor(() => expect(pageQueries().at(-1)).toMatchObject({ action: 'budget', origin: 'argocd' }));
    expect(new URLSearchParams(window.location.search).get('origin')).toBe('argocd');

    // Dates are whole UTC days; "To" includes its day.
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2030-01-02' } });
    fireEvent.change(screen.getByLabelText('To'), { target: { value: '2030-01-03' } });
    await waitFor(() =>
      expect(pageQueries().at(-1)).toEqual({
        action: 'budget',
        actor: 'dev1@example.com',
        targetType: 'api_key',
        origin: 'argocd',
        from: '2030-01-02T00:00:00Z',
        to: '2030-01-04T00:00:00.000Z',
        limit: '50',
      }),
    );

    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    await waitFor(() => expect(pageQueries().at(-1)).toEqual({ limit: '50' }));
    expect(window.location.search).toBe('');
    expect((screen.getByLabelText('Action') as HTMLInputElement).value).toBe('');
    expect((screen.getByLabelText('Origin') as HTMLInputElement).value).toBe('');
  });

  // Regression: after a filter change the previous filter's rows stayed on screen until the new
  // page arrived, so "the first row" could be a row the filter excludes.
  it('shows no row of the previous filter while the next page loads', async () => {
    const user = userEvent.setup();
    render(<AuditLogPage />);
    await screen.findByText('provider.updated');
    const held = deferred<AuditPage>();
    answerPage = () => held.promise;
    await user.selectOptions(screen.getByLabelText('Target type'), 'user');
    await screen.findByText('Loading…');
    expect(screen.queryByText('provider.updated')).toBeNull();
    held.resolve({ entries: [userCreated], nextCursor: null });
    await waitFor(() => expect(rowTexts()).toEqual(['user.created']));
  });

  it('opens the detail of a row as a before/after diff', async () => {
    const user = userEvent.setup();
    render(<AuditLogPage />);
    await screen.findByText('provider.updated');
    const toggle = await screen.findByRole('button', { name: /^Show detail\s*for provider\.updated/ });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    await user.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const detail = document.getElementById(toggle.getAttribute('aria-controls')!)!;
    const change = (kind: string) =>
      [...detail.querySelectorAll(`[data-change="${kind}"]`)].map((li) => li.textContent?.replace(/\s+/g, ' '));
    expect(change('changed')).toEqual(['~changed: timeoutSeconds: 30 → changed to 60']);
    expect(change('added')).toEqual(['+added: baseURL: "https://api.example.com"']);
    expect(change('removed')).toEqual(['−removed: headers: { "x": "1" }']);
    expect(within(detail).getByText('Request req-42')).toBeTruthy();
    await user.click(toggle);
    expect(document.getElementById('detail-3')).toBeNull();
  });

  it('shows a rejection as a table of facts', async () => {
    const user = userEvent.setup();
    render(<AuditLogPage />);
    await user.click(await screen.findByRole('button', { name: /^Show detail\s*for gateway\.budget_exceeded/ }));
    const facts = screen.getByRole('table', { name: 'Rejection facts' });
    expect(within(facts).getByRole('rowheader', { name: 'budget' }).nextElementSibling?.textContent).toBe('"team-a/monthly"');
  });

  it('exports what the filters match, as CSV or NDJSON', async () => {
    window.history.replaceState(null, '', '/admin/audit-log?actor=dev1%40example.com&from=2030-01-02');
    render(<AuditLogPage />);
    await screen.findByText('provider.updated');
    const href = (name: string) => new URL(screen.getByRole('link', { name }).getAttribute('href')!, 'http://localhost');
    const csv = href('Export CSV');
    expect(csv.pathname).toBe('/api/audit/export');
    expect(Object.fromEntries(csv.searchParams)).toEqual({ format: 'csv', actor: 'dev1@example.com', from: '2030-01-02T00:00:00Z' });
    expect(href('Export NDJSON').searchParams.get('format')).toBe('ndjson');
    expect(screen.getByRole('link', { name: 'Export CSV' }).hasAttribute('download')).toBe(true);
  });

  it('pages back with the cursor and forward again', async () => {
    const user = userEvent.setup();
    render(<AuditLogPage />);
    await screen.findByText('provider.updated');
    expect((screen.getByRole('button', { name: '← Newer' }) as HTMLButtonElement).disabled).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Older →' }));
    await waitFor(() => expect(pageQueries().at(-1)).toEqual({ limit: '50', cursor: 'older-cursor' }));
    await user.click(screen.getByRole('button', { name: '← Newer' }));
    await waitFor(() => expect(pageQueries().at(-1)).toEqual({ limit: '50' }));
  });

  it('verifies the chain and reports a break', async () => {
    const user = userEvent.setup();
    render(<AuditLogPage />);
    await user.click(screen.getByRole('button', { name: 'Verify chain' }));
    expect((await screen.findByRole('status')).textContent).toBe(
      'Chain intact: 12 sealed rows verified, 2 pending. 3 signed checkpoints matched.',
    );
    api = mockApi({
      'GET /api/audit': () => ({ entries: [], nextCursor: null }),
      'GET /api/audit/verify': () => ({
        ok: false,
        checked: 3,
        headSeq: 12,
        pending: 0,
        firstBreak: { seq: 4, auditId: 9, reason: 'row_altered', message: 'audit row 9 does not match its seal' },
      }),
    });
    await user.click(screen.getByRole('button', { name: 'Verify chain' }));
    await waitFor(() =>
      expect(screen.getByRole('status').textContent).toBe('Chain broken at seal #4: audit row 9 does not match its seal'),
    );
  });
});
