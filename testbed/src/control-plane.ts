import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { type CertificateAuthority, createCertificateAuthority, generateKeyPairPem } from './certificate-authority.ts';
import { freePort } from './free-port.ts';
import { kubeRequest } from './kube-request.ts';

export type ControlPlane = {
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** Admin kubeconfig: client certificate CN=admin, O=system:masters. */
  kubeconfigPath: string;
  /** CA that signed the apiserver's serving certificate. */
  caPem: string;
  /** Folder with etcd, kube-apiserver, kubectl and helm. */
  binDir: string;
  /** etcd's client URL (`http://127.0.0.1:<port>`), e.g. for its gRPC-gateway maintenance API. */
  etcdUrl: string;
  /**
   * CA of the client certificate the apiserver presents to every admission webhook (through
   * --admission-control-config-file), so a webhook can accept the apiserver alone (ADR 0121).
   */
  webhookClientCaPath: string;
  /** Writes a kubeconfig whose client certificate says CN=user, O=each group. */
  kubeconfigFor(user: string, groups?: string[]): Promise<string>;
  /**
   * Stops (SIGTERM, or SIGKILL with `kill`) and starts again one component on the same port,
   * certificates and etcd data, for fault tests: clients keep their kubeconfig.
   */
  stopComponent(name: 'etcd' | 'kube-apiserver', options?: { kill?: boolean }): Promise<void>;
  /** Starts a stopped component again and waits until it is healthy. */
  startComponent(name: 'etcd' | 'kube-apiserver'): Promise<void>;
  /**
   * Starts one more kube-apiserver on the same etcd (as in a multi-master cluster), so a test can
   * change objects while the first one is down. Resolves to its admin kubeconfig.
   */
  addApiserver(): Promise<{ server: string; kubeconfigPath: string; stop(): Promise<void> }>;
  /** Stops kube-apiserver, then etcd, and removes temporary files. Safe to call twice. */
  stop(): Promise<void>;
  /** What a node needs to join (present when started with `options.node`; see testbed/src/node.ts). */
  node?: NodeAccess;
};

/** Options that make the control plane ready for a real node (ADR 0007). */
export type NodeAccessOptions = {
  /**
   * An address of this host that the node's processes and its pods reach. The apiserver binds
   * every address, advertises this one (it becomes the `kubernetes` Service's endpoint) and has it
   * in its serving certificate.
   */
  advertiseAddress: string;
  /** --service-cluster-ip-range, an IPv4 /24 (default 10.0.0.0/24); its first address is in the serving certificate. */
  serviceCidr: string;
};

export type NodeAccess = NodeAccessOptions & {
  /** `https://<advertiseAddress>:<port>` */
  server: string;
  /** PEM files the node's components are configured with. */
  servingCaPath: string;
  clientCaPath: string;
  serviceAccountKeyPath: string;
  /** A kubeconfig like kubeconfigFor's, but pointing at `server` (127.0.0.1 is not the node's loopback). */
  kubeconfigFor(user: string, groups?: string[]): Promise<string>;
  /** A serving certificate from the CA clients already trust (the apiserver checks the kubelet's with it). */
  issueServingCertificate(commonName: string, ipAddresses: string[], dnsNames?: string[]): Promise<{ certPem: string; keyPem: string }>;
};

export type ControlPlaneOptions = {
  /** Every CustomResourceDefinition in `<crdDir>/*.yaml` is applied and waited for. */
  crdDir?: string;
  /** Keep state (etcd data, certificates, kubeconfigs) here instead of a temp folder removed on stop. */
  dataDir?: string;
  /** Progress lines of the test bed itself (not the control plane's output). */
  log?: (line: string) => void;
  /** Extra kube-apiserver flags, appended after the defaults (for a scalar flag, the last value wins). */
  apiserverArgs?: string[];
  /**
   * Make room for a real node: bind every address and advertise `advertiseAddress`, reach kubelets
   * by InternalIP with a client certificate, authorise kubelets with the Node authorizer, and turn
   * the ServiceAccount admission plugin back on (the node brings a controller-manager).
   */
  node?: NodeAccessOptions;
};

export type Child = { name: string; process: ChildProcess; exited: Promise<void>; output: string[] };

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
// The envtest convention: control-plane output goes to our stderr only when asked for; otherwise
// it is kept in memory and shown when startup fails.
const attachOutput = ['1', 'true'].includes((process.env['KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT'] ?? '').toLowerCase());
const outputLinesKept = 200;
const etcdTimeoutMs = 30_000;
const apiserverTimeoutMs = 90_000;
const crdTimeoutMs = 30_000;
const stopGraceMs = 10_000;

