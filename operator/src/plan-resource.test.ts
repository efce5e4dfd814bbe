import { describe, expect, it } from 'vitest';
import { type DesiredRow, planResource, type StoredRow } from './plan-resource.ts';

const stored: StoredRow = {
  uid: 'u1',
  namespace: 'team-a',
  name: 'anthropic',
  generation: 2,
  spec: { type: 'anthropic', baseURL: 'https://api.anthropic.com', apiKeySecretRef: { name: 'k', key: 'api-key' }, timeoutSeconds: 600 },
  apiKeyFingerprint: 'sha256:aaaaaaaaaaaa',
};
const desired = (patch: Partial<DesiredRow> = {}): DesiredRow => ({
  uid: stored.uid,
  namespace: stored.namespace,
  name: stored.name,
  generation: stored.generation,
  spec: stored.spec,
  apiKeyFingerprint: stored.apiKeyFingerprint,
  ...patch,
});

describe('planResource', () => {
  it('creates with before = null and the fingerprint, never a key, in after', () => {
    const plan = planResource(desired({ generation: 1 }), null);
    expect(plan).toMatchObject({
      type: 'insert',
      verb: 'created',
      detail: { before: null, after: { keyFingerprint: 'sha256:aaaaaaaaaaaa' } },
    });
  });

  it('writes nothing when the normalized spec is equal, whatever the key order or generation', () => {
    const reordered = Object.fromEntries(Object.entries(stored.spec).reverse());
    expect(planResource(desired({ spec: reordered, generation: 3 }), stored)).toEqual({ type: 'none', why: 'unchanged' });
  });

  it('shows only what changed', () => {
    const plan = planResource(desired({ generation: 3, spec: { ...stored.spec, timeoutSeconds: 30 } }), stored);
    expect(plan).toMatchObject({
      type: 'update',
      verb: 'updated',
      detail: { before: { timeoutSeconds: 600 }, after: { timeoutSeconds: 30 } },
    });
  });

  it('records a key rotation as a fingerprint change only', () => {
    const plan = planResource(desired({ apiKeyFingerprint: 'sha256:bbbbbbbbbbbb' }), stored);
    expect(plan).toEqual({
      type: 'update',
      verb: 'updated',
      row: expect.objectContaining({ generation: 2 }),
      detail: { before: { keyFingerprint: 'sha256:aaaaaaaaaaaa' }, after: { keyFingerprint: 'sha256:bbbbbbbbbbbb' } },
    });
  });

  it('never regresses a row from a stale view (a leader that lost its lease)', () => {
    expect(planResource(desired({ generation: 1, spec: { type: 'openai' } }), stored)).toEqual({ type: 'none', why: 'stale' });
  });

  it('counts generations itself for sources without one', () => {
    const plan = planResource(desired({ generation: null, spec: { ...stored.spec, timeoutSeconds: 5 } }), stored);
    expect(plan).toMatchObject({ type: 'update', row: { generation: 3 } });
    expect(planResource(desired({ generation: null }), null)).toMatchObject({ type: 'insert', row: { generation: 1 } });
  });

  it('deletes with after = null', () => {
    expect(planResource(null, stored)).toMatchObject({
      type: 'delete',
      uid: 'u1',
      detail: { before: { baseURL: 'https://api.anthropic.com' }, after: null },
    });
    expect(planResource(null, null)).toEqual({ type: 'none', why: 'absent' });
  });
});
