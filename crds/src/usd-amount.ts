import { z } from 'zod';
import { withCelRules } from './with-cel-rules.ts';

// Money is never a float here. The apiserver decodes JSON numbers into float64, and even where
// that round-trips the text, summing floats drifts. So an amount is either a whole number
// (what people write most, and exact in both int64 and JS) or a decimal string such as "12.50",
// kept as written; the same shape as resource.Quantity's int-or-string. Parsing yields the
// string form, which consumers turn into integer micro-dollars or PostgreSQL numeric.
const decimal = /^[0-9]{1,9}([.][0-9]{1,6})?$/;
const message =
  'must be more than 0 and less than 1000000000: a whole number such as 500, or a decimal string such as "12.50" with at most 6 decimal places';

/** A positive USD amount: an integer, or a decimal string for cents. Parses to the decimal string. */
export const usdAmountSchema = withCelRules(
  z.union([z.int(), z.string()], { error: message }).meta({ 'x-kubernetes-int-or-string': true }),
  [
    {
      rule: `type(self) == int ? (self > 0 && self < 1000000000) : (self.matches('${decimal.source}') && double(self) > 0.0)`,
      message,
      check: (v) => (typeof v === 'number' ? v > 0 && v < 1_000_000_000 : decimal.test(v) && Number(v) > 0),
    },
  ],
).transform((v) => String(v));
