import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Cluster, type Context, KubeConfig, type User } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { createTokenFileAuthenticator, tokenFileProvider } from './token-file-auth.ts';

export type KubeConfigSource =
  /** One kubeconfig file or a KUBECONFIG path list (merged as kubectl merges it: the first file to name a thing wins). */
  | { type: 'kubeconfig'; paths: string; context?: string }
  /** The pod's service account. `root` prefixes the service account folder (tests). */
  | { type: 'in-cluster'; root?: string };

type RawKubeconfig = { users?: { name?: string; user?: { token?: string; tokenFile?: string } }[] };

/**
 * Credentials for the apiserver, always through client-node's KubeConfig (ADR 0101): client
 * certificates, static tokens, exec credential plugins (the EKS, GKE and AKS CLIs), auth
 * providers, contexts, and in-cluster service accounts are client-node's own. Bearer token
 * files (`tokenFile` users, the in-cluster projected token) go through a re-reading
 * authenticator, because client-node 2.0.1 ignores `tokenFile` and re-reads its in-cluster
 * token only once a minute.
 * @throws when a file cannot be read or parsed, or the context does not exist.
 */
export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const config = new KubeConfig();
  if (source.type === 'in-cluster') {
    // Reads KUBERNETES_SERVICE_HOST/PORT itself (the operator's config lists both).
    config.loadFromCluster(source.root);
  } else {
    const files = source.paths.split(path.delimiter).filter(Boolean);
    if (files.length === 0) throw new Error('no kubeconfig file given');
    const merged = { clusters: [] as Cluster[], users: [] as User[], contexts: [] as Context[], currentContext: '' };
    for (const file of files) {
      const one = new KubeConfig();
      one.loadFromFile(file);
      const tokenFiles = tokenFileUsers(file);
      const add = <T extends { name: string }>(into: T[], items: T[]) => {
        for (const item of items) if (!into.some((i) => i.name === item.name)) into.push(item);
      };
      add(merged.clusters, one.getClusters());
      add(
        merged.users,
        one.getUsers().map((user) => {
          const tokenFile = tokenFiles.get(user.name);
          return tokenFile ? { ...user, authProvider: { name: tokenFileProvider, config: { path: tokenFile } } } : user;
        }),
      );
      add(merged.contexts, one.getContexts());
      merged.currentContext ||= one.getCurrentContext() ?? '';
    }
    config.loadFromOptions(merged);
  }
  // client-node's own in-cluster user reads its token file through FileAuth; hand it to ours.
  config.loadFromOptions({
    clusters: config.getClusters(),
    contexts: config.getContexts(),
    currentContext: config.getCurrentContext(),
    users: config.getUsers().map((user) => {
      const provider = user.authProvider as { name?: string; config?: { tokenFile?: string } } | undefined;
      return provider?.name === 'tokenFile' && provider.config?.tokenFile
        ? { ...user, authProvider: { name: tokenFileProvider, config: { path: provider.config.tokenFile } } }
        : user;
    }),
  });
  config.addAuthenticator(createTokenFileAuthenticator());
  if (source.type === 'kubeconfig' && source.context) {
    if (!config.getContextObject(source.context)) throw new Error(`kubeconfig has no context ${source.context}`);
    config.setCurrentContext(source.context);
  }
  if (!config.getCurrentCluster()) throw new Error(`kubeconfig has no cluster for context ${String(config.getCurrentContext())}`);
  return config;
}

/** One kubeconfig file (tests, tools). @throws as loadKubeConfig. */
export function loadKubeconfigFile(kubeconfigPath: string, context?: string): KubeConfig {
  return loadKubeConfig({ type: 'kubeconfig', paths: kubeconfigPath, context });
}

/** `tokenFile` of each user that has no inline token, resolved against the kubeconfig's folder as kubectl does. */
function tokenFileUsers(file: string): Map<string, string> {
  const raw = (parse(readFileSync(file, 'utf8')) ?? {}) as RawKubeconfig;
  const found = new Map<string, string>();
  for (const entry of raw.users ?? []) {
    const tokenFile = entry.user?.tokenFile;
    if (entry.name && tokenFile && !entry.user?.token) found.set(entry.name, path.resolve(path.dirname(file), tokenFile));
  }
  return found;
}
