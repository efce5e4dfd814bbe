import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ControlPlane, startControlPlane } from '@codevector/testbed/control-plane';
import { kubeRequest } from '@codevector/testbed/kube-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from './api-group.ts';
import { budgetStatusSchema } from './budget.ts';
import { providerStatusSchema } from './provider.ts';
import { rateLimitStatusSchema } from './rate-limit.ts';
import { readManifestFiles } from './read-manifest-files.ts';
import { type PrinterColumn, resourceKinds } from './resource-kinds.ts';

// CRD validation against a real kube-apiserver (STYLE "Tests", after Envoy AI Gateway's
// tests/crdcel): every example is accepted, every invalid fixture is rejected with exactly the
// message in its .expected.txt. This file starts its own control plane from the committed CRDs
// rather than sharing the run's, so the examples land in a fresh `codevector` namespace exactly
// as `kubectl apply -f examples/` would on a new cluster, and no other test sees them.
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const examplesDir = path.join(repoRoot, 'examples');
const fixturesDir = path.join(repoRoot, 'crds/fixtures/invalid');
const fixtureNamespace = 'invalid-fixtures';
const run = promisify(execFile);

type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: unknown;
};
type Status = { kind: 'Status'; message: string };

const examples = (await readManifestFiles(examplesDir)).flatMap(({ documents }) => documents as KubeObject[]);
const ours = examples.filter((o) => o.apiVersion === apiVersion);
const fixtureFiles = await readManifestFiles(fixturesDir);
const fixtures = fixtureFiles.filter(({ file }) => !file.endsWith('.base.yaml'));
/** Update fixtures: `<name>.base.yaml` is created first, then `<name>.yaml` must be refused as an update of it. */
const bases = new Map(
  fixtureFiles
    .filter(({ file }) => file.endsWith('.base.yaml'))
    .map(({ file, documents }) => [path.basename(file, '.base.yaml'), documents[0] as KubeObject]),
);

let controlPlane: ControlPlane;
const kubectl = async (...args: string[]) => {
  const { stdout } = await run(path.join(controlPlane.binDir, 'kubectl'), ['--kubeconfig', controlPlane.kubeconfigPath, ...args]);
  return stdout;
};
const collection = (kind: string, namespace: string) => {
  const plural = resourceKinds.find((k) => k.kind === kind)?.plural;
  return `/apis/${apiVersion}/namespaces/${namespace}/${plural}`;
};
const request = <T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown, contentType?: string) =>
  kubeRequest<T>(controlPlane.kubeconfigPath, { method, path: url, body, headers: contentType ? { 'content-type': contentType } : {} });

beforeAll(async () => {
  controlPlane = await startControlPlane({ crdDir: path.join(repoRoot, 'crds') });
  await kubectl('create', 'namespace', fixtureNamespace);
}, 120_000);
afterAll(async () => {
  await controlPlane?.stop();
});

