import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import {
  AdmissionregistrationV1Api,
  ApiException,
  type Cluster,
  type ConfigurationOptions,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  createConfiguration,
  type HttpMethod,
  type KubeConfig,
  PatchStrategy,
  RequestContext,
  ServerConfiguration,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { Agent, type Dispatcher, fetch } from 'undici';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec?: unknown;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
};

export type KubeList = { metadata: { resourceVersion: string; continue?: string }; items: KubeObject[] };
export type WatchEvent = {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number; reason?: string; message?: string };
};

/** An apiserver answer with status >= 400 to `request`; `reason` is the Status reason (NotFound, Conflict, Expired...). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, body: unknown) {
    const statusBody = (typeof body === 'object' && body !== null ? body : {}) as { reason?: string; message?: string };
    super(`${method} ${path}: ${status} ${statusBody.message ?? String(body).slice(0, 200)}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = statusBody.reason ?? '';
  }
}

/** The watch stream ended because its resourceVersion is too old (410 Gone): re-list. */
export class WatchExpiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchExpiredError';
  }
}

/**
 * The HTTP status of a failed apiserver call: client-node's ApiException (typed APIs) or our
 * KubeApiError (`request`); undefined for anything else (network errors, timeouts).
 */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  if (error instanceof KubeApiError) return error.status;
  return undefined;
}

/**
 * Per-call options for a JSON merge patch. client-node's typed patch calls default to
 * `application/json-patch+json`, which the apiserver rejects for an object body.
 */
export const mergePatch: ConfigurationOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export type RequestOptions = {
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
};

export type WatchOptions = {
  /** Aborts the stream when nothing (not even a bookmark) arrived for this long: a silent dead connection. */
  idleTimeoutMs: number;
  signal: AbortSignal;
  onEvent(event: WatchEvent): void;
};

export type KubeClient = {
  server: string;
  /** client-node's credentials (exec plugins, token files, client certificates, in-cluster). */
  config: KubeConfig;
  core: CoreV1Api;
  customObjects: CustomObjectsApi;
  coordination: CoordinationV1Api;
  admissionRegistration: AdmissionregistrationV1Api;
  /** A raw JSON request by path (lists for the informer, tests, tools). @throws KubeApiError for status >= 400, or on network errors and timeouts. */
  request<T = KubeObject>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** Like request, but resolves null on 404. */
  getOrNull<T = KubeObject>(path: string): Promise<T | null>;
  /** Streams a watch (client-node's Watch) until the server closes it (timeoutSeconds), the idle watchdog fires or the signal aborts. @throws WatchExpiredError on 410. */
  watch(path: string, options: WatchOptions): Promise<void>;
  close(): void;
};

export type KubeClientOptions = {
  /** Connections to the apiserver, requests and watches together (undefined: no limit). */
  maxSockets?: number;
  userAgent?: string;
  /** Deadline of one typed or raw request (not of watches). */
  requestTimeoutMs?: number;
};

/**
 * The operator's apiserver client (ADR 0101): client-node's KubeConfig authenticates every call,
 * its typed APIs (core, custom objects, coordination, admission registration) do the writes, its
 * Watch streams events. List/watch policy (re-list, backoff, watchdog) lives in the informer.
 * One connection pool per set of TLS credentials replaces client-node's new pool per request.
 * @throws when the kubeconfig has no current cluster.
 */
export function createKubeClient(config: KubeConfig, options: KubeClientOptions = {}): KubeClient {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server;
  const userAgent = options.userAgent ?? 'codevector-operator';
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const pools = reuseConnections(config, options.maxSockets);
  const apiConfiguration = createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: config },
    promiseMiddleware: [
      {
        pre: async (context) => {
          context.setHeaderParam('User-Agent', userAgent);
          if (!context.getSignal()) context.setSignal(AbortSignal.timeout(requestTimeoutMs));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });

  async function send(method: string, path: string, opts: RequestOptions) {
    const context = new RequestContext(`${server}${path}`, method as HttpMethod);
    await config.applySecurityAuthentication(context);
    const headers: Record<string, string> = {
      ...context.getHeaders(),
      Accept: 'application/json',
      'User-Agent': userAgent,
      ...opts.headers,
    };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    return fetch(context.getUrl(), {
      method,
      headers,
      body,
      dispatcher: context.getDispatcher(),
      signal: AbortSignal.timeout(opts.timeoutMs ?? requestTimeoutMs),
    });
  }

  const client: KubeClient = {
    server,
    config,
    core: new CoreV1Api(apiConfiguration),
    customObjects: new CustomObjectsApi(apiConfiguration),
    coordination: new CoordinationV1Api(apiConfiguration),
    admissionRegistration: new AdmissionregistrationV1Api(apiConfiguration),
    async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
      const res = await send(method, path, opts);
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      if (res.status >= 400) throw new KubeApiError(method, path, res.status, body);
      return body as T;
    },
    async getOrNull<T>(path: string): Promise<T | null> {
      try {
        return await client.request<T>('GET', path);
      } catch (error) {
        if (apiStatus(error) === 404) return null;
        throw error;
      }
    },
    watch: (path, watchOptions) => watchStream(config, path, watchOptions),
    close() {
      void pools.close();
    },
  };
  return client;
}

