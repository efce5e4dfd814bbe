/** A try that either answers or names the one lease exchange to wait for before trying again. */
export type LeaseAttempt<T> = T | { wait: Promise<void> };

/**
 * The admission loop rate limits and budgets share (ADR 0111). A request is admitted against
 * the replica's leases; when a lease must be fetched or renewed, it waits for that one exchange
 * (shared by every request that needs it) and tries again. Only the first `exchangeTries` tries
 * may start an exchange, so a slow or failing database turns into refusals instead of a queue
 * of requests behind it; after `maxTries` a try that still wants to wait ends in `exhausted()`.
 * Synchronous when the first try answers (the common case: no extra tick on the hot path).
 */
export function admitWithLeases<T extends object>(
  attempt: (mayExchange: boolean) => LeaseAttempt<T>,
  options: { exchangeTries: number; maxTries: number; exhausted: () => T },
): T | Promise<T> {
  const first = attempt(true);
  if (!('wait' in first)) return first;
  return (async () => {
    let outcome: LeaseAttempt<T> = first;
    for (let tries = 1; 'wait' in outcome; tries++) {
      if (tries >= options.maxTries) return options.exhausted();
      await outcome.wait;
      outcome = attempt(tries < options.exchangeTries);
    }
    return outcome;
  })();
}
