// The public surface of @codevector/crds: the API's zod schemas and types (the single source of
// truth for every resource), the table of kinds the operator watches, and the CRD builder.
export { apiCategory, apiGroup, apiVersion, apiVersionName } from './api-group.ts';
export { type AuditSink, type AuditSinkSpec, auditSinkSchema, auditSinkSpecSchema, auditSinkStatusSchema } from './audit-sink.ts';
export { type Budget, type BudgetSpec, type BudgetStatus, budgetSchema, budgetSpecSchema, budgetStatusSchema } from './budget.ts';
export { buildCrd, type CustomResourceDefinition } from './build-crd.ts';
export { commonStatusShape } from './common-status.ts';
export { type Condition, conditionSchema } from './condition.ts';
export { type Model, type ModelSpec, type ModelStatus, modelSchema, modelSpecSchema, modelStatusSchema } from './model.ts';
export { modelNameSchema } from './model-name.ts';
export { type ObjectMeta, objectMetaSchema } from './object-meta.ts';
export {
  type Provider,
  type ProviderSpec,
  type ProviderStatus,
  providerSchema,
  providerSpecSchema,
  providerStatusSchema,
} from './provider.ts';
export {
  type RateLimit,
  type RateLimitSpec,
  type RateLimitStatus,
  rateLimitSchema,
  rateLimitSpecSchema,
  rateLimitStatusSchema,
} from './rate-limit.ts';
export {
  type KindSpec,
  type PrinterColumn,
  parseSpec,
  type ResourceKind,
  type ResourceKindName,
  resourceKinds,
  type SpecOf,
} from './resource-kinds.ts';
export {
  type SecretDetectorPack,
  type SecretPattern,
  type SecretRule,
  type SecretRuleSpec,
  type SecretRuleStatus,
  secretDetectorPacks,
  secretPatternSchema,
  secretRuleSchema,
  secretRuleSpecSchema,
  secretRuleStatusSchema,
} from './secret-rule.ts';
export { type Subject, subjectSchema } from './subject.ts';
export { type JsonSchemaProps, toStructuralSchema } from './to-structural-schema.ts';
export { usdAmountSchema } from './usd-amount.ts';
