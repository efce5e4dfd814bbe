import type { Logger } from '@codevector/core/logger';
import { type KubeClient, type KubeList, type KubeObject, WatchExpiredError } from './kube-client.ts';

export type InformerEvent = 'added' | 'modified' | 'deleted' | 'resync';

export type InformerOptions = {
  client: KubeClient;
  /** Collection path, e.g. `/apis/codevector.dev/v1alpha1/providers` or a namespaced one. */
  path: string;
  labelSelector?: string;
  log: Logger;
  /** `previous` is the cached object a modification replaced, when there was one. */
  onEvent(event: InformerEvent, object: KubeObject, previous?: KubeObject): void;
  /** Every cached object is replayed as `resync` this often (0 = never). */
  resyncMs?: number;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** Client-side watchdog: no bytes (bookmarks included) for this long = dead connection. */
  idleTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  pageSize?: number;
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
};

export type Informer = {
  start(): void;
  /** Resolves after the first complete list. */
  synced(): Promise<void>;
  get(namespace: string, name: string): KubeObject | undefined;
  list(): KubeObject[];
  stop(): Promise<void>;
};

const abortableDelay = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

export const objectKey = (object: KubeObject) => `${object.metadata.namespace ?? ''}/${object.metadata.name}`;

/**
 * List-then-watch with the failure handling client-go's reflector has and naive watch loops
 * lack (kubernetes-client/javascript #596, #1933): a 410 Gone re-lists; network errors back off
 * exponentially (capped) and resume from the last resourceVersion; bookmarks keep that version
 * fresh; a watchdog kills a connection that went silent; a periodic resync replays the cache
 * so a lost event or a failed reconcile is retried anyway. Kept instead of client-node's
 * ListWatch, which stops for good after one dropped connection and keeps watching when stopped
 * mid-list (ADR 0101; client-node.kube.test.ts shows both); requests and the watch stream itself
 * are client-node's (kube-client.ts).
 */
export function createInformer(options: InformerOptions): Informer {
  const { client, log } = options;
  const delay = options.delay ?? abortableDelay;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 30_000 };
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const idleTimeoutMs = options.idleTimeoutMs ?? (watchTimeoutSeconds + 60) * 1000;
  const cache = new Map<string, KubeObject>();
  const controller = new AbortController();
  let resourceVersion = '';
  let markSynced: () => void = () => {};
  const syncedPromise = new Promise<void>((resolve) => {
    markSynced = resolve;
  });
  let loop: Promise<void> | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  const selector = options.labelSelector ? `&labelSelector=${encodeURIComponent(options.labelSelector)}` : '';

  async function relist(): Promise<void> {
    const items: KubeObject[] = [];
    let next = '';
    let listVersion = '';
    do {
      const page = await client.request<KubeList>(
        'GET',
        `${options.path}?limit=${options.pageSize ?? 500}${selector}${next ? `&continue=${encodeURIComponent(next)}` : ''}`,
      );
      items.push(...page.items);
      listVersion = page.metadata.resourceVersion;
      next = page.metadata.continue ?? '';
    } while (next);
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      const previous = cache.get(key);
      cache.set(key, item);
      if (!previous) options.onEvent('added', item);
      else if (previous.metadata.resourceVersion !== item.metadata.resourceVersion) options.onEvent('modified', item, previous);
    }
    // Deletions that happened while we were not watching.
    for (const [key, item] of cache) {
      if (!seen.has(key)) {
        cache.delete(key);
        options.onEvent('deleted', item);
      }
    }
    resourceVersion = listVersion;
  }

  async function run(): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!controller.signal.aborted) {
      try {
        if (needList) {
          await relist();
          needList = false;
          markSynced();
        }
        const query = `?watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}&timeoutSeconds=${
          // Jitter spreads re-watches of many informers.
          Math.round(watchTimeoutSeconds * (0.9 + Math.random() * 0.2))
        }${selector}`;
        await client.watch(options.path + query, {
          idleTimeoutMs,
          signal: controller.signal,
          onEvent(event) {
            failures = 0;
            const object = event.object;
            if (object.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
            if (event.type === 'BOOKMARK') return;
            const key = objectKey(object);
            if (event.type === 'DELETED') {
              cache.delete(key);
              options.onEvent('deleted', object);
            } else {
              const previous = cache.get(key);
              cache.set(key, object);
              options.onEvent(event.type === 'ADDED' ? 'added' : 'modified', object, previous);
            }
          },
        });
        // A clean end is the server-side timeout: watch again from where we are.
      } catch (error) {
        if (controller.signal.aborted) break;
        if (error instanceof WatchExpiredError) {
          log.info({ path: options.path }, 'watch expired, re-listing');
          needList = true;
          continue;
        }
        failures++;
        const wait = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (failures - 1));
        log.warn({ path: options.path, err: error, retryInMs: wait }, 'watch failed');
        // After repeated failures the version may be gone anyway; a re-list also repairs the cache.
        if (failures >= 3) needList = true;
        await delay(wait, controller.signal);
      }
    }
  }

  return {
    start() {
      loop ??= run();
      const resyncMs = options.resyncMs ?? 0;
      if (resyncMs > 0) {
        resyncTimer = setInterval(() => {
          for (const item of cache.values()) options.onEvent('resync', item);
        }, resyncMs);
        resyncTimer.unref();
      }
    },
    synced: () => syncedPromise,
    get: (namespace, name) => cache.get(`${namespace}/${name}`),
    list: () => [...cache.values()],
    async stop() {
      controller.abort();
      clearInterval(resyncTimer);
      await loop;
    },
  };
}
