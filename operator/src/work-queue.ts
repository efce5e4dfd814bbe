export type WorkResult = { requeueAfterMs?: number } | undefined;

export type WorkQueueOptions = {
  /** How many different keys may be reconciled at once; one key is never processed twice at once. */
  concurrency: number;
  handler(key: string): Promise<WorkResult>;
  /** Per-key exponential backoff after failures: base * 2^(failures-1), capped. */
  backoff?: { baseMs: number; maxMs: number };
  onError?(key: string, error: unknown, retryInMs: number): void;
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
};

export type WorkQueue = {
  add(key: string): void;
  addAfter(key: string, ms: number): void;
  /** Keys waiting, being processed or scheduled. */
  pending(): number;
  /** The same, by state, for metrics; `retrying` keys failed last time and wait in backoff. */
  stats(): { queued: number; active: number; scheduled: number; retrying: number };
  /** Resolves when nothing is queued or running (scheduled retries do not count). */
  idle(): Promise<void>;
  shutdown(): Promise<void>;
};

const defaultTimer = (fn: () => void, ms: number) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

/**
 * client-go's workqueue semantics: a key added many times before it is processed is processed
 * once (dirty set); a key added while it is being processed is processed again afterwards, never
 * concurrently; failures retry with per-key capped exponential backoff, success forgets them.
 */
export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const backoff = options.backoff ?? { baseMs: 200, maxMs: 60_000 };
  const setTimer = options.setTimer ?? defaultTimer;
  const queue: string[] = [];
  const dirty = new Set<string>();
  const processing = new Set<string>();
  const failures = new Map<string, number>();
  const scheduled = new Map<string, { at: number; cancel(): void }>();
  let active = 0;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];

  function add(key: string): void {
    if (stopped || dirty.has(key)) return;
    dirty.add(key);
    if (!processing.has(key)) {
      queue.push(key);
      pump();
    }
  }

  function addAfter(key: string, ms: number): void {
    if (stopped) return;
    if (ms <= 0) {
      add(key);
      return;
    }
    const at = Date.now() + ms;
    const existing = scheduled.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const timer = setTimer(() => {
      scheduled.delete(key);
      add(key);
    }, ms);
    scheduled.set(key, { at, cancel: timer.cancel });
  }

  function checkIdle(): void {
    if (active === 0 && queue.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function pump(): void {
    while (!stopped && active < options.concurrency && queue.length > 0) {
      const key = queue.shift()!;
      dirty.delete(key);
      processing.add(key);
      active++;
      void process(key);
    }
    checkIdle();
  }

  async function process(key: string): Promise<void> {
    try {
      const result = await options.handler(key);
      failures.delete(key);
      if (result?.requeueAfterMs !== undefined) addAfter(key, result.requeueAfterMs);
    } catch (error) {
      const count = (failures.get(key) ?? 0) + 1;
      failures.set(key, count);
      const wait = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (count - 1));
      options.onError?.(key, error, wait);
      addAfter(key, wait);
    } finally {
      processing.delete(key);
      active--;
      if (dirty.has(key)) queue.push(key);
      pump();
    }
  }

  return {
    add,
    addAfter,
    pending: () => queue.length + active + scheduled.size,
    stats: () => ({ queued: queue.length, active, scheduled: scheduled.size, retrying: failures.size }),
    idle: () =>
      active === 0 && queue.length === 0
        ? Promise.resolve()
        : new Promise((resolve) => {
            idleWaiters.push(resolve);
          }),
    async shutdown() {
      stopped = true;
      for (const entry of scheduled.values()) entry.cancel();
      scheduled.clear();
      queue.length = 0;
      while (active > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      checkIdle();
    },
  };
}
