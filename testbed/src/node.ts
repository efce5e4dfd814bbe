// A real Kubernetes node for the test bed (ADR 0007): containerd + runc + CNI from the Debian
// packages, and kubelet, kube-proxy, kube-scheduler, kube-controller-manager and CoreDNS built from
// the Go module proxy (scripts/node-binaries.sh), joined to a local control plane started here.
//
// Every node lives in its own network namespace, joined to this host by a veth pair. Several
// engineers (and CI jobs) share one kernel: two kube-proxies in one namespace would rewrite each
// other's KUBE-SERVICES chains, two CNI bridges would clash, and a teardown would delete the other's
// rules. In its namespace a node's iptables rules, bridge, routes and ports are its own, and
// deleting the namespace removes them all. Mounts and cgroups are host-wide, so every path and
// cgroup carries the node's slot number.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  type Child,
  type ControlPlane,
  type ControlPlaneOptions,
  hasExited,
  killGroup,
  launch,
  startControlPlane,
  terminate,
  waitUntil,
} from './control-plane.ts';
import { kubeRequest } from './kube-request.ts';

export type NodeOptions = {
  /** Options of the control plane started for the node (`node` is set by startNode). */
  controlPlane?: Omit<ControlPlaneOptions, 'node'>;
  /** Images to import into the node's containerd before it is Ready: `docker save` tars, or references dockerd has. */
  images?: string[];
  /** Static hostPath PersistentVolumes of the `local` StorageClass (default 4 × 10Gi). */
  persistentVolumes?: { count?: number; size?: string };
  /** Progress lines (the components' own output goes to `logDir`). */
  log?: (line: string) => void;
};

export type TestbedNode = {
  controlPlane: ControlPlane;
  /** Node name, also the network namespace's name: `codevector-node-<slot>`. */
  name: string;
  /** Admin kubeconfig (the control plane's). */
  kubeconfigPath: string;
  /** Kubeconfigs of the node's own components, for inspection. */
  kubeconfigs: Record<'kubelet' | 'kubeProxy' | 'scheduler' | 'controllerManager', string>;
  /** The node's InternalIP (inside its namespace); the apiserver reaches the kubelet there. */
  address: string;
  /** This host's address on the node's veth: pods reach host services (and the apiserver) here. */
  hostAddress: string;
  podCidr: string;
  serviceCidr: string;
  /** ClusterIP of kube-dns (CoreDNS) in kube-system. */
  dnsServiceIp: string;
  /** The default StorageClass, backed by static hostPath PersistentVolumes. */
  storageClassName: string;
  /** Folder with kubelet, kube-proxy, …, crictl; kubectl and helm are in controlPlane.binDir. */
  binDir: string;
  /** `unix://…` of the node's containerd (CRI). */
  containerdEndpoint: string;
  /** Where each component writes its full output. */
  logDir: string;
  /** Milliseconds from startNode() to the Node's Ready condition, and to CoreDNS answering. */
  timings: { nodeReadyMs: number; dnsReadyMs: number };
  /** Loads an image into the node: a `docker save`/OCI tar path, or a reference dockerd has. Resolves to the image names containerd now holds. */
  importImage(tarOrDockerRef: string): Promise<string[]>;
  /** Runs kubectl with the admin kubeconfig. @throws on a non-zero exit, with its stderr. */
  kubectl(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Stops every component, removes every pod, mount, cgroup, rule and file the node made, then the control plane. Safe to call twice. */
  stop(): Promise<void>;
};

/** Thrown (and returned by nodeUnavailableReason) when this machine cannot run a node at all. */
export class NodeUnavailableError extends Error {}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const slotDir = '/run/codevector-node';
const cniBinDir = '/usr/lib/cni';
const storageClassName = 'local';
const readyTimeoutMs = 120_000;

/**
 * Why a node cannot start here (not Linux, not root, a missing package that apt-get cannot
 * install), or null when it can: scripts/node-binaries.sh installs missing packages with apt-get.
 */
export function nodeUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'a node needs Linux';
  if (process.getuid?.() !== 0) return 'a node needs root (containerd, network namespaces, mounts)';
  if (['/usr/bin/apt-get', '/bin/apt-get'].some((file) => existsSync(file))) return null;
  return missingPackage();
}

