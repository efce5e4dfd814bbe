// The audit routes' answers (contract file: zod and other contracts only, see http-contract.ts).
import { actorSources, auditRecordSchema } from '@codevector/core/audit-entry';
import { z } from 'zod';

/** GET /api/audit: one page, newest first; `nextCursor` is null on the last page. */
export const auditPageSchema = z.object({ entries: z.array(auditRecordSchema), nextCursor: z.string().nullable() });
export type AuditPage = z.infer<typeof auditPageSchema>;

/** GET /api/audit/facets: every actor, target type and action ever seen, for the filter bar. */
export const auditFacetsSchema = z.object({
  actors: z.array(z.object({ actor: z.string(), source: z.enum(actorSources) })),
  targetTypes: z.array(z.string()),
  actions: z.array(z.string()),
});
export type AuditFacets = z.infer<typeof auditFacetsSchema>;

export const exportFormats = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof exportFormats)[number];

export const chainBreakSchema = z.object({
  seq: z.number().int(),
  auditId: z.number().int().nullable(),
  reason: z.enum([
    'row_missing',
    'row_altered',
    'sequence_gap',
    'head_mismatch',
    'unchained_row',
    'checkpoint_mismatch',
    'checkpoint_ahead',
    'checkpoint_invalid',
    'base_unanchored',
  ]),
  message: z.string(),
});
export type ChainBreak = z.infer<typeof chainBreakSchema>;

/** GET /api/audit/verify: the chain recomputed from its base (and checked against signed checkpoints); `firstBreak` is null when intact. */
export const chainReportSchema = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  headSeq: z.number().int(),
  /** Rows up to here were pruned by retention; verify starts after it. */
  baseSeq: z.number().int(),
  pending: z.number().int(),
  /** Signed checkpoints checked against the chain; null when no checkpoint store is configured. */
  checkpoints: z.number().int().nullable(),
  firstBreak: chainBreakSchema.nullable(),
});
export type ChainReport = z.infer<typeof chainReportSchema>;

/** GET /api/audit/chain: the head to publish elsewhere; `pending` counts up to 10,000 unsealed rows. */
export const chainHeadSchema = z.object({
  headSeq: z.number().int(),
  headHash: z.string(),
  pending: z.number().int(),
  pendingCapped: z.boolean(),
});
export type ChainHead = z.infer<typeof chainHeadSchema>;
