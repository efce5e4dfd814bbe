import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DatabasePool } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { OperatorConfig } from '../config.ts';
import { apiStatus, type KubeClient } from '../kube/kube-client.ts';
import { startAdmissionWebhook } from './admission-webhook.ts';
import { type ObjectLookup, parseGitOpsControllers } from './change-origin.ts';
import { registerWebhooks, type WebhookTarget, waitForWebhook } from './register-webhooks.ts';
import { obtainWebhookTls, type WebhookTls } from './webhook-tls.ts';
import { x509 } from './x509.ts';

/**
 * Serves the admission webhook and registers it. The certificate comes from
 * CODEVECTOR_WEBHOOK_TLS_DIR (cert-manager or the chart), from a Secret shared by all replicas
 * (CODEVECTOR_WEBHOOK_CERT_SECRET), or is made by this process; it is re-checked periodically,
 * renewed before expiry, and the configurations' caBundle follows. Waits until the apiserver
 * actually calls the webhook.
 */
export async function startWebhook(deps: {
  config: OperatorConfig;
  db: DatabasePool;
  log: Logger;
  client: KubeClient;
  /** Resolve only once the apiserver calls the webhook (tests); otherwise confirm in the background. */
  waitUntilCalled?: boolean;
}): Promise<{ port: number; stop(): Promise<void>; rotate(): Promise<void> }> {
  const { config, log, client } = deps;
  let hosts: string[];
  let service: { namespace: string; name: string; port: number } | undefined;
  if (config.CODEVECTOR_WEBHOOK_SERVICE) {
    const [namespace = '', rest = ''] = config.CODEVECTOR_WEBHOOK_SERVICE.split('/');
    const [name = '', port = '443'] = rest.split(':');
    service = { namespace, name, port: Number(port) };
    hosts = [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  } else {
    hosts = [config.CODEVECTOR_WEBHOOK_URL ? new URL(config.CODEVECTOR_WEBHOOK_URL).hostname.replace(/^\[|\]$/g, '') : '127.0.0.1'];
  }

  const tlsDir = config.CODEVECTOR_WEBHOOK_TLS_DIR;
  const secret = config.CODEVECTOR_WEBHOOK_CERT_SECRET
    ? { namespace: config.CODEVECTOR_OPERATOR_NAMESPACE, name: config.CODEVECTOR_WEBHOOK_CERT_SECRET }
    : undefined;
  const obtain = async (previous?: WebhookTls): Promise<WebhookTls> => {
    if (!tlsDir) return obtainWebhookTls({ client, log, hosts, secret, previous });
    const [certPem, keyPem, caBundlePem] = await Promise.all(
      ['tls.crt', 'tls.key', 'ca.crt'].map((f) => readFile(path.join(tlsDir, f), 'utf8')),
    );
    return { certPem: certPem!, keyPem: keyPem!, caBundlePem: caBundlePem!, notAfter: new x509.X509Certificate(certPem!).notAfter };
  };

  let tls = await obtain();
  const tokenFile = config.CODEVECTOR_WEBHOOK_TOKEN_FILE;
  let ready = false;
  const server = await startAdmissionWebhook({
    db: deps.db,
    log,
    host: config.CODEVECTOR_WEBHOOK_BIND,
    port: config.CODEVECTOR_WEBHOOK_PORT,
    tls,
    clientAuth: {
      clientCaPem: config.CODEVECTOR_WEBHOOK_CLIENT_CA_FILE ? await readFile(config.CODEVECTOR_WEBHOOK_CLIENT_CA_FILE, 'utf8') : undefined,
      clientNames: config.CODEVECTOR_WEBHOOK_CLIENT_NAMES?.split(',').map((n) => n.trim()),
      // Read per call: a rotated token file takes effect without a restart (admission calls are few).
      bearerToken: tokenFile ? () => readFileSync(tokenFile, 'utf8') : undefined,
    },
    origin: { controllers: parseGitOpsControllers(config.CODEVECTOR_GITOPS_CONTROLLERS), lookup: cachedLookup(client) },
    isReady: () => ready,
  });
  if (!config.CODEVECTOR_WEBHOOK_CLIENT_CA_FILE && !tokenFile) {
    log.warn(
      'admission webhook accepts any caller: set CODEVECTOR_WEBHOOK_CLIENT_CA_FILE or CODEVECTOR_WEBHOOK_TOKEN_FILE so only the apiserver can attribute changes',
    );
  }
  // Port 0 (tests) means "any free port": the URL names the one we got.
  const target: WebhookTarget = service ? { service } : { url: config.CODEVECTOR_WEBHOOK_URL ?? `https://127.0.0.1:${server.port}` };
  const register = (caPem: string) =>
    registerWebhooks({
      client,
      log,
      name: config.CODEVECTOR_WEBHOOK_CONFIG_NAME,
      target,
      caPem,
      namespaces: config.watchNamespaces,
      failurePolicy: config.CODEVECTOR_WEBHOOK_FAILURE_POLICY,
    });
  await register(tls.caBundlePem);
  // Ready (the pod joins the webhook Service, `helm install --wait` returns) once the apiserver
  // stamps a change through the webhook, or a few seconds after registering: the first replica
  // cannot be confirmed through a Service that routes only to ready pods, and the apiserver picks
  // up a new webhook configuration within about a second. Before this, `kubectl apply` right after
  // the install recorded actor "unknown".
  const readyTimer = setTimeout(() => {
    ready = true;
  }, 3_000);
  readyTimer.unref();

  async function rotate(): Promise<void> {
    const next = await obtain(tls);
    if (next.certPem === tls.certPem && next.caBundlePem === tls.caBundlePem) return;
    // Bundle first (it trusts old and new CA), then the new certificate.
    await register(next.caBundlePem);
    server.updateTls(next);
    tls = next;
    log.info({ notAfter: next.notAfter }, 'webhook certificate rotated');
  }
  const timer = setInterval(() => {
    rotate().catch((error: unknown) => log.error({ err: error }, 'webhook certificate check failed'));
  }, config.CODEVECTOR_WEBHOOK_CERT_CHECK_SECONDS * 1000);
  timer.unref();

  const probeNamespace = config.watchNamespaces?.[0] ?? config.CODEVECTOR_OPERATOR_NAMESPACE;
  const confirmed = waitForWebhook(client, probeNamespace).then(
    () => {
      ready = true;
      log.info({ port: server.port }, 'admission webhook confirmed');
    },
    (error: unknown) => log.warn({ err: error }, 'webhook not confirmed: the apiserver has not called it yet'),
  );
  if (deps.waitUntilCalled) await confirmed;
  log.info({ port: server.port }, 'admission webhook serving');
  return {
    port: server.port,
    rotate,
    stop: async () => {
      clearInterval(timer);
      clearTimeout(readyTimer);
      await server.close();
    },
  };
}

/**
 * GitOps objects read through the operator's client, each kept for two seconds: one Argo CD sync
 * or Flux apply admits many objects of the same Application or Kustomization at once.
 */
function cachedLookup(client: KubeClient): ObjectLookup {
  const cache = new Map<string, { at: number; value: Promise<Record<string, unknown> | null> }>();
  return (ref) => {
    const key = `${ref.group}/${ref.version}/${ref.plural}/${ref.namespace}/${ref.name}`;
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < 2000) return hit.value;
    if (cache.size > 1000) cache.clear();
    const value = client.customObjects.getNamespacedCustomObject(ref).then(
      (object) => object as Record<string, unknown>,
      (error: unknown) => {
        // 404: no such object, or the tool's API is not installed. Anything else: unresolved.
        if (apiStatus(error) === 404) return null;
        cache.delete(key);
        throw error;
      },
    );
    cache.set(key, { at: Date.now(), value });
    return value;
  };
}
