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
  for (const team of ['team-a', 'team-b']) await tool('kubectl', ['create', 'namespace', `${namespace}-${team}`]);
});

type Doc = {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: { resources?: string[]; verbs?: string[] }[];
} & Record<string, unknown>;
const render = async (...sets: string[]) =>
  parseAllDocuments(
    await tool('helm', [
      'template',
      'cv',
      chart,
      '--namespace',
      namespace,
      '--set',
      'database.url=postgres://cv@db/cv',
      ...sets.flatMap((s) => ['--set', s]),
    ]),
  )
    .map((doc) => doc.toJSON() as Doc | null)
    .filter((doc): doc is Doc => doc?.kind !== undefined);
const readsSecrets = (doc: Doc) => (doc.rules ?? []).some((r) => r.resources?.includes('secrets') && r.verbs?.includes('list'));
const envOf = (docs: Doc[], deployment: string) => {
  const found = docs.find((d) => d.kind === 'Deployment' && d.metadata?.name === deployment) as unknown as {
    spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
  };
  return Object.fromEntries(found.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
};

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
    expect(generated.length).toBe(6);
    for (const file of generated) {
      expect(await readFile(path.join(chart, 'crds', file), 'utf8')).toBe(await readFile(path.join(root, 'crds', file), 'utf8'));
    }
  });

  it('renders manifests the apiserver accepts (server-side dry run)', async () => {
    const rendered = await tool('helm', ['template', 'cv', chart, '--namespace', namespace, '--set', 'database.url=postgres://cv@db/cv']);
    const kinds = parseAllDocuments(rendered)
      .map((doc) => doc.toJSON() as { kind?: string } | null)
      .flatMap((doc) => (doc?.kind ? [doc.kind] : []));
    expect(kinds).toEqual(
      expect.arrayContaining(['Deployment', 'Service', 'HorizontalPodAutoscaler', 'Job', 'ClusterRole', 'Secret', 'NetworkPolicy']),
    );
    const { writeFile } = await import('node:fs/promises');
    const file = path.join('/tmp', `${namespace}-rendered.yaml`);
    await writeFile(file, rendered);
    const out = await tool('kubectl', ['apply', '--dry-run=server', '-n', namespace, '-f', file]);
    expect(out).toMatch(/deployment.apps\/cv-codevector-gateway created \(server dry run\)/);
  });

  it('meets Pod Security "restricted" with the evaluation PostgreSQL: the apiserver warns about nothing', async () => {
    const restricted = `${namespace}-restricted`;
    await tool('kubectl', ['create', 'namespace', restricted]);
    await tool('kubectl', [
      'label',
      'namespace',
      restricted,
      'pod-security.kubernetes.io/enforce=restricted',
      'pod-security.kubernetes.io/warn=restricted',
    ]);
    const rendered = await tool('helm', ['template', 'cv', chart, '--namespace', restricted, '--set', 'postgresql.enabled=true']);
    const docs = parseAllDocuments(rendered).map((doc) => doc.toJSON() as Doc | null);
    const hooks = (kind: string) =>
      docs.find((d) => d?.kind === kind && (d.metadata as { annotations?: Record<string, string> }).annotations?.['helm.sh/hook']);
    // The database exists before the migrate hook, which runs before any serving pod.
    expect(hooks('StatefulSet')).toBeTruthy();
    expect(hooks('Job')).toBeTruthy();
    const file = path.join('/tmp', `${restricted}-rendered.yaml`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, rendered);
    const { stdout, stderr } = await run(path.join(bin, 'kubectl'), ['apply', '--dry-run=server', '-n', restricted, '-f', file]);
    expect(stdout).toMatch(/statefulset.apps\/cv-codevector-postgresql created/);
    expect(stderr).not.toMatch(/PodSecurity/);
    // The check can fail: a pod without the restricted settings is warned about.
    const plain = await run(path.join(bin, 'kubectl'), [
      'create',
      'deployment',
      'plain',
      '--image=x',
      '-n',
      restricted,
      '--dry-run=server',
    ]);
    expect(plain.stderr).toMatch(/would violate PodSecurity "restricted/);
  });

  it('reads Secrets only in the namespaces it serves: a Role each, none cluster-wide; cluster-wide mode is explicit', async () => {
    const teams = [`${namespace}-team-a`, `${namespace}-team-b`];
    const served = await render(`operator.watchNamespaces={${teams.join(',')}}`);
    const clusterRole = served.find((d) => d.kind === 'ClusterRole')!;
    expect(readsSecrets(clusterRole)).toBe(false);
    const roles = served.filter((d) => d.kind === 'Role' && readsSecrets(d)).map((d) => d.metadata?.namespace);
    // The installation namespace (the release's) is always served.
    expect(roles.sort()).toEqual([namespace, ...teams].sort());
    expect(served.filter((d) => d.kind === 'RoleBinding' && d.metadata?.name === 'cv-codevector-operator')).toHaveLength(3);
    expect(envOf(served, 'cv-codevector-operator')['CODEVECTOR_WATCH_NAMESPACE']).toBe([...teams, namespace].join(','));
    for (const deployment of ['cv-codevector-operator', 'cv-codevector-gateway']) {
      expect(envOf(served, deployment)['CODEVECTOR_INSTALLATION_NAMESPACE']).toBe(namespace);
    }

    const clusterWide = await render();
    expect(readsSecrets(clusterWide.find((d) => d.kind === 'ClusterRole')!)).toBe(true);
    expect(clusterWide.filter((d) => d.kind === 'Role' && readsSecrets(d))).toHaveLength(0);
    expect(envOf(clusterWide, 'cv-codevector-operator')['CODEVECTOR_WATCH_NAMESPACE']).toBeUndefined();
    // The operator never writes Secrets it does not own: no patch on Secrets anywhere.
    for (const doc of [...served, ...clusterWide].filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
      expect((doc.rules ?? []).some((r) => r.resources?.includes('secrets') && r.verbs?.includes('patch'))).toBe(false);
    }
  });

  it('ships NetworkPolicies: gateway out to DNS, database and public upstreams only; console from the ingress; webhook from the apiserver', async () => {
    const docs = await render('operator.providerBaseURLs={https://api.anthropic.com,https://api.openai.com/v1}');
    const policies = Object.fromEntries(docs.filter((d) => d.kind === 'NetworkPolicy').map((d) => [d.metadata?.name, d['spec'] as never]));
    type Policy = {
      policyTypes: string[];
      ingress: { from?: unknown[]; ports: { port: number }[] }[];
      egress: { to?: { ipBlock?: { cidr: string; except?: string[] } }[]; ports: { port: number }[] }[];
    };
    const gateway = policies['cv-codevector-gateway'] as Policy;
    expect(gateway.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(gateway.egress.map((e) => e.ports.map((p) => p.port))).toEqual([[53, 53], [5432], [443]]);
    // Upstreams are public addresses: no Provider baseURL reaches the cluster network or cloud metadata.
    expect(gateway.egress[2]!.to![0]!.ipBlock!.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '169.254.0.0/16']));
    const consolePolicy = policies['cv-codevector-console'] as Policy;
    expect(consolePolicy.ingress[0]!.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
    ]);
    expect(consolePolicy.egress.map((e) => e.ports.map((p) => p.port))).toEqual([[53, 53], [5432]]);
    const operatorPolicy = policies['cv-codevector-operator'] as Policy;
    // The webhook from the apiserver; metrics from networkPolicy.metricsFrom (anyone by default).
    expect(operatorPolicy.ingress.map((i) => i.ports.map((p) => p.port))).toEqual([[9443], [9464]]);
    expect(consolePolicy.ingress.map((i) => i.ports.map((p) => p.port))).toEqual([[3000], [9464]]);
    expect(envOf(docs, 'cv-codevector-operator')['CODEVECTOR_PROVIDER_BASE_URLS']).toBe(
      'https://api.anthropic.com,https://api.openai.com/v1',
    );
    expect(await render('networkPolicy.enabled=false').then((d) => d.filter((x) => x.kind === 'NetworkPolicy'))).toHaveLength(0);
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
    // The upgrade also moves from cluster-wide to namespaced mode: the apiserver accepts the Roles.
    const teams = `{${namespace}-team-a,${namespace}-team-b}`;
    await tool('helm', [
      'upgrade',
      'cv',
      chart,
      ...args,
      '--set',
      'gateway.autoscaling.maxReplicas=20',
      '--set',
      `operator.watchNamespaces=${teams}`,
    ]);
    expect(await key()).toBe(first);
    const roles = await tool('kubectl', ['get', 'roles', '-n', `${namespace}-team-a`, '-o', 'name']);
    expect(roles.trim()).toBe('role.rbac.authorization.k8s.io/cv-codevector-operator');
    const deployments = await tool('kubectl', ['get', 'deployments', '-n', namespace, '-o', 'name']);
    expect(deployments.split('\n').filter(Boolean).sort()).toEqual([
      'deployment.apps/cv-codevector-console',
      'deployment.apps/cv-codevector-gateway',
      'deployment.apps/cv-codevector-operator',
    ]);
  });
});
