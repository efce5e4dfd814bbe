import { z } from 'zod';
import { commonStatusShape } from './common-status.ts';
import { modelNameSchema } from './model-name.ts';
import { resourceSchema } from './resource-schema.ts';
import { subjectSchema } from './subject.ts';
import { withCelRules } from './with-cel-rules.ts';

const perMinute = z.int().min(1).max(1_000_000_000);

export const rateLimitSpecSchema = withCelRules(
  z
    .strictObject({
      subject: subjectSchema.describe('Who the rate limit applies to.'),
      requestsPerMinute: perMinute
        .optional()
        .describe(
          'Requests allowed in any rolling 60 seconds (a sliding minute, not calendar minutes). Requests over the limit get HTTP 429 with a retry-after header.',
        ),
      tokensPerMinute: perMinute
        .optional()
        .describe(
          'Tokens allowed in any rolling 60 seconds: input plus output, as the provider reports them. A request is admitted while tokens remain and is charged its real usage when it finishes; requests over the limit get HTTP 429 with a retry-after header.',
        ),
      models: z
        .array(modelNameSchema)
        .max(64)
        .optional()
        .meta({ 'x-kubernetes-list-type': 'set' })
        .describe('Count only requests for these models (client-facing names or aliases). Unset counts every model.'),
    })
    .describe('Desired state of the RateLimit. Set requestsPerMinute, tokensPerMinute or both.'),
  [
    {
      rule: 'has(self.requestsPerMinute) || has(self.tokensPerMinute)',
      message: 'set requestsPerMinute, tokensPerMinute or both',
      check: (spec) => spec.requestsPerMinute !== undefined || spec.tokensPerMinute !== undefined,
    },
  ],
);
export type RateLimitSpec = z.infer<typeof rateLimitSpecSchema>;

export const rateLimitStatusSchema = z
  .strictObject({
    ...commonStatusShape,
    requestsLastMinute: z
      .int()
      .min(0)
      .optional()
      .describe(
        'Requests in the sliding minute the gateways enforce, for the busiest subject (every subject for kind global). Includes request slots a replica leased and has not yet used, which go back within seconds.',
      ),
    tokensLastMinute: z.int().min(0).optional().describe('Tokens consumed in the sliding minute, for the subject that used the most.'),
    activeSubjects: z
      .int()
      .min(0)
      .optional()
      .describe('How many subjects (users, keys, groups) sent requests under this limit in the sliding minute. They are not named here.'),
  })
  .describe('Observed state of the RateLimit, written by the operator; usage figures are refreshed every few seconds.');
export type RateLimitStatus = z.infer<typeof rateLimitStatusSchema>;

export const rateLimitSchema = resourceSchema('RateLimit', rateLimitSpecSchema, rateLimitStatusSchema);
export type RateLimit = z.infer<typeof rateLimitSchema>;
