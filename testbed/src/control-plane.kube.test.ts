import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { kubeRequest } from './kube-request.ts';

// This file starts its own control planes instead of using the shared one from the global
// setup: starting and stopping them is what is under test.

const widgetCrd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.testbed.codevector.dev
spec:
  group: testbed.codevector.dev
  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties: { size: { type: integer, minimum: 1 } }
    - name: v1alpha2
      served: true
      storage: false
      schema:
        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

type SelfSubjectReview = { status: { userInfo: { username: string; groups: string[] } } };
const selfSubjectReview = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };

/** PIDs of live processes whose command line mentions `text` (the control plane's folder). */
async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

describe('startControlPlane', () => {
  let crdDir: string;
  let controlPlane: ControlPlane;
  let startupMs: number;

  beforeAll(async () => {
    crdDir = await mkdtemp(path.join(tmpdir(), 'codevector-crds-'));
    await writeFile(path.join(crdDir, 'widgets.yaml'), widgetCrd);
    await writeFile(path.join(crdDir, 'not-a-crd.txt'), 'ignored');
    const startedAt = performance.now();
    controlPlane = await startControlPlane({ crdDir });
    startupMs = performance.now() - startedAt;
  }, 120_000);

  afterAll(async () => {
    await controlPlane?.stop();
    await rm(crdDir, { recursive: true, force: true });
  });

  it('serves Kubernetes v1.34.4 within seconds', async () => {
    const res = await kubeRequest<{ gitVersion: string }>(controlPlane.kubeconfigPath, { method: 'GET', path: '/version' });
    expect(res.status).toBe(200);
    expect(res.body.gitVersion).toBe('v1.34.4');
    expect(controlPlane.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    console.log(`control plane started in ${Math.round(startupMs)} ms`);
    expect(startupMs).toBeLessThan(30_000);
  });

  it('authenticates a kubeconfigFor user by certificate, with its groups', async () => {
    const kubeconfig = await controlPlane.kubeconfigFor('alice', ['dev', 'platform-team']);
    const res = await kubeRequest<SelfSubjectReview>(kubeconfig, {
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: selfSubjectReview,
    });
    expect(res.status).toBe(201);
    expect(res.body.status.userInfo.username).toBe('alice');
    expect(res.body.status.userInfo.groups).toEqual(['dev', 'platform-team', 'system:authenticated']);
  });

  it('authorizes with RBAC: a plain user may not list namespaces', async () => {
    const kubeconfig = await controlPlane.kubeconfigFor('mallory');
    const res = await kubeRequest(kubeconfig, { method: 'GET', path: '/api/v1/namespaces' });
    expect(res.status).toBe(403);
  });

  it('lets the admin impersonate a user and groups', async () => {
    const res = await kubeRequest<SelfSubjectReview>(controlPlane.kubeconfigPath, {
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: selfSubjectReview,
      headers: { 'Impersonate-User': 'bob', 'Impersonate-Group': ['reviewers', 'dev'] },
    });
    expect(res.status).toBe(201);
    expect(res.body.status.userInfo.username).toBe('bob');
    expect(res.body.status.userInfo.groups).toEqual(['reviewers', 'dev', 'system:authenticated']);
  });

  it('installs the CRDs of crdDir: every served version answers, and the schema is enforced', async () => {
    for (const version of ['v1alpha1', 'v1alpha2']) {
      const discovery = await kubeRequest<{ resources: { name: string }[] }>(controlPlane.kubeconfigPath, {
        method: 'GET',
        path: `/apis/testbed.codevector.dev/${version}`,
      });
      expect(discovery.body.resources.map((r) => r.name)).toContain('widgets');
    }
    const widgets = '/apis/testbed.codevector.dev/v1alpha1/namespaces/default/widgets';
    const widget = (size: number) => ({
      apiVersion: 'testbed.codevector.dev/v1alpha1',
      kind: 'Widget',
      metadata: { name: `w${size}` },
      spec: { size },
    });
    expect((await kubeRequest(controlPlane.kubeconfigPath, { method: 'POST', path: widgets, body: widget(3) })).status).toBe(201);
    const invalid = await kubeRequest<{ message: string }>(controlPlane.kubeconfigPath, { method: 'POST', path: widgets, body: widget(0) });
    expect(invalid.status).toBe(422);
    expect(invalid.body.message).toContain('spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1');
  });

  it('stop() ends etcd, kube-apiserver and the watchdog and removes the temp folder', async () => {
    const root = path.dirname(controlPlane.kubeconfigPath);
    expect((await processesMentioning(root)).length).toBeGreaterThanOrEqual(3);
    await controlPlane.stop();
    expect(await processesMentioning(root)).toEqual([]);
    expect(existsSync(root)).toBe(false);
    await controlPlane.stop(); // a second stop is harmless
  });
});

describe('startControlPlane without CRDs', () => {
  it('accepts a crdDir that does not exist yet', async () => {
    const controlPlane = await startControlPlane({ crdDir: path.join(tmpdir(), 'codevector-no-such-dir') });
    try {
      const res = await kubeRequest(controlPlane.kubeconfigPath, { method: 'GET', path: '/api/v1/namespaces/default' });
      expect(res.status).toBe(200);
    } finally {
      await controlPlane.stop();
    }
  }, 60_000);
});

// The regression this guards against: a test run that dies leaves etcd and kube-apiserver
// running forever, holding memory and ports.
describe('when the process that started the control plane dies', () => {
  const entry = new URL('./control-plane.ts', import.meta.url).pathname;
  const script = `
    const { startControlPlane } = await import(${JSON.stringify(entry)});
    const cp = await startControlPlane();
    process.stdout.write(cp.kubeconfigPath + '\\n');
    setInterval(() => {}, 1 << 30);
  `;

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`takes the control plane with it on ${signal}`, async () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const kubeconfigPath = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
      });
      const root = path.dirname(kubeconfigPath);
      expect((await processesMentioning(root)).length).toBeGreaterThanOrEqual(3);

      child.kill(signal);
      // SIGTERM: the exit hooks clean up at once. SIGKILL: the watchdog notices the closed pipe.
      await eventually(async () => (await processesMentioning(root)).length === 0 && !existsSync(root), 5_000);
      const left = await Promise.all(
        (await processesMentioning(root)).map((pid) => readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')),
      );
      expect(left.map((status) => status.split('\n').slice(0, 3).join(' '))).toEqual([]);
      expect(existsSync(root)).toBe(false);
    }, 60_000);
  }
});
