import { PassThrough } from 'node:stream';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { requireRole } from '../auth/request-context.ts';
import { parseInput } from '../http/http-errors.ts';
import { type AuditAnchor, verifyAnchoredChain } from './audit-anchor.ts';
import { verifyAuditChain } from './audit-chain.ts';
import { type AuditFacets, type AuditPage, type ChainHead, type ChainReport, exportFormats } from './audit-contract.ts';
import { exportAuditLog } from './audit-export.ts';
import { auditFilterSchema, decodeCursor } from './audit-filter.ts';
import { listAuditEntries, listAuditFacetValues } from './audit-query.ts';

const pageSchema = auditFilterSchema.extend({
  cursor: z.string().max(200).optional(),
  newerThan: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** The audit log for admins and auditors: pages, facets, streamed export, chain verification and head. */
// Spelled out rather than picked from AppDeps: app-deps.ts names this room's AuditAnchor, and
// naming AppDeps here would loop audit/ back onto it.
type AuditRoutesOptions = { pool: DatabasePool; exportPool: DatabasePool; anchor: AuditAnchor | null };

export const auditRoutes: FastifyPluginAsync<AuditRoutesOptions> = async (app, deps) => {
  app.get<{ Reply: AuditPage }>('/api/audit', async (request) => {
    requireRole(request, 'admin', 'auditor');
    const input = parseInput(pageSchema, request.query);
    return listAuditEntries(deps.pool, input, {
      cursor: input.cursor ? decodeCursor(input.cursor) : undefined,
      newerThan: input.newerThan ? decodeCursor(input.newerThan) : undefined,
      limit: input.limit,
    });
  });

  app.get<{ Reply: AuditFacets }>('/api/audit/facets', async (request) => {
    requireRole(request, 'admin', 'auditor');
    return listAuditFacetValues(deps.pool);
  });

  app.get('/api/audit/export', async (request, reply) => {
    requireRole(request, 'admin', 'auditor');
    const input = parseInput(auditFilterSchema.extend({ format: z.enum(exportFormats).default('csv') }), request.query);
    const stamp = new Date().toISOString().replaceAll(':', '').slice(0, 15);
    const out = new PassThrough();
    void reply
      .header('content-type', input.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="codevector-audit-${stamp}.${input.format}"`)
      .header('cache-control', 'no-store');
    // Headers are sent with the first byte; a failure after that can only cut the stream short,
    // which the client sees as a truncated download (no trailing newline / broken chunking).
    exportAuditLog(deps.exportPool, input, input.format, out).catch((error: unknown) => {
      request.log.error({ err: error }, 'audit export failed');
      out.destroy(error as Error);
    });
    return reply.send(out);
  });

  app.get<{ Reply: ChainReport }>('/api/audit/verify', async (request) => {
    requireRole(request, 'admin', 'auditor');
    // Against the signed checkpoints when this replica has the store; the chain alone otherwise.
    return deps.anchor ? verifyAnchoredChain(deps.exportPool, deps.anchor) : verifyAuditChain(deps.exportPool);
  });

  app.get<{ Reply: ChainHead }>('/api/audit/chain', async (request) => {
    requireRole(request, 'admin', 'auditor');
    const head = await deps.pool.one(sql.type(z.object({ head_seq: z.number(), head_hash: z.string(), pending: z.number() }))`
      select s.head_seq, encode(s.head_hash, 'hex') as head_hash,
        (select count(*)::int from (select 1 from audit_log a where (a.txid, a.id) > (s.last_txid, s.last_audit_id) limit 10001) p) as pending
      from audit_chain_state s`);
    // Publishing the head elsewhere (a ticket, a SIEM) is what makes rewriting the whole chain detectable.
    return { headSeq: head.head_seq, headHash: head.head_hash, pending: head.pending, pendingCapped: head.pending > 10_000 };
  });
};
