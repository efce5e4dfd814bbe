import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeTestEnv, type KubeTestEnv, ready, until } from '../testing/kube-test-env.ts';

type Proc = { name: string; child: ChildProcess; lines: { msg?: string; kind?: string; name?: string }[] };

let env: KubeTestEnv;
const procs: Proc[] = [];
const mainTs = fileURLToPath(new URL('../main.ts', import.meta.url));

function spawnOperator(name: string): Proc {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', mainTs, 'run'], {
    env: {
      PATH: process.env['PATH'],
      KUBECONFIG: process.env['KUBECONFIG'],
      DATABASE_URL: process.env['DATABASE_URL'],
      CODEVECTOR_ENCRYPTION_KEY: env.config.CODEVECTOR_ENCRYPTION_KEY,
      CODEVECTOR_WATCH_NAMESPACE: env.namespace,
      CODEVECTOR_OPERATOR_NAMESPACE: env.namespace,
      CODEVECTOR_WEBHOOK: 'false',
      CODEVECTOR_LEASE_DURATION_SECONDS: '4',
      CODEVECTOR_LEASE_RENEW_DEADLINE_SECONDS: '3',
      CODEVECTOR_LEASE_RETRY_SECONDS: '0.5',
      POD_NAME: name,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: Proc = { name, child, lines: [] };
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const line of parts) {
      try {
        proc.lines.push(JSON.parse(line));
      } catch {
        // not a log line
      }
    }
  });
  procs.push(proc);
  return proc;
}

const leaseHolder = async () =>
  (
    await env.client.getOrNull<{ spec: { holderIdentity?: string } }>(
      `/apis/coordination.k8s.io/v1/namespaces/${env.namespace}/leases/codevector-operator`,
    )
  )?.spec.holderIdentity;
const stored = (p: Proc) => p.lines.filter((l) => l.msg === 'row stored').map((l) => l.name);
const rateLimit = (name: string) => ({
  apiVersion: 'codevector.dev/v1alpha1',
  kind: 'RateLimit',
  metadata: { name },
  spec: { subject: { kind: 'global' }, requestsPerMinute: 10 },
});

beforeAll(async () => {
  env = await createKubeTestEnv('lease');
});
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await env?.close();
});

describe('leader election', () => {
  it('lets only the leader reconcile, and the other takes over within the lease duration when the leader dies', async () => {
    const a = spawnOperator(`a-${randomBytes(2).toString('hex')}`);
    const holder = await until(leaseHolder, (h) => h === a.name);
    expect(holder).toBe(a.name);
    const b = spawnOperator(`b-${randomBytes(2).toString('hex')}`);
    await until(
      async () => b.lines.length,
      (n) => n > 0,
    );

    for (let i = 0; i < 5; i++) await env.as('alice', 'POST', env.path('ratelimits'), rateLimit(`before-${i}`));
    for (let i = 0; i < 5; i++)
      await until(
        () => env.get('ratelimits', `before-${i}`),
        (o) => ready(o).status === 'True',
      );
    expect(stored(a).sort()).toEqual(['before-0', 'before-1', 'before-2', 'before-3', 'before-4']);
    expect(stored(b)).toEqual([]);

    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await until(leaseHolder, (h) => h === b.name, 10_000);
    const takeoverMs = Date.now() - killedAt;
    // Lease 4 s + one retry period; the holder's record must be seen unchanged for a full lease.
    expect(takeoverMs).toBeLessThan(4_000 + 1_500);

    await env.as('alice', 'POST', env.path('ratelimits'), rateLimit('after'));
    await until(
      () => env.get('ratelimits', 'after'),
      (o) => ready(o).status === 'True',
    );
    expect(stored(b)).toEqual(['after']);
    const actions = (await env.audit()).filter((r) => r.target_name?.startsWith(`${env.namespace}/`)).map((r) => r.target_name);
    expect(actions).toHaveLength(6);
    expect(new Set(actions).size).toBe(6);
  });
});