/**
 * Starts a real etcd and kube-apiserver the way controller-runtime's envtest does (DESIGN §7):
 * free ports, generated certificates, client-certificate auth, RBAC, and the CRDs of `crdDir`
 * installed and served. The processes are killed when this process exits, even on a signal.
 * @throws when the binaries cannot be found or built, or a component does not become ready
 *   (the message carries the component's last output lines).
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (attachOutput ? (line: string) => process.stderr.write(`control-plane: ${line}\n`) : () => {});
  const binDir = await locateBinaries(log);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binDir, options, log);
    } catch (error) {
      // A free port can be taken by someone else between our probe and etcd's or the apiserver's
      // bind (parallel test runs); new ports fix that, nothing else is worth retrying.
      if (attempt >= 3 || !(error instanceof Error) || !/address already in use/.test(error.message)) throw error;
      log(`port taken before it could be bound; retrying with new ports (attempt ${attempt + 1})`);
    }
  }
}

async function startOnce(binDir: string, options: ControlPlaneOptions, log: (line: string) => void): Promise<ControlPlane> {
  const startedAt = performance.now();
  const since = () => `${Math.round(performance.now() - startedAt)} ms`;

  const temporary = options.dataDir === undefined;
  const root = options.dataDir ? path.resolve(options.dataDir) : await mkdtemp(path.join(tmpdir(), 'codevector-cp-'));
  const pki = path.join(root, 'pki');
  const usersDir = path.join(root, 'users');
  await Promise.all([
    mkdir(pki, { recursive: true, mode: 0o700 }),
    mkdir(usersDir, { recursive: true }),
    mkdir(path.join(root, 'etcd'), { recursive: true, mode: 0o700 }),
  ]);

  const [etcdPort, etcdPeerPort, apiPort] = await distinctFreePorts(3);
  const server = `https://127.0.0.1:${apiPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;

  // Two CAs as in a real cluster: one vouches for the apiserver to clients, the other for clients
  // to the apiserver, so a serving certificate can never double as a login.
  const [servingCa, clientCa, serviceAccountKeys] = await Promise.all([
    createCertificateAuthority('codevector-testbed-serving-ca'),
    createCertificateAuthority('codevector-testbed-client-ca'),
    generateKeyPairPem(),
  ]);
  const serviceCidr = options.node?.serviceCidr ?? '10.0.0.0/24';
  const servingCert = await servingCa.issue({
    commonName: 'kube-apiserver',
    usage: 'server',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    // The first address of --service-cluster-ip-range is the `kubernetes` Service's ClusterIP.
    ipAddresses: ['127.0.0.1', firstAddress(serviceCidr), ...(options.node ? [options.node.advertiseAddress] : [])],
  });
  const files = {
    servingCert: path.join(pki, 'apiserver.crt'),
    servingKey: path.join(pki, 'apiserver.key'),
    clientCa: path.join(pki, 'client-ca.crt'),
    serviceAccountPub: path.join(pki, 'sa.pub'),
    serviceAccountKey: path.join(pki, 'sa.key'),
    servingCa: path.join(pki, 'serving-ca.crt'),
    kubeletClientCert: path.join(pki, 'apiserver-kubelet-client.crt'),
    kubeletClientKey: path.join(pki, 'apiserver-kubelet-client.key'),
  };
  // The apiserver's login at kubelets (logs, exec, port-forward); kubelets trust the client CA.
  const kubeletClient = options.node
    ? await clientCa.issue({ commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' })
    : undefined;
  await Promise.all([
    writeFile(files.servingCert, servingCert.certPem),
    writeFile(files.servingKey, servingCert.keyPem, { mode: 0o600 }),
    writeFile(files.clientCa, clientCa.certPem),
    writeFile(files.serviceAccountPub, serviceAccountKeys.publicKeyPem),
    writeFile(files.serviceAccountKey, serviceAccountKeys.privateKeyPem, { mode: 0o600 }),
    writeFile(files.servingCa, servingCa.certPem),
    ...(kubeletClient
      ? [
          writeFile(files.kubeletClientCert, kubeletClient.certPem),
          writeFile(files.kubeletClientKey, kubeletClient.keyPem, { mode: 0o600 }),
        ]
      : []),
  ]);

  let kubeconfigCount = 0;
  const kubeconfigFor = async (user: string, groups: string[] = []) => {
    const file = path.join(usersDir, `${user.replace(/[^A-Za-z0-9._-]/g, '_')}-${++kubeconfigCount}.kubeconfig`);
    await writeKubeconfig(file, { server, caPem: servingCa.certPem, clientCa, user, groups });
    return file;
  };
  const kubeconfigPath = path.join(root, 'admin.kubeconfig');
  await writeKubeconfig(kubeconfigPath, { server, caPem: servingCa.certPem, clientCa, user: 'admin', groups: ['system:masters'] });
  const admissionConfig = await writeWebhookClientIdentity(root, pki);
  log(`certificates written (${since()})`);

  const watchdog = startWatchdog(temporary ? root : '');
  const children: Child[] = [];
  const killNow = () => {
    // Synchronous on purpose: this also runs from process 'exit', where nothing async happens.
    watchdog.kill('SIGKILL');
    for (const child of children) killGroup(child.process, 'SIGKILL');
    if (temporary) rmSync(root, { recursive: true, force: true });
  };
  liveControlPlanes.add(killNow);
  installExitHooks();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // apiservers first: they write to etcd while shutting down.
      for (const child of [...children.filter((c) => c.name !== 'etcd'), ...children.filter((c) => c.name === 'etcd')]) {
        const t = performance.now();
        await terminate(child);
        log(`${child.name} stopped in ${Math.round(performance.now() - t)} ms`);
      }
      if (temporary) await rm(root, { recursive: true, force: true });
      // Only now: should this process exit halfway through stop(), the exit hook and the
      // watchdog still finish the job.
      const watchdogGone = hasExited(watchdog) ? Promise.resolve() : new Promise((resolve) => watchdog.once('exit', resolve));
      watchdog.kill('SIGKILL');
      watchdog.stdin?.destroy();
      // stop() promises no process is left: wait for the kill to land (it is not instant on a busy machine).
      await Promise.race([watchdogGone, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      liveControlPlanes.delete(killNow);
    })();
    return stopping;
  };

  const etcdArgs = [
    '--name=default',
    `--data-dir=${path.join(root, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${etcdPeerUrl}`,
    `--initial-advertise-peer-urls=${etcdPeerUrl}`,
    `--initial-cluster=default=${etcdPeerUrl}`,
    // Test data is disposable; fsync dominates etcd latency on slow disks.
    '--unsafe-no-fsync=true',
    // A lone member still waits out a randomised election timeout (about a second with the
    // defaults) before it serves; short ticks cut that to tens of milliseconds. With no peers
    // there is no leadership to lose, so the usual reasons for longer timeouts do not apply.
    '--heartbeat-interval=10',
    '--election-timeout=100',
  ];
  const apiserverArgs = (port: number) => [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${pki}`,
    `--tls-cert-file=${files.servingCert}`,
    `--tls-private-key-file=${files.servingKey}`,
    `--client-ca-file=${files.clientCa}`,
    `--secure-port=${port}`,
    ...(options.node
      ? [
          '--bind-address=0.0.0.0',
          `--advertise-address=${options.node.advertiseAddress}`,
          '--kubelet-preferred-address-types=InternalIP',
          `--kubelet-client-certificate=${files.kubeletClientCert}`,
          `--kubelet-client-key=${files.kubeletClientKey}`,
          `--kubelet-certificate-authority=${files.servingCa}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
        ]
      : [
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          '--authorization-mode=RBAC',
          // No controller-manager runs, so nothing would create the ServiceAccounts this plugin demands.
          '--disable-admission-plugins=ServiceAccount',
        ]),
    `--service-cluster-ip-range=${serviceCidr}`,
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${files.serviceAccountPub}`,
    `--service-account-signing-key-file=${files.serviceAccountKey}`,
    '--allow-privileged=true',
    `--admission-control-config-file=${admissionConfig}`,
    ...(options.apiserverArgs ?? []),
  ];
  const startEtcd = async () => {
    const etcd = launch('etcd', path.join(binDir, 'etcd'), etcdArgs);
    children.push(etcd);
    if (etcd.process.pid) watchdog.stdin?.write(`${etcd.process.pid}\n`);
    await waitUntil('etcd /health', children, etcdTimeoutMs, async () => (await fetch(`${etcdUrl}/health`)).ok);
    log(`etcd ready on ${etcdUrl} (${since()})`);
  };
  const startApiserver = async (name: string, port: number, kubeconfig: string) => {
    const apiserver = launch(name, path.join(binDir, 'kube-apiserver'), apiserverArgs(port));
    children.push(apiserver);
    if (apiserver.process.pid) watchdog.stdin?.write(`${apiserver.process.pid}\n`);
    await waitUntil(`${name} /healthz`, children, apiserverTimeoutMs, async () => {
      return (await kubeRequest(kubeconfig, { method: 'GET', path: '/healthz', timeoutMs: 2_000 })).status === 200;
    });
    log(`${name} healthy on https://127.0.0.1:${port} (${since()})`);
  };

  try {
    await startEtcd();
    await startApiserver('kube-apiserver', apiPort!, kubeconfigPath);
    // /healthz can pass before the bootstrap controller has created `default`; tests expect it.
    await waitUntil('namespace default', children, apiserverTimeoutMs, async () => {
      return (await kubeRequest(kubeconfigPath, { method: 'GET', path: '/api/v1/namespaces/default', timeoutMs: 2_000 })).status === 200;
    });

    if (options.crdDir) {
      const names = await installCrds(options.crdDir, kubeconfigPath, children);
      log(`${names.length} CRD(s) established and served from ${options.crdDir} (${since()})`);
    }
  } catch (error) {
    const output = children.map((c) => `--- ${c.name} (last lines)\n${c.output.slice(-30).join('\n')}`).join('\n');
    await stop();
    throw new Error(`control plane did not start: ${error instanceof Error ? error.message : String(error)}\n${output}`, { cause: error });
  }
  log(`control plane ready in ${since()}`);

  const running = (name: string) => children.find((c) => c.name === name && !hasExited(c.process));
  const stopComponent = async (name: 'etcd' | 'kube-apiserver', stopOptions: { kill?: boolean } = {}) => {
    const child = running(name);
    if (!child) return;
    if (stopOptions.kill) {
      killGroup(child.process, 'SIGKILL');
      await child.exited;
    } else {
      await terminate(child);
    }
    children.splice(children.indexOf(child), 1);
    log(`${name} stopped (${since()})`);
  };
  const startComponent = async (name: 'etcd' | 'kube-apiserver') => {
    if (running(name)) return;
    if (name === 'etcd') await startEtcd();
    else await startApiserver('kube-apiserver', apiPort!, kubeconfigPath);
  };
  let extra = 0;
  const addApiserver = async () => {
    const port = await freePort();
    const name = `kube-apiserver-${++extra}`;
    const extraServer = `https://127.0.0.1:${port}`;
    const file = path.join(usersDir, `admin-${name}.kubeconfig`);
    await writeKubeconfig(file, { server: extraServer, caPem: servingCa.certPem, clientCa, user: 'admin', groups: ['system:masters'] });
    await startApiserver(name, port, file);
    return {
      server: extraServer,
      kubeconfigPath: file,
      async stop() {
        const child = running(name);
        if (!child) return;
        await terminate(child);
        children.splice(children.indexOf(child), 1);
      },
    };
  };

  const nodeServer = options.node ? `https://${options.node.advertiseAddress}:${apiPort}` : '';
  const node: NodeAccess | undefined = options.node && {
    ...options.node,
    server: nodeServer,
    servingCaPath: files.servingCa,
    clientCaPath: files.clientCa,
    serviceAccountKeyPath: files.serviceAccountKey,
    async kubeconfigFor(user, groups = []) {
      const file = path.join(usersDir, `${user.replace(/[^A-Za-z0-9._-]/g, '_')}-node-${++kubeconfigCount}.kubeconfig`);
      await writeKubeconfig(file, { server: nodeServer, caPem: servingCa.certPem, clientCa, user, groups });
      return file;
    },
    issueServingCertificate: (commonName, ipAddresses, dnsNames = []) =>
      servingCa.issue({ commonName, usage: 'server', ipAddresses, dnsNames }),
  };

  return {
    ...(node ? { node } : {}),
    server,
    kubeconfigPath,
    caPem: servingCa.certPem,
    binDir,
    etcdUrl,
    webhookClientCaPath: webhookClientCaFor(kubeconfigPath),
    kubeconfigFor,
    stopComponent,
    startComponent,
    addApiserver,
    stop,
  };
}

/** The first host address of an IPv4 CIDR (`10.0.0.0/24` → `10.0.0.1`). */
function firstAddress(cidr: string): string {
  const octets = (cidr.split('/')[0] ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const value = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) + 1;
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

/** The webhook client CA of the control plane whose admin kubeconfig this is (tests know only KUBECONFIG). */
export function webhookClientCaFor(kubeconfigPath: string): string {
  return path.join(path.dirname(kubeconfigPath), 'pki', 'webhook-client-ca.crt');
}

/**
 * The apiserver's identity towards admission webhooks, as a cluster admin would configure it: a
 * client certificate from its own CA, offered to every webhook (`*` in the admission kubeconfig).
 * Returns the AdmissionConfiguration file for --admission-control-config-file.
 */
async function writeWebhookClientIdentity(root: string, pki: string): Promise<string> {
  const ca = await createCertificateAuthority('codevector-testbed-webhook-client-ca');
  const cert = await ca.issue({ commonName: 'kube-apiserver-webhook-client', usage: 'client' });
  const files = {
    ca: path.join(pki, 'webhook-client-ca.crt'),
    cert: path.join(pki, 'webhook-client.crt'),
    key: path.join(pki, 'webhook-client.key'),
    kubeconfig: path.join(root, 'admission-kubeconfig.yaml'),
    config: path.join(root, 'admission-config.yaml'),
  };
  const webhook = { apiVersion: 'apiserver.config.k8s.io/v1', kind: 'WebhookAdmissionConfiguration', kubeConfigFile: files.kubeconfig };
  await Promise.all([
    writeFile(files.ca, ca.certPem),
    writeFile(files.cert, cert.certPem),
    writeFile(files.key, cert.keyPem, { mode: 0o600 }),
    writeFile(
      files.kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        users: [{ name: '*', user: { 'client-certificate': files.cert, 'client-key': files.key } }],
      }),
    ),
    writeFile(
      files.config,
      stringify({
        apiVersion: 'apiserver.config.k8s.io/v1',
        kind: 'AdmissionConfiguration',
        plugins: [
          { name: 'ValidatingAdmissionWebhook', configuration: webhook },
          { name: 'MutatingAdmissionWebhook', configuration: webhook },
        ],
      }),
    ),
  ]);
  return files.config;
}

