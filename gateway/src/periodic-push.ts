/**
 * Runs `push` every `intervalMs` without ever overlapping itself (a slow database round trip
 * skips ticks rather than piling them up), and lets shutdown stop the timer and wait for the
 * push in flight. The timer never keeps the process alive on its own.
 */
export function startPeriodicPush(push: () => Promise<void>, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = push().finally(() => {
      running = null;
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
