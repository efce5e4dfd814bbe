import { Fragment, useCallback, useEffect, useRef, useState } from 'react';
import { type AuditEntry, api } from './api.ts';
import { AuditDetail } from './json-diff.tsx';
import { navigate, useLocation } from './router.tsx';

type Facets = { actors: { actor: string; source: string }[]; targetTypes: string[]; actions: string[] };
type Page = { entries: AuditEntry[]; nextCursor: string | null };
type ChainReport = {
  ok: boolean;
  checked: number;
  pending: number;
  firstBreak: { seq: number; auditId: number | null; message: string } | null;
};

const filterKeys = ['action', 'actor', 'targetType', 'from', 'to'] as const;
type Filters = Record<(typeof filterKeys)[number], string>;
const pollMs = 5000;
const pageSize = 50;

function readFilters(search: string): Filters & { cursor: string } {
  const params = new URLSearchParams(search);
  return {
    action: params.get('action') ?? '',
    actor: params.get('actor') ?? '',
    targetType: params.get('targetType') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
    cursor: params.get('cursor') ?? '',
  };
}

/** API query for the URL's filters: dates are whole UTC days, `to` inclusive on the page. */
function apiQuery(filters: Filters): URLSearchParams {
  const query = new URLSearchParams();
  if (filters.action) query.set('action', filters.action);
  if (filters.actor) query.set('actor', filters.actor);
  if (filters.targetType) query.set('targetType', filters.targetType);
  if (filters.from) query.set('from', `${filters.from}T00:00:00Z`);
  if (filters.to) query.set('to', new Date(Date.parse(`${filters.to}T00:00:00Z`) + 86_400_000).toISOString());
  return query;
}

function urlFor(filters: Filters, cursor = ''): string {
  const params = new URLSearchParams();
  for (const key of filterKeys) if (filters[key]) params.set(key, filters[key]);
  if (cursor) params.set('cursor', cursor);
  const text = params.toString();
  return `/admin/audit-log${text ? `?${text}` : ''}`;
}

