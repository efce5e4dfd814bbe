import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/** How to reach and authenticate to one apiserver. */
export type KubeConnection = {
  server: string;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  /** Bearer token; a function because in-cluster service account tokens rotate on disk. */
  token: (() => string) | undefined;
  insecureSkipTlsVerify: boolean;
};

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
      tokenFile?: string;
    };
  }>[];
};

const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Reads the current context of a kubeconfig file (client certificates or bearer tokens; no exec
 * plugins). File references are relative to the kubeconfig, as kubectl resolves them.
 * @throws when the file has no usable current context.
 */
export function loadKubeconfigFile(kubeconfigPath: string): KubeConnection {
  const config = parse(readFileSync(kubeconfigPath, 'utf8')) as Kubeconfig;
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === context?.user)?.user ?? {};
  if (!cluster?.server) throw new Error(`${kubeconfigPath}: no cluster for current context ${String(contextName)}`);
  const base = path.dirname(kubeconfigPath);
  const material = (data: string | undefined, file: string | undefined) =>
    data ? Buffer.from(data, 'base64') : file ? readFileSync(path.resolve(base, file)) : undefined;
  const tokenFile = user.tokenFile;
  const staticToken = user.token;
  return {
    server: cluster.server,
    ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: material(user['client-certificate-data'], user['client-certificate']),
    key: material(user['client-key-data'], user['client-key']),
    token: staticToken ? () => staticToken : tokenFile ? cachedFileToken(path.resolve(base, tokenFile)) : undefined,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
}

/**
 * The pod's service account, as client-go's rest.InClusterConfig reads it.
 * @throws when the service account files are missing.
 */
export function loadInClusterConfig(host: string, port: string): KubeConnection {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    ca: readFileSync(path.join(serviceAccountDir, 'ca.crt')),
    cert: undefined,
    key: undefined,
    token: cachedFileToken(path.join(serviceAccountDir, 'token')),
    insecureSkipTlsVerify: false,
  };
}

/** Bound service account tokens are rotated by the kubelet; re-read the file once a minute. */
function cachedFileToken(file: string): () => string {
  let value = readFileSync(file, 'utf8').trim();
  let readAt = Date.now();
  return () => {
    if (Date.now() - readAt > 60_000) {
      try {
        value = readFileSync(file, 'utf8').trim();
        readAt = Date.now();
      } catch {
        // keep the last token; the apiserver will say 401 if it really expired
      }
    }
    return value;
  };
}
