import { readFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createCertificateAuthority } from '@codevector/testbed/certificate-authority';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createKubeTestEnv, type KubeTestEnv } from '../testing/kube-test-env.ts';
import { startAdmissionWebhook } from './admission-webhook.ts';
import { createServingCertificate } from './webhook-certificate.ts';

// ADR 0121: only the apiserver may call the admission webhook. Otherwise anyone who reaches the
// port could post an AdmissionReview naming any user, and the next delete's audit row would
// carry the forged actor.
let env: KubeTestEnv;
let port: number;

beforeAll(async () => {
  env = await createKubeTestEnv('wha');
  await env.startOperator();
  const config = await env.client.request<{ webhooks: { clientConfig: { url: string } }[] }>(
    'GET',
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${env.config.CODEVECTOR_WEBHOOK_CONFIG_NAME}`,
  );
  port = Number(new URL(config.webhooks[0]!.clientConfig.url).port);
});
afterAll(async () => {
  await env?.close();
});

/** A forged "alice deletes this RateLimit" review, as an attacker would post it. */
const forgedDelete = (uid: string, name: string) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'forged-1',
    kind: { group: 'codevector.dev', version: 'v1alpha1', kind: 'RateLimit' },
    resource: { group: 'codevector.dev', version: 'v1alpha1', resource: 'ratelimits' },
    namespace: env.namespace,
    name,
    operation: 'DELETE',
    userInfo: { username: 'alice' },
    oldObject: { metadata: { uid, name, namespace: env.namespace } },
  },
});

function call(
  target: number,
  pathname: string,
  body: unknown,
  options: { cert?: string; key?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: target,
        path: pathname,
        method: 'POST',
        rejectUnauthorized: false,
        cert: options.cert,
        key: options.key,
        headers: { 'content-type': 'application/json', ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const intents = () =>
  env.db.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from operator_delete_intents where actor = 'alice'`);

describe('admission webhook accepts only the apiserver', () => {
  it('works through the apiserver: the change is stamped with the real user', async () => {
    const created = await env.as('bob', 'POST', env.path('ratelimits'), {
      apiVersion: 'codevector.dev/v1alpha1',
      kind: 'RateLimit',
      metadata: { name: 'target' },
      spec: { subject: { kind: 'global' }, requestsPerMinute: 10 },
    });
    expect(created.status).toBe(201);
    expect(created.body.metadata.annotations?.['codevector.dev/changed-by']).toBe('bob');
  });

  it('refuses a direct call without the apiserver’s client certificate, so a delete cannot be attributed to someone else', async () => {
    const target = await env.get('ratelimits', 'target');
    const direct = await call(port, '/delete', forgedDelete(target.metadata.uid, 'target'));
    expect(direct.status).toBe(401);
    expect(direct.body).toContain('only the Kubernetes apiserver');
    expect(await intents()).toBe(0);
  });

  it('refuses a client certificate from another CA', async () => {
    const target = await env.get('ratelimits', 'target');
    const other = await createCertificateAuthority('attacker-ca');
    const cert = await other.issue({ commonName: 'kube-apiserver-webhook-client', usage: 'client' });
    const direct = await call(port, '/delete', forgedDelete(target.metadata.uid, 'target'), { cert: cert.certPem, key: cert.keyPem });
    expect(direct.status).toBe(401);
    expect(await intents()).toBe(0);
  });

  it('accepts the apiserver’s own certificate (the check is not refusing everyone)', async () => {
    const pki = path.dirname(env.config.CODEVECTOR_WEBHOOK_CLIENT_CA_FILE!);
    const [cert, key] = await Promise.all([
      readFile(path.join(pki, 'webhook-client.crt'), 'utf8'),
      readFile(path.join(pki, 'webhook-client.key'), 'utf8'),
    ]);
    const review = forgedDelete('00000000-0000-4000-8000-000000000000', 'nothing');
    const ok = await call(port, '/delete', { ...review, request: { ...review.request, dryRun: true } }, { cert, key });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).response.allowed).toBe(true);
  });
});

describe('bearer-token mode (an admission kubeconfig with `token:`)', () => {
  it('refuses a missing or wrong token and accepts the right one', async () => {
    const serving = await createServingCertificate(['127.0.0.1']);
    const server = await startAdmissionWebhook({
      db: env.db,
      log: createLogger({ name: 'test', level: 'silent' }),
      host: '127.0.0.1',
      port: 0,
      tls: serving,
      clientAuth: { bearerToken: () => 's3cret-token\n' },
    });
    try {
      const review = { ...forgedDelete('u', 'n'), request: { ...forgedDelete('u', 'n').request, operation: 'CREATE', object: {} } };
      expect((await call(server.port, '/mutate', review)).status).toBe(401);
      expect((await call(server.port, '/mutate', review, { headers: { authorization: 'Bearer wrong-token!' } })).status).toBe(401);
      expect((await call(server.port, '/mutate', review, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
