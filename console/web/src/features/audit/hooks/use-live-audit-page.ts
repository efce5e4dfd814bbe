import type { AuditPage } from '@codevector/console-api/audit/audit-contract';
import { useEffect, useState } from 'react';
import { getAuditPage } from '../api/audit-api.ts';
import { apiQuery, cursorOf, type Filters } from '../utils/audit-filters.ts';

const pollMs = 5000;
export const pageSize = 50;

/**
 * One page of the audit log for the URL's filters and cursor, kept live on the first page.
 * A page is only ever shown for the query it was loaded for: while the next one loads the
 * table says so, instead of showing the previous filter's rows under the new filter.
 */
export function useLiveAuditPage(filters: Filters, cursor: string) {
  const filterKey = JSON.stringify(filters);
  const queryKey = `${filterKey}|${cursor}`;
  const [loaded, setLoaded] = useState<{ key: string; page: AuditPage } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const [announce, setAnnounce] = useState('');

  useEffect(() => {
    // A slower answer to an earlier query must not land on top of this one.
    let current = true;
    const query = apiQuery(JSON.parse(filterKey) as Filters);
    query.set('limit', String(pageSize));
    if (cursor) query.set('cursor', cursor);
    getAuditPage(query).then(
      (page) => {
        if (!current) return;
        setLoaded({ key: queryKey, page });
        setError(null);
      },
      (e: Error) => {
        if (current) setError(e.message);
      },
    );
    return () => {
      current = false;
    };
  }, [filterKey, cursor, queryKey]);

  const page = loaded?.key === queryKey ? loaded.page : null;

  // Live updates: on the first page, ask for rows above the newest one shown. Pages further
  // back stay put (keyset cursors do not move when rows arrive).
  useEffect(() => {
    if (cursor || !page) return;
    const newest = page.entries[0];
    const timer = setInterval(async () => {
      const query = apiQuery(JSON.parse(filterKey) as Filters);
      query.set('limit', String(pageSize));
      if (newest) query.set('newerThan', cursorOf(newest));
      try {
        const update = await getAuditPage(query);
        if (update.entries.length === 0) {
          // Seals arrive in the background: refresh the pending markers of what is shown.
          if (page.entries.some((e) => e.sealed === null)) {
            const again = apiQuery(JSON.parse(filterKey) as Filters);
            again.set('limit', String(pageSize));
            setLoaded({ key: queryKey, page: await getAuditPage(again) });
          }
          return;
        }
        const seen = new Set(page.entries.map((e) => e.id));
        const added = update.entries.filter((e) => !seen.has(e.id));
        const merged = [...added, ...page.entries];
        // Rows pushed off this page are the first of the next one: move the cursor with them.
        const nextCursor = merged.length > pageSize ? cursorOf(merged[pageSize - 1]!) : page.nextCursor;
        setLoaded({ key: queryKey, page: { entries: merged.slice(0, pageSize), nextCursor } });
        setFresh(new Set(added.map((e) => e.id)));
        setAnnounce(`${added.length} new audit ${added.length === 1 ? 'event' : 'events'}`);
      } catch {
        // A failed poll is retried on the next tick.
      }
    }, pollMs);
    return () => clearInterval(timer);
  }, [cursor, page, filterKey, queryKey]);

  return { page, error, fresh, announce };
}