function missingPackage(): string | null {
  const needed: [string, string][] = [
    ['containerd', 'containerd'],
    ['ctr', 'containerd'],
    ['runc', 'runc'],
    ['ip', 'iproute2'],
    ['nsenter', 'util-linux'],
    ['iptables', 'iptables'],
  ];
  const dirs = (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin']);
  for (const [command, pkg] of needed) {
    if (!dirs.some((dir) => existsSync(path.join(dir, command)))) return `\`${command}\` is missing (Debian package ${pkg})`;
  }
  for (const plugin of ['bridge', 'host-local', 'firewall', 'portmap', 'loopback']) {
    if (!existsSync(path.join(cniBinDir, plugin)))
      return `CNI plugin ${cniBinDir}/${plugin} is missing (Debian package containernetworking-plugins)`;
  }
  return null;
}

/**
 * Starts a control plane and a real node joined to it, with CoreDNS, a default StorageClass and
 * the local pause and CoreDNS images. Resolves once the Node is Ready and CoreDNS serves.
 * @throws NodeUnavailableError when this machine cannot run a node; Error (with the last output of
 *   the component that failed) when a component does not come up.
 */
export async function startNode(options: NodeOptions = {}): Promise<TestbedNode> {
  const log = options.log ?? (() => {});
  const unavailable = nodeUnavailableReason();
  if (unavailable) throw new NodeUnavailableError(unavailable);
  const startedAt = performance.now();
  const since = () => `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;

  const binDir = await runScript('node-binaries.sh', log);
  const missing = missingPackage();
  if (missing) throw new NodeUnavailableError(missing);
  const slot = await claimSlot(log);
  const layout = layoutFor(slot);
  const children: Child[] = [];
  let controlPlane: ControlPlane | undefined;

  const watchdog = startNodeWatchdog(slot);
  const killNow = () => {
    for (const child of children) killGroup(child.process, 'SIGKILL');
  };
  liveNodes.add(killNow);
  installExitHook();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await teardown(layout, binDir, children, log);
      liveNodes.delete(killNow);
      // Only now, and before the slot is released: a watchdog still alive after the release could
      // clean up a node that took the slot next.
      if (!hasExited(watchdog)) {
        const gone = new Promise((resolve) => watchdog.once('exit', resolve));
        watchdog.kill('SIGKILL');
        await gone;
      }
      await rm(path.join(slotDir, String(slot)), { recursive: true, force: true });
      await controlPlane?.stop();
      log(`node ${layout.name} removed`);
    })();
    return stopping;
  };

  try {
    await mkdir(layout.logDir, { recursive: true });
    await createNetwork(layout);
    log(`network namespace ${layout.name}: node ${layout.nodeIp}, host ${layout.hostIp}, pods ${layout.podCidr} (${since()})`);

    const inNamespace = (name: string, binary: string, args: string[]) => {
      const child = launch(name, 'nsenter', [`--net=/run/netns/${layout.name}`, '--', binary, ...args], {
        logFile: path.join(layout.logDir, `${name}.log`),
      });
      children.push(child);
      if (child.process.pid) watchdog.stdin?.write(`${child.process.pid}\n`);
      return child;
    };

    // containerd and its images do not need the control plane: both start at once.
    const runtime = (async () => {
      inNamespace('containerd', 'containerd', ['--config', await writeRuntimeFiles(layout)]);
      await waitUntil(
        'containerd',
        children,
        30_000,
        async () => (await run('ctr', ['--address', layout.containerdSocket, 'version'])).code === 0,
      );
      log(`containerd ready (${since()})`);
      for (const image of ['pause.tar', 'coredns.tar']) await importInto(layout, path.join(binDir, 'images', image));
      for (const image of options.images ?? []) await importInto(layout, image);
      log(`images imported (${since()})`);
    })();
    const [started] = await Promise.all([
      startControlPlane({ ...options.controlPlane, log, node: { advertiseAddress: layout.hostIp, serviceCidr: layout.serviceCidr } }).then(
        (cp) => {
          controlPlane = cp;
          return cp;
        },
      ),
      runtime,
    ]);
    const access = started.node!;
    log(`control plane ready (${since()})`);
    const kubeletConfig = await writeKubeletFiles(layout, started);

    await createCgroupRoot(layout.cgroup);
    const kubeconfigs = {
      kubelet: await access.kubeconfigFor(`system:node:${layout.name}`, ['system:nodes']),
      kubeProxy: await access.kubeconfigFor('system:kube-proxy'),
      scheduler: await access.kubeconfigFor('system:kube-scheduler'),
      controllerManager: await access.kubeconfigFor('system:kube-controller-manager'),
    };
    inNamespace('kube-controller-manager', path.join(binDir, 'kube-controller-manager'), [
      `--kubeconfig=${kubeconfigs.controllerManager}`,
      `--service-account-private-key-file=${access.serviceAccountKeyPath}`,
      `--root-ca-file=${access.servingCaPath}`,
      '--use-service-account-credentials=true',
      `--service-cluster-ip-range=${layout.serviceCidr}`,
      // No delegated authentication: the apiserver has no request-header CA, so the delegating
      // authenticator would log its absence every second. Health paths stay open without it.
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=10257',
    ]);
    inNamespace('kube-scheduler', path.join(binDir, 'kube-scheduler'), [
      `--kubeconfig=${kubeconfigs.scheduler}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=10259',
    ]);
    inNamespace('kubelet', path.join(binDir, 'kubelet'), [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${kubeconfigs.kubelet}`,
      `--root-dir=${layout.kubeletDir}`,
      `--node-ip=${layout.nodeIp}`,
      `--hostname-override=${layout.name}`,
      '--v=1',
    ]);
    const kubeProxyConfig = await writeKubeProxyConfig(layout, kubeconfigs.kubeProxy);
    inNamespace('kube-proxy', path.join(binDir, 'kube-proxy'), [`--config=${kubeProxyConfig}`, `--hostname-override=${layout.name}`]);

    // Add-ons go in while the kubelet registers: CoreDNS tolerates the not-ready taint and starts
    // as soon as the node takes pods.
    const kubectl = kubectlFor(started);
    await createVolumeDirs(layout, options.persistentVolumes?.count ?? 4);
    await kubectl(['apply', '--server-side', '--field-manager=codevector-testbed', '-f', '-'], {
      input: addonManifests(layout, options.persistentVolumes),
    });

    await waitUntil(`node ${layout.name} Ready`, children, readyTimeoutMs, async () => {
      const res = await kubeRequest<{ status?: { conditions?: { type: string; status: string }[] } }>(started.kubeconfigPath, {
        method: 'GET',
        path: `/api/v1/nodes/${layout.name}`,
        timeoutMs: 2_000,
      });
      return res.status === 200 && !!res.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    });
    const nodeReadyMs = Math.round(performance.now() - startedAt);
    log(`node ${layout.name} Ready (${since()})`);

    await waitUntil('CoreDNS available', children, readyTimeoutMs, async () => {
      const res = await kubeRequest<{ status?: { availableReplicas?: number } }>(started.kubeconfigPath, {
        method: 'GET',
        path: '/apis/apps/v1/namespaces/kube-system/deployments/coredns',
        timeoutMs: 2_000,
      });
      return (res.body.status?.availableReplicas ?? 0) >= 1;
    });
    const dnsReadyMs = Math.round(performance.now() - startedAt);
    log(`CoreDNS available at ${layout.dnsServiceIp} (${since()})`);

    return {
      controlPlane: started,
      name: layout.name,
      kubeconfigPath: started.kubeconfigPath,
      kubeconfigs,
      address: layout.nodeIp,
      hostAddress: layout.hostIp,
      podCidr: layout.podCidr,
      serviceCidr: layout.serviceCidr,
      dnsServiceIp: layout.dnsServiceIp,
      storageClassName,
      binDir,
      containerdEndpoint: `unix://${layout.containerdSocket}`,
      logDir: layout.logDir,
      timings: { nodeReadyMs, dnsReadyMs },
      importImage: (image) => importInto(layout, image),
      kubectl,
      stop,
    };
  } catch (error) {
    let output = children.map((c) => `--- ${c.name} (last lines)\n${c.output.slice(-25).join('\n')}`).join('\n');
    if (controlPlane && children.some((c) => c.name === 'kubelet')) {
      // Pods that did not come up say why in their status and their own logs.
      const kubectl = kubectlFor(controlPlane);
      for (const args of [
        ['get', 'pods', '-A', '-o', 'wide'],
        ['-n', 'kube-system', 'logs', 'deployment/coredns', '--tail=30'],
        ['-n', 'kube-system', 'logs', 'deployment/coredns', '--tail=30', '--previous'],
      ]) {
        output += `\n--- kubectl ${args.join(' ')}\n${await kubectl(args, { timeoutMs: 10_000 }).catch((e: unknown) => String(e))}`;
      }
    }
    await stop().catch((stopError: unknown) => log(`teardown after a failed start: ${String(stopError)}`));
    throw new Error(`node did not start: ${error instanceof Error ? error.message : String(error)}\n${output}`, { cause: error });
  }
}

