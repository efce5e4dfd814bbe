// @vitest-environment jsdom
import type { SessionUser } from '@codevector/console-api/auth/auth-contract';
import type { Group, User } from '@codevector/console-api/people/people-contract';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockApi } from '../../../testing/mock-api.ts';
import { GroupsPage } from './groups-page.tsx';

const admin: SessionUser = { id: 'u1', email: 'admin@example.com', displayName: 'Admin', role: 'admin' };
const person = (id: string, email: string): User => ({
  id,
  email,
  displayName: '',
  role: 'member',
  idp: 'local',
  disabled: false,
  createdAt: '2030-01-02T03:04:05.000Z',
});
const users = [person('u1', 'admin@example.com'), person('u2', 'dana@example.com'), person('u3', 'eve@example.com')];

let groups: Group[];
let api: ReturnType<typeof mockApi>;
beforeEach(() => {
  groups = [
    {
      id: 'g1',
      name: 'platform',
      description: 'The platform team',
      createdAt: '2030-01-02T00:00:00.000Z',
      members: [{ userId: 'u2', email: 'dana@example.com' }],
    },
    { id: 'g2', name: 'research', description: '', createdAt: '2030-01-02T00:00:00.000Z', members: [] },
  ];
  const setMembers = (id: string, change: (members: Group['members']) => Group['members']) => {
    groups = groups.map((g) => (g.id === id ? { ...g, members: change(g.members) } : g));
    return { ok: true };
  };
  api = mockApi({
    'GET /api/groups': () => ({ groups }),
    'GET /api/users': () => ({ users }),
    'POST /api/groups': (call) => {
      const body = call.body as { name: string; description: string };
      groups = [...groups, { id: 'g3', ...body, createdAt: '2030-01-02T00:00:00.000Z', members: [] }];
      return { group: { id: 'g3', ...body, members: [] } };
    },
    'POST /api/groups/g2/members': (call) => {
      const { userId } = call.body as { userId: string };
      return setMembers('g2', (m) => [...m, { userId, email: users.find((u) => u.id === userId)!.email }]);
    },
    'DELETE /api/groups/g1/members/u2': () => setMembers('g1', () => []),
  });
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const card = async (name: string) => screen.findByRole('article', { name });

describe('groups page', () => {
  it('shows each group with its description and members', async () => {
    render(<GroupsPage me={admin} />);
    const platform = await card('platform');
    expect(platform.textContent).toContain('The platform team');
    expect(within(platform).getByRole('listitem').textContent).toContain('dana@example.com');
    const research = await card('research');
    expect(research.textContent).toContain('No description');
    expect(within(research).getByText('No members')).toBeTruthy();
  });

  it('adds a member, offering only users not in the group', async () => {
    const ui = userEvent.setup();
    render(<GroupsPage me={admin} />);
    const platform = await card('platform');
    await waitFor(() => expect(within(platform).getAllByRole('option').length).toBeGreaterThan(1));
    expect(
      within(platform)
        .getAllByRole('option')
        .map((o) => o.textContent),
    ).toEqual(['Choose a user', 'admin@example.com', 'eve@example.com']);

    const research = await card('research');
    await ui.selectOptions(within(research).getByLabelText('Add member to research'), 'eve@example.com');
    await ui.click(within(research).getByRole('button', { name: 'Add' }));
    expect((await screen.findByRole('status')).textContent).toBe('Member added.');
    expect(api.callsTo('POST', '/api/groups/g2/members').map((c) => c.body)).toEqual([{ userId: 'u3' }]);
    await waitFor(() => expect(within(research).getAllByRole('listitem')[0]?.textContent).toContain('eve@example.com'));
  });

  it('removes a member and creates a group', async () => {
    const ui = userEvent.setup();
    render(<GroupsPage me={admin} />);
    const platform = await card('platform');
    await ui.click(within(platform).getByRole('button', { name: /^Remove\s*dana@example\.com from platform$/ }));
    await waitFor(() => expect(within(platform).getByText('No members')).toBeTruthy());
    expect(api.callsTo('DELETE', '/api/groups/g1/members/u2')).toHaveLength(1);

    const form = screen.getByRole('form', { name: 'Create group' });
    await ui.type(within(form).getByLabelText('Name'), 'security');
    await ui.type(within(form).getByLabelText('Description'), 'Red team');
    await ui.click(within(form).getByRole('button', { name: 'Create group' }));
    expect(api.callsTo('POST', '/api/groups').map((c) => c.body)).toEqual([{ name: 'security', description: 'Red team' }]);
    await card('security');
  });

  it('is read-only for auditors', async () => {
    render(<GroupsPage me={{ ...admin, role: 'auditor' }} />);
    const platform = await card('platform');
    expect(screen.queryByRole('form', { name: 'Create group' })).toBeNull();
    expect(within(platform).queryByRole('button')).toBeNull();
  });
});