/** One watch through client-node's Watch, turned into a promise with our error types. */
function watchStream(config: KubeConfig, path: string, { idleTimeoutMs, signal, onEvent }: WatchOptions): Promise<void> {
  const url = new URL(path, 'http://path.only');
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) if (key !== 'watch') query[key] = value;
  const watcher = new Watch(config);
  // client-node's inactivity timeout (30 s by default, private) is our watchdog: a quiet watch
  // without bookmarks would otherwise be cut every 30 s.
  watcher['requestTimeoutMs'] = idleTimeoutMs;
  return new Promise<void>((resolve, reject) => {
    let controller: AbortController | undefined;
    let failed: Error | undefined;
    let finished = false;
    const abort = () => controller?.abort();
    const fail = (error: Error) => {
      failed ??= error;
      abort();
    };
    const done = (err: unknown) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener('abort', abort);
      if (failed) return reject(failed);
      if (signal.aborted || !err) return resolve();
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 410) return reject(new WatchExpiredError(`watch ${path}: 410 Gone`));
      if (status) return reject(new KubeApiError('GET', path, status, { message: (err as Error).message }));
      if ((err as Error).name === 'TimeoutError') return reject(new Error(`watch ${path}: no data for ${idleTimeoutMs} ms`));
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    signal.addEventListener('abort', abort, { once: true });
    watcher
      .watch(
        url.pathname,
        query,
        (type, object: WatchEvent['object']) => {
          if (failed || finished) return;
          if (type === 'ERROR') {
            fail(
              object?.code === 410
                ? new WatchExpiredError(`watch ${path}: ${object.message ?? 'expired'}`)
                : new Error(`watch ${path}: ${object?.message ?? 'error event'}`),
            );
            return;
          }
          try {
            onEvent({ type: type as WatchEvent['type'], object });
          } catch (error) {
            fail(error as Error);
          }
        },
        done,
      )
      .then(
        (started) => {
          controller = started;
          if (signal.aborted || failed || finished) started.abort();
        },
        (error: unknown) => done(error),
      );
  });
}

type DispatcherFactory = (cluster: Cluster | null, agentOptions: AgentOptions) => Dispatcher | undefined;
const pooled = new WeakMap<KubeConfig, { close(): Promise<void> }>();

/**
 * client-node 2.0.1 builds a new undici Agent, so a new TCP+TLS connection, for every request
 * (`KubeConfig.applySecurityAuthentication` → private `createDispatcher`; ADR 0101, test in
 * client-node.kube.test.ts). This keeps one pool per distinct TLS material instead; exec plugins
 * and rotated certificate files change that material, and the pool of older material drains and
 * closes.
 */
function reuseConnections(config: KubeConfig, maxSockets: number | undefined): { close(): Promise<void> } {
  const existing = pooled.get(config);
  if (existing) return existing;
  const target = config as unknown as { createDispatcher: DispatcherFactory };
  const original = target.createDispatcher.bind(config);
  const cache = new Map<string, Dispatcher>();
  target.createDispatcher = (cluster, agentOptions) => {
    const dispatcherOptions = config.createDispatcherOptions(cluster, agentOptions);
    if (dispatcherOptions.type === 'none') return undefined;
    const key = createHash('sha256').update(JSON.stringify(dispatcherOptions)).digest('hex');
    let dispatcher = cache.get(key);
    if (!dispatcher) {
      dispatcher =
        dispatcherOptions.type === 'agent'
          ? new Agent({ connect: dispatcherOptions.connect, connections: maxSockets ?? null })
          : original(cluster, agentOptions);
      if (!dispatcher) return undefined;
      cache.set(key, dispatcher);
      for (const [oldKey, old] of cache) {
        if (cache.size <= 4) break;
        cache.delete(oldKey);
        void old.close();
      }
    }
    return dispatcher;
  };
  const handle = {
    async close() {
      const all = [...cache.values()];
      cache.clear();
      await Promise.all(all.map((d) => d.close()));
    },
  };
  pooled.set(config, handle);
  return handle;
}
