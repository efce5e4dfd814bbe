// @vitest-environment jsdom
import type { SessionUser } from '@codevector/console-api/auth/auth-contract';
import type { ApiKey, CreatedApiKey } from '@codevector/console-api/people/people-contract';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mockApi, reply } from '../../../testing/mock-api.ts';
import { ApiKeysPage } from './api-keys-page.tsx';
import { ConnectPage } from './connect-page.tsx';
import { CreateKeyForm } from './create-key-form.tsx';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const apiKey = (over: Partial<ApiKey> = {}): ApiKey => ({
  id: 'k1',
  userId: 'u1',
  owner: 'admin@example.com',
  name: 'laptop',
  prefix: 'cv_abc12',
  createdAt: '2030-01-02T03:04:05.000Z',
  lastUsedAt: null,
  expiresAt: null,
  revokedAt: null,
  ...over,
});
let serial = 0;
const created = (name: string): CreatedApiKey => ({ apiKey: apiKey({ id: `k${++serial}`, name }), key: `cv_secret_${serial}_${name}` });

describe('create-key form', () => {
  it('creates a key, shows it once and reports what happened', async () => {
    const user = userEvent.setup();
    const api = mockApi({ 'POST /api/api-keys': (call) => created((call.body as { name: string }).name) });
    const onCreated = vi.fn((result: CreatedApiKey) => `Created key ${result.apiKey.name}.`);
    render(<CreateKeyForm label="Create API key" title="Create a key" onCreated={onCreated} />);
    expect(screen.queryByTestId('new-key')).toBeNull();

    await user.type(screen.getByLabelText('Key name'), '  laptop  ');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    expect((await screen.findByRole('status')).textContent).toBe('Created key laptop.');
    expect(api.callsTo('POST', '/api/api-keys').map((c) => c.body)).toEqual([{ name: 'laptop' }]);
    expect(onCreated).toHaveBeenCalledWith(expect.objectContaining({ key: expect.stringMatching(/^cv_secret_\d+_laptop$/) }));
    const shown = screen.getByRole('region', { name: 'New API key' });
    expect(within(shown).getByTestId('new-key').textContent).toMatch(/^cv_secret_\d+_laptop$/);
    expect(shown.textContent).toContain('It will not be shown again.');
    // The form is ready for the next key; the field is empty again.
    expect((screen.getByLabelText('Key name') as HTMLInputElement).value).toBe('');

    // A second key replaces the first on screen: never two secrets at once.
    // (user-event keeps its own idea of the field's text, which form.reset() does not update.)
    await user.clear(screen.getByLabelText('Key name'));
    await user.type(screen.getByLabelText('Key name'), 'ci');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    await waitFor(() => expect(screen.getByTestId('new-key').textContent).toMatch(/_ci$/));
    expect(screen.getAllByTestId('new-key')).toHaveLength(1);
  });

  it('refuses a blank or too long name without asking the API', async () => {
    const user = userEvent.setup();
    const api = mockApi({});
    render(<CreateKeyForm label="Create API key" title="Create a key" onCreated={() => 'never'} />);
    await user.type(screen.getByLabelText('Key name'), '   ');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Give the key a name.');
    expect(api.calls).toEqual([]);
    expect(screen.queryByTestId('new-key')).toBeNull();
    expect((screen.getByLabelText('Key name') as HTMLInputElement).maxLength).toBe(100);
  });

  it("shows the API's refusal and no key", async () => {
    const user = userEvent.setup();
    mockApi({ 'POST /api/api-keys': () => reply(404, { error: { code: 'CON_NOT_FOUND', message: 'No such enabled user.' } }) });
    render(<CreateKeyForm label="Create API key" title="Create a key" onCreated={() => 'never'} />);
    await user.type(screen.getByLabelText('Key name'), 'laptop');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    expect((await screen.findByRole('alert')).textContent).toBe('No such enabled user.');
    expect(screen.queryByTestId('new-key')).toBeNull();
  });
});

const admin: SessionUser = { id: 'u1', email: 'admin@example.com', displayName: 'Admin', role: 'admin' };

describe('API keys page', () => {
  it('lists keys, adds a created one to the list and revokes one', async () => {
    const user = userEvent.setup();
    let keys = [apiKey({ id: 'k0', name: 'old', lastUsedAt: '2030-01-03T00:00:00.000Z' })];
    const api = mockApi({
      'GET /api/api-keys': () => ({ apiKeys: keys }),
      'POST /api/api-keys': (call) => {
        const result = created((call.body as { name: string }).name);
        keys = [result.apiKey, ...keys];
        return result;
      },
      'POST /api/api-keys/k0/revoke': () => {
        keys = keys.map((k) => (k.id === 'k0' ? { ...k, revokedAt: '2030-01-04T00:00:00.000Z' } : k));
        return { apiKey: keys.find((k) => k.id === 'k0') };
      },
    });
    render(<ApiKeysPage me={admin} />);
    const oldRow = (await screen.findByRole('cell', { name: 'old' })).closest('tr')!;
    expect(within(oldRow).getByText('cv_abc12…')).toBeTruthy();

    await user.type(screen.getByLabelText('Key name'), 'laptop');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    await screen.findByRole('cell', { name: 'laptop' });
    expect(screen.getByTestId('new-key').textContent).toMatch(/_laptop$/);

    vi.spyOn(window, 'confirm').mockReturnValue(true);
    await user.click(within(oldRow).getByRole('button', { name: /^Revoke\s*old$/ }));
    await waitFor(() => expect(within(screen.getByRole('cell', { name: 'old' }).closest('tr')!).getByText('revoked')).toBeTruthy());
    expect(api.callsTo('POST', '/api/api-keys/k0/revoke')).toHaveLength(1);

    await user.click(screen.getByLabelText("Show everyone's keys"));
    await waitFor(() => expect(api.callsTo('GET', '/api/api-keys').at(-1)?.query.get('scope')).toBe('all'));
  });
});

describe('Connect page', () => {
  it('fills the snippet with the gateway URL and the key it creates', async () => {
    const user = userEvent.setup();
    const api = mockApi({
      'GET /api/connect': () => ({ gatewayUrl: 'https://gateway.example.com', user: admin }),
      'POST /api/api-keys': (call) => created((call.body as { name: string }).name),
    });
    render(<ConnectPage />);
    await waitFor(() => expect(screen.getByTestId('snippet').textContent).toContain('ANTHROPIC_BASE_URL="https://gateway.example.com"'));
    expect(screen.getByTestId('snippet').textContent).toContain('<your CodeVector key>');
    expect((screen.getByLabelText('Key name') as HTMLInputElement).value).toBe('Claude Code key');
    await user.click(screen.getByRole('button', { name: 'Create key' }));
    await screen.findByText('Key created and filled into the snippets below.');
    const key = screen.getByTestId('new-key').textContent!;
    expect(api.callsTo('POST', '/api/api-keys')[0]?.body).toEqual({ name: 'Claude Code key' });
    expect(screen.getByTestId('snippet').textContent).toContain(`ANTHROPIC_API_KEY="${key}"`);
    await user.click(screen.getByRole('tab', { name: 'Codex CLI' }));
    expect(screen.getByTestId('snippet').textContent).toContain('base_url = "https://gateway.example.com/v1"');
  });
});
