import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { type DatabasePool, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { type AdmissionRequest, stampPatch } from './admission-review.ts';

export type AdmissionWebhookServer = { port: number; updateTls(tls: { certPem: string; keyPem: string }): void; close(): Promise<void> };

/**
 * The operator's admission endpoints over HTTPS:
 * - `/mutate` stamps the requesting user on custom resources and labeled Secrets;
 * - `/delete` records who deletes a custom resource, keyed by uid, for the finalizer's
 *   `<kind>.deleted` audit row. It refuses the delete when it cannot record it (attribution
 *   is part of the audit guarantee), and records nothing on dry runs (sideEffects NoneOnDryRun).
 */
export async function startAdmissionWebhook(options: {
  db: DatabasePool;
  log: Logger;
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
}): Promise<AdmissionWebhookServer> {
  const { db, log } = options;

  async function handle(path: string, request: AdmissionRequest): Promise<Record<string, unknown>> {
    const base = { uid: request.uid, allowed: true };
    if (path === '/mutate') {
      const content = request.kind.group === '' && request.kind.kind === 'Secret' ? 'secret' : 'spec';
      const ops = stampPatch(request, { content });
      return ops.length === 0 ? base : { ...base, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
    }
    if (path === '/delete') {
      const old = request.oldObject?.metadata;
      if (request.operation !== 'DELETE' || request.dryRun || !old?.uid) return base;
      try {
        await db.query(statement`
          insert into operator_delete_intents (uid, kind, namespace, name, actor)
          values (${old.uid}, ${request.kind.kind}, ${old.namespace ?? request.namespace ?? ''}, ${old.name ?? request.name ?? ''}, ${request.userInfo.username ?? 'unknown'})
          on conflict (uid) do update set actor = excluded.actor, at = now()`);
        return base;
      } catch (error) {
        log.error({ err: error }, 'delete intent not recorded');
        return {
          uid: request.uid,
          allowed: false,
          status: { code: 503, message: 'CodeVector could not record who is deleting this resource; try again.' },
        };
      }
    }
    return { uid: request.uid, allowed: false, status: { code: 404, message: `no admission endpoint ${path}` } };
  }

  const server = https.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: AdmissionRequest };
          if (!review.request) throw new Error('AdmissionReview without request');
          const response = await handle(new URL(req.url ?? '/', 'https://x').pathname, review.request);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
        } catch (error) {
          log.warn({ err: error }, 'bad admission request');
          res.writeHead(400, { 'content-type': 'text/plain' });
          res.end('bad admission request');
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    updateTls: (tls) => server.setSecureContext({ cert: tls.certPem, key: tls.keyPem }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
