import { z } from 'zod';
import { commonStatusShape } from './common-status.ts';
import { modelNameSchema } from './model-name.ts';
import { resourceSchema } from './resource-schema.ts';
import { withCelRules } from './with-cel-rules.ts';

const pricePerMillion = z.number().min(0).max(1_000_000);

/** A model name with * wildcards: the characters of a model name plus *, at least one *. */
const modelPatternSchema = withCelRules(
  z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9._:/@+*-]+$/, 'may contain only letters, digits, * and . _ : / @ + -'),
  [{ rule: "self.contains('*')", message: 'must contain a * (exact names go in name or aliases)', check: (p) => p.includes('*') }],
);

const providerRefSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a valid Provider name (lowercase DNS subdomain)')
      .describe('Name of the Provider.'),
  })
  .describe('The Provider, in the same namespace, that serves this model.');

/** How many fallbacks a Model may list: with the primary, at most four upstream attempts per request. */
export const maxModelFallbacks = 3;

const fallbackSchema = z
  .strictObject({
    providerRef: providerRefSchema.describe(
      "A Provider, in the same namespace, tried when the ones before it fail. It may speak another API than the Model's providerRef: each attempt is translated for its own Provider's API.",
    ),
    upstreamModel: z.string().min(1).max(256).optional().describe("Model id sent to this provider; unset means the Model's upstreamModel."),
  })
  .describe('An upstream tried after the ones before it.');

export const modelSpecSchema = withCelRules(
  z
    .strictObject({
      name: modelNameSchema.describe(
        "Model name clients send in the request's model field, e.g. claude-sonnet-5. Must not clash with another Model's name or alias.",
      ),
      providerRef: providerRefSchema,
      upstreamModel: z
        .string()
        .min(1)
        .max(256)
        .describe("Model id sent to the provider in place of the client's name, e.g. claude-sonnet-5-20260115 or gpt-5-2025-08-07."),
      pricing: z
        .strictObject({
          input: pricePerMillion.describe('USD per million input (prompt) tokens that are not cache reads or writes.'),
          output: pricePerMillion.describe('USD per million output tokens, reasoning tokens included.'),
          cacheRead: pricePerMillion
            .optional()
            .describe("USD per million input tokens read from the provider's prompt cache. Unset means cache reads cost nothing."),
          cacheWrite: pricePerMillion
            .optional()
            .describe("USD per million input tokens written to the provider's prompt cache. Unset means cache writes cost nothing."),
        })
        .describe(
          'Price in USD per million tokens, as the provider bills them. The gateway multiplies the token counts the provider reports by these prices to charge Budgets.',
        ),
      aliases: z
        .array(modelNameSchema)
        .max(16)
        .optional()
        .meta({ 'x-kubernetes-list-type': 'set' })
        .describe('Other names clients may send for this model, e.g. dated versions or names an agent hard-codes.'),
      patterns: z
        .array(modelPatternSchema)
        .max(16)
        .optional()
        .meta({ 'x-kubernetes-list-type': 'set' })
        .describe(
          'Name patterns this model also serves, with * matching any characters, e.g. claude-* for the default model of whichever Claude Code release a developer runs. Requests still go upstream as upstreamModel and are priced as this model. Precedence: an exact name, then an alias, then the pattern with the most non-* characters (ties: the pattern that sorts first); a lone * catches every name nothing else serves.',
        ),
      fallbacks: z
        .array(fallbackSchema)
        .max(maxModelFallbacks)
        .optional()
        .describe(
          'Upstreams tried in order when the one before answers 429, 5xx or 529 (overloaded) or cannot be reached, before any byte of its answer reached the client; never after. The request is admitted and its budget reserved once, priced as this Model whichever upstream serves it, and each attempt is a usage row (attempt 1, 2, ...).',
        ),
      default: z
        .boolean()
        .optional()
        .describe(
          "Serve every model name nothing else matches (no name, alias or pattern), for the keys this namespace serves. Off unless set. Honoured in the installation namespace (for every key) and in tenant namespaces (for their tenants' keys); the first default by namespace/name whose provider speaks the request's API wins. The client's model name is replaced by upstreamModel.",
        ),
    })
    .describe('Desired state of the Model.'),
  [
    {
      rule: '!has(self.aliases) || !(self.name in self.aliases)',
      message: 'aliases must not repeat name',
      fieldPath: '.aliases',
      check: (spec) => !spec.aliases?.includes(spec.name),
    },
    {
      rule: '!has(self.fallbacks) || self.fallbacks.all(f, f.providerRef.name != self.providerRef.name || (has(f.upstreamModel) && f.upstreamModel != self.upstreamModel))',
      message: 'a fallback must name another provider or another upstreamModel',
      fieldPath: '.fallbacks',
      check: (spec) =>
        (spec.fallbacks ?? []).every(
          (f) => f.providerRef.name !== spec.providerRef.name || (f.upstreamModel !== undefined && f.upstreamModel !== spec.upstreamModel),
        ),
    },
  ],
);
export type ModelSpec = z.infer<typeof modelSpecSchema>;

export const modelStatusSchema = z
  .strictObject({
    ...commonStatusShape,
    routing: z
      .string()
      .max(1024)
      .optional()
      .describe(
        'How requests reach this Model and where they go, in precedence order: its name, aliases, patterns (with their rank: more literal characters win), default, then the upstreams tried in order. Written by the operator.',
      ),
  })
  .describe('Observed state of the Model, written by the operator.');
export type ModelStatus = z.infer<typeof modelStatusSchema>;

export const modelSchema = resourceSchema('Model', modelSpecSchema, modelStatusSchema);
export type Model = z.infer<typeof modelSchema>;
