import type { Role, SessionUser } from '@codevector/console-api/auth/auth-contract';
import type { PatchUserInput, User } from '@codevector/console-api/people/people-contract';
import { useCallback, useEffect, useState } from 'react';
import { useFormAction } from '../../../hooks/use-form-action.tsx';
import { createUser, listUsers, patchUser } from '../api/users-api.ts';

/** Local accounts; admins create them and change role or disabled state, auditors only read. */
export function UsersPage(props: { me: SessionUser }) {
  const [users, setUsers] = useState<User[]>([]);
  const isAdmin = props.me.role === 'admin';
  const reload = useCallback(async () => setUsers((await listUsers()).users), []);
  useEffect(() => {
    void reload();
  }, [reload]);
  const create = useFormAction(async (form) => {
    await createUser({
      email: String(form.get('email')),
      displayName: String(form.get('displayName') ?? ''),
      role: form.get('role') as Role,
      password: String(form.get('password')),
    });
    await reload();
    return `Created ${String(form.get('email'))}.`;
  });
  const patch = useFormAction(async (_form, body: { id: string; change: PatchUserInput }) => {
    await patchUser(body.id, body.change);
    await reload();
    return 'Saved.';
  });

  return (
    <section aria-labelledby="users-title">
      <div className="page-head">
        <div>
          <h1 id="users-title">Users</h1>
          <p className="muted">Local accounts. Every change is written to the audit log in the same transaction.</p>
        </div>
      </div>
      {isAdmin && (
        <form className="card inline-form" aria-label="Create user" onSubmit={create.onSubmit}>
          <h2>Create user</h2>
          <label className="field">
            <span>Email</span>
            <input name="email" type="email" required />
          </label>
          <label className="field">
            <span>Display name</span>
            <input name="displayName" />
          </label>
          <label className="field">
            <span>Role</span>
            <select name="role" defaultValue="member">
              <option value="member">member</option>
              <option value="auditor">auditor</option>
              <option value="admin">admin</option>
            </select>
          </label>
          <label className="field">
            <span>Initial password</span>
            <input name="password" type="password" minLength={12} required autoComplete="new-password" />
          </label>
          <button className="button primary" type="submit" disabled={create.busy}>
            Create user
          </button>
          <create.Status />
        </form>
      )}
      <patch.Status />
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              {isAdmin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id}>
                <td>{u.email}</td>
                <td>{u.displayName}</td>
                <td>
                  {isAdmin ? (
                    <select
                      aria-label={`Role of ${u.email}`}
                      value={u.role}
                      onChange={(e) => patch.run({ id: u.id, change: { role: e.target.value as Role } })}
                    >
                      <option value="member">member</option>
                      <option value="auditor">auditor</option>
                      <option value="admin">admin</option>
                    </select>
                  ) : (
                    <span className={`badge role-${u.role}`}>{u.role}</span>
                  )}
                </td>
                <td>{u.disabled ? <span className="badge pending">disabled</span> : <span className="badge sealed">active</span>}</td>
                {isAdmin && (
                  <td>
                    {u.id !== props.me.id && (
                      <button
                        type="button"
                        className="button small"
                        onClick={() => patch.run({ id: u.id, change: { disabled: !u.disabled } })}
                      >
                        {u.disabled ? 'Enable' : 'Disable'}
                        <span className="visually-hidden"> {u.email}</span>
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
