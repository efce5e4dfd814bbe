/**
 * Polls `probe` until it returns a truthy value and resolves to it; for what a test can only
 * observe after the fact (usage rows written in the background, a config change picked up).
 * @throws Error when `timeoutMs` passes first.
 */
export async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
