import { z } from 'zod';

export const actorSources = ['console', 'kubernetes', 'gateway', 'system'] as const;
export type ActorSource = (typeof actorSources)[number];

/** One audit row as writers describe it; `detail` holds {before, after} or rejection facts. */
export const auditEntrySchema = z.object({
  action: z.string().regex(/^[a-z_]+\.[a-z_]+$/, 'action is <target>.<verb>, e.g. provider.created'),
  targetType: z.string().min(1),
  targetId: z.string().nullish(),
  targetName: z.string().nullish(),
  actor: z.string().min(1),
  actorSource: z.enum(actorSources),
  detail: z.record(z.string(), z.unknown()).default({}),
  requestId: z.string().nullish(),
});
export type AuditEntry = z.input<typeof auditEntrySchema>;