/** Runs scripts/control-plane-binaries.sh, which finds, caches or builds the binaries (DESIGN §7). */
async function locateBinaries(log: (line: string) => void): Promise<string> {
  const script = path.join(repoRoot, 'scripts', 'control-plane-binaries.sh');
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const stderr: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  onLines(child.stderr, (line) => {
    stderr.push(line);
    log(line);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const binDir = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !binDir) throw new Error(`${script} failed (exit ${code}):\n${stderr.slice(-20).join('\n')}`);
  return binDir;
}

/**
 * Starts a long-running component in its own process group, keeping its last output lines (and
 * all of them in `logFile` when given).
 */
export function launch(name: string, binary: string, args: string[], options: { logFile?: string } = {}): Child {
  // Own process group (detached): a terminal's Ctrl-C reaches only us, so shutdown order stays
  // ours, and stop() can signal the whole group.
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const file = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  const keep = (line: string) => {
    output.push(line);
    if (output.length > outputLinesKept) output.shift();
    file?.write(`${line}\n`);
    if (attachOutput) process.stderr.write(`[${name}] ${line}\n`);
  };
  onLines(child.stdout, keep);
  onLines(child.stderr, keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      keep(`${name} exited (code ${code}, signal ${signal})`);
      file?.end();
      resolve();
    });
    child.once('error', (error) => {
      keep(`${name} failed to start: ${error.message}`);
      resolve();
    });
  });
  // A test runner or script that forgets stop() still exits; the 'exit' hook then kills us.
  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);
  return { name, process: child, exited, output };
}

