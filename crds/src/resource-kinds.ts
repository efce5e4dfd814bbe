import type { z } from 'zod';
import { auditSinkSchema, auditSinkSpecSchema, auditSinkStatusSchema } from './audit-sink.ts';
import { budgetSchema, budgetSpecSchema, budgetStatusSchema } from './budget.ts';
import { modelSchema, modelSpecSchema, modelStatusSchema } from './model.ts';
import { providerSchema, providerSpecSchema, providerStatusSchema } from './provider.ts';
import { rateLimitSchema, rateLimitSpecSchema, rateLimitStatusSchema } from './rate-limit.ts';
import { secretRuleSchema, secretRuleSpecSchema, secretRuleStatusSchema } from './secret-rule.ts';

/** A kubectl column, as in a CRD's additionalPrinterColumns. READY and AGE are added to every kind. */
export type PrinterColumn = {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 0 shows in `kubectl get`; 1 only with `-o wide`. */
  priority?: 0 | 1;
};

export type ResourceKind = {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  /** Prefixed with cv so they never shadow a built-in or another project's short name. */
  shortNames: readonly string[];
  /** Shown by `kubectl explain <kind>`. */
  description: string;
  specSchema: z.ZodType;
  statusSchema: z.ZodType;
  /** The whole object: apiVersion, kind, metadata, spec, status. */
  schema: z.ZodType;
  printerColumns: readonly PrinterColumn[];
};

const subjectColumns: PrinterColumn[] = [
  { name: 'Subject', type: 'string', jsonPath: '.spec.subject.kind', description: 'Who the limit applies to.' },
  { name: 'Subject Name', type: 'string', jsonPath: '.spec.subject.name', description: 'Which user, group or key.' },
];

/**
 * Every kind of the API, in dependency order (a Model needs its Provider). The operator watches
 * these, the generator writes one CRD per entry, and tests route manifests by `kind`.
 */
