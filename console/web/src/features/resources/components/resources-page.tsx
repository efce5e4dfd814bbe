import type { DeclaredResource, ResourceKind } from '@codevector/console-api/resources/resource-contract';
import { useEffect, useState } from 'react';
import { listResources } from '../api/resources-api.ts';

const kinds: { path: ResourceKind; label: string }[] = [
  { path: 'providers', label: 'Providers' },
  { path: 'models', label: 'Models' },
  { path: 'budgets', label: 'Budgets' },
  { path: 'rate-limits', label: 'Rate limits' },
  { path: 'secret-rules', label: 'Secret rules' },
];

/** What Kubernetes declares, one tab per kind, read-only. */
export function ResourcesPage() {
  const [kind, setKind] = useState<ResourceKind>('providers');
  const [items, setItems] = useState<DeclaredResource[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setItems(null);
    listResources(kind).then(
      (r) => setItems(r.items),
      (e: Error) => setError(e.message),
    );
  }, [kind]);

  return (
    <section aria-labelledby="resources-title">
      <div className="page-head">
        <div>
          <h1 id="resources-title">Declared resources</h1>
          <p className="muted">
            Managed by Kubernetes: change them with <code>kubectl apply</code>, Helm or GitOps. The console shows them read-only.
          </p>
        </div>
      </div>
      <div className="tabs" role="tablist" aria-label="Resource kind">
        {kinds.map((k) => (
          <button
            key={k.path}
            type="button"
            role="tab"
            id={`tab-${k.path}`}
            aria-selected={kind === k.path}
            aria-controls="resource-panel"
            tabIndex={kind === k.path ? 0 : -1}
            className="tab"
            onClick={() => setKind(k.path)}
            onKeyDown={(e) => {
              const i = kinds.findIndex((x) => x.path === kind);
              const next =
                e.key === 'ArrowRight'
                  ? kinds[(i + 1) % kinds.length]
                  : e.key === 'ArrowLeft'
                    ? kinds[(i + kinds.length - 1) % kinds.length]
                    : null;
              if (next) {
                setKind(next.path);
                document.getElementById(`tab-${next.path}`)?.focus();
              }
            }}
          >
            {k.label}
          </button>
        ))}
      </div>
      <div id="resource-panel" role="tabpanel" aria-labelledby={`tab-${kind}`} className="table-wrap">
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <table>
          <thead>
            <tr>
              <th scope="col">Namespace / name</th>
              <th scope="col">Ready</th>
              <th scope="col">Spec</th>
              {kind === 'budgets' && <th scope="col">Current spend</th>}
              <th scope="col">Managed by</th>
            </tr>
          </thead>
          <tbody>
            {items?.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  None declared. Apply a {kinds.find((k) => k.path === kind)?.label.replace(/s$/, '')} resource in your cluster.
                </td>
              </tr>
            )}
            {items?.map((item) => (
              <tr key={item.uid}>
                <td>
                  <code>
                    {item.namespace}/{item.name}
                  </code>
                  <div className="muted small">generation {item.generation}</div>
                </td>
                <td>
                  {item.ready === null ? (
                    <span className="badge">unknown</span>
                  ) : item.ready ? (
                    <span className="badge sealed">Ready</span>
                  ) : (
                    <span className="badge pending" title={item.message ?? undefined}>
                      Not ready{item.reason ? `: ${item.reason}` : ''}
                    </span>
                  )}
                </td>
                <td>
                  <pre className="json inline">{JSON.stringify(item.spec, null, 2)}</pre>
                  {item.apiKeyFingerprint && <div className="muted small">key fingerprint {item.apiKeyFingerprint}</div>}
                </td>
                {kind === 'budgets' && (
                  // Rounded to cents for reading only; the exact figure is in the tooltip.
                  <td title={item.currentSpendUsd ?? undefined}>
                    {item.currentSpendUsd == null ? '—' : `$${Number(item.currentSpendUsd).toFixed(2)}`}
                  </td>
                )}
                <td>
                  <span className="badge source-kubernetes">kubernetes</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
