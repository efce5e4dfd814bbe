import type { AuditFacets } from '@codevector/console-api/audit/audit-contract';
import { useEffect, useState } from 'react';
import { emptyFilters, type Filters, filterKeys } from '../utils/audit-filters.ts';

/** The audit log's filters. Selects apply at once; the action text after a pause, not on every key. */
export function AuditFilterBar(props: { filters: Filters; facets: AuditFacets; onChange: (filters: Filters) => void }) {
  const { filters, facets, onChange } = props;
  const [actionText, setActionText] = useState(filters.action);
  const [originText, setOriginText] = useState(filters.origin);
  useEffect(() => setActionText(filters.action), [filters.action]);
  useEffect(() => setOriginText(filters.origin), [filters.origin]);
  useEffect(() => {
    if (actionText === filters.action && originText === filters.origin) return;
    const timer = setTimeout(() => onChange({ ...filters, action: actionText.trim(), origin: originText.trim() }), 350);
    return () => clearTimeout(timer);
  });
  const set = (key: keyof Filters, value: string) => onChange({ ...filters, [key]: value });
  // One option per actor, even when it appears under several sources.
  const actors = [...new Map(facets.actors.map((a) => [a.actor, a])).values()];

  return (
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
        <select value={filters.actor} onChange={(e) => set('actor', e.target.value)}>
          <option value="">All actors</option>
          {actors.map((a) => (
            <option key={a.actor} value={a.actor}>
              {a.actor} ({a.source})
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Target type</span>
        <select value={filters.targetType} onChange={(e) => set('targetType', e.target.value)}>
          <option value="">All targets</option>
          {facets.targetTypes.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Origin</span>
        <input
          type="search"
          value={originText}
          placeholder="argocd, kubectl, a repo or revision"
          title="argocd, flux, helm, kubectl or api; or part of an Application, Kustomization or repository; or the start of a revision"
          onChange={(e) => setOriginText(e.target.value)}
        />
      </label>
      <label className="field">
        <span>From</span>
        <input type="date" value={filters.from} max={filters.to || undefined} onChange={(e) => set('from', e.target.value)} />
      </label>
      <label className="field">
        <span>To</span>
        <input type="date" value={filters.to} min={filters.from || undefined} onChange={(e) => set('to', e.target.value)} />
      </label>
      <button type="button" className="button link" disabled={!filterKeys.some((k) => filters[k])} onClick={() => onChange(emptyFilters)}>
        Clear filters
      </button>
    </form>
  );
}
