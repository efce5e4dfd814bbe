import { describe, expect, it } from 'vitest';
import { createWorkQueue } from './work-queue.ts';

type Timer = { fn: () => void; ms: number; cancelled: boolean };

function manualTimers() {
  const timers: Timer[] = [];
  return {
    timers,
    setTimer(fn: () => void, ms: number) {
      const timer = { fn, ms, cancelled: false };
      timers.push(timer);
      return { cancel: () => (timer.cancelled = true) };
    },
    fire() {
      const due = timers.splice(0).filter((t) => !t.cancelled);
      for (const t of due) t.fn();
      return due.map((t) => t.ms);
    },
  };
}

describe('createWorkQueue', () => {
  it('processes a key added many times before it runs once', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const queue = createWorkQueue({
      concurrency: 1,
      handler: async (key) => {
        if (key === 'first') await gate;
        else seen.push(key);
      },
    });
    queue.add('first');
    queue.add('a');
    queue.add('a');
    queue.add('b');
    queue.add('a');
    release();
    await queue.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and re-runs it when it was added while running', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let release!: () => void;
    const queue = createWorkQueue({
      concurrency: 4,
      handler: async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
        running--;
      },
    });
    queue.add('k');
    await new Promise((resolve) => setImmediate(resolve));
    queue.add('k');
    queue.add('k');
    expect(runs).toBe(1);
    release();
    await queue.idle();
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('backs off exponentially per key and forgets failures after a success', async () => {
    const clock = manualTimers();
    let attempts = 0;
    const queue = createWorkQueue({
      concurrency: 1,
      backoff: { baseMs: 100, maxMs: 350 },
      setTimer: clock.setTimer,
      handler: async () => {
        attempts++;
        if (attempts <= 4) throw new Error('boom');
      },
    });
    queue.add('k');
    await queue.idle();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      waits.push(...clock.fire());
      await queue.idle();
    }
    expect(waits).toEqual([100, 200, 350, 350]);
    expect(attempts).toBe(5);
    expect(clock.timers).toHaveLength(0);
  });

  it('honours requeueAfterMs without counting a failure', async () => {
    const clock = manualTimers();
    let runs = 0;
    const queue = createWorkQueue({
      concurrency: 1,
      setTimer: clock.setTimer,
      handler: async () => {
        runs++;
        return runs === 1 ? { requeueAfterMs: 5000 } : undefined;
      },
    });
    queue.add('k');
    await queue.idle();
    expect(clock.fire()).toEqual([5000]);
    await queue.idle();
    expect(runs).toBe(2);
  });
});
