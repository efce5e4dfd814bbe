import {
  type BudgetSpec,
  budgetSpecSchema,
  type ModelSpec,
  modelSpecSchema,
  type ProviderSpec,
  providerSpecSchema,
  type RateLimitSpec,
  type ResourceKindName,
  rateLimitSpecSchema,
  type SecretRuleSpec,
  type Subject,
  secretRuleSpecSchema,
} from '@codevector/crds';
import { z } from 'zod';
import { type CommonQueryMethods, sql, statement } from './create-pool.ts';
import { type Money, parseUsd, pricePerToken } from './money.ts';

/**
 * The contract between operator and gateway (STYLE, after Envoy AI Gateway's filterapi): the
 * declared config as the gateway needs it, knowing nothing of Kubernetes beyond namespace/name
 * for naming things in events. The operator stores each resource's spec as the crds package
 * parsed it; the loader parses every row with the same schema and translates it with one typed
 * function per kind (`toSnapshot<Kind>`), so the snapshot's types derive from the CRD schemas
 * and there is no second, looser copy of them. Money becomes exact picodollars here (ADR 0004).
 * Gateways load a snapshot on start and on NOTIFY config_changed; one that fails to parse is
 * refused and the last good one stays in force.
 */

/**
 * The contract's version. The operator stamps it into config_state with every change; a gateway
 * refuses a snapshot stamped with a newer version than it understands (an operator upgraded
 * ahead of the gateways), keeping its last good snapshot, instead of misreading new fields.
 * Bump it when a change to the specs or the translation would be misread by older gateways.
 */
// 2: Models carry fallbacks (upstreams tried in order) and default (serves unmatched names).
export const configSnapshotVersion = 2;

export type { Subject };

type ResourceRef = { uid: string; namespace: string; name: string };

export type SnapshotProvider = ResourceRef &
  Pick<ProviderSpec, 'type' | 'baseURL' | 'timeoutSeconds'> & {
    headers: Record<string, string>;
    /** AES-256-GCM sealed provider key (see secret-box.ts); null until the operator stored one. */
    apiKeySealed: Buffer | null;
  };

/** Picodollars per token, by kind of token. */
export type TokenPrices = { input: Money; output: Money; cacheRead: Money; cacheWrite: Money };

export type SnapshotModel = ResourceRef &
  Pick<ModelSpec, 'upstreamModel'> & {
    /** What agents send in `model`. */
    modelName: ModelSpec['name'];
    aliases: string[];
    /** Name patterns with * wildcards (precedence in the gateway's router). */
    patterns: string[];
    providerUid: string;
    /**
     * Upstreams tried after the primary (providerUid/upstreamModel), in order. Only those whose
     * Provider is stored; priced as this Model whichever one serves.
     */
    fallbacks: SnapshotFallback[];
    /** Serves names nothing else matches, for the keys its namespace serves (ADR 0122). */
    isDefault: boolean;
    pricing: TokenPrices;
  };

export type SnapshotFallback = { providerUid: string; upstreamModel: string };

export type SnapshotBudget = ResourceRef &
  Pick<BudgetSpec, 'subject' | 'period' | 'mode' | 'strict'> & {
    /** The limit per period, exact. */
    amount: Money;
    models: string[];
    /** IANA zone of the calendar periods. */
    timeZone: string;
  };

export type SnapshotRateLimit = ResourceRef &
  Pick<RateLimitSpec, 'subject' | 'requestsPerMinute' | 'tokensPerMinute'> & { models: string[] };

export type SnapshotSecretRule = ResourceRef &
  Pick<SecretRuleSpec, 'severity' | 'action'> & {
    detectors: string[];
    patterns: { name: string; regex: string; keywords: string[]; description?: string }[];
  };

export type ConfigSnapshot = {
  /** config_state.version: the change counter, not the contract's version. */
  version: number;
  providers: SnapshotProvider[];
  models: SnapshotModel[];
  budgets: SnapshotBudget[];
  rateLimits: SnapshotRateLimit[];
  secretRules: SnapshotSecretRule[];
};

