// @vitest-environment jsdom
import type { SessionUser } from '@codevector/console-api/auth/auth-contract';
import type { User } from '@codevector/console-api/people/people-contract';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockApi, reply } from '../../../testing/mock-api.ts';
import { UsersPage } from './users-page.tsx';

const admin: SessionUser = { id: 'u1', email: 'admin@example.com', displayName: 'Admin', role: 'admin' };
const auditor: SessionUser = { id: 'u3', email: 'audrey@example.com', displayName: 'Audrey', role: 'auditor' };
const user = (over: Partial<User> & Pick<User, 'id' | 'email'>): User => ({
  displayName: '',
  role: 'member',
  idp: 'local',
  disabled: false,
  createdAt: '2030-01-02T03:04:05.000Z',
  ...over,
});

let users: User[];
let api: ReturnType<typeof mockApi>;
beforeEach(() => {
  users = [user({ ...admin, role: 'admin' }), user({ id: 'u2', email: 'dana@example.com', displayName: 'Dana' })];
  api = mockApi({
    'GET /api/users': () => ({ users }),
    'POST /api/users': (call) => {
      const body = call.body as User;
      if (users.some((u) => u.email === body.email)) return reply(409, { error: { code: 'CON_CONFLICT', message: 'Already exists.' } });
      const created = user({ id: `u${users.length + 1}`, email: body.email, displayName: body.displayName, role: body.role });
      users = [...users, created];
      return { user: created };
    },
    'PATCH /api/users/u2': (call) => {
      users = users.map((u) => (u.id === 'u2' ? { ...u, ...(call.body as Partial<User>) } : u));
      return { user: users[1] };
    },
  });
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const rowOf = async (email: string) => (await screen.findByRole('cell', { name: email })).closest('tr')!;

describe('users page', () => {
  it('lists every user with role and status', async () => {
    render(<UsersPage me={admin} />);
    const dana = await rowOf('dana@example.com');
    expect(within(dana).getByRole('cell', { name: 'Dana' })).toBeTruthy();
    expect((within(dana).getByLabelText('Role of dana@example.com') as HTMLSelectElement).value).toBe('member');
    expect(within(dana).getByText('active')).toBeTruthy();
    // No one disables their own account from here.
    expect(within(await rowOf('admin@example.com')).queryByRole('button')).toBeNull();
  });

  it('creates a user from the form', async () => {
    const ui = userEvent.setup();
    render(<UsersPage me={admin} />);
    const form = screen.getByRole('form', { name: 'Create user' });
    await ui.type(within(form).getByLabelText('Email'), 'eve@example.com');
    await ui.type(within(form).getByLabelText('Display name'), 'Eve');
    await ui.selectOptions(within(form).getByLabelText('Role'), 'auditor');
    await ui.type(within(form).getByLabelText('Initial password'), 'eve password 123');
    await ui.click(within(form).getByRole('button', { name: 'Create user' }));
    expect((await screen.findByRole('status')).textContent).toBe('Created eve@example.com.');
    expect(api.callsTo('POST', '/api/users').map((c) => c.body)).toEqual([
      { email: 'eve@example.com', displayName: 'Eve', role: 'auditor', password: 'eve password 123' },
    ]);
    await rowOf('eve@example.com');
  });

  it('shows why the API refused a new user', async () => {
    const ui = userEvent.setup();
    render(<UsersPage me={admin} />);
    const form = screen.getByRole('form', { name: 'Create user' });
    await ui.type(within(form).getByLabelText('Email'), 'dana@example.com');
    await ui.type(within(form).getByLabelText('Initial password'), 'dana password 123');
    await ui.click(within(form).getByRole('button', { name: 'Create user' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Already exists.');
  });

  it('changes a role and disables an account', async () => {
    const ui = userEvent.setup();
    render(<UsersPage me={admin} />);
    const dana = await rowOf('dana@example.com');
    await ui.selectOptions(within(dana).getByLabelText('Role of dana@example.com'), 'auditor');
    await waitFor(() => expect(api.callsTo('PATCH', '/api/users/u2').map((c) => c.body)).toEqual([{ role: 'auditor' }]));
    await ui.click(within(dana).getByRole('button', { name: /^Disable\s*dana@example\.com$/ }));
    await waitFor(() => expect(within(dana).getByText('disabled')).toBeTruthy());
    expect(api.callsTo('PATCH', '/api/users/u2').at(-1)?.body).toEqual({ disabled: true });
    expect(within(dana).getByRole('button', { name: /^Enable/ })).toBeTruthy();
  });

  it('is read-only for auditors', async () => {
    render(<UsersPage me={auditor} />);
    const dana = await rowOf('dana@example.com');
    expect(screen.queryByRole('form', { name: 'Create user' })).toBeNull();
    expect(within(dana).queryByRole('combobox')).toBeNull();
    expect(within(dana).getByText('member').className).toContain('role-member');
    expect(screen.queryByRole('columnheader', { name: 'Actions' })).toBeNull();
  });
});
