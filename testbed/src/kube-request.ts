import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

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

/**
 * Sends one request to the apiserver named by a kubeconfig, authenticated the way the kubeconfig
 * says (client-node's KubeConfig: client certificate, bearer token, exec plugin). Deliberately
 * tiny: for tests, not a client library.
 * The body is parsed JSON when the apiserver answers JSON, otherwise text.
 * @throws when the kubeconfig lacks a current context, or on network errors and timeouts.
 */
export async function kubeRequest<T = unknown>(kubeconfigPath: string, req: KubeRequest): Promise<KubeResponse<T>> {
  // client-node's KubeConfig reads the credentials (the operator's client uses it too): file
  // references relative to the kubeconfig, client certificates, tokens, exec plugins.
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error(`${kubeconfigPath}: no cluster for current context ${String(config.getCurrentContext())}`);
  const tls: RequestOptions = {};
  await config.applyToHTTPSOptions(tls);

  const headers: Record<string, string | string[]> = {
    accept: 'application/json',
    ...(tls.headers as Record<string, string>),
    ...req.headers,
  };
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
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    servername: tls.servername,
    auth: tls.auth,
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    timeout: req.timeoutMs ?? 30_000,
    // A fresh connection per request (not the agent KubeConfig made): no socket outlives a test.
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
