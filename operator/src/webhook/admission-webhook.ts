import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { type AdmissionRequest, stampPatch, stampsNewActor } from './admission-review.ts';
import { type ChangeOrigin, type GitOpsControllers, type ObjectLookup, resolveChangeOrigin } from './change-origin.ts';

/**
 * Who may call the webhook (ADR 0121). Without it anyone who reaches the port could post an
 * AdmissionReview naming any user and so forge the actor of a delete. `clientCaPem`: TLS client
 * certificates signed by this CA only (the apiserver's, from its admission kubeconfig), optionally
 * only these common names; `bearerToken`: the token that kubeconfig presents.
 */
export type WebhookClientAuth = {
  clientCaPem?: string;
  clientNames?: readonly string[];
  bearerToken?: () => string;
};

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
  clientAuth?: WebhookClientAuth;
  /** Resolves where a change came from (GitOps tool, repository, revision); omitted: no origin stamp. */
  origin?: { controllers: GitOpsControllers; lookup: ObjectLookup };
  /** Answers the kubelet's readiness probe (GET /readyz, no caller check: it reveals only this bit). */
  isReady?: () => boolean;
}): Promise<AdmissionWebhookServer> {
  const { db, log } = options;
  const auth = options.clientAuth ?? {};

  /** Why a caller is not the apiserver, or null when it is (as far as the configured checks go). */
  function refuseCaller(req: IncomingMessage): string | null {
    if (auth.clientCaPem) {
      const socket = req.socket as TLSSocket;
      if (!socket.authorized) return 'no client certificate signed by the trusted CA';
      const name = socket.getPeerCertificate().subject?.CN;
      if (auth.clientNames && !auth.clientNames.includes(String(name))) return `client certificate CN "${name}" not accepted`;
    }
    if (auth.bearerToken) {
      const expected = Buffer.from(`Bearer ${auth.bearerToken().trim()}`);
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'missing or wrong bearer token';
    }
    return null;
  }

  const originOf = async (request: AdmissionRequest): Promise<ChangeOrigin | undefined> =>
    options.origin ? resolveChangeOrigin(request, options.origin) : undefined;

  async function handle(path: string, request: AdmissionRequest): Promise<Record<string, unknown>> {
    const base = { uid: request.uid, allowed: true };
    if (path === '/mutate') {
      const content = request.kind.group === '' && request.kind.kind === 'Secret' ? 'secret' : 'spec';
      const origin = stampsNewActor(request, content) ? await originOf(request) : undefined;
      const ops = stampPatch(request, { content, ...(origin ? { origin } : {}) });
      return ops.length === 0 ? base : { ...base, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
    }
    if (path === '/delete') {
      const old = request.oldObject?.metadata;
      if (request.operation !== 'DELETE' || request.dryRun || !old?.uid) return base;
      try {
        const origin = await originOf(request);
        await db.query(statement`
          insert into operator_delete_intents (uid, kind, namespace, name, actor, origin)
          values (${old.uid}, ${request.kind.kind}, ${old.namespace ?? request.namespace ?? ''}, ${old.name ?? request.name ?? ''},
            ${request.userInfo.username ?? 'unknown'}, ${origin ? sql.jsonb(origin) : null})
          on conflict (uid) do update set actor = excluded.actor, origin = excluded.origin, at = now()`);
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

  const context = (tls: { certPem: string; keyPem: string }) => ({
    cert: tls.certPem,
    key: tls.keyPem,
    ...(auth.clientCaPem ? { ca: auth.clientCaPem } : {}),
  });
  // With a client CA the handshake itself asks for a certificate; one the CA did not sign is
  // refused in the request (401), so the caller learns why and the log says who tried.
  const server = https.createServer(
    { ...context(options.tls), requestCert: auth.clientCaPem !== undefined, rejectUnauthorized: false },
    (req, res) => {
      if (req.method === 'GET' && req.url === '/readyz') {
        const ready = options.isReady?.() ?? true;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ready ? 'ready' : 'webhook not registered yet');
        return;
      }
      const refused = refuseCaller(req);
      if (refused) {
        log.warn({ remote: req.socket.remoteAddress, reason: refused }, 'admission call refused: not the apiserver');
        req.resume();
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end('only the Kubernetes apiserver may call this webhook');
        return;
      }
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
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    updateTls: (tls) => server.setSecureContext(context(tls)),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