export const resourceKinds = [
  {
    kind: 'Provider',
    listKind: 'ProviderList',
    plural: 'providers',
    singular: 'provider',
    shortNames: ['cvprov'],
    description:
      'Provider is an upstream model API (Anthropic, OpenAI or an OpenAI-compatible server) and the credential the gateway uses to call it.',
    specSchema: providerSpecSchema,
    statusSchema: providerStatusSchema,
    schema: providerSchema,
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'API dialect of the upstream.' },
      { name: 'BaseURL', type: 'string', jsonPath: '.spec.baseURL', description: 'Root URL of the upstream API.' },
      { name: 'P50 ms', type: 'integer', jsonPath: '.status.latencyP50Ms', description: 'Median time to response headers, last minute.' },
      { name: 'Errors', type: 'integer', jsonPath: '.status.errorsLastMinute', description: 'Upstream failures in the last minute.' },
      {
        name: 'P95 ms',
        type: 'integer',
        jsonPath: '.status.latencyP95Ms',
        description: '95th percentile time to response headers.',
        priority: 1,
      },
      {
        name: 'Last Error',
        type: 'date',
        jsonPath: '.status.lastError.at',
        description: 'When the latest upstream failure happened.',
        priority: 1,
      },
      {
        name: 'Last Status',
        type: 'integer',
        jsonPath: '.status.lastError.status',
        description: 'HTTP status of that failure (0: unreachable).',
        priority: 1,
      },
    ],
  },
  {
    kind: 'Model',
    listKind: 'ModelList',
    plural: 'models',
    singular: 'model',
    shortNames: ['cvmodel'],
    description: 'Model is a model clients can request by name, the Provider that serves it, and its price per million tokens.',
    specSchema: modelSpecSchema,
    statusSchema: modelStatusSchema,
    schema: modelSchema,
    printerColumns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.name', description: 'Name clients send.' },
      { name: 'Provider', type: 'string', jsonPath: '.spec.providerRef.name', description: 'Provider that serves the model.' },
      {
        name: 'Fallbacks',
        type: 'string',
        jsonPath: '.spec.fallbacks[*].providerRef.name',
        description: 'Providers tried in order when the one before fails before answering.',
      },
      { name: 'Upstream', type: 'string', jsonPath: '.spec.upstreamModel', description: 'Model id sent to the provider.' },
      {
        name: 'Patterns',
        type: 'string',
        jsonPath: '.spec.patterns',
        description: 'Name patterns this model also serves (after exact names and aliases; more literal characters win).',
      },
      { name: 'Default', type: 'boolean', jsonPath: '.spec.default', description: 'Serves names nothing else matches.' },
      {
        name: 'Routing',
        type: 'string',
        jsonPath: '.status.routing',
        description: 'Names, aliases, patterns with their rank, default and upstreams, in precedence order.',
        priority: 1,
      },
      { name: 'Input', type: 'number', jsonPath: '.spec.pricing.input', description: 'USD per million input tokens.', priority: 1 },
      { name: 'Output', type: 'number', jsonPath: '.spec.pricing.output', description: 'USD per million output tokens.', priority: 1 },
    ],
  },
  {
    kind: 'Budget',
    listKind: 'BudgetList',
    plural: 'budgets',
    singular: 'budget',
    shortNames: ['cvbudget'],
    description:
      'Budget is a spending limit in USD for a subject over a calendar period (day, week or month in a declared time zone, UTC by default). Once it is spent, requests are rejected until the period resets (in enforce mode).',
    specSchema: budgetSpecSchema,
    statusSchema: budgetStatusSchema,
    schema: budgetSchema,
    printerColumns: [
      ...subjectColumns,
      { name: 'Amount', type: 'string', jsonPath: '.spec.amountUSD', description: 'Limit in USD per period.' },
      { name: 'Period', type: 'string', jsonPath: '.spec.period', description: 'Window the amount applies to.' },
      { name: 'Spent', type: 'string', jsonPath: '.status.spentUSD', description: 'USD spent in the current period.' },
      { name: 'Remaining', type: 'string', jsonPath: '.status.remainingUSD', description: 'USD left in the current period.' },
      {
        name: 'Reserved',
        type: 'string',
        jsonPath: '.status.reservedUSD',
        description: 'USD reserved by requests in flight.',
        priority: 1,
      },
      { name: 'Window Start', type: 'date', jsonPath: '.status.periodStart', description: 'When the current window began.', priority: 1 },
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'enforce or observe.', priority: 1 },
      { name: 'Resets', type: 'date', jsonPath: '.status.resetsAt', description: 'When the current period ends.', priority: 1 },
      {
        name: 'Time Zone',
        type: 'string',
        jsonPath: '.spec.timeZone',
        description: 'Zone of the calendar periods (UTC when unset).',
        priority: 1,
      },
    ],
  },
  {
    kind: 'RateLimit',
    listKind: 'RateLimitList',
    plural: 'ratelimits',
    singular: 'ratelimit',
    shortNames: ['cvrl'],
    description: 'RateLimit caps requests and tokens per minute for a subject, across all gateway replicas together.',
    specSchema: rateLimitSpecSchema,
    statusSchema: rateLimitStatusSchema,
    schema: rateLimitSchema,
    printerColumns: [
      ...subjectColumns,
      { name: 'RPM', type: 'integer', jsonPath: '.spec.requestsPerMinute', description: 'Requests per minute.' },
      { name: 'TPM', type: 'integer', jsonPath: '.spec.tokensPerMinute', description: 'Tokens per minute.' },
      {
        name: 'Requests',
        type: 'integer',
        jsonPath: '.status.requestsLastMinute',
        description: 'Requests in the sliding minute (busiest subject).',
      },
      {
        name: 'Tokens',
        type: 'integer',
        jsonPath: '.status.tokensLastMinute',
        description: 'Tokens in the sliding minute (busiest subject).',
      },
      {
        name: 'Subjects',
        type: 'integer',
        jsonPath: '.status.activeSubjects',
        description: 'Subjects active in the sliding minute.',
        priority: 1,
      },
    ],
  },
  {
    kind: 'SecretRule',
    listKind: 'SecretRuleList',
    plural: 'secretrules',
    singular: 'secretrule',
    shortNames: ['cvsr'],
    description:
      'SecretRule lists credentials the gateway looks for in requests before they reach a provider: built-in detector packs and custom RE2 patterns. A match blocks the request.',
    specSchema: secretRuleSpecSchema,
    statusSchema: secretRuleStatusSchema,
    schema: secretRuleSchema,
    printerColumns: [
      { name: 'Severity', type: 'string', jsonPath: '.spec.severity', description: 'How serious a match is.' },
      { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'What happens on a match.' },
      { name: 'Patterns', type: 'integer', jsonPath: '.status.compiledPatterns', description: 'Custom patterns compiled and enforced.' },
      { name: 'Detectors', type: 'string', jsonPath: '.spec.detectors', description: 'Built-in detector packs.', priority: 1 },
    ],
  },
  {
    kind: 'AuditSink',
    listKind: 'AuditSinkList',
    plural: 'auditsinks',
    singular: 'auditsink',
    shortNames: ['cvsink'],
    description:
      'AuditSink streams every audit row (admin changes and gateway rejections) to a SIEM or log pipeline: OpenTelemetry (OTLP/HTTP), syslog (RFC 5424) or a signed webhook. Delivery is at least once and in order, each row with its hash-chain sequence number and hash, and resumes after an outage from the last acknowledged row. Only the installation namespace may hold AuditSinks.',
    specSchema: auditSinkSpecSchema,
    statusSchema: auditSinkStatusSchema,
    schema: auditSinkSchema,
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'otlp, syslog or webhook.' },
      { name: 'Delivered', type: 'integer', jsonPath: '.status.lastDeliveredSequence', description: 'Last chain sequence acknowledged.' },
      { name: 'Lag', type: 'integer', jsonPath: '.status.lagRows', description: 'Sealed rows not yet delivered.' },
      { name: 'Last Error', type: 'string', jsonPath: '.status.lastError', description: 'The latest delivery failure.', priority: 1 },
    ],
  },
] as const satisfies readonly ResourceKind[];