/**
 * A tiny shell that holds a pipe from this process and kills the control plane when the pipe
 * closes. That covers what exit hooks cannot: this process dying from SIGKILL or a crash.
 */
function startWatchdog(removeDir: string): ChildProcess {
  const script =
    // `kill -s KILL --`, not `kill -KILL --`: dash (Debian's sh) reads the latter's `--` as a PID and kills nothing.
    'pids=""; while read -r pid; do pids="$pids -$pid"; done; [ -n "$pids" ] && kill -s KILL -- $pids 2>/dev/null; [ -n "$1" ] && sleep 1 && rm -rf -- "$1"';
  const watchdog = spawn('sh', ['-c', script, 'codevector-control-plane-watchdog', removeDir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.unref();
  unrefStream(watchdog.stdin);
  return watchdog;
}

/** SIGTERM to the component's process group, SIGKILL after a grace period; resolves when it has exited. */
export async function terminate(child: Child): Promise<void> {
  if (hasExited(child.process)) return;
  killGroup(child.process, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child.process, 'SIGKILL'), stopGraceMs);
  await child.exited;
  clearTimeout(timer);
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || hasExited(child)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Polls `check` every 100 ms; fails early when a control-plane process has died. */
export async function waitUntil(what: string, children: Child[], timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const dead = children.find((c) => hasExited(c.process));
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}`);
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await sleep(100);
  }
}

type Crd = {
  kind?: string;
  metadata?: { name?: string };
  spec?: { group?: string; names?: { plural?: string }; versions?: { name: string; served?: boolean }[] };
};

/**
 * Server-side applies every CRD in `crdDir` (idempotent, so a kept dataDir is fine), then waits
 * until each is Established and discovery lists its plural in every served version: envtest
 * checks only discovery, but a client can hit a not-yet-established CRD in between.
 */
async function installCrds(crdDir: string, kubeconfigPath: string, children: Child[]): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(crdDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const crds: Crd[] = [];
  for (const file of entries.filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(await readFile(path.join(crdDir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const object = doc.toJS() as Crd | null;
      if (object?.kind === 'CustomResourceDefinition') crds.push(object);
    }
  }
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    const res = await kubeRequest(kubeconfigPath, {
      method: 'PATCH',
      path: `${base}/${name}?fieldManager=codevector-testbed&force=true`,
      headers: { 'content-type': 'application/apply-patch+yaml' },
      body: crd,
    });
    if (res.status >= 300) {
      const message = (res.body as { message?: string } | null)?.message ?? JSON.stringify(res.body);
      throw new Error(`applying CRD ${name} failed (${res.status}): ${message}`);
    }
  }
  await waitUntil('CRDs to be established and served', children, crdTimeoutMs, async () => {
    for (const crd of crds) {
      const got = await kubeRequest<Crd & { status?: { conditions?: { type: string; status: string }[] } }>(kubeconfigPath, {
        method: 'GET',
        path: `${base}/${crd.metadata?.name}`,
      });
      if (!got.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
      for (const version of crd.spec?.versions?.filter((v) => v.served !== false) ?? []) {
        const discovery = await kubeRequest<{ resources?: { name: string }[] }>(kubeconfigPath, {
          method: 'GET',
          path: `/apis/${crd.spec?.group}/${version.name}`,
        });
        if (discovery.status !== 200 || !discovery.body.resources?.some((r) => r.name === crd.spec?.names?.plural)) return false;
        // Discovery can list a resource whose watch cache is still starting; until it is, reads
        // answer 429 with Retry-After, which a bare HTTP client in a test would not retry.
        const list = await kubeRequest(kubeconfigPath, {
          method: 'GET',
          path: `/apis/${crd.spec?.group}/${version.name}/${crd.spec?.names?.plural}?limit=1`,
        });
        if (list.status !== 200) return false;
      }
    }
    return true;
  });
  return crds.map((c) => c.metadata?.name ?? '');
}

async function writeKubeconfig(
  file: string,
  params: { server: string; caPem: string; clientCa: CertificateAuthority; user: string; groups: string[] },
): Promise<void> {
  const cert = await params.clientCa.issue({ commonName: params.user, organizations: params.groups, usage: 'client' });
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'codevector-testbed', cluster: { server: params.server, 'certificate-authority-data': b64(params.caPem) } }],
    users: [{ name: params.user, user: { 'client-certificate-data': b64(cert.certPem), 'client-key-data': b64(cert.keyPem) } }],
    contexts: [{ name: 'codevector-testbed', context: { cluster: 'codevector-testbed', user: params.user } }],
    'current-context': 'codevector-testbed',
  };
  await writeFile(file, stringify(config), { mode: 0o600 });
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function onLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let rest = '';
  stream?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream?.on('end', () => rest && onLine(rest));
}

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}

// One set of process hooks for every control plane in this process.
const liveControlPlanes = new Set<() => void>();
const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooksInstalled = false;

function killAll(): void {
  for (const kill of liveControlPlanes) kill();
  liveControlPlanes.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener means the program owns shutdown (it will call stop() or exit, and 'exit'
  // cleans up). Alone, we stand in for Node's default "terminate now", which would orphan the
  // children: clean up, then re-raise so the exit status still says which signal it was.
  if (process.listenerCount(signal) > 1) return;
  killAll();
  for (const s of signals) process.removeListener(s, onSignal);
  process.kill(process.pid, signal);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAll);
  for (const signal of signals) process.on(signal, onSignal);
}