type Layout = ReturnType<typeof layoutFor>;

/** Every name and address of the node in slot `n` (1..200): unique per host, derivable after a crash. */
function layoutFor(n: number) {
  const name = `codevector-node-${n}`;
  const root = `/var/lib/${name}`;
  return {
    slot: n,
    name,
    root,
    logDir: path.join(root, 'logs'),
    kubeletDir: path.join(root, 'kubelet'),
    containerdSocket: path.join(root, 'containerd.sock'),
    cgroup: name,
    vethHost: `cvn${n}h`,
    vethNode: `cvn${n}n`,
    hostIp: `10.201.${n}.1`,
    nodeIp: `10.201.${n}.2`,
    podCidr: `10.244.${n}.0/24`,
    serviceCidr: `10.96.${n}.0/24`,
    dnsServiceIp: `10.96.${n}.10`,
  };
}

/**
 * Takes the lowest free slot: a directory under /run made with mkdir (atomic), holding the owner's
 * PID. A slot whose owner died (SIGKILL, a crash) is cleaned up and reused.
 */
async function claimSlot(log: (line: string) => void): Promise<number> {
  await mkdir(slotDir, { recursive: true });
  for (let n = 1; n <= 200; n++) {
    const dir = path.join(slotDir, String(n));
    try {
      await mkdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '0'));
      if (owner > 0 && isAlive(owner)) continue;
      // No pid file yet may mean another process is between mkdir and writeFile: give it a moment.
      if (owner === 0) {
        await sleep(500);
        if (existsSync(path.join(dir, 'pid'))) continue;
      }
      log(`slot ${n}: owner ${owner || 'unknown'} is gone, removing what it left`);
      if (!(await cleanUpAbandonedSlot(n, owner, log))) continue;
      try {
        await mkdir(dir);
      } catch {
        continue;
      }
    }
    await writeFile(path.join(dir, 'pid'), String(process.pid));
    return n;
  }
  throw new Error(`no free node slot under ${slotDir}`);
}

