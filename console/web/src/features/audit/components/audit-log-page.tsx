import type { AuditFacets, ChainReport } from '@codevector/console-api/audit/audit-contract';
import { useEffect, useRef, useState } from 'react';
import { navigate, useLocation } from '../../../lib/router.tsx';
import { getAuditFacets, verifyAuditChain } from '../api/audit-api.ts';
import { useLiveAuditPage } from '../hooks/use-live-audit-page.ts';
import { type Filters, readFilters, urlFor } from '../utils/audit-filters.ts';
import { AuditExport } from './audit-export.tsx';
import { AuditFilterBar } from './audit-filter-bar.tsx';
import { AuditTable } from './audit-table.tsx';
import { ChainStatus } from './chain-status.tsx';

const noFacets: AuditFacets = { actors: [], targetTypes: [], actions: [] };

/** The audit log: filters and page in the URL, a live first page, export and chain verification. */
export function AuditLogPage() {
  const location = useLocation();
  const { filters, cursor } = readFilters(location.search);
  const { page, error, fresh, announce } = useLiveAuditPage(filters, cursor);
  const [facets, setFacets] = useState<AuditFacets>(noFacets);
  const [chain, setChain] = useState<ChainReport | null>(null);
  // Cursors of the pages before this one, for "Newer"; a filter change starts over.
  const history = useRef<string[]>([]);

  useEffect(() => {
    void getAuditFacets().then(setFacets, () => {});
  }, []);

  function changeFilters(next: Filters) {
    history.current = [];
    navigate(urlFor(next), { replace: true });
  }

  async function verify() {
    setChain(null);
    setChain(await verifyAuditChain());
  }

  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <div>
          <h1 id="audit-title">Audit log</h1>
          <p className="muted">Every admin mutation and gateway rejection. Rows are sealed into a hash chain in the background.</p>
        </div>
        <div className="actions">
          <AuditExport filters={filters} />
          <button type="button" className="button secondary" onClick={() => void verify()}>
            Verify chain
          </button>
        </div>
      </div>
      <ChainStatus report={chain} />
      <AuditFilterBar filters={filters} facets={facets} onChange={changeFilters} />
      <p className="visually-hidden" aria-live="polite">
        {announce}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {/* Keyed by the query: a new filter or page closes every open detail. */}
      <AuditTable key={`${location.search}`} entries={page?.entries ?? null} fresh={fresh} />
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          className="button secondary"
          disabled={!cursor}
          onClick={() => navigate(urlFor(filters, history.current.pop() ?? ''))}
        >
          ← Newer
        </button>
        <button
          type="button"
          className="button secondary"
          disabled={!page?.nextCursor}
          onClick={() => {
            history.current.push(cursor);
            navigate(urlFor(filters, page!.nextCursor!));
          }}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}
