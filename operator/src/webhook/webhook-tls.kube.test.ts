import { randomBytes, X509Certificate } from 'node:crypto';
import { createLogger } from '@codevector/core/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient, type KubeClient } from '../kube/kube-client.ts';
import { loadKubeconfigFile } from '../kube/kube-config.ts';
import { obtainWebhookTls, renewBeforeMs } from './webhook-tls.ts';

let client: KubeClient;
const namespace = `tls-${randomBytes(3).toString('hex')}`;
const log = createLogger({ name: 'tls-test', level: 'silent' });
const secret = { namespace, name: 'codevector-webhook-tls' };
const hosts = ['codevector-operator-webhook.codevector.svc'];

beforeAll(async () => {
  client = createKubeClient(loadKubeconfigFile(process.env['KUBECONFIG']!));
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
});
afterAll(() => client.close());

const certificates = (bundle: string) =>
  (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));

describe('webhook certificate shared through a Secret', () => {
  it('gives every replica the same certificate, however many start at once', async () => {
    const results = await Promise.all([1, 2, 3].map(() => obtainWebhookTls({ client, log, hosts, secret })));
    expect(new Set(results.map((r) => r.certPem)).size).toBe(1);
    const leaf = new X509Certificate(results[0]!.certPem);
    const [ca] = certificates(results[0]!.caBundlePem);
    expect(leaf.checkIssued(ca!)).toBe(true);
    expect(leaf.subjectAltName).toContain('codevector-operator-webhook.codevector.svc');
  });

  it('renews before expiry, keeping the previous CA in the bundle so replicas on the old certificate stay trusted', async () => {
    const current = await obtainWebhookTls({ client, log, hosts, secret });
    const nearExpiry = new Date(current.notAfter.getTime() - renewBeforeMs + 60_000);
    const renewed = await obtainWebhookTls({ client, log, hosts, secret, now: nearExpiry });
    expect(renewed.certPem).not.toBe(current.certPem);
    const bundle = certificates(renewed.caBundlePem);
    expect(bundle).toHaveLength(2);
    expect(new X509Certificate(renewed.certPem).checkIssued(bundle[0]!)).toBe(true);
    expect(new X509Certificate(current.certPem).checkIssued(bundle[1]!)).toBe(true);
    // Another replica checking now reads the renewed one instead of renewing again.
    expect((await obtainWebhookTls({ client, log, hosts, secret })).certPem).toBe(renewed.certPem);
  });
});
