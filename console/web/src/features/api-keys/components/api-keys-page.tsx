import type { SessionUser } from '@codevector/console-api/auth/auth-contract';
import type { ApiKey } from '@codevector/console-api/people/people-contract';
import { useCallback, useEffect, useState } from 'react';
import { useFormAction } from '../../../hooks/use-form-action.tsx';
import { listApiKeys, revokeApiKey } from '../api/api-keys-api.ts';
import { CreateKeyForm } from './create-key-form.tsx';

/** The signed-in user's keys (everyone's for admins and auditors): create, list, revoke. */
export function ApiKeysPage(props: { me: SessionUser }) {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [all, setAll] = useState(false);
  const canSeeAll = props.me.role !== 'member';
  const reload = useCallback(async () => {
    setKeys((await listApiKeys(all ? 'all' : 'mine')).apiKeys);
  }, [all]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const revoke = useFormAction(async (_f, key: ApiKey) => {
    await revokeApiKey(key.id);
    await reload();
    return `Revoked ${key.name}.`;
  });

  return (
    <section aria-labelledby="keys-title">
      <div className="page-head">
        <div>
          <h1 id="keys-title">API keys</h1>
          <p className="muted">Virtual keys for the gateway. A key is shown once; only its prefix and a hash are stored.</p>
        </div>
      </div>
      <CreateKeyForm
        label="Create API key"
        title="Create a key for yourself"
        placeholder="e.g. laptop"
        onCreated={async (created) => {
          await reload();
          return `Created key ${created.apiKey.name}.`;
        }}
      />
      <revoke.Status />
      {canSeeAll && (
        <label className="checkbox">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> Show everyone's keys
        </label>
      )}
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Prefix</th>
              <th scope="col">Owner</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {keys.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No keys yet.
                </td>
              </tr>
            )}
            {keys.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>{k.owner}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td>{k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : 'never'}</td>
                <td>
                  {k.revokedAt ? (
                    <span className="badge pending">revoked</span>
                  ) : k.userId === props.me.id || props.me.role === 'admin' ? (
                    <button
                      type="button"
                      className="button small danger"
                      onClick={() => {
                        if (window.confirm(`Revoke ${k.name}? Agents using it stop working.`)) revoke.run(k);
                      }}
                    >
                      Revoke<span className="visually-hidden"> {k.name}</span>
                    </button>
                  ) : (
                    <span className="badge sealed">active</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
