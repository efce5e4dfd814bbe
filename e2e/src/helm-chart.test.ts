import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The chart is verified the way DESIGN §7 allows without a container runtime: lint, template,
// server-side dry run and a real `helm install` against the local kube-apiserver (pods never run).
const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = path.join(root, 'helm/codevector');
const namespace = `helm-${Date.now().toString(36)}`;
let bin: string;

const tool = async (name: 'helm' | 'kubectl', args: string[]) =>
  (
    await run(path.join(bin, name), args, {
      env: { ...process.env, HELM_CACHE_HOME: '/tmp/cv-helm-cache', HELM_CONFIG_HOME: '/tmp/cv-helm-config' },
      maxBuffer: 32 << 20,
    })
  ).stdout;

beforeAll(async () => {
  bin = process.env['KUBEBUILDER_ASSETS'] ?? (await run('bash', [path.join(root, 'scripts/control-plane-binaries.sh')])).stdout.trim();
  await tool('kubectl', ['create', 'namespace', namespace]);
});

describe('helm chart', () => {
  it('lints clean', async () => {
    const out = await tool('helm', ['lint', chart, '--strict', '--set', 'database.url=postgres://cv@db/cv']);
    expect(out).toContain('0 chart(s) failed');
  });

  it('refuses to render without a database', async () => {
    await expect(tool('helm', ['template', 'cv', chart])).rejects.toThrow(/set database.url or database.existingSecret/);
  });

  it('ships the same CRDs that crds/ generates', async () => {
    const generated = (await readdir(path.join(root, 'crds'))).filter((f) => f.endsWith('.yaml')).sort();
    const shipped = (await readdir(path.join(chart, 'crds'))).filter((f) => f.endsWith('.yaml')).sort();
    expect(shipped).toEqual(generated);
    expect(generated.length).toBe(5);
    for (const file of generated) {
      expect(await readFile(path.join(chart, 'crds', file), 'utf8')).toBe(await readFile(path.join(root, 'crds', file), 'utf8'));
    }
  });

  it('renders manifests the apiserver accepts (server-side dry run)', async () => {
    const rendered = await tool('helm', ['template', 'cv', chart, '--namespace', namespace, '--set', 'database.url=postgres://cv@db/cv']);
    const kinds = parseAllDocuments(rendered)
      .map((doc) => doc.toJSON() as { kind?: string } | null)
      .flatMap((doc) => (doc?.kind ? [doc.kind] : []));
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'HorizontalPodAutoscaler', 'Job', 'ClusterRole', 'Secret']));
    const { writeFile } = await import('node:fs/promises');
    const file = path.join('/tmp', `${namespace}-rendered.yaml`);
    await writeFile(file, rendered);
    const out = await tool('kubectl', ['apply', '--dry-run=server', '-n', namespace, '-f', file]);
    expect(out).toMatch(/deployment.apps\/cv-codevector-gateway created \(server dry run\)/);
  });

  it('installs and upgrades, keeping the generated encryption key', async () => {
    const args = ['--namespace', namespace, '--set', 'database.url=postgres://cv@db/cv', '--no-hooks'];
    await tool('helm', ['install', 'cv', chart, ...args]);
    const key = async () =>
      (
        await tool('kubectl', ['get', 'secret', '-n', namespace, 'cv-codevector-encryption', '-o', 'jsonpath={.data.encryption-key}'])
      ).trim();
    const first = await key();
    expect(Buffer.from(Buffer.from(first, 'base64').toString('utf8'), 'base64')).toHaveLength(32);
    await tool('helm', ['upgrade', 'cv', chart, ...args, '--set', 'gateway.autoscaling.maxReplicas=20']);
    expect(await key()).toBe(first);
    const deployments = await tool('kubectl', ['get', 'deployments', '-n', namespace, '-o', 'name']);
    expect(deployments.split('\n').filter(Boolean).sort()).toEqual([
      'deployment.apps/cv-codevector-console',
      'deployment.apps/cv-codevector-gateway',
      'deployment.apps/cv-codevector-operator',
    ]);
  });
});