export type ResourceKindName = (typeof resourceKinds)[number]['kind'];

type KindEntry<K extends ResourceKindName> = Extract<(typeof resourceKinds)[number], { kind: K }>;
/** The parsed (defaults applied) spec of one kind. */
export type SpecOf<K extends ResourceKindName> = z.output<KindEntry<K>['specSchema']>;
/** A spec tagged with its kind, so a `switch` on `kind` narrows `spec` without casts. */
export type KindSpec = { [K in ResourceKindName]: { kind: K; spec: SpecOf<K> } }[ResourceKindName];

/**
 * Parses a spec with its kind's schema and keeps the type: the one place that turns "some
 * kind's spec" into a typed value, for the operator (from the apiserver) and core (from rows).
 */
export function parseSpec(
  kind: ResourceKindName,
  input: unknown,
): { success: true; value: KindSpec } | { success: false; error: z.ZodError } {
  switch (kind) {
    case 'Provider': {
      const r = providerSpecSchema.safeParse(input);
      return r.success ? { success: true, value: { kind, spec: r.data } } : { success: false, error: r.error };
    }
    case 'Model': {
      const r = modelSpecSchema.safeParse(input);
      return r.success ? { success: true, value: { kind, spec: r.data } } : { success: false, error: r.error };
    }
    case 'Budget': {
      const r = budgetSpecSchema.safeParse(input);
      return r.success ? { success: true, value: { kind, spec: r.data } } : { success: false, error: r.error };
    }
    case 'RateLimit': {
      const r = rateLimitSpecSchema.safeParse(input);
      return r.success ? { success: true, value: { kind, spec: r.data } } : { success: false, error: r.error };
    }
    case 'SecretRule': {
      const r = secretRuleSpecSchema.safeParse(input);
      return r.success ? { success: true, value: { kind, spec: r.data } } : { success: false, error: r.error };
    }
    case 'AuditSink': {
      const r = auditSinkSpecSchema.safeParse(input);
      return r.success ? { success: true, value: { kind, spec: r.data } } : { success: false, error: r.error };
    }
  }
}
