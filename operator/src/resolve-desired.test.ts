import { describe, expect, it } from 'vitest';
import type { KubeObject } from './kube/kube-client.ts';
import { baseURLAllowed, claimsBefore, describeRouting } from './resolve-desired.ts';

const model = (namespace: string, name: string, creationTimestamp: string, uid = `${namespace}/${name}`): KubeObject =>
  ({ metadata: { namespace, name, uid, creationTimestamp } }) as KubeObject;

describe('claimsBefore (who keeps a Model name)', () => {
  it('the older creationTimestamp wins, whatever the names', () => {
    expect(claimsBefore(model('zz', 'z', '2026-01-01T00:00:00Z'), model('aa', 'a', '2026-01-01T00:00:01Z'))).toBe(true);
  });
  it('within one second the Model already serving the name wins, then namespace/name', () => {
    const serving = model('team-b', 'b', '2026-01-01T00:00:00Z');
    const twin = model('team-a', 'a', '2026-01-01T00:00:00Z');
    expect(claimsBefore(twin, serving)).toBe(true);
    expect(claimsBefore(twin, serving, new Set([serving.metadata.uid]))).toBe(false);
    expect(claimsBefore(serving, twin, new Set([serving.metadata.uid]))).toBe(true);
  });
});

describe('baseURLAllowed', () => {
  const allowed = ['https://api.anthropic.com', 'https://proxy.example.com/anthropic/'];
  it.each([
    ['https://api.anthropic.com', true],
    ['https://api.anthropic.com/v1', true],
    ['https://proxy.example.com/anthropic/v1', true],
    ['https://api.anthropic.com:443/v1', true],
    ['https://api.anthropic.com:8443', false],
    ['https://api.anthropic.com.evil.test', false],
    ['https://api.anthropic.com@evil.test', false],
    ['https://user:pw@api.anthropic.com', false],
    ['http://api.anthropic.com', false],
    ['https://proxy.example.com/anthropic-evil', false],
    ['https://proxy.example.com/', false],
    ['not a url', false],
  ])('%s → %s', (url, expected) => {
    expect(baseURLAllowed(url, allowed)).toBe(expected);
  });
});

describe('describeRouting (status.routing, kubectl get -o wide)', () => {
  it('lists how names reach the Model in precedence order, then the upstreams in the order they are tried', () => {
    const spec = {
      name: 'claude-sonnet-5',
      providerRef: { name: 'anthropic' },
      upstreamModel: 'claude-sonnet-5',
      pricing: { input: 3, output: 15 },
      aliases: ['sonnet'],
      patterns: ['claude-*', 'claude-sonnet-*'],
      default: true,
      fallbacks: [{ providerRef: { name: 'bedrock' }, upstreamModel: 'anthropic.claude-sonnet-5' }, { providerRef: { name: 'vertex' } }],
    };
    expect(describeRouting(spec, (name) => name !== 'vertex')).toBe(
      'name claude-sonnet-5; aliases sonnet; patterns claude-* (rank 7), claude-sonnet-* (rank 14); default for unmatched names; upstreams anthropic/claude-sonnet-5 → bedrock/anthropic.claude-sonnet-5 → vertex/claude-sonnet-5 (not Ready, skipped)',
    );
  });
});
