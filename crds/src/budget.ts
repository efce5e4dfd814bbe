import { z } from 'zod';
import { commonStatusShape } from './common-status.ts';
import { modelNameSchema } from './model-name.ts';
import { resourceSchema } from './resource-schema.ts';
import { subjectSchema } from './subject.ts';
import { usdAmountSchema } from './usd-amount.ts';
import { withCelRules } from './with-cel-rules.ts';

// Status amounts are written by the operator from PostgreSQL numeric columns, so they are always
// decimal strings; remaining may go below zero in observe mode or after estimation error.
function knownTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const usdStatusAmount = z.string().regex(/^-?[0-9]+([.][0-9]+)?$/);

export const budgetSpecSchema = z
  .strictObject({
    subject: subjectSchema.describe('Who the budget applies to.'),
    amountUSD: usdAmountSchema.describe(
      'Spending limit in USD per period: a whole number (500) or a decimal string ("12.50", up to 6 decimal places). Decimal amounts are strings so they stay exact.',
    ),
    period: z
      .enum(['day', 'week', 'month', 'total'])
      .describe(
        'Window the amount applies to, aligned to the calendar of timeZone (default UTC). day: from 00:00. week: from Monday 00:00. month: from the 1st at 00:00. total: never resets.',
      ),
    timeZone: withCelRules(
      z
        .string()
        .min(1)
        .max(64)
        .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/, 'must be an IANA time zone name such as Europe/Berlin')
        .optional()
        .describe(
          'IANA time zone the calendar periods follow, e.g. Europe/Berlin or America/New_York: a month starts at local midnight on the 1st. Default UTC.',
        ),
      [
        {
          // The apiserver checks the shape; the operator checks that the zone exists.
          rule: "self == 'UTC' || self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$')",
          message: 'must be an IANA time zone name such as Europe/Berlin',
          check: (zone) => zone === undefined || knownTimeZone(zone),
        },
      ],
    ),
    models: z
      .array(modelNameSchema)
      .max(64)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe('Count only requests for these models (client-facing names or aliases). Unset counts every model.'),
    mode: z
      .enum(['enforce', 'observe'])
      .default('enforce')
      .describe(
        'enforce: reject requests once the budget is spent, with the reset time in the error. observe: never reject; only record spend and report it in status, to try a budget out first.',
      ),
    strict: z
      .boolean()
      .default(false)
      .describe(
        'When true, each request reserves its worst-case cost (from max_tokens) before it is forwarded, so the budget is never exceeded. When false, it reserves the expected cost, and concurrent requests may overspend by the estimation error of what is in flight.',
      ),
  })
  .describe('Desired state of the Budget.');
export type BudgetSpec = z.infer<typeof budgetSpecSchema>;

export const budgetStatusSchema = z
  .strictObject({
    ...commonStatusShape,
    spentUSD: usdStatusAmount.optional().describe('USD spent in the current period by settled requests, as a decimal string.'),
    reservedUSD: usdStatusAmount
      .optional()
      .describe('USD reserved by requests still in flight, as a decimal string; settled into spentUSD when they finish.'),
    remainingUSD: usdStatusAmount
      .optional()
      .describe('amountUSD minus spentUSD and reservedUSD, as a decimal string; negative when overspent (observe mode).'),
    periodStart: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(
        'Start of the current window: local midnight of its first day in timeZone, as an RFC 3339 UTC time. Unset for period total.',
      ),
    resetsAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(
        'End of the current window, when spend starts again from zero: local midnight in timeZone (e.g. the 1st of next month for period month), as an RFC 3339 UTC time. Unset for period total.',
      ),
  })
  .describe(
    'Observed state of the Budget, written by the operator. Spend figures are at most 10 seconds behind the ledger the gateways enforce (refreshed every CODEVECTOR_BUDGET_STATUS_SECONDS, 5 by default).',
  );
export type BudgetStatus = z.infer<typeof budgetStatusSchema>;

export const budgetSchema = resourceSchema('Budget', budgetSpecSchema, budgetStatusSchema);
export type Budget = z.infer<typeof budgetSchema>;
