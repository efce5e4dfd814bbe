import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DatabasePool } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { OperatorConfig } from '../config.ts';
import type { KubeClient } from '../kube/kube-client.ts';
import { startAdmissionWebhook } from './admission-webhook.ts';
import { registerWebhooks, type WebhookTarget, waitForWebhook } from './register-webhooks.ts';
import { createServingCertificate } from './webhook-certificate.ts';

/**
 * Serves the admission webhook and registers it: a certificate from CODEVECTOR_WEBHOOK_TLS_DIR
 * (tls.crt, tls.key, ca.crt — chart or cert-manager) or one generated now, whose CA goes into
 * the configurations' caBundle. Waits until the apiserver actually calls it.
 */
export async function startWebhook(deps: {
  config: OperatorConfig;
  db: DatabasePool;
  log: Logger;
  client: KubeClient;
  tlsDir?: string;
}): Promise<{ port: number; stop(): Promise<void> }> {
  const { config, log } = deps;
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
  const tls = deps.tlsDir
    ? {
        certPem: await readFile(path.join(deps.tlsDir, 'tls.crt'), 'utf8'),
        keyPem: await readFile(path.join(deps.tlsDir, 'tls.key'), 'utf8'),
        caPem: await readFile(path.join(deps.tlsDir, 'ca.crt'), 'utf8'),
      }
    : await createServingCertificate(hosts);
  const server = await startAdmissionWebhook({
    db: deps.db,
    log,
    host: config.CODEVECTOR_WEBHOOK_BIND,
    port: config.CODEVECTOR_WEBHOOK_PORT,
    tls,
  });
  // Port 0 (tests) means "any free port": the URL names the one we got.
  const target: WebhookTarget = service ? { service } : { url: config.CODEVECTOR_WEBHOOK_URL ?? `https://127.0.0.1:${server.port}` };
  await registerWebhooks({
    client: deps.client,
    log,
    name: config.CODEVECTOR_WEBHOOK_CONFIG_NAME,
    target,
    caPem: tls.caPem,
    namespace: config.CODEVECTOR_WATCH_NAMESPACE,
    failurePolicy: config.CODEVECTOR_WEBHOOK_FAILURE_POLICY,
  });
  const probeNamespace = config.CODEVECTOR_WATCH_NAMESPACE ?? config.CODEVECTOR_OPERATOR_NAMESPACE;
  await waitForWebhook(deps.client, probeNamespace).catch((error: unknown) => log.warn({ err: error }, 'webhook not confirmed yet'));
  log.info({ port: server.port }, 'admission webhook serving');
  return { port: server.port, stop: server.close };
}