export function toSnapshotProvider(ref: ResourceRef, spec: ProviderSpec, apiKeySealed: Buffer | null): SnapshotProvider {
  return { ...ref, type: spec.type, baseURL: spec.baseURL, timeoutSeconds: spec.timeoutSeconds, headers: spec.headers ?? {}, apiKeySealed };
}

/**
 * `providerUidOf` maps a Provider name of the Model's namespace to its uid, or null when it is
 * not stored (such a fallback is left out; the operator reports it in the Model's status).
 * @throws RangeError when a price cannot be held exactly (see money.ts).
 */
export function toSnapshotModel(
  ref: ResourceRef,
  spec: ModelSpec,
  providerUid: string,
  providerUidOf: (name: string) => string | null = () => null,
): SnapshotModel {
  return {
    ...ref,
    modelName: spec.name,
    aliases: spec.aliases ?? [],
    patterns: spec.patterns ?? [],
    providerUid,
    fallbacks: (spec.fallbacks ?? []).flatMap((f) => {
      const uid = providerUidOf(f.providerRef.name);
      return uid ? [{ providerUid: uid, upstreamModel: f.upstreamModel ?? spec.upstreamModel }] : [];
    }),
    isDefault: spec.default === true,
    upstreamModel: spec.upstreamModel,
    pricing: {
      input: pricePerToken(spec.pricing.input),
      output: pricePerToken(spec.pricing.output),
      cacheRead: pricePerToken(spec.pricing.cacheRead ?? 0),
      cacheWrite: pricePerToken(spec.pricing.cacheWrite ?? 0),
    },
  };
}

export function toSnapshotBudget(ref: ResourceRef, spec: BudgetSpec): SnapshotBudget {
  return {
    ...ref,
    subject: spec.subject,
    amount: parseUsd(spec.amountUSD),
    period: spec.period,
    timeZone: spec.timeZone ?? 'UTC',
    models: spec.models ?? [],
    mode: spec.mode,
    strict: spec.strict,
  };
}

export function toSnapshotRateLimit(ref: ResourceRef, spec: RateLimitSpec): SnapshotRateLimit {
  const limit: SnapshotRateLimit = { ...ref, subject: spec.subject, models: spec.models ?? [] };
  if (spec.requestsPerMinute !== undefined) limit.requestsPerMinute = spec.requestsPerMinute;
  if (spec.tokensPerMinute !== undefined) limit.tokensPerMinute = spec.tokensPerMinute;
  return limit;
}

export function toSnapshotSecretRule(ref: ResourceRef, spec: SecretRuleSpec): SnapshotSecretRule {
  return {
    ...ref,
    detectors: spec.detectors ?? [],
    patterns: (spec.patterns ?? []).map((p) => ({ ...p, keywords: p.keywords ?? [] })),
    severity: spec.severity,
    action: spec.action,
  };
}

/** A stored spec that no longer fits its kind's schema, named so the log says which row. */
export class SnapshotRowError extends Error {
  constructor(kind: ResourceKindName, ref: ResourceRef, detail: string) {
    super(`${kind} ${ref.namespace}/${ref.name} does not fit the contract: ${detail}`);
    this.name = 'SnapshotRowError';
  }
}

/** A snapshot written by a newer operator than this gateway understands. */
export class SnapshotVersionError extends Error {
  readonly stored: number;
  constructor(stored: number) {
    super(
      `the declared config was written with contract version ${stored}, newer than this gateway's ${configSnapshotVersion}; upgrade the gateway to the operator's version (the last good snapshot stays in force)`,
    );
    this.name = 'SnapshotVersionError';
    this.stored = stored;
  }
}