/**
 * Removes what the node in slot `n` left when the process that started it died without stop():
 * by its watchdog (testbed/src/node-cleanup-main.ts) at once, or by the next startNode(). Does
 * nothing unless `owner` still owns the slot and is dead; whoever first makes the slot's
 * `cleaning` folder does the work. Resolves to whether the slot is free now.
 */
export async function cleanUpAbandonedSlot(n: number, owner: number, log: (line: string) => void = () => {}): Promise<boolean> {
  const dir = path.join(slotDir, String(n));
  const current = Number(await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '0'));
  if (current !== owner || (owner > 0 && isAlive(owner))) return false;
  try {
    await mkdir(path.join(dir, 'cleaning'));
  } catch {
    return false;
  }
  await teardown(layoutFor(n), '', [], log);
  await rm(dir, { recursive: true, force: true });
  return true;
}

/**
 * A shell holding a pipe from this process: when the pipe closes without stop() having killed the
 * shell first (this process was SIGKILLed or crashed), it kills the node's process groups and runs
 * the slot's cleanup. The control plane has its own watchdog for etcd and the apiserver.
 */
function startNodeWatchdog(slot: number): ChildProcess {
  const script =
    'pids=""; while read -r pid; do pids="$pids -$pid"; done; [ -n "$pids" ] && kill -s KILL -- $pids 2>/dev/null; exec "$1" "$2" "$3" "$4"';
  const cleanup = fileURLToPath(new URL('./node-cleanup-main.ts', import.meta.url));
  const watchdog = spawn('sh', ['-c', script, 'codevector-node-watchdog', process.execPath, cleanup, String(slot), String(process.pid)], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watchdog;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function createNetwork(l: Layout): Promise<void> {
  const ns = ['netns', 'exec', l.name];
  await must('ip', ['netns', 'add', l.name]);
  await must('ip', ['link', 'add', l.vethHost, 'type', 'veth', 'peer', 'name', l.vethNode]);
  await must('ip', ['link', 'set', l.vethNode, 'netns', l.name]);
  await must('ip', ['addr', 'add', `${l.hostIp}/30`, 'dev', l.vethHost]);
  await must('ip', ['link', 'set', l.vethHost, 'up']);
  await must('ip', [...ns, 'ip', 'addr', 'add', `${l.nodeIp}/30`, 'dev', l.vethNode]);
  await must('ip', [...ns, 'ip', 'link', 'set', l.vethNode, 'up']);
  await must('ip', [...ns, 'ip', 'link', 'set', 'lo', 'up']);
  await must('ip', [...ns, 'ip', 'route', 'add', 'default', 'via', l.hostIp]);
  // The host reaches pods (the apiserver calls webhooks at pod IPs) and Services through the node.
  await must('ip', ['route', 'add', l.podCidr, 'via', l.nodeIp]);
  await must('ip', ['route', 'add', l.serviceCidr, 'via', l.nodeIp]);
  // Sysctls under /proc/sys/net are per namespace; a fresh one forwards nothing.
  await must('ip', [...ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  await run('ip', [...ns, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
}

function nodeDirs(l: Layout) {
  return {
    containerd: path.join(l.root, 'containerd'),
    cni: path.join(l.root, 'cni'),
    pki: path.join(l.root, 'pki'),
    podLogs: path.join(l.root, 'pod-logs'),
  };
}

/** containerd's config and the CNI network; returns the config's path. */
async function writeRuntimeFiles(l: Layout): Promise<string> {
  const dirs = nodeDirs(l);

  await Promise.all([...Object.values(dirs), l.kubeletDir].map((dir) => mkdir(dir, { recursive: true })));
  await mkdir(path.join(dirs.cni, 'net.d'), { recursive: true });

  const containerdConfig = path.join(dirs.containerd, 'config.toml');
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  await writeFile(
    containerdConfig,
    [
      'version = 2',
      `root = "${dirs.containerd}/root"`,
      `state = "${dirs.containerd}/state"`,
      '[grpc]',
      `  address = "${l.containerdSocket}"`,
      '[ttrpc]',
      '  address = ""',
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dirs.containerd}/opt"`,
      `[${cri}]`,
      '  sandbox_image = "docker.io/local/pause:1"',
      // Trap 1 (docs/adr/0007): root here lacks CAP_SYS_RESOURCE, so the -998 oom_score_adj CRI
      // asks for sandboxes fails and every pod dies in runc create.
      '  restrict_oom_score_adj = true',
      '  disable_apparmor = true',
      '  enable_selinux = false',
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      `[${cri}.containerd]`,
      '  snapshotter = "overlayfs"',
      '  default_runtime_name = "runc"',
      `[${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runc.options]`,
      '  SystemdCgroup = false',
      // runc's state per node (its default, /run/containerd/runc, is shared by every containerd).
      `  Root = "${dirs.containerd}/runc"`,
      `[${cri}.cni]`,
      `  bin_dir = "${cniBinDir}"`,
      `  conf_dir = "${dirs.cni}/net.d"`,
      '',
    ].join('\n'),
  );

  await writeFile(
    path.join(dirs.cni, 'net.d', '10-codevector.conflist'),
    JSON.stringify(
      {
        cniVersion: '0.4.0',
        name: l.name,
        plugins: [
          {
            type: 'bridge',
            bridge: 'cni0',
            isGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: l.podCidr }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: path.join(dirs.cni, 'ipam'),
            },
          },
          // Trap 2: dockerd sets FORWARD to DROP where it runs; this plugin accepts the pods' traffic.
          { type: 'firewall' },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );

  return containerdConfig;
}

/** The kubelet's serving certificate and configuration; returns the configuration's path. */
async function writeKubeletFiles(l: Layout, controlPlane: ControlPlane): Promise<string> {
  const access = controlPlane.node!;
  const dirs = nodeDirs(l);
  const serving = await access.issueServingCertificate(l.name, [l.nodeIp], [l.name]);
  const kubeletCert = path.join(dirs.pki, 'kubelet.crt');
  const kubeletKey = path.join(dirs.pki, 'kubelet.key');
  await writeFile(kubeletCert, serving.certPem);
  await writeFile(kubeletKey, serving.keyPem, { mode: 0o600 });

  const kubeletConfig = path.join(l.root, 'kubelet-config.yaml');
  await writeFile(
    kubeletConfig,
    stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      containerRuntimeEndpoint: `unix://${l.containerdSocket}`,
      cgroupDriver: 'cgroupfs',
      // Pods' cgroups under a root of their own: other nodes on this host have theirs.
      cgroupRoot: `/${l.cgroup}`,
      failSwapOn: false,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: access.clientCaPath },
      },
      authorization: { mode: 'Webhook' },
      tlsCertFile: kubeletCert,
      tlsPrivateKeyFile: kubeletKey,
      clusterDomain: 'cluster.local',
      clusterDNS: [l.dnsServiceIp],
      resolvConf: '/etc/resolv.conf',
      podLogsDir: dirs.podLogs,
      // The images came from tars, not a registry: garbage-collecting one would lose it for good,
      // and a shared disk fuller than the defaults allow must not evict the test's pods.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      serializeImagePulls: false,
      nodeStatusUpdateFrequency: '4s',
      syncFrequency: '10s',
    }),
  );
  return kubeletConfig;
}

async function writeKubeProxyConfig(l: Layout, kubeconfig: string): Promise<string> {
  const file = path.join(l.root, 'kube-proxy-config.yaml');
  await writeFile(
    file,
    stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig },
      mode: 'iptables',
      clusterCIDR: l.podCidr,
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // conntrack limits are host-wide sysctls, read-only outside the initial namespace: leave them.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    }),
  );
  return file;
}

/** kubepods of the kubelet go under `/<name>` in every cgroup v1 hierarchy (and the v2 one if mounted). */
async function createCgroupRoot(name: string): Promise<void> {
  for (const hierarchy of await cgroupHierarchies()) {
    const dir = path.join(hierarchy, name);
    await mkdir(dir, { recursive: true });
    if (path.basename(hierarchy) === 'cpuset') {
      // A new v1 cpuset has no CPUs or memory nodes; nothing can join it until they are copied.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        await writeFile(path.join(dir, file), (await readFile(path.join(hierarchy, file), 'utf8')).trim());
      }
    }
  }
}

