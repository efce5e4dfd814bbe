import { useCallback, useEffect, useState } from 'react';
import { api, type User } from './api.ts';
import { CopyButton } from './copy-button.tsx';
import { useFormAction } from './use-form-action.tsx';

export type ApiKey = {
  id: string;
  userId: string;
  owner: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
};

export function ApiKeysPage(props: { me: User }) {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [all, setAll] = useState(false);
  const [created, setCreated] = useState<{ key: string; name: string } | null>(null);
  const canSeeAll = props.me.role !== 'member';
  const reload = useCallback(async () => {
    setKeys((await api<{ apiKeys: ApiKey[] }>('GET', `/api/api-keys${all ? '?scope=all' : ''}`)).apiKeys);
  }, [all]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const create = useFormAction(async (form) => {
    const result = await api<{ key: string; apiKey: ApiKey }>('POST', '/api/api-keys', { name: form.get('name') });
    setCreated({ key: result.key, name: result.apiKey.name });
    await reload();
    return `Created key ${result.apiKey.name}.`;
  });
  const revoke = useFormAction(async (_f, key: ApiKey) => {
    await api('POST', `/api/api-keys/${key.id}/revoke`);
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
      <form className="card inline-form" aria-label="Create API key" onSubmit={create.onSubmit}>
        <h2>Create a key for yourself</h2>
        <label className="field grow">
          <span>Key name</span>
          <input name="name" required maxLength={100} placeholder="e.g. laptop" />
        </label>
        <button className="button primary" type="submit" disabled={create.busy}>
          Create key
        </button>
        <create.Status />
      </form>
      {created && <NewKey keyText={created.key} name={created.name} />}
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

/** The one moment the full key is visible. */
export function NewKey(props: { keyText: string; name: string }) {
  return (
    <section className="card new-key" aria-label="New API key">
      <p>
        <strong>Copy your new key “{props.name}” now.</strong> It will not be shown again.
      </p>
      <div className="copy-row">
        <code className="key" data-testid="new-key">
          {props.keyText}
        </code>
        <CopyButton text={props.keyText} label="Copy key" />
      </div>
    </section>
  );
}