function parseRow<T>(schema: z.ZodType<T>, kind: ResourceKindName, ref: ResourceRef, spec: unknown): T {
  const parsed = schema.safeParse(spec);
  if (!parsed.success) {
    throw new SnapshotRowError(kind, ref, parsed.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

const rowSchema = z.object({ uid: z.string(), namespace: z.string(), name: z.string(), spec: z.unknown() });
const stateSchema = z.object({ version: z.number(), contract_version: z.number() });

/**
 * Reads every declared table in one repeatable-read transaction so the snapshot is consistent
 * with its version, and translates it.
 * @throws SnapshotVersionError when a newer operator wrote it; SnapshotRowError (or RangeError for
 * money) when a row does not fit the contract. The caller keeps its last good snapshot.
 */
export async function loadConfigSnapshot(db: Pick<CommonQueryMethods, 'transaction'>): Promise<ConfigSnapshot> {
  return db.transaction(async (tx) => {
    await tx.query(statement`set transaction isolation level repeatable read read only`);
    const state = await tx.one(sql.type(stateSchema)`select version, contract_version from config_state`);
    if (state.contract_version > configSnapshotVersion) throw new SnapshotVersionError(state.contract_version);
    const providerRows = await tx.any(sql.type(rowSchema.extend({ api_key_ciphertext: z.instanceof(Buffer).nullable() }))`
      select uid, namespace, name, spec, api_key_ciphertext from providers order by namespace, name`);
    const modelRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from models order by namespace, name`);
    const budgetRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from budgets order by namespace, name`);
    const rateLimitRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from rate_limits order by namespace, name`);
    const secretRuleRows = await tx.any(sql.type(rowSchema)`select uid, namespace, name, spec from secret_rules order by namespace, name`);

    const ref = (row: z.infer<typeof rowSchema>): ResourceRef => ({ uid: row.uid, namespace: row.namespace, name: row.name });
    const providerUidByName = new Map(providerRows.map((row) => [`${row.namespace}/${row.name}`, row.uid]));
    return {
      version: state.version,
      providers: providerRows.map((row) =>
        toSnapshotProvider(ref(row), parseRow(providerSpecSchema, 'Provider', ref(row), row.spec), row.api_key_ciphertext),
      ),
      models: modelRows.flatMap((row) => {
        const spec = parseRow(modelSpecSchema, 'Model', ref(row), row.spec);
        const providerUid = providerUidByName.get(`${row.namespace}/${spec.providerRef.name}`);
        // The operator only stores models whose provider exists; a race with a provider delete
        // leaves the model out rather than failing the whole snapshot.
        const uidOf = (name: string) => providerUidByName.get(`${row.namespace}/${name}`) ?? null;
        return providerUid ? [toSnapshotModel(ref(row), spec, providerUid, uidOf)] : [];
      }),
      budgets: budgetRows.map((row) => toSnapshotBudget(ref(row), parseRow(budgetSpecSchema, 'Budget', ref(row), row.spec))),
      rateLimits: rateLimitRows.map((row) => toSnapshotRateLimit(ref(row), parseRow(rateLimitSpecSchema, 'RateLimit', ref(row), row.spec))),
      secretRules: secretRuleRows.map((row) =>
        toSnapshotSecretRule(ref(row), parseRow(secretRuleSpecSchema, 'SecretRule', ref(row), row.spec)),
      ),
    };
  });
}

/**
 * Marks a committed config change: bumps the change counter, stamps the contract version and
 * notifies the gateways (delivered at commit). Every writer of declared tables calls this in its
 * transaction. Returns the new version.
 */
export async function bumpConfigVersion(tx: Pick<CommonQueryMethods, 'oneFirst' | 'query'>): Promise<number> {
  const version = await tx.oneFirst(sql.type(z.object({ version: z.number() }))`
    update config_state set version = version + 1, contract_version = ${configSnapshotVersion}, changed_at = now()
    returning version`);
  await tx.query(statement`select pg_notify(${configChangedChannel}, ${String(version)})`);
  return version;
}

/** The channel the operator notifies after each committed config change. */
export const configChangedChannel = 'config_changed';