async function cgroupHierarchies(): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'cgroup' || fields[2] === 'cgroup2')
    .map((fields) => fields[1] ?? '')
    .filter(Boolean);
}

function volumeDir(l: Layout, i: number): string {
  return path.join(l.root, 'volumes', `pv-${i}`);
}

/**
 * The PersistentVolumes' folders, world-writable: pods that run as a non-root user (Pod Security
 * `restricted`) must be able to write them, and fsGroup does not apply to hostPath volumes.
 */
async function createVolumeDirs(l: Layout, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await mkdir(volumeDir(l, i), { recursive: true });
    await chmod(volumeDir(l, i), 0o1777);
  }
}

function addonManifests(l: Layout, pv: NodeOptions['persistentVolumes'] = {}): string {
  const labels = { 'k8s-app': 'kube-dns' };
  const corefile = [
    '.:53 {',
    '    errors',
    '    health {',
    '        lameduck 2s',
    '    }',
    '    ready',
    '    kubernetes cluster.local in-addr.arpa ip6.arpa {',
    '        pods insecure',
    '        fallthrough in-addr.arpa ip6.arpa',
    '        ttl 30',
    '    }',
    // Names outside the cluster go to the host's resolver; whether that answers from inside the
    // node's namespace depends on the host (no NAT to the outside is set up, ADR 0007).
    '    forward . /etc/resolv.conf',
    '    cache 30',
    '    reload',
    '    loadbalance',
    '}',
    '',
  ].join('\n');
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: corefile } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'coredns',
            priorityClassName: 'system-cluster-critical',
            dnsPolicy: 'Default',
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'coredns',
                image: 'docker.io/local/coredns:v1.14.7',
                imagePullPolicy: 'Never',
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                ],
                resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '170Mi' } },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, initialDelaySeconds: 10, periodSeconds: 10 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
                },
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { ...labels, 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        selector: labels,
        clusterIP: l.dnsServiceIp,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: storageClassName, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: 'kubernetes.io/no-provisioner',
      reclaimPolicy: 'Retain',
      volumeBindingMode: 'Immediate',
    },
  ];
  for (let i = 1; i <= (pv.count ?? 4); i++) {
    objects.push({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `${l.name}-pv-${i}` },
      spec: {
        storageClassName,
        capacity: { storage: pv.size ?? '10Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: volumeDir(l, i), type: 'Directory' },
      },
    });
  }
  return objects.map((o) => stringify(o)).join('---\n');
}

