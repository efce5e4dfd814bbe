import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadKubeConfig, loadKubeconfigFile } from './kube-config.ts';
import { tokenFileProvider } from './token-file-auth.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kube-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(file: string, content: Record<string, unknown>): string {
  const full = path.join(dir, file);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, stringify({ apiVersion: 'v1', kind: 'Config', ...content }));
  return full;
}
const cluster = (name: string, server: string) => ({ name, cluster: { server, 'insecure-skip-tls-verify': true } });
const context = (name: string, clusterName: string, user: string) => ({ name, context: { cluster: clusterName, user } });

describe('loadKubeConfig', () => {
  it('hands a tokenFile user, resolved against the kubeconfig folder, to the re-reading authenticator', () => {
    const file = kubeconfig('nested/config', {
      clusters: [cluster('c', 'https://a.example:6443')],
      users: [{ name: 'u', user: { tokenFile: 'secrets/token' } }],
      contexts: [context('x', 'c', 'u')],
      'current-context': 'x',
    });
    const user = loadKubeconfigFile(file).getCurrentUser();
    expect(user?.authProvider).toEqual({ name: tokenFileProvider, config: { path: path.join(dir, 'nested/secrets/token') } });
  });

  it('merges a KUBECONFIG path list as kubectl does (first file wins) and honours a context override', () => {
    const first = kubeconfig('first', {
      clusters: [cluster('shared', 'https://first.example')],
      users: [{ name: 'shared', user: { token: 'first' } }],
      contexts: [context('one', 'shared', 'shared')],
      'current-context': 'one',
    });
    const second = kubeconfig('second', {
      clusters: [cluster('shared', 'https://second.example'), cluster('eks', 'https://eks.example')],
      users: [
        { name: 'shared', user: { token: 'second' } },
        { name: 'aws', user: { exec: { command: 'aws', args: ['eks', 'get-token'] } } },
      ],
      contexts: [context('two', 'eks', 'aws')],
      'current-context': 'two',
    });
    const merged = loadKubeConfig({ type: 'kubeconfig', paths: [first, second].join(path.delimiter) });
    expect(merged.getCurrentContext()).toBe('one');
    expect(merged.getCurrentCluster()?.server).toBe('https://first.example');
    expect(merged.getCurrentUser()?.token).toBe('first');
    const eks = loadKubeConfig({ type: 'kubeconfig', paths: [first, second].join(path.delimiter), context: 'two' });
    expect(eks.getCurrentCluster()?.server).toBe('https://eks.example');
    expect(eks.getCurrentUser()?.exec).toMatchObject({ command: 'aws' });
    expect(() => loadKubeConfig({ type: 'kubeconfig', paths: first, context: 'nope' })).toThrow(/no context nope/);
  });

  it('reads a pod service account folder and gives its token to the re-reading authenticator', () => {
    const root = path.join(dir, 'pod');
    const sa = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(path.join(sa, 'token'), 'pod-token');
    writeFileSync(path.join(sa, 'ca.crt'), 'not read until a request');
    const before = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
    process.env['KUBERNETES_SERVICE_HOST'] = 'fd00::1';
    process.env['KUBERNETES_SERVICE_PORT'] = '443';
    try {
      const config = loadKubeConfig({ type: 'in-cluster', root });
      expect(config.getCurrentCluster()).toMatchObject({ server: 'https://[fd00::1]:443', caFile: path.join(sa, 'ca.crt') });
      expect(config.getCurrentUser()?.authProvider).toEqual({ name: tokenFileProvider, config: { path: path.join(sa, 'token') } });
    } finally {
      for (const [key, value] of [
        ['KUBERNETES_SERVICE_HOST', before.host],
        ['KUBERNETES_SERVICE_PORT', before.port],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
