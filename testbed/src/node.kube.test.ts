import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { mountsUnder, nodeUnavailableReason, pidsMentioning, startNode, type TestbedNode } from './node.ts';

// This file starts its own control plane and node (the shared control plane of the global setup
// has no node): a real kubelet, containerd, runc, CNI bridge, kube-proxy, scheduler,
// controller-manager and CoreDNS, with pods from an image imported into containerd (ADR 0007).
const unavailable = nodeUnavailableReason();
if (unavailable) console.warn(`node tests skipped: ${unavailable}`);

const namespace = 'node-test';
const root = (slotName: string) => `/var/lib/${slotName}`;

/** Chain names in every table of the host's (initial namespace's) iptables. */
function hostChains(): Set<string> {
  const out = spawnSync('iptables-save', { encoding: 'utf8' }).stdout;
  return new Set(
    out
      .split('\n')
      .filter((line) => line.startsWith(':'))
      .map((line) => line.slice(1).split(' ')[0] ?? ''),
  );
}

function hostRules(): string[] {
  return spawnSync('iptables-save', { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => line.startsWith('-A'));
}

describe.skipIf(unavailable !== null)('a real node in the test bed', () => {
  let node: TestbedNode;
  let chainsBefore: Set<string>;
  let startSeconds = 0;
  const crictl = (...args: string[]) =>
    spawnSync(path.join(node.binDir, 'crictl'), ['--runtime-endpoint', node.containerdEndpoint, ...args], { encoding: 'utf8' }).stdout;
  /** PIDs of the node's running containers, as containerd's CRI reports them. */
  const containerPids = () =>
    crictl('ps', '-q')
      .split('\n')
      .filter(Boolean)
      .map((id) => (JSON.parse(crictl('inspect', id)) as { info?: { pid?: number } }).info?.pid ?? 0);
  /** The network namespace files of the node's pod sandboxes. */
  const podNetnsPaths = () => {
    return crictl('pods', '-q', '--state', 'ready')
      .split('\n')
      .filter(Boolean)
      .map((id) => {
        const info = JSON.parse(crictl('inspectp', id)) as {
          info?: { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } };
        };
        return info.info?.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path ?? '';
      });
  };

  beforeAll(async () => {
    chainsBefore = hostChains();
    const startedAt = performance.now();
    node = await startNode({ log: (line) => process.stderr.write(`node: ${line}\n`) });
    startSeconds = (performance.now() - startedAt) / 1000;
    process.stderr.write(
      `node: start-to-Ready ${(node.timings.nodeReadyMs / 1000).toFixed(1)} s, CoreDNS available ${(node.timings.dnsReadyMs / 1000).toFixed(1)} s\n`,
    );
    // A cold cache builds the node's binaries first (~11 minutes on 2 cores; .ci/run does it in its set-up).
  }, 1_500_000);

  afterAll(async () => {
    await node?.stop();
  }, 120_000);

  it('registers a Ready node with its InternalIP, well under five minutes', async () => {
    const json = JSON.parse(await node.kubectl(['get', 'node', node.name, '-o', 'json'])) as {
      status: {
        conditions: { type: string; status: string }[];
        addresses: { type: string; address: string }[];
        nodeInfo: { kubeletVersion: string };
      };
    };
    expect(json.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(json.status.addresses).toContainEqual({ type: 'InternalIP', address: node.address });
    expect(json.status.nodeInfo.kubeletVersion).toBe('v1.34.4');
    expect(startSeconds).toBeLessThan(300);
  });

  it('runs pods from an imported image; kubectl logs and exec reach them', async () => {
    const names = await node.importImage(path.join(node.binDir, 'images', 'probe.tar'));
    expect(names).toContain('docker.io/local/probe:1');

    const container = { image: 'docker.io/local/probe:1', imagePullPolicy: 'Never' };
    const manifests = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  name: 'web',
                  ...container,
                  args: ['serve', ':8080'],
                  ports: [{ containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', namespace },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace },
        spec: {
          containers: [{ name: 'client', ...container, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
          terminationGracePeriodSeconds: 1,
        },
      },
    ];
    await node.kubectl(['apply', '-f', '-'], { input: manifests.map((m) => stringify(m)).join('---\n') });
    const readyAt = performance.now();
    await node.kubectl(['-n', namespace, 'rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 130_000 });
    await node.kubectl(['-n', namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s'], { timeoutMs: 130_000 });
    process.stderr.write(`node: web (2 replicas) and client Ready ${((performance.now() - readyAt) / 1000).toFixed(1)} s after apply\n`);

    // kubectl logs: apiserver → kubelet (InternalIP, client certificate) → containerd.
    expect(await node.kubectl(['-n', namespace, 'logs', 'deployment/web'])).toContain('serving on :8080');
    expect(await node.kubectl(['-n', namespace, 'logs', 'client'])).toContain('probe ready');
    // kubectl exec: the same path plus a CRI streaming session.
    const written = 'written through kubectl exec';
    await node.kubectl(['-n', namespace, 'exec', 'client', '--', '/probe', 'write', '/data/proof.txt', written]);
    await expect(node.kubectl(['-n', namespace, 'exec', 'client', '--', '/probe', 'no-such-command'])).rejects.toThrow(/unknown command/);

    // The PVC bound to one of the StorageClass's PersistentVolumes, and the file is on its folder.
    const pvc = JSON.parse(await node.kubectl(['-n', namespace, 'get', 'pvc', 'data', '-o', 'json'])) as {
      spec: { volumeName: string; storageClassName: string };
      status: { phase: string };
    };
    expect(pvc.status.phase).toBe('Bound');
    expect(pvc.spec.storageClassName).toBe(node.storageClassName);
    const pv = JSON.parse(await node.kubectl(['get', 'pv', pvc.spec.volumeName, '-o', 'json'])) as { spec: { hostPath: { path: string } } };
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(path.join(pv.spec.hostPath.path, 'proof.txt'), 'utf8')).toBe(written);
  }, 300_000);

  const dockerRunning = spawnSync('docker', ['info'], { timeout: 10_000 }).status === 0;
  it.skipIf(!dockerRunning)(
    'imports an image dockerd holds (docker save | ctr import) and runs it',
    async () => {
      const ref = `local/probe:docker-import-${process.pid}`;
      const load = spawnSync('docker', ['load', '-i', path.join(node.binDir, 'images', 'probe.tar')], { encoding: 'utf8' });
      expect(load.status, load.stderr).toBe(0);
      expect(spawnSync('docker', ['tag', 'local/probe:1', ref]).status).toBe(0);
      try {
        expect(await node.importImage(ref)).toContain(`docker.io/${ref}`);
        await node.kubectl(['-n', namespace, 'run', 'from-docker', `--image=docker.io/${ref}`, '--image-pull-policy=Never']);
        await node.kubectl(['-n', namespace, 'wait', '--for=condition=Ready', 'pod/from-docker', '--timeout=60s'], { timeoutMs: 70_000 });
        expect(await node.kubectl(['-n', namespace, 'logs', 'from-docker'])).toContain('probe ready');
        await node.kubectl(['-n', namespace, 'delete', 'pod', 'from-docker', '--grace-period=0', '--force', '--wait=true']);
      } finally {
        spawnSync('docker', ['rmi', ref]);
      }
      await expect(node.importImage('local/no-such-image:never')).rejects.toThrow(/docker save local\/no-such-image:never failed/);
    },
    120_000,
  );

  it('resolves a Service by its DNS name from a pod and reaches it through kube-proxy', async () => {
    const clusterIp = (await node.kubectl(['-n', namespace, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    expect(clusterIp.startsWith(node.serviceCidr.split('.').slice(0, 3).join('.'))).toBe(true);
    const exec = (...args: string[]) => node.kubectl(['-n', namespace, 'exec', 'client', '--', '/probe', ...args]);
    expect((await exec('resolve', 'web.node-test.svc.cluster.local')).trim()).toBe(clusterIp);
    // The pod's search path (kubelet's clusterDNS and clusterDomain) makes the short name work too.
    expect((await exec('resolve', 'web')).trim()).toBe(clusterIp);
    await expect(exec('resolve', 'no-such-service.node-test.svc.cluster.local')).rejects.toThrow(/no such host/);
    const replies = new Set<string>();
    for (let i = 0; i < 12; i++) replies.add((await exec('get', 'http://web.node-test.svc.cluster.local/')).trim());
    for (const reply of replies) expect(reply).toMatch(/^hello from web-/);
    // Both replicas answer through the ClusterIP (iptables' random choice, 12 tries: 1 in 2048 to miss one).
    expect(replies.size).toBe(2);
  }, 120_000);

  it('lets this host reach Services (ClusterIP, NodePort), pod IPs and kubectl port-forward', async () => {
    const get = async (url: string) => (await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text()).trim();
    const clusterIp = (await node.kubectl(['-n', namespace, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    expect(await get(`http://${clusterIp}/`)).toMatch(/^hello from web-/);
    const podIp = (await node.kubectl(['-n', namespace, 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
    expect(podIp.startsWith(node.podCidr.split('.').slice(0, 3).join('.'))).toBe(true);
    expect(await get(`http://${podIp}:8080/`)).toMatch(/^hello from web-/);

    await node.kubectl([
      '-n',
      namespace,
      'expose',
      'deployment',
      'web',
      '--name=web-nodeport',
      '--type=NodePort',
      '--port=80',
      '--target-port=8080',
    ]);
    const nodePort = (
      await node.kubectl(['-n', namespace, 'get', 'service', 'web-nodeport', '-o', 'jsonpath={.spec.ports[0].nodePort}'])
    ).trim();
    await expect.poll(() => get(`http://${node.address}:${nodePort}/`).catch(String), { timeout: 10_000 }).toMatch(/^hello from web-/);

    const forward = spawn(
      path.join(node.controlPlane.binDir, 'kubectl'),
      ['--kubeconfig', node.kubeconfigPath, '-n', namespace, 'port-forward', 'deployment/web', ':8080'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      forward.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await expect.poll(() => /127\.0\.0\.1:(\d+)/.exec(out)?.[1], { timeout: 20_000 }).toBeTruthy();
      const localPort = /127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      expect(await get(`http://127.0.0.1:${localPort}/`)).toMatch(/^hello from web-/);
    } finally {
      forward.kill('SIGTERM');
    }
  }, 60_000);

  it('gives pods a projected ServiceAccount token the apiserver accepts over verified TLS', async () => {
    const who = await node.kubectl(['-n', namespace, 'exec', 'client', '--', '/probe', 'whoami']);
    expect(who.trim()).toBe(`system:serviceaccount:${namespace}:default`);
    const pod = JSON.parse(await node.kubectl(['-n', namespace, 'get', 'pod', 'client', '-o', 'json'])) as {
      spec: { volumes: { name: string; projected?: { sources: { serviceAccountToken?: { expirationSeconds: number } }[] } }[] };
    };
    // Injected by the ServiceAccount admission plugin: a bound, expiring token, not a Secret.
    const projected = pod.spec.volumes.find((v) => v.name.startsWith('kube-api-access-'))?.projected;
    expect(projected?.sources.some((s) => (s.serviceAccountToken?.expirationSeconds ?? 0) > 0)).toBe(true);
  }, 60_000);

  it('tears down completely: no processes, mounts, network namespaces, iptables rules, cgroups or files', async () => {
    const slotRoot = root(node.name);
    // web ×2, client, coredns: each sandbox has its own network namespace, bind-mounted under /run/netns.
    const podNetns = podNetnsPaths();
    expect(podNetns).toHaveLength(4);
    for (const file of podNetns) expect(file).toMatch(/^\/var\/run\/netns\/cni-|^\/run\/netns\/cni-/);
    const pids = containerPids();
    expect(pids.filter((pid) => pid > 0)).toHaveLength(4);
    await node.stop();
    expect(await pidsMentioning([slotRoot])).toEqual([]);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(await mountsUnder(slotRoot)).toEqual([]);
    expect(existsSync(slotRoot)).toBe(false);
    expect(existsSync(`/run/netns/${node.name}`)).toBe(false);
    for (const file of podNetns) expect(existsSync(file)).toBe(false);
    // Other engineers' dockerd may add its own chains meanwhile: only Kubernetes' and CNI's count.
    const newChains = [...hostChains()].filter((c) => !chainsBefore.has(c) && /^(KUBE-|CNI-)/.test(c));
    expect(newChains).toEqual([]);
    expect(hostRules().filter((rule) => rule.includes(node.podCidr) || rule.includes(node.serviceCidr))).toEqual([]);
    const links = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
    expect(links).not.toContain(`cvn${node.name.split('-').at(-1)}h`);
    const routes = spawnSync('ip', ['route'], { encoding: 'utf8' }).stdout;
    expect(routes).not.toContain(node.podCidr);
    for (const hierarchy of ['cpu', 'memory', 'pids']) expect(existsSync(`/sys/fs/cgroup/${hierarchy}/${node.name}`)).toBe(false);
  }, 120_000);
});

describe.skipIf(unavailable !== null)('a node whose owner is killed', () => {
  it('is removed by its watchdog: no processes, mounts, namespace, cgroups or files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'codevector-node-owner-'));
    const script = path.join(dir, 'owner.ts');
    await writeFile(
      script,
      [
        `import { startNode } from ${JSON.stringify(pathToFileURL(path.resolve('testbed/src/node.ts')).href)};`,
        'const node = await startNode();',
        "await node.kubectl(['run', 'sleeper', '--image=docker.io/local/coredns:v1.14.7', '--image-pull-policy=Never']);",
        "await node.kubectl(['wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=120s'], { timeoutMs: 130_000 });",
        "console.log('READY ' + node.name);",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    const owner = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    owner.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    owner.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => owner.on('exit', resolve));
    try {
      const deadline = Date.now() + 240_000;
      while (!/READY (\S+)/.test(stdout)) {
        if (owner.exitCode !== null || Date.now() > deadline) throw new Error(`owner did not start a node:\n${stderr.slice(-3000)}`);
        await sleep(200);
      }
      const name = /READY (\S+)/.exec(stdout)?.[1] ?? '';
      const slotRoot = root(name);
      expect(await pidsMentioning([slotRoot])).not.toEqual([]);
      expect(await mountsUnder(slotRoot)).not.toEqual([]);

      owner.kill('SIGKILL');
      await exited;
      const gone = Date.now() + 60_000;
      while (existsSync(`/run/codevector-node/${name.split('-').at(-1)}`) && Date.now() < gone) await sleep(250);
      expect(existsSync(`/run/codevector-node/${name.split('-').at(-1)}`)).toBe(false);
      expect(await pidsMentioning([slotRoot])).toEqual([]);
      expect(await mountsUnder(slotRoot)).toEqual([]);
      expect(existsSync(slotRoot)).toBe(false);
      expect(existsSync(`/run/netns/${name}`)).toBe(false);
      for (const hierarchy of ['cpu', 'memory', 'pids']) expect(existsSync(`/sys/fs/cgroup/${hierarchy}/${name}`)).toBe(false);
    } finally {
      owner.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 360_000);
});