async function importInto(l: Layout, image: string): Promise<string[]> {
  const ctr = ['--address', l.containerdSocket, '--namespace', 'k8s.io', 'images', 'import'];
  let result: RunResult;
  if (existsSync(image)) {
    result = await run('ctr', [...ctr, image]);
  } else {
    // `docker save <ref> | ctr import -`, without a shell.
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    let saveError = '';
    save.stderr.on('data', (chunk: Buffer) => (saveError += chunk.toString()));
    const saved = new Promise<number | null>((resolve) => save.on('close', resolve));
    result = await run('ctr', [...ctr, '-'], { stdin: save.stdout });
    const code = await saved;
    if (code !== 0) throw new Error(`docker save ${image} failed (exit ${code}): ${saveError.trim()}`);
  }
  if (result.code !== 0) throw new Error(`importing ${image} into ${l.name} failed: ${result.stderr.trim()}`);
  // ctr prints "unpacking <name> (sha256:…)...done" per image.
  return [...result.stdout.matchAll(/unpacking (\S+) \(/g)].map((m) => m[1] ?? '');
}

function kubectlFor(controlPlane: ControlPlane): TestbedNode['kubectl'] {
  return async (args, options = {}) => {
    const result = await run(path.join(controlPlane.binDir, 'kubectl'), ['--kubeconfig', controlPlane.kubeconfigPath, ...args], {
      input: options.input,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
    return result.stdout;
  };
}

/**
 * Removes everything the node in `l` made, in an order that lets each owner clean up its own:
 * kubelet stops (no new pods), CRI removes every pod sandbox (CNI DEL, network namespaces, shm
 * and rootfs mounts), kube-proxy --cleanup, the rest stop, then a sweep for what a crash could
 * leave (processes in the node's cgroups, mounts under its root), the cgroups, the network
 * namespace (its bridge, veths, routes and iptables rules go with it) and the files.
 */
async function teardown(l: Layout, binDir: string, children: Child[], log: (line: string) => void): Promise<void> {
  const byName = (name: string) => children.find((c) => c.name === name);
  for (const name of ['kubelet', 'kube-scheduler', 'kube-controller-manager']) {
    const child = byName(name);
    if (child) await terminate(child);
  }
  const crictl = binDir ? path.join(binDir, 'crictl') : findCrictl();
  if (crictl && existsSync(l.containerdSocket)) {
    const endpoint = ['--runtime-endpoint', `unix://${l.containerdSocket}`, '--timeout', '20s'];
    const removed = await run(crictl, [...endpoint, 'rmp', '--all', '--force'], { timeoutMs: 60_000 });
    if (removed.code !== 0) log(`crictl rmp: ${removed.stderr.trim()}`);
  }
  const kubeProxy = byName('kube-proxy');
  if (kubeProxy) await terminate(kubeProxy);
  const proxyBinary = binDir ? path.join(binDir, 'kube-proxy') : '';
  if (proxyBinary && existsSync(`/run/netns/${l.name}`)) {
    await run('nsenter', [`--net=/run/netns/${l.name}`, '--', proxyBinary, '--cleanup'], { timeoutMs: 30_000 });
  }
  const containerd = byName('containerd');
  if (containerd) await terminate(containerd);
  for (const child of children) if (!hasExited(child.process)) await terminate(child);

  await killProcessesOf(l);
  await unmountUnder(l.root);
  await removeCgroups(l.cgroup);
  if (existsSync(`/run/netns/${l.name}`)) await run('ip', ['netns', 'delete', l.name]);
  // Deleting the namespace destroys the node's veth end and with it the pair and both routes;
  // after a crash the host end may still be there.
  await run('ip', ['link', 'delete', l.vethHost]);
  await removeContainerLogLinks(l.root);
  await rm(l.root, { recursive: true, force: true });
}

function findCrictl(): string {
  const cache =
    process.env['CODEVECTOR_CACHE'] ??
    path.join(process.env['XDG_CACHE_HOME'] ?? path.join(process.env['HOME'] ?? '/root', '.cache'), 'codevector');
  for (const dir of readdirSyncSafe(path.join(cache, 'node'))) {
    const file = path.join(cache, 'node', dir, 'crictl');
    if (existsSync(file)) return file;
  }
  return '';
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** SIGKILL to whatever still runs in the node's cgroups or was started for its containerd (shims). */
async function killProcessesOf(l: Layout): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const pids = new Set<number>();
    for (const hierarchy of await cgroupHierarchies()) {
      for (const file of await findFiles(path.join(hierarchy, l.cgroup), 'cgroup.procs')) {
        for (const pid of (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean)) pids.add(Number(pid));
      }
    }
    for (const pid of await pidsMentioning([l.root, l.containerdSocket])) pids.add(pid);
    pids.delete(process.pid);
    if (pids.size === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await sleep(200);
  }
}

/** PIDs whose command line contains one of `needles` (the node's processes all name its root). */
export async function pidsMentioning(needles: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (needles.some((needle) => cmdline.includes(needle))) found.push(Number(entry));
  }
  return found;
}

/** Mount points at or under `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const point of points) {
      const result = await run('umount', [point]);
      if (result.code !== 0) await run('umount', ['-l', point]);
    }
  }
}

async function removeCgroups(name: string): Promise<void> {
  for (const hierarchy of await cgroupHierarchies()) {
    const top = path.join(hierarchy, name);
    if (!existsSync(top)) continue;
    const dirs = (await findDirs(top)).sort((a, b) => b.length - a.length);
    for (const dir of dirs) await rmdir(dir).catch(() => {});
  }
}

async function findDirs(dir: string): Promise<string[]> {
  const out = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) out.push(...(await findDirs(path.join(dir, entry.name))));
  }
  return out;
}

async function findFiles(dir: string, name: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await findDirs(dir)).map((d) => path.join(d, name)).filter((file) => existsSync(file));
}

/** The kubelet links /var/log/containers/*.log (a fixed path) to the pod logs under its podLogsDir. */
async function removeContainerLogLinks(root: string): Promise<void> {
  const dir = '/var/log/containers';
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    const target = await readlink(path.join(dir, entry)).catch(() => '');
    if (target.startsWith(`${root}/`)) await rm(path.join(dir, entry), { force: true });
  }
}

type RunResult = { code: number | null; stdout: string; stderr: string };

function run(
  command: string,
  args: string[],
  options: { input?: string | undefined; stdin?: NodeJS.ReadableStream; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: error.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits before reading its input must not crash us with EPIPE.
    child.stdin?.on('error', () => {});
    if (options.stdin) options.stdin.pipe(child.stdin!);
    else child.stdin?.end(options.input ?? '');
  });
}

async function must(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Runs scripts/<name> and returns the last line it prints (a folder). */
async function runScript(name: string, log: (line: string) => void): Promise<string> {
  const child = spawn('bash', [path.join(repoRoot, 'scripts', name)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const stderr: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      stderr.push(line);
      log(line);
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const dir = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !dir) throw new Error(`scripts/${name} failed (exit ${code}):\n${stderr.slice(-20).join('\n')}`);
  return dir;
}

// A process that exits without stop() (an uncaught error, process.exit) must not leave kubelet and
// containerd running: kill them at once. Mounts, cgroups and the namespace such an exit leaves are
// removed when the next startNode() finds the slot's owner gone.
const liveNodes = new Set<() => void>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const kill of liveNodes) kill();
  });
}
