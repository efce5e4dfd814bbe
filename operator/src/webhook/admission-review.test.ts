import { describe, expect, it } from 'vitest';
import { type AdmissionRequest, stampPatch } from './admission-review.ts';

const base = (patch: Partial<AdmissionRequest>): AdmissionRequest => ({
  uid: '1',
  kind: { group: 'codevector.dev', version: 'v1alpha1', kind: 'Provider' },
  operation: 'CREATE',
  userInfo: { username: 'alice' },
  ...patch,
});

describe('stampPatch', () => {
  it('stamps the requesting user on create, overwriting a forged value, and adds the finalizer', () => {
    const ops = stampPatch(base({ object: { metadata: { annotations: { 'codevector.dev/changed-by': 'mallory' } }, spec: { a: 1 } } }), {
      content: 'spec',
    });
    expect(ops).toEqual([
      { op: 'add', path: '/metadata/annotations/codevector.dev~1changed-by', value: 'alice' },
      { op: 'add', path: '/metadata/finalizers', value: ['codevector.dev/finalizer'] },
    ]);
  });

  it('restores the previous stamp on an update that does not change the spec', () => {
    const ops = stampPatch(
      base({
        operation: 'UPDATE',
        userInfo: { username: 'mallory' },
        oldObject: { metadata: { annotations: { 'codevector.dev/changed-by': 'alice' } }, spec: { a: 1 } },
        object: { metadata: { annotations: { 'codevector.dev/changed-by': 'bob' } }, spec: { a: 1 } },
      }),
      { content: 'spec' },
    );
    expect(ops).toEqual([{ op: 'add', path: '/metadata/annotations/codevector.dev~1changed-by', value: 'alice' }]);
  });

  it('stamps the user on a spec change', () => {
    const ops = stampPatch(
      base({
        operation: 'UPDATE',
        userInfo: { username: 'bob' },
        oldObject: { metadata: { annotations: { 'codevector.dev/changed-by': 'alice' } }, spec: { a: 1 } },
        object: { metadata: { annotations: { 'codevector.dev/changed-by': 'alice' } }, spec: { a: 2 } },
      }),
      { content: 'spec' },
    );
    expect(ops).toEqual([{ op: 'add', path: '/metadata/annotations/codevector.dev~1changed-by', value: 'bob' }]);
  });

  it('removes a stamp a client added to an object that never had one', () => {
    const ops = stampPatch(
      base({
        operation: 'UPDATE',
        oldObject: { metadata: {}, data: { k: 'YQ==' } },
        object: { metadata: { annotations: { 'codevector.dev/changed-by': 'mallory' } }, data: { k: 'YQ==' } },
      }),
      { content: 'secret' },
    );
    expect(ops).toEqual([{ op: 'remove', path: '/metadata/annotations/codevector.dev~1changed-by' }]);
  });
});
