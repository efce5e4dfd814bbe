import { z } from 'zod';
import { type CommonQueryMethods, sql, statement } from './create-pool.ts';

/**
 * The contract between operator and gateway (STYLE, after Envoy AI Gateway's filterapi): a
 * versioned view of the declared config as the gateway needs it. It knows nothing of
 * Kubernetes beyond namespace/name for naming things in events. The operator writes the
 * declared tables (spec = the normalized CRD spec) and bumps config_state.version; gateways
 * load a snapshot on start and on NOTIFY config_changed. A snapshot that fails validation is
 * refused and the last good one stays in force.
 */
export const configSnapshotVersion = 1;

const resourceRef = { uid: z.string(), namespace: z.string(), name: z.string() };
const subjectSchema = z.object({
  kind: z.enum(['global', 'user', 'group', 'apiKey', 'eachUser']),
  name: z.string().optional(),
});
export type Subject = z.infer<typeof subjectSchema>;

export const snapshotProviderSchema = z.object({
  ...resourceRef,
  type: z.enum(['anthropic', 'openai', 'openai-compatible']),
  baseURL: z.string(),
  headers: z.record(z.string(), z.string()).default({}),
  timeoutSeconds: z.number().positive().default(600),
  /** AES-256-GCM sealed provider key (see secret-box.ts); null until the operator stored one. */
  apiKeySealed: z.instanceof(Buffer).nullable(),
});
export type SnapshotProvider = z.infer<typeof snapshotProviderSchema>;

export const snapshotModelSchema = z.object({
  ...resourceRef,
  /** What agents send in `model`. */
  modelName: z.string(),
  aliases: z.array(z.string()).default([]),
  providerUid: z.string(),
  upstreamModel: z.string(),
  /** USD per million tokens. */
  pricing: z.object({
    input: z.coerce.number().nonnegative(),
    output: z.coerce.number().nonnegative(),
    cacheRead: z.coerce.number().nonnegative().default(0),
    cacheWrite: z.coerce.number().nonnegative().default(0),
  }),
});
export type SnapshotModel = z.infer<typeof snapshotModelSchema>;

export const snapshotBudgetSchema = z.object({
  ...resourceRef,
  subject: subjectSchema,
  amountUSD: z.coerce.number().positive(),
  period: z.enum(['day', 'week', 'month', 'total']),
  models: z.array(z.string()).default([]),
  mode: z.enum(['enforce', 'observe']).default('enforce'),
  strict: z.boolean().default(false),
});
export type SnapshotBudget = z.infer<typeof snapshotBudgetSchema>;

export const snapshotRateLimitSchema = z.object({
  ...resourceRef,
  subject: subjectSchema,
  requestsPerMinute: z.number().int().positive().optional(),
  tokensPerMinute: z.number().int().positive().optional(),
  models: z.array(z.string()).default([]),
});
export type SnapshotRateLimit = z.infer<typeof snapshotRateLimitSchema>;

export const snapshotSecretRuleSchema = z.object({
  ...resourceRef,
  detectors: z.array(z.string()).default([]),
  patterns: z
    .array(z.object({ name: z.string(), regex: z.string(), keywords: z.array(z.string()).default([]), description: z.string().optional() }))
    .default([]),
  severity: z.enum(['low', 'medium', 'high', 'critical']).default('high'),
  action: z.enum(['block']).default('block'),
});
export type SnapshotSecretRule = z.infer<typeof snapshotSecretRuleSchema>;

export const configSnapshotSchema = z.object({
  version: z.number().int().nonnegative(),
  providers: z.array(snapshotProviderSchema),
  models: z.array(snapshotModelSchema),
  budgets: z.array(snapshotBudgetSchema),
  rateLimits: z.array(snapshotRateLimitSchema),
  secretRules: z.array(snapshotSecretRuleSchema),
});
export type ConfigSnapshot = z.infer<typeof configSnapshotSchema>;

const rowSchema = z.object({ uid: z.string(), namespace: z.string(), name: z.string(), spec: z.record(z.string(), z.unknown()) });

/**
 * Reads every declared table in one repeatable-read transaction so the snapshot is consistent
 * with its version, and validates it.
 * @throws ZodError when a row does not fit the contract (the caller keeps its last good snapshot).
 */
export async function loadConfigSnapshot(db: Pick<CommonQueryMethods, 'transaction'>): Promise<ConfigSnapshot> {
  return db.transaction(async (tx) => {
    await tx.query(statement`set transaction isolation level repeatable read read only`);
    const version = await tx.oneFirst(sql.type(z.object({ version: z.number() }))`select version from config_state`);
    const providerRows = await tx.any(sql.type(rowSchema.extend({ api_key_ciphertext: z.instanceof(Buffer).nullable() }))`
      select uid, namespace, name, spec, api_key_ciphertext from providers order by namespace, name`);
    const modelRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from models order by namespace, name`);
    const budgetRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from budgets order by namespace, name`);
    const rateLimitRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from rate_limits order by namespace, name`);
    const secretRuleRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from secret_rules order by namespace, name`);

    const providerUidByName = new Map(providerRows.map((row) => [`${row.namespace}/${row.name}`, row.uid]));
    const flatten = (row: z.infer<typeof rowSchema>) => ({ uid: row.uid, namespace: row.namespace, name: row.name, ...row.spec });
    return configSnapshotSchema.parse({
      version,
      providers: providerRows.map((row) => ({ ...flatten(row), apiKeySealed: row.api_key_ciphertext })),
      models: modelRows.flatMap((row) => {
        const spec = row.spec as { name?: string; providerRef?: { name?: string } };
        const providerUid = providerUidByName.get(`${row.namespace}/${spec.providerRef?.name ?? ''}`);
        // The operator only stores models whose provider exists; a race with a provider delete
        // leaves the model out rather than failing the whole snapshot.
        if (!providerUid) return [];
        return [{ ...flatten(row), name: row.name, modelName: spec.name, providerUid }];
      }),
      budgets: budgetRows.map(flatten),
      rateLimits: rateLimitRows.map(flatten),
      secretRules: secretRuleRows.map(flatten),
    });
  });
}

/** The channel the operator notifies after each committed config change. */
export const configChangedChannel = 'config_changed';
