import type { SessionUser } from '@codevector/console-api/auth/auth-contract';
import type { Group, User } from '@codevector/console-api/people/people-contract';
import { useCallback, useEffect, useState } from 'react';
import { useFormAction } from '../../../hooks/use-form-action.tsx';
import { listUsers } from '../../users/api/users-api.ts';
import { addMember, createGroup, listGroups, removeMember } from '../api/groups-api.ts';

/** Groups and their members; admins create groups and change membership, auditors only read. */
export function GroupsPage(props: { me: SessionUser }) {
  const [groups, setGroups] = useState<Group[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const isAdmin = props.me.role === 'admin';
  const reload = useCallback(async () => {
    setGroups((await listGroups()).groups);
    setUsers((await listUsers()).users);
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);
  const create = useFormAction(async (form) => {
    await createGroup({ name: String(form.get('name')), description: String(form.get('description') ?? '') });
    await reload();
    return `Created group ${String(form.get('name'))}.`;
  });
  const membership = useFormAction(async (_f, body: { groupId: string; userId: string; add: boolean }) => {
    if (body.add) await addMember(body.groupId, body.userId);
    else await removeMember(body.groupId, body.userId);
    await reload();
    return body.add ? 'Member added.' : 'Member removed.';
  });

  return (
    <section aria-labelledby="groups-title">
      <div className="page-head">
        <div>
          <h1 id="groups-title">Groups</h1>
          <p className="muted">Groups are budget and rate-limit subjects; membership changes are audited.</p>
        </div>
      </div>
      {isAdmin && (
        <form className="card inline-form" aria-label="Create group" onSubmit={create.onSubmit}>
          <h2>Create group</h2>
          <label className="field">
            <span>Name</span>
            <input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9 ._\-]*" />
          </label>
          <label className="field grow">
            <span>Description</span>
            <input name="description" />
          </label>
          <button className="button primary" type="submit" disabled={create.busy}>
            Create group
          </button>
          <create.Status />
        </form>
      )}
      <membership.Status />
      <div className="cards">
        {groups.length === 0 && <p className="muted">No groups yet.</p>}
        {groups.map((g) => (
          <article key={g.id} className="card" aria-labelledby={`group-${g.id}`}>
            <h2 id={`group-${g.id}`}>{g.name}</h2>
            <p className="muted">{g.description || 'No description'}</p>
            <ul className="member-list">
              {g.members.map((m) => (
                <li key={m.userId}>
                  {m.email}
                  {isAdmin && (
                    <button
                      type="button"
                      className="button small link"
                      onClick={() => membership.run({ groupId: g.id, userId: m.userId, add: false })}
                    >
                      Remove
                      <span className="visually-hidden">
                        {' '}
                        {m.email} from {g.name}
                      </span>
                    </button>
                  )}
                </li>
              ))}
              {g.members.length === 0 && <li className="muted">No members</li>}
            </ul>
            {isAdmin && (
              <form
                className="inline-form compact"
                onSubmit={(e) => {
                  e.preventDefault();
                  const userId = String(new FormData(e.currentTarget).get('userId'));
                  if (userId) membership.run({ groupId: g.id, userId, add: true });
                }}
              >
                <label className="field">
                  <span>Add member to {g.name}</span>
                  <select name="userId" defaultValue="">
                    <option value="" disabled>
                      Choose a user
                    </option>
                    {users
                      .filter((u) => !g.members.some((m) => m.userId === u.id))
                      .map((u) => (
                        <option key={u.id} value={u.id}>
                          {u.email}
                        </option>
                      ))}
                  </select>
                </label>
                <button type="submit" className="button secondary">
                  Add
                </button>
              </form>
            )}
          </article>
        ))}
      </div>
    </section>
  );
}
