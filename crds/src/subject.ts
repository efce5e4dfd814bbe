import { z } from 'zod';
import { withCelRules } from './with-cel-rules.ts';

const namedKinds = ['user', 'group', 'apiKey'];
const unnamedKinds = ['global', 'eachUser'];

/** Who a Budget or RateLimit applies to. */
export const subjectSchema = withCelRules(
  z
    .strictObject({
      kind: z
        .enum(['global', 'user', 'group', 'apiKey', 'eachUser'])
        .describe(
          'What the limit counts against. global: all traffic through the gateway together. user: one user. group: all members of one group together. apiKey: one virtual API key. eachUser: every user separately, each with the full limit.',
        ),
      name: z
        .string()
        .min(1)
        .max(253)
        .optional()
        .describe(
          "Which user, group or key: the user's email for user, the group name for group, the key's display prefix as the console shows it (cvk_ followed by 8 characters) for apiKey. Required for user, group and apiKey; must be unset for global and eachUser.",
        ),
    })
    .describe('Who the limit applies to.'),
  [
    {
      rule: `!(self.kind in ${celList(namedKinds)}) || has(self.name)`,
      message: 'name is required when kind is user, group or apiKey',
      fieldPath: '.name',
      reason: 'FieldValueRequired',
      check: (s) => !namedKinds.includes(s.kind) || s.name !== undefined,
    },
    {
      rule: `!(self.kind in ${celList(unnamedKinds)}) || !has(self.name)`,
      message: 'name must not be set when kind is global or eachUser',
      fieldPath: '.name',
      reason: 'FieldValueForbidden',
      check: (s) => !unnamedKinds.includes(s.kind) || s.name === undefined,
    },
  ],
);
export type Subject = z.infer<typeof subjectSchema>;

function celList(values: string[]): string {
  return `[${values.map((v) => `'${v}'`).join(', ')}]`;
}
