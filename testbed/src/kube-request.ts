import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { parse } from 'yaml';

export type KubeRequest = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/api/v1/namespaces/default/configmaps?dryRun=All`. */
  path: string;
  /** Objects are sent as JSON; strings as they are (set content-type for YAML or patches). */
  body?: unknown;
  /** e.g. `Impersonate-User`, `Impersonate-Group`, or `content-type: application/merge-patch+json`. */
  headers?: Record<string, string | string[]>;
  timeoutMs?: number;
};
export type KubeResponse<T = unknown> = { status: number; body: T };

type Named<T> = { name: string } & T;
type Kubeconfig = {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  clusters?: Named<{
    cluster?: {
      server?: string;
      'certificate-authority-data'?: string;
      'certificate-authority'?: string;
      'insecure-skip-tls-verify'?: boolean;
    };
  }>[];
  users?: Named<{
    user?: {
      'client-certificate-data'?: string;
      'client-certificate'?: string;
      'client-key-data'?: string;
      'client-key'?: string;
      token?: string;
    };
  }>[];
};

/**
 * Sends one request to the apiserver named by a kubeconfig, authenticated the way the kubeconfig
 * says (client certificate or bearer token). Deliberately tiny: for tests, not a client library.
 * The body is parsed JSON when the apiserver answers JSON, otherwise text.
 * @throws when the kubeconfig lacks a current context, or on network errors and timeouts.
 */
export async function kubeRequest<T = unknown>(kubeconfigPath: string, req: KubeRequest): Promise<KubeResponse<T>> {
  const config = parse(await readFile(kubeconfigPath, 'utf8')) as Kubeconfig;
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === context?.user)?.user ?? {};
  if (!cluster?.server) throw new Error(`${kubeconfigPath}: no cluster for current context ${String(contextName)}`);
  // Relative file references in a kubeconfig are relative to the kubeconfig itself.
  const base = path.dirname(kubeconfigPath);
  const material = async (data: string | undefined, file: string | undefined) =>
    data ? Buffer.from(data, 'base64') : file ? await readFile(path.resolve(base, file)) : undefined;

  const headers: Record<string, string | string[]> = { accept: 'application/json', ...req.headers };
  if (user.token) headers['authorization'] = `Bearer ${user.token}`;
  let payload: Buffer | undefined;
  if (req.body !== undefined) {
    payload = Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }

  const url = new URL(req.path, cluster.server);
  const options = {
    method: req.method,
    headers,
    ca: await material(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: await material(user['client-certificate-data'], user['client-certificate']),
    key: await material(user['client-key-data'], user['client-key']),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    timeout: req.timeoutMs ?? 30_000,
    // A fresh connection per request: no agent keeps sockets open after a test is done.
    agent: false,
  } as const;
  return new Promise((resolve, reject) => {
    const outgoing = httpsRequest(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const json = (res.headers['content-type'] ?? '').includes('json');
        try {
          resolve({ status: res.statusCode ?? 0, body: (json && text ? JSON.parse(text) : text) as T });
        } catch (error) {
          reject(error);
        }
      });
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${req.method} ${req.path} timed out`)));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}