export function AuditLogPage() {
  const location = useLocation();
  const current = readFilters(location.search);
  const filters: Filters = {
    action: current.action,
    actor: current.actor,
    targetType: current.targetType,
    from: current.from,
    to: current.to,
  };
  const filterKey = JSON.stringify(filters);
  const [facets, setFacets] = useState<Facets>({ actors: [], targetTypes: [], actions: [] });
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Set<number>>(new Set());
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const [announce, setAnnounce] = useState('');
  const [actionText, setActionText] = useState(current.action);
  const [chain, setChain] = useState<ChainReport | null>(null);
  const history = useRef<string[]>([]);

  useEffect(() => setActionText(current.action), [current.action]);

  useEffect(() => {
    void api<Facets>('GET', '/api/audit/facets').then(setFacets, () => {});
  }, []);

  const load = useCallback(async () => {
    const query = apiQuery(JSON.parse(filterKey) as Filters);
    query.set('limit', String(pageSize));
    if (current.cursor) query.set('cursor', current.cursor);
    try {
      setPage(await api<Page>('GET', `/api/audit?${query}`));
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [filterKey, current.cursor]);

  useEffect(() => {
    setPage(null);
    setOpen(new Set());
    void load();
  }, [load]);

  // Live updates: on the first page, ask for rows above the newest one shown. Pages further
  // back stay put (keyset cursors do not move when rows arrive).
  const newest = page?.entries[0];
  useEffect(() => {
    if (current.cursor || !page) return;
    const timer = setInterval(async () => {
      const query = apiQuery(JSON.parse(filterKey) as Filters);
      query.set('limit', String(pageSize));
      if (newest) query.set('newerThan', cursorOf(newest));
      try {
        const update = await api<Page>('GET', `/api/audit?${query}`);
        if (update.entries.length === 0) {
          // Seals arrive in the background: refresh the pending markers of what is shown.
          if (page.entries.some((e) => e.sealed === null)) {
            const again = await api<Page>('GET', `/api/audit?${apiQuery(JSON.parse(filterKey) as Filters)}&limit=${pageSize}`);
            setPage(again);
          }
          return;
        }
        const seen = new Set(page.entries.map((e) => e.id));
        const added = update.entries.filter((e) => !seen.has(e.id));
        const merged = [...added, ...page.entries];
        // Rows pushed off this page are the first of the next one: move the cursor with them.
        const nextCursor = merged.length > pageSize ? cursorOf(merged[pageSize - 1]!) : page.nextCursor;
        setPage({ entries: merged.slice(0, pageSize), nextCursor });
        setFresh(new Set(added.map((e) => e.id)));
        setAnnounce(`${added.length} new audit ${added.length === 1 ? 'event' : 'events'}`);
      } catch {
        // A failed poll is retried on the next tick.
      }
    }, pollMs);
    return () => clearInterval(timer);
  }, [current.cursor, page, newest, filterKey]);

  function setFilter(key: keyof Filters, value: string) {
    history.current = [];
    navigate(urlFor({ ...filters, [key]: value }), { replace: true });
  }

  // Typing in the action box updates the URL after a pause, not on every key.
  useEffect(() => {
    if (actionText === current.action) return;
    const timer = setTimeout(() => setFilter('action', actionText.trim()), 350);
    return () => clearTimeout(timer);
  });

  const exportQuery = apiQuery(filters).toString();
  const anyFilter = filterKeys.some((k) => filters[k]);

  async function verify() {
    setChain(null);
    setChain(await api<ChainReport>('GET', '/api/audit/verify'));
  }

  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <div>
          <h1 id="audit-title">Audit log</h1>
          <p className="muted">Every admin mutation and gateway rejection. Rows are sealed into a hash chain in the background.</p>
        </div>
        <div className="actions">
          <a className="button secondary" href={`/api/audit/export?format=csv&${exportQuery}`} download>
            Export CSV
          </a>
          <a className="button secondary" href={`/api/audit/export?format=ndjson&${exportQuery}`} download>
            Export NDJSON
          </a>
          <button type="button" className="button secondary" onClick={() => void verify()}>
            Verify chain
          </button>
        </div>
      </div>
      {chain && (
        <p className={chain.ok ? 'notice ok' : 'notice bad'} role="status">
          {chain.ok
            ? `Chain intact: ${chain.checked} sealed rows verified, ${chain.pending} pending.`
            : `Chain broken at seal #${chain.firstBreak?.seq}: ${chain.firstBreak?.message}`}
        </p>
      )}
      <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label className="field">
          <span>Action</span>
          <input
            type="search"
            value={actionText}
            placeholder="e.g. exceeded"
            onChange={(e) => setActionText(e.target.value)}
            list="audit-actions"
          />
          <datalist id="audit-actions">
            {facets.actions.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </label>
        <label className="field">
          <span>Actor</span>
          <select value={filters.actor} onChange={(e) => setFilter('actor', e.target.value)}>
            <option value="">All actors</option>
            {[...new Map(facets.actors.map((a) => [a.actor, a])).values()].map((a) => (
              <option key={a.actor} value={a.actor}>
                {a.actor} ({a.source})
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Target type</span>
          <select value={filters.targetType} onChange={(e) => setFilter('targetType', e.target.value)}>
            <option value="">All targets</option>
            {facets.targetTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>From</span>
          <input type="date" value={filters.from} max={filters.to || undefined} onChange={(e) => setFilter('from', e.target.value)} />
        </label>
        <label className="field">
          <span>To</span>
          <input type="date" value={filters.to} min={filters.from || undefined} onChange={(e) => setFilter('to', e.target.value)} />
        </label>
        <button type="button" className="button link" disabled={!anyFilter} onClick={() => navigate('/admin/audit-log', { replace: true })}>
          Clear filters
        </button>
      </form>
      <p className="visually-hidden" aria-live="polite">
        {announce}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="table-wrap">
        <table className="audit-table">
          <caption className="visually-hidden">Audit events, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Actor</th>
              <th scope="col">Seal</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {page === null && (
              <tr>
                <td colSpan={6} className="muted">
                  Loading…
                </td>
              </tr>
            )}
            {page?.entries.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No audit events match these filters.
                </td>
              </tr>
            )}
            {page?.entries.map((entry) => {
              const isOpen = open.has(entry.id);
              const detailId = `detail-${entry.id}`;
              return (
                <Fragment key={entry.id}>
                  <tr className={fresh.has(entry.id) ? 'fresh' : undefined} data-audit-id={entry.id}>
                    <td>
                      <time dateTime={entry.at} title={entry.at}>
                        {formatWhen(entry.at)}
                      </time>
                    </td>
                    <td>
                      <code className="action">{entry.action}</code>
                    </td>
                    <td>
                      <span className="badge">{entry.targetType}</span> {entry.targetName ?? entry.targetId ?? ''}
                    </td>
                    <td>
                      {entry.actor} <span className={`badge source-${entry.actorSource}`}>{entry.actorSource}</span>
                    </td>
                    <td>
                      {entry.sealed === null ? (
                        <span className="badge pending" title="Not yet sealed into the hash chain">
                          pending
                        </span>
                      ) : (
                        <span className="badge sealed" title={`Chain position ${entry.sealed}`}>
                          #{entry.sealed}
                        </span>
                      )}
                    </td>
                    <td>
                      <button
                        type="button"
                        className="button small"
                        aria-expanded={isOpen}
                        aria-controls={detailId}
                        onClick={() => {
                          const next = new Set(open);
                          if (isOpen) next.delete(entry.id);
                          else next.add(entry.id);
                          setOpen(next);
                        }}
                      >
                        {isOpen ? 'Hide' : 'Show'} detail
                        <span className="visually-hidden">
                          {' '}
                          for {entry.action} at {entry.at}
                        </span>
                      </button>
                    </td>
                  </tr>
                  {isOpen && (
                    <tr className="detail-row" id={detailId}>
                      <td colSpan={6}>
                        <AuditDetail detail={entry.detail} action={entry.action} />
                        {entry.requestId && <p className="muted small">Request {entry.requestId}</p>}
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          className="button secondary"
          disabled={!current.cursor}
          onClick={() => {
            const previous = history.current.pop() ?? '';
            navigate(urlFor(filters, previous));
          }}
        >
          ← Newer
        </button>
        <button
          type="button"
          className="button secondary"
          disabled={!page?.nextCursor}
          onClick={() => {
            history.current.push(current.cursor);
            navigate(urlFor(filters, page!.nextCursor!));
          }}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}

/** The API's keyset cursor for a row (base64url of "at|id"). */
function cursorOf(entry: AuditEntry): string {
  return btoa(`${entry.at}|${entry.id}`).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function formatWhen(iso: string): string {
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
