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
  let target: WebhookTarget;
  let hosts: string[];
  if (config.CODEVECTOR_WEBHOOK_SERVICE) {
    const [namespace = '', rest = ''] = config.CODEVECTOR_WEBHOOK_SERVICE.split('/');
    const [name = '', port = '443'] = rest.split(':');
    target = { service: { namespace, name, port: Number(port) } };
    hosts = [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  } else {
    const url = new URL(config.CODEVECTOR_WEBHOOK_URL ?? `https://127.0.0.1:${config.CODEVECTOR_WEBHOOK_PORT}`);
    target = { url: url.toString() };
    hosts = [url.hostname.replace(/^\[|\]$/g, '')];
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
