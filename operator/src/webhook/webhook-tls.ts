import type { Logger } from '@codevector/core/logger';
import type { V1Secret } from '@kubernetes/client-node';
import { apiStatus, type KubeClient } from '../kube/kube-client.ts';
import { createServingCertificate } from './webhook-certificate.ts';
import { x509 } from './x509.ts';

export type WebhookTls = {
  certPem: string;
  keyPem: string;
  /** The caBundle: the current CA, plus the previous one during a rotation. */
  caBundlePem: string;
  notAfter: Date;
};

/** Renew when less than this much validity is left. */
export const renewBeforeMs = 30 * 24 * 60 * 60 * 1000;

/**
 * The webhook's serving certificate. Without a Secret name each process makes its own (one
 * replica, tests). With one, every replica serves the same certificate kept in that Secret: the
 * first to find it missing or near expiry writes a new one (optimistic concurrency, so exactly
 * one writer wins) and the others pick it up. The previous CA stays in the bundle, so replicas
 * still serving the old certificate are trusted until they reload.
 * @throws on apiserver errors other than conflicts.
 */
export async function obtainWebhookTls(options: {
  client: KubeClient;
  log: Logger;
  hosts: string[];
  secret?: { namespace: string; name: string };
  previous?: WebhookTls;
  now?: Date;
}): Promise<WebhookTls> {
  const now = options.now ?? new Date();
  const fresh = async (previousCa: string | undefined): Promise<WebhookTls> => {
    const made = await createServingCertificate(options.hosts);
    const ca = made.caPem.endsWith('\n') ? made.caPem : `${made.caPem}\n`;
    return {
      certPem: made.certPem,
      keyPem: made.keyPem,
      caBundlePem: previousCa ? `${ca}${firstCertificate(previousCa)}` : ca,
      notAfter: made.notAfter,
    };
  };
  if (!options.secret) {
    if (options.previous && options.previous.notAfter.getTime() - now.getTime() > renewBeforeMs) return options.previous;
    return fresh(options.previous?.caBundlePem);
  }
  const { namespace, name } = options.secret;
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await options.client.core.readNamespacedSecret({ namespace, name }).catch((error: unknown) => {
      if (apiStatus(error) === 404) return null;
      throw error;
    });
    const stored = existing ? decode(existing) : null;
    if (stored && stored.notAfter.getTime() - now.getTime() > renewBeforeMs) return stored;
    const next = await fresh(stored?.caBundlePem);
    const data = {
      'tls.crt': Buffer.from(next.certPem).toString('base64'),
      'tls.key': Buffer.from(next.keyPem).toString('base64'),
      'ca.crt': Buffer.from(next.caBundlePem).toString('base64'),
    };
    try {
      if (existing) {
        // The read's resourceVersion makes the replace conditional: of two replicas, one wins.
        await options.client.core.replaceNamespacedSecret({ namespace, name, body: { ...existing, data } });
      } else {
        await options.client.core.createNamespacedSecret({
          namespace,
          body: { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace }, data },
        });
      }
      options.log.info({ secret: options.secret.name, notAfter: next.notAfter }, 'webhook certificate issued');
      return next;
    } catch (error) {
      // Another replica wrote it first: use theirs.
      if (apiStatus(error) !== 409) throw error;
    }
  }
  throw new Error('could not settle the webhook certificate Secret: repeated conflicts');
}

function decode(secret: V1Secret): WebhookTls | null {
  const data = secret.data ?? {};
  const [cert, key, ca] = [data['tls.crt'], data['tls.key'], data['ca.crt']].map((v) =>
    v ? Buffer.from(v, 'base64').toString('utf8') : '',
  );
  if (!cert || !key || !ca) return null;
  try {
    return { certPem: cert, keyPem: key, caBundlePem: ca, notAfter: new x509.X509Certificate(cert).notAfter };
  } catch {
    return null;
  }
}

function firstCertificate(bundle: string): string {
  const match = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/);
  return match ? (match[0].endsWith('\n') ? match[0] : `${match[0]}\n`) : '';
}
