import http from 'node:http';
import https from 'node:https';
import type { KubeConnection } from './kube-config.ts';

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

/** An apiserver answer with status >= 400; `reason` is the Status reason (NotFound, Conflict, Expired...). */
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
  /** @throws KubeApiError for status >= 400, or on network errors and timeouts. */
  request<T = KubeObject>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** Like request, but resolves null on 404. */
  getOrNull<T = KubeObject>(path: string): Promise<T | null>;
  /** Streams a watch until the server closes it (timeoutSeconds), the idle watchdog fires or the signal aborts. @throws WatchExpiredError on 410. */
  watch(path: string, options: WatchOptions): Promise<void>;
  close(): void;
};

/**
 * A deliberately small apiserver client (ADR 0101): JSON requests over keep-alive HTTPS and
 * newline-delimited watch streams. List/watch policy (re-list, backoff, watchdog) lives in the
 * informer, not here.
 */
export function createKubeClient(connection: KubeConnection, options: { maxSockets?: number; userAgent?: string } = {}): KubeClient {
  const url = new URL(connection.server);
  const secure = url.protocol === 'https:';
  const tls = { ca: connection.ca, cert: connection.cert, key: connection.key, rejectUnauthorized: !connection.insecureSkipTlsVerify };
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
  const agent = secure ? new https.Agent({ ...agentOptions, ...tls }) : new http.Agent(agentOptions);
  // Watches hold a connection for minutes; a separate agent keeps them from starving requests.
  const watchAgent = secure ? new https.Agent({ keepAlive: false, ...tls }) : new http.Agent({ keepAlive: false });
  const userAgent = options.userAgent ?? 'codevector-operator';
  const basePath = url.pathname.replace(/\/$/, '');

  function headersFor(extra: Record<string, string> | undefined): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': userAgent, ...extra };
    const token = connection.token?.();
    if (token) headers['authorization'] = `Bearer ${token}`;
    return headers;
  }

  function send(method: string, path: string, opts: RequestOptions, target: http.Agent): Promise<http.IncomingMessage> {
    const headers = headersFor(opts.headers);
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const transport = secure ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        { protocol: url.protocol, hostname: url.hostname, port: url.port, path: basePath + path, method, headers, agent: target },
        resolve,
      );
      if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async function readBody(res: http.IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }

  const client: KubeClient = {
    server: connection.server,
    async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
      const res = await send(method, path, { timeoutMs: 30_000, ...opts }, agent);
      const body = await readBody(res);
      if ((res.statusCode ?? 0) >= 400) throw new KubeApiError(method, path, res.statusCode ?? 0, body);
      return body as T;
    },
    async getOrNull<T>(path: string): Promise<T | null> {
      try {
        return await client.request<T>('GET', path);
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) return null;
        throw error;
      }
    },
    async watch(path, { idleTimeoutMs, signal, onEvent }) {
      const res = await send('GET', path, {}, watchAgent);
      if ((res.statusCode ?? 0) >= 400) {
        const body = await readBody(res);
        if (res.statusCode === 410) throw new WatchExpiredError(`watch ${path}: 410 Gone`);
        throw new KubeApiError('GET', path, res.statusCode ?? 0, body);
      }
      await new Promise<void>((resolve, reject) => {
        let buffer = '';
        let idle: NodeJS.Timeout | undefined;
        let failed: Error | undefined;
        const finish = () => {
          clearTimeout(idle);
          signal.removeEventListener('abort', onAbort);
          if (failed) reject(failed);
          else resolve();
        };
        const fail = (error: Error) => {
          failed ??= error;
          res.destroy();
        };
        const armWatchdog = () => {
          clearTimeout(idle);
          idle = setTimeout(() => fail(new Error(`watch ${path}: no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
        };
        const onAbort = () => res.destroy();
        signal.addEventListener('abort', onAbort);
        if (signal.aborted) res.destroy();
        armWatchdog();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          armWatchdog();
          buffer += chunk;
          let newline = buffer.indexOf('\n');
          while (newline >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            newline = buffer.indexOf('\n');
            if (!line) continue;
            let event: WatchEvent;
            try {
              event = JSON.parse(line) as WatchEvent;
            } catch (error) {
              fail(error as Error);
              return;
            }
            if (event.type === 'ERROR') {
              const code = event.object.code;
              fail(
                code === 410
                  ? new WatchExpiredError(`watch ${path}: ${event.object.message ?? 'expired'}`)
                  : new Error(`watch ${path}: ${event.object.message ?? 'error event'}`),
              );
              return;
            }
            try {
              onEvent(event);
            } catch (error) {
              fail(error as Error);
              return;
            }
          }
        });
        res.on('error', (error) => {
          failed ??= error;
        });
        res.on('close', finish);
      });
    },
    close() {
      agent.destroy();
      watchAgent.destroy();
    },
  };
  return client;
}
