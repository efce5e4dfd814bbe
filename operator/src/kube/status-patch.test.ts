import { describe, expect, it } from 'vitest';
import type { KubeObject } from './kube-client.ts';
import { statusPatch } from './kube-source.ts';

const object = (status?: Record<string, unknown>, generation = 2): KubeObject => ({
  metadata: { name: 'x', namespace: 'ns', uid: 'u', resourceVersion: '1', generation },
  ...(status ? { status } : {}),
});
const now = new Date('2026-01-02T03:04:05.678Z');

describe('statusPatch', () => {
  it('writes Ready with observedGeneration on both the status and the condition', () => {
    expect(statusPatch(object(), { ready: true, reason: 'Reconciled', message: 'ok' }, now)).toEqual({
      observedGeneration: 2,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Reconciled',
          message: 'ok',
          observedGeneration: 2,
          lastTransitionTime: '2026-01-02T03:04:05Z',
        },
      ],
    });
  });

  it('writes nothing when the status is already what it should be (no churn, no watch event)', () => {
    const current = statusPatch(
      object(),
      { ready: true, reason: 'Reconciled', message: 'ok', extra: { apiKeyFingerprint: 'abcd1234' } },
      now,
    )!;
    expect(
      statusPatch(object(current), { ready: true, reason: 'Reconciled', message: 'ok', extra: { apiKeyFingerprint: 'abcd1234' } }),
    ).toBeNull();
  });

  it('keeps lastTransitionTime unless Ready flips, and follows a new generation', () => {
    const current = statusPatch(object(), { ready: false, reason: 'SecretNotFound', message: 'a' }, now)!;
    const later = new Date('2026-02-01T00:00:00Z');
    const sameStatus = statusPatch(object(current, 3), { ready: false, reason: 'SecretKeyNotFound', message: 'b' }, later) as {
      conditions: { lastTransitionTime: string; observedGeneration: number }[];
    };
    expect(sameStatus.conditions[0]).toMatchObject({ lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: 3 });
    const flipped = statusPatch(object(current), { ready: true, reason: 'Reconciled', message: 'ok' }, later) as {
      conditions: { lastTransitionTime: string }[];
    };
    expect(flipped.conditions[0]?.lastTransitionTime).toBe('2026-02-01T00:00:00Z');
  });
});
