import { describe, expect, it } from 'vitest';
import type { KubeObject } from './kube/kube-client.ts';
import { baseURLAllowed, claimsBefore } from './resolve-desired.ts';

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
