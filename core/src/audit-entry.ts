import { z } from 'zod';

/** `idp`: an identity provider provisioning accounts over SCIM (the actor names the IdP). */
export const actorSources = ['console', 'kubernetes', 'gateway', 'system', 'idp'] as const;
export type ActorSource = (typeof actorSources)[number];

/**
 * One audit row as it is read and served: audit_log's columns in camelCase (the console selects
 * them under these names), `at` as ISO 8601 UTC text with microseconds (a JS Date would drop
 * them, and keyset cursors need them), and `sealed`, the row's position in the hash chain, null
 * until the sealer reaches it. The console API's pages and exports and the web console's types
 * all come from this one schema.
 */
export const auditRecordSchema = z.object({
  id: z.number().int(),
  at: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  targetName: z.string().nullable(),
  actor: z.string(),
  actorSource: z.enum(actorSources),
  /** {before, after} for a mutation (audit-diff.ts), the facts of a rejection otherwise. */
  detail: z.unknown(),
  requestId: z.string().nullable(),
  sealed: z.number().int().nullable(),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

const record = auditRecordSchema.shape;

/**
 * One audit row as writers describe it: the record less what the database assigns (id, at,
 * seal), checked more strictly than rows are read, so old rows never fail to load.
 */
export const auditEntrySchema = z.object({
  action: record.action.regex(/^[a-z_]+\.[a-z_]+$/, 'action is <target>.<verb>, e.g. provider.created'),
  targetType: record.targetType.min(1),
  targetId: record.targetId.optional(),
  targetName: record.targetName.optional(),
  actor: record.actor.min(1),
  actorSource: record.actorSource,
  detail: z.record(z.string(), z.unknown()).default({}),
  requestId: record.requestId.optional(),
});
export type AuditEntry = z.input<typeof auditEntrySchema>;
