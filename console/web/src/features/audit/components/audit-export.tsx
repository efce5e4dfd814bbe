import { auditExportUrl } from '../api/audit-api.ts';
import { apiQuery, type Filters } from '../utils/audit-filters.ts';

/** Downloads of everything the current filters match (all pages), streamed by the API. */
export function AuditExport(props: { filters: Filters }) {
  const query = apiQuery(props.filters);
  return (
    <>
      <a className="button secondary" href={auditExportUrl('csv', query)} download>
        Export CSV
      </a>
      <a className="button secondary" href={auditExportUrl('ndjson', query)} download>
        Export NDJSON
      </a>
    </>
  );
}
