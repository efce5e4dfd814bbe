// The declared-resource route's answer (contract file: zod and other contracts only, see
// http/http-contract.ts).
import { z } from 'zod';

/** The path segment of GET /api/resources/:kind. */
export const resourceKinds = ['providers', 'models', 'budgets', 'rate-limits', 'secret-rules'] as const;
export type ResourceKind = (typeof resourceKinds)[number];

export const declaredResourceSchema = z.object({
  uid: z.string(),
  namespace: z.string(),
  name: z.string(),
  generation: z.number(),
  updatedAt: z.string(),
  spec: z.record(z.string(), z.unknown()),
  managedBy: z.literal('kubernetes'),
  /** null: the operator has not reported readiness yet. */
  ready: z.boolean().nullable(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  /** Providers only: identifies the provider key without revealing it. */
  apiKeyFingerprint: z.string().nullable().optional(),
  /** Budgets only: spend in the current window, null before the gateway records any. */
  /** Exact decimal USD, as in the Budget's status (ADR 0004). */
  currentSpendUsd: z
    .string()
    .regex(/^-?[0-9]+(\.[0-9]+)?$/)
    .nullable()
    .optional(),
});
export type DeclaredResource = z.infer<typeof declaredResourceSchema>;

/** GET /api/resources/:kind. */
export const resourceListSchema = z.object({
  kind: z.string(),
  managedBy: z.literal('kubernetes'),
  items: z.array(declaredResourceSchema),
});
export type ResourceList = z.infer<typeof resourceListSchema>;
