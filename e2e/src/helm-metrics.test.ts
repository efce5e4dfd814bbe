import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The chart's monitoring parts (issue #13 §6): the ServiceMonitor and the Grafana dashboard are
// off by default; on, they select the three metrics Services and ship the dashboard JSON the
// metrics test checks (e2e/src/metrics-dashboard.test.ts).
const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = path.join(root, 'helm/codevector');
let bin: string;
let helm: string;
const toolEnv = { ...process.env, HELM_CACHE_HOME: '/tmp/cv-helm-cache', HELM_CONFIG_HOME: '/tmp/cv-helm-config' };

type Doc = {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;
const render = async (...sets: string[]): Promise<Doc[]> =>
  parseAllDocuments(
    (
      await run(
        helm,
        ['template', 'cv', chart, '--namespace', 'cv', '--set', 'database.url=postgres://cv@db/cv', ...sets.flatMap((s) => ['--set', s])],
        { env: toolEnv, maxBuffer: 32 << 20 },
      )
    ).stdout,
  )
    .map((doc) => doc.toJSON() as Doc | null)
    .filter((doc): doc is Doc => doc?.kind !== undefined);

beforeAll(async () => {
  bin = process.env['KUBEBUILDER_ASSETS'] ?? (await run('bash', [path.join(root, 'scripts/control-plane-binaries.sh')])).stdout.trim();
  helm = path.join(bin, 'helm');
});

describe('chart monitoring', () => {
  it('renders no ServiceMonitor or dashboard by default, and a metrics Service with a port for every service', async () => {
    const docs = await render();
    expect(docs.filter((d) => d.kind === 'ServiceMonitor')).toEqual([]);
    expect(docs.filter((d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-dashboard'))).toEqual([]);
    const metricsServices = docs.filter((d) => d.kind === 'Service' && d.metadata.labels?.['codevector.dev/metrics'] === 'true');
    expect(metricsServices.map((d) => d.metadata.name).sort()).toEqual([
      'cv-codevector-console-metrics',
      'cv-codevector-gateway-metrics',
      'cv-codevector-operator-metrics',
    ]);
    for (const component of ['operator', 'console', 'gateway']) {
      const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === `cv-codevector-${component}`) as unknown as {
        spec: {
          template: {
            spec: { containers: { ports: { name: string; containerPort: number }[]; env: { name: string; value?: string }[] }[] };
          };
        };
      };
      const container = deployment.spec.template.spec.containers[0]!;
      expect(container.ports.find((p) => p.name === 'metrics')?.containerPort, component).toBe(9464);
      const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
      expect(env[component === 'operator' ? 'CODEVECTOR_METRICS_PORT' : 'METRICS_PORT'], component).toBe('9464');
    }
  });

  it('renders one ServiceMonitor for the three metrics Services, and the dashboard for Grafana’s sidecar', async () => {
    const docs = await render(
      'metrics.serviceMonitor.enabled=true',
      'metrics.serviceMonitor.labels.release=kube-prometheus-stack',
      'metrics.grafanaDashboard.enabled=true',
      'metrics.grafanaDashboard.annotations.grafana_folder=CodeVector',
    );
    const monitors = docs.filter((d) => d.kind === 'ServiceMonitor') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    }[];
    expect(monitors).toHaveLength(1);
    expect(monitors[0]!.metadata.labels['release']).toBe('kube-prometheus-stack');
    expect(monitors[0]!.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/instance': 'cv', 'codevector.dev/metrics': 'true' });
    expect(monitors[0]!.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    const services = docs.filter((d) => d.kind === 'Service');
    const selected = services.filter((s) =>
      Object.entries(monitors[0]!.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
    );
    expect(selected).toHaveLength(3);
    for (const service of selected) {
      expect((service['spec'] as { ports: { name: string }[] }).ports.map((p) => p.name)).toEqual(['metrics']);
    }
    const dashboard = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'cv-codevector-dashboard') as unknown as Doc & {
      data: Record<string, string>;
    };
    expect(dashboard.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(dashboard.metadata.annotations?.['grafana_folder']).toBe('CodeVector');
    const shipped = JSON.parse(await readFile(path.join(chart, 'dashboards/codevector.json'), 'utf8'));
    expect(JSON.parse(dashboard.data['codevector.json']!)).toEqual(shipped);
  });

  it('lets Prometheus reach every metrics port through the NetworkPolicies, from where it is told', async () => {
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const docs = await render(`networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring`);
    for (const component of ['gateway', 'operator', 'console']) {
      const policy = docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === `cv-codevector-${component}`) as unknown as {
        spec: { ingress: { ports: { port: number }[]; from?: unknown[] }[] };
      };
      const rule = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 9464));
      expect(rule?.from, component).toEqual(from);
    }
  });

  it('renders a ServiceMonitor and dashboard the apiserver accepts, with the Prometheus Operator’s own CRD installed', async () => {
    const crds = (await run('bash', [path.join(root, 'scripts/monitoring-crds.sh')])).stdout.trim();
    const kubectl = (args: string[], input?: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile(path.join(bin, 'kubectl'), args, { env: toolEnv, maxBuffer: 32 << 20 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
        );
        if (input !== undefined) child.stdin!.end(input);
      });
    await kubectl(['apply', '--server-side', '-f', path.join(crds, 'servicemonitors.yaml')]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/servicemonitors.monitoring.coreos.com']);
    const namespace = `helm-mon-${Date.now().toString(36)}`;
    await kubectl(['create', 'namespace', namespace]);
    const rendered = (
      await run(
        helm,
        [
          'template',
          'cv',
          chart,
          '--namespace',
          namespace,
          '--set',
          'database.url=postgres://cv@db/cv',
          '--set',
          'metrics.serviceMonitor.enabled=true',
          '--set',
          'metrics.grafanaDashboard.enabled=true',
          '--show-only',
          'templates/metrics.yaml',
        ],
        { env: toolEnv, maxBuffer: 32 << 20 },
      )
    ).stdout;
    const out = await kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], rendered);
    expect(out).toContain('servicemonitor.monitoring.coreos.com/cv-codevector created (server dry run)');
    expect(out).toContain('configmap/cv-codevector-dashboard created (server dry run)');
  });
});
