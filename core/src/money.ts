/**
 * Money, exact from the CRD to the ledger to the console (ADR 0004): an amount is an integer
 * number of picodollars (1e-12 USD) in a `bigint`. Budget amounts are decimal strings in the CRD
 * (at most 6 decimals) and prices are USD per million tokens (at most 6 decimals are kept), so a
 * price per token is a whole number of picodollars and a request's cost, tokens × price, is
 * exact: ten thousand requests of $0.00001 add up to $0.1, not 0.09999999999999999.
 * PostgreSQL holds the same values in `numeric(30,12)` and they cross the wire as decimal text.
 */
export type Money = bigint;

const scale = 12;
const perUsd = 10n ** BigInt(scale);
const decimal = /^(-)?([0-9]+)(?:[.]([0-9]*))?$/;

export const zeroMoney: Money = 0n;

/**
 * Parses a decimal USD amount ("12.50", "-0.000001", "500") exactly.
 * @throws RangeError when it is not a plain decimal or has more than 12 decimals.
 */
export function parseUsd(text: string): Money {
  const match = decimal.exec(text.trim());
  if (!match) throw new RangeError(`not a decimal USD amount: ${JSON.stringify(text)}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const digits = fraction.replace(/0+$/, '');
  if (digits.length > scale) throw new RangeError(`more than ${scale} decimals: ${text}`);
  const value = BigInt(whole) * perUsd + BigInt(digits.padEnd(scale, '0') || '0');
  return sign ? -value : value;
}

/** The exact decimal text of an amount, without trailing zeros ("0.1", "12.5", "-3", "0"). */
export function formatUsd(amount: Money): string {
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const whole = abs / perUsd;
  const fraction = (abs % perUsd).toString().padStart(scale, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** For people: rounded half away from zero to `digits` decimals (default cents), e.g. "$0.10". */
export function displayUsd(amount: Money, digits = 2): string {
  const unit = 10n ** BigInt(scale - digits);
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const rounded = (abs + unit / 2n) / unit;
  const text = rounded.toString().padStart(digits + 1, '0');
  const shown = digits > 0 ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  return `${negative && rounded > 0n ? '-' : ''}$${shown}`;
}

/**
 * A price in USD per million tokens (a JSON number from the CRD) as picodollars per token. The
 * CRD's number is a float64; its decimal form to 6 places is what the author wrote for every
 * price a provider publishes, and 1e-6 USD per million tokens is exactly 1 picodollar per token.
 * Prices with more decimals round to the nearest picodollar per token.
 * @throws RangeError for a negative, non-finite or absurd price.
 */
export function pricePerToken(usdPerMillion: number): Money {
  if (!Number.isFinite(usdPerMillion) || usdPerMillion < 0 || usdPerMillion > 1e9) {
    throw new RangeError(`not a price per million tokens: ${usdPerMillion}`);
  }
  // toFixed(6) is exact decimal rounding of the double; the digits are micro-USD per million
  // tokens, i.e. picodollars per token.
  return BigInt(usdPerMillion.toFixed(6).replace('.', ''));
}

/** A fraction of an amount, rounded down (leases take slices of a budget). */
export function fractionOf(amount: Money, fraction: number): Money {
  return (amount * BigInt(Math.round(fraction * 1e6))) / 1_000_000n;
}

/** The smaller of two amounts. */
export const minMoney = (a: Money, b: Money): Money => (a < b ? a : b);
/** The larger of two amounts. */
export const maxMoney = (a: Money, b: Money): Money => (a > b ? a : b);

/** Approximate USD as a float, only for Prometheus samples and charts (never for sums). */
export const approxUsd = (amount: Money): number => Number(amount) / 1e12;