describe('CRDs on a real apiserver', () => {
  it('kubectl apply -f examples/ creates every example in a fresh namespace', async () => {
    await kubectl('apply', '-f', examplesDir);
    for (const object of ours) {
      const got = await request<KubeObject>('GET', `${collection(object.kind, object.metadata.namespace ?? '')}/${object.metadata.name}`);
      expect(got.status, `${object.kind}/${object.metadata.name}`).toBe(200);
    }
  });

  it('kubectl get codevector -A lists every example with its printer columns', async () => {
    // No example streams the audit log anywhere (there is no collector in the demo): one sink here.
    const sink = {
      apiVersion,
      kind: 'AuditSink',
      metadata: { name: 'siem', namespace: 'codevector' },
      spec: { type: 'otlp', otlp: { endpoint: 'https://otel-collector.observability:4318/v1/logs' } },
    };
    expect((await request('POST', collection('AuditSink', 'codevector'), sink)).status).toBe(201);
    const output = await kubectl('get', 'codevector', '-A');
    for (const object of ours) expect(output).toContain(`${object.kind.toLowerCase()}.codevector.dev/${object.metadata.name} `);
    const headers = output.split('\n').filter((line) => line.startsWith('NAMESPACE'));
    for (const kind of resourceKinds) {
      const expected = [
        'NAMESPACE',
        'NAME',
        ...kind.printerColumns.filter((c: PrinterColumn) => !c.priority).map((c) => c.name.toUpperCase()),
        'READY',
        'AGE',
      ];
      expect(headers.map((h) => h.split(/\s{2,}/).join('|'))).toContain(expected.join('|'));
    }
  });

  it('accepts status as the operator writes it and shows it in READY, SPENT, REMAINING, latency and usage columns', async () => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const ready = {
      type: 'Ready',
      status: 'True',
      reason: 'Reconciled',
      message: 'stored and enforced',
      lastTransitionTime: now,
      observedGeneration: 1,
    };
    const providerStatus = providerStatusSchema.parse({
      observedGeneration: 1,
      conditions: [ready],
      apiKeyFingerprint: '0a1b2c3d',
      latencyP50Ms: 412,
      latencyP95Ms: 1890,
      requestsLastMinute: 120,
      errorsLastMinute: 3,
      lastError: { at: now, status: 529, outcome: 'upstream_error', message: 'The upstream answered with HTTP 529.' },
    });
    const rateLimitStatus = rateLimitStatusSchema.parse({
      observedGeneration: 1,
      conditions: [ready],
      requestsLastMinute: 57,
      tokensLastMinute: 91_000,
      activeSubjects: 4,
    });
    const budgetStatus = budgetStatusSchema.parse({
      observedGeneration: 1,
      conditions: [ready],
      spentUSD: '1234.567891',
      reservedUSD: '3.20',
      remainingUSD: '18762.232109',
      periodStart: '2026-11-01T00:00:00Z',
      resetsAt: '2026-12-01T00:00:00Z',
    });
    for (const [kind, name, status] of [
      ['Provider', 'anthropic', providerStatus],
      ['Budget', 'company-monthly', budgetStatus],
      ['RateLimit', 'every-developer', rateLimitStatus],
    ] as const) {
      const res = await request<Status>(
        'PATCH',
        `${collection(kind, 'codevector')}/${name}/status`,
        { status },
        'application/merge-patch+json',
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    expect(await kubectl('get', 'cvprov', 'anthropic', '-n', 'codevector', '--no-headers')).toMatch(
      /^anthropic\s+anthropic\s+https:\/\/api\.anthropic\.com\s+412\s+3\s+True\s/,
    );
    expect(await kubectl('get', 'cvbudget', 'company-monthly', '-n', 'codevector', '--no-headers')).toMatch(
      /\s20000\s+month\s+1234\.567891\s+18762\.232109\s+True\s/,
    );
    expect(await kubectl('get', 'cvrl', 'every-developer', '-n', 'codevector', '--no-headers')).toMatch(/\s57\s+91000\s+True\s/);
  });

  it.each(resourceKinds.map((k) => k.kind))('kubectl explain %s.spec shows the description of every field', async (kind) => {
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    const output = flat(await kubectl('explain', `${kind.toLowerCase()}.spec`));
    const spec = resourceKinds.find((k) => k.kind === kind)!.specSchema.toJSONSchema({ io: 'input' }) as {
      description: string;
      properties: Record<string, { description: string }>;
    };
    expect(output).toContain(flat(spec.description));
    for (const [field, { description }] of Object.entries(spec.properties)) expect(output, field).toContain(flat(description));
  });

  it.each(fixtures.map(({ file, documents }) => [path.basename(file, '.yaml'), documents[0] as KubeObject]))(
    'rejects %s with the expected message',
    async (name, object) => {
      const url = collection(object.kind, fixtureNamespace);
      const base = bases.get(name);
      let res: { status: number; body: Status };
      if (base) {
        // Replace the spec of the stored object, as kubectl edit or replace would.
        const created = await request<KubeObject>('POST', url, base);
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const update = { ...object, metadata: { ...object.metadata, resourceVersion: created.body.metadata.resourceVersion } };
        res = await request<Status>('PUT', `${url}/${object.metadata.name}`, update);
      } else {
        res = await request<Status>('POST', url, object);
      }
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      await expect(res.body.message).toMatchFileSnapshot(path.join(fixturesDir, `${name}.expected.txt`));
    },
  );
});
