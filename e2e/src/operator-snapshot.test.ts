// The operator → gateway contract end to end: the example manifests applied to a real apiserver
// by a real user, reconciled by the operator, then read back through core's loadConfigSnapshot
// exactly as gateways read it, with the provider keys decrypting to the Secret values.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadConfigSnapshot } from '@codevector/core/config-snapshot';
import { createSecretBox } from '@codevector/core/secret-box';
import { createKubeTestEnv, type KubeTestEnv, ready, until } from '@codevector/operator/testing/kube-test-env';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
let env: KubeTestEnv;

beforeAll(async () => {
  env = await createKubeTestEnv('e2e-op');
  await env.startOperator();
});
afterAll(async () => {
  await env?.close();
});

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
  stringData?: Record<string, string>;
};

async function loadExamples(): Promise<Manifest[]> {
  const docs: Manifest[] = [];
  for (const file of (await readdir(examples)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(`${examples}${file}`, 'utf8'))) {
      const value = doc.toJS() as Manifest | null;
      if (value && value.kind !== 'Namespace') docs.push(value);
    }
  }
  return docs;
}

describe('operator → gateway config snapshot', () => {
  it('turns the example manifests into a valid snapshot the gateway can load, and NOTIFYs each change', async () => {
    const manifests = await loadExamples();
    const listener = new pg.Client({ connectionString: process.env['DATABASE_URL'] });
    await listener.connect();
    const notifications: string[] = [];
    listener.on('notification', (n) => notifications.push(n.payload ?? ''));
    await listener.query('listen config_changed');
    try {
      for (const manifest of manifests) {
        const plural = manifest.kind === 'Secret' ? null : `${manifest.kind.toLowerCase()}s`;
        const body = { ...manifest, metadata: { ...manifest.metadata, namespace: env.namespace } };
        const path = plural ? env.path(plural) : `/api/v1/namespaces/${env.namespace}/secrets`;
        const response = await env.as('platform-admin', 'POST', path, body);
        expect(response.status, JSON.stringify(response.body)).toBe(201);
      }
      const custom = manifests.filter((m) => m.kind !== 'Secret');
      for (const m of custom) {
        const object = await until(
          () => env.get(`${m.kind.toLowerCase()}s`, m.metadata.name),
          (o) => ready(o).status === 'True',
        );
        expect(ready(object).status, `${m.kind} ${m.metadata.name}: ${ready(object).message}`).toBe('True');
      }

      const snapshot = await loadConfigSnapshot(env.db);
      expect(snapshot.providers).toHaveLength(2);
      expect(snapshot.models).toHaveLength(custom.filter((m) => m.kind === 'Model').length);
      expect(snapshot.budgets).toHaveLength(custom.filter((m) => m.kind === 'Budget').length);
      expect(snapshot.rateLimits).toHaveLength(custom.filter((m) => m.kind === 'RateLimit').length);
      expect(snapshot.secretRules).toHaveLength(custom.filter((m) => m.kind === 'SecretRule').length);
      const box = createSecretBox(env.config.CODEVECTOR_ENCRYPTION_KEY!);
      const anthropic = snapshot.providers.find((p) => p.name === 'anthropic')!;
      const secret = manifests.find((m) => m.kind === 'Secret' && m.metadata.name === 'anthropic-api-key')!;
      expect(box.open(anthropic.apiKeySealed!)).toBe(secret.stringData?.['api-key']);
      expect(snapshot.models.every((m) => snapshot.providers.some((p) => p.uid === m.providerUid))).toBe(true);
      expect(notifications.length).toBe(custom.length);
      expect(Number(notifications.at(-1))).toBe(snapshot.version);

      const audit = await env.audit();
      expect(audit.filter((r) => r.action.endsWith('.created'))).toHaveLength(custom.length);
      expect(new Set(audit.map((r) => r.actor))).toEqual(new Set(['platform-admin']));
    } finally {
      await listener.end();
    }
  });
});
