import { describe, expect, it } from 'vitest';
import { subjectSchema } from './subject.ts';

describe('subjectSchema', () => {
  it('requires a name for user, group and apiKey', () => {
    for (const kind of ['user', 'group', 'apiKey'] as const) {
      expect(subjectSchema.safeParse({ kind, name: 'x' }).success).toBe(true);
      const result = subjectSchema.safeParse({ kind });
      expect(result.error?.issues).toMatchObject([{ path: ['name'], message: 'name is required when kind is user, group or apiKey' }]);
    }
  });

  it('forbids a name for global and eachUser', () => {
    for (const kind of ['global', 'eachUser'] as const) {
      expect(subjectSchema.safeParse({ kind }).success).toBe(true);
      const result = subjectSchema.safeParse({ kind, name: 'x' });
      expect(result.error?.issues).toMatchObject([{ path: ['name'], message: 'name must not be set when kind is global or eachUser' }]);
    }
  });
});
