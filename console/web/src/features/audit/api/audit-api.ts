import type { AuditFacets, AuditPage, ChainReport, ExportFormat } from '@codevector/console-api/audit/audit-contract';
import { api } from '../../../lib/api-client.ts';

export const getAuditPage = (query: URLSearchParams) => api<AuditPage>('GET', `/api/audit?${query}`);
export const getAuditFacets = () => api<AuditFacets>('GET', '/api/audit/facets');
export const verifyAuditChain = () => api<ChainReport>('GET', '/api/audit/verify');
/** A plain link, not a fetch: the browser streams the download to disk. */
export const auditExportUrl = (format: ExportFormat, query: URLSearchParams) => `/api/audit/export?format=${format}&${query}`;
