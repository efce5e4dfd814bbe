// The audit log's view lives in the URL (shareable, back button works); these translate it.
import type { AuditRecord } from '@codevector/core/audit-entry';

export const filterKeys = ['action', 'actor', 'targetType', 'origin', 'from', 'to'] as const;
export type Filters = Record<(typeof filterKeys)[number], string>;
export const emptyFilters: Filters = { action: '', actor: '', targetType: '', origin: '', from: '', to: '' };

/** The filters and page cursor in a location's query string; absent ones are ''. */
export function readFilters(search: string): { filters: Filters; cursor: string } {
  const params = new URLSearchParams(search);
  const filters = { ...emptyFilters };
  for (const key of filterKeys) filters[key] = params.get(key) ?? '';
  return { filters, cursor: params.get('cursor') ?? '' };
}

/** API query for the URL's filters: dates are whole UTC days, `to` inclusive on the page. */
export function apiQuery(filters: Filters): URLSearchParams {
  const query = new URLSearchParams();
  if (filters.action) query.set('action', filters.action);
  if (filters.actor) query.set('actor', filters.actor);
  if (filters.targetType) query.set('targetType', filters.targetType);
  if (filters.origin) query.set('origin', filters.origin);
  if (filters.from) query.set('from', `${filters.from}T00:00:00Z`);
  if (filters.to) query.set('to', new Date(Date.parse(`${filters.to}T00:00:00Z`) + 86_400_000).toISOString());
  return query;
}

/** The page's own URL for these filters (and a cursor, for pages further back). */
export function urlFor(filters: Filters, cursor = ''): string {
  const params = new URLSearchParams();
  for (const key of filterKeys) if (filters[key]) params.set(key, filters[key]);
  if (cursor) params.set('cursor', cursor);
  const text = params.toString();
  return `/admin/audit-log${text ? `?${text}` : ''}`;
}

/** The API's keyset cursor for a row (base64url of "at|id"). */
export function cursorOf(entry: Pick<AuditRecord, 'at' | 'id'>): string {
  return btoa(`${entry.at}|${entry.id}`).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}
