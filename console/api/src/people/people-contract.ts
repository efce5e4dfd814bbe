// The users, groups and API key routes' requests and answers (contract file: zod and other
// contracts only, see http/http-contract.ts). Timestamps travel as ISO 8601 text.
import { z } from 'zod';
import { roleSchema } from '../auth/auth-contract.ts';

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string(),
  role: roleSchema,
  idp: z.string(),
  disabled: z.boolean(),
  createdAt: z.string(),
});
export type User = z.infer<typeof userSchema>;
/** GET /api/users. */
export const userListSchema = z.object({ users: z.array(userSchema) });
export type UserList = z.infer<typeof userListSchema>;
/** POST /api/users, PATCH /api/users/:id. */
export const userResponseSchema = z.object({ user: userSchema });
export type UserResponse = z.infer<typeof userResponseSchema>;

const passwordSchema = z.string().min(12, 'at least 12 characters').max(1024);
export const createUserInputSchema = z.object({
  email: z.string().trim().email().max(320),
  displayName: z.string().trim().max(200).default(''),
  role: roleSchema,
  password: passwordSchema,
});
export type CreateUserInput = z.input<typeof createUserInputSchema>;
export const patchUserInputSchema = z
  .object({ displayName: z.string().trim().max(200), role: roleSchema, disabled: z.boolean(), password: passwordSchema })
  .partial()
  .refine((v) => Object.keys(v).length > 0, 'nothing to change');
export type PatchUserInput = z.input<typeof patchUserInputSchema>;

export const groupMemberSchema = z.object({ userId: z.string(), email: z.string() });
export const groupSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.string(),
  members: z.array(groupMemberSchema),
});
export type Group = z.infer<typeof groupSchema>;
/** GET /api/groups. */
export const groupListSchema = z.object({ groups: z.array(groupSchema) });
export type GroupList = z.infer<typeof groupListSchema>;
/** POST /api/groups: the new group, with no members yet. */
export const createdGroupSchema = z.object({ group: groupSchema.omit({ createdAt: true }) });
export type CreatedGroup = z.infer<typeof createdGroupSchema>;
/** PATCH /api/groups/:id. */
export const updatedGroupSchema = z.object({ group: groupSchema.pick({ id: true, name: true, description: true }) });
export type UpdatedGroup = z.infer<typeof updatedGroupSchema>;

export const groupInputSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'letters, digits, space, dot, dash, underscore'),
  description: z.string().trim().max(500).default(''),
});
export type GroupInput = z.input<typeof groupInputSchema>;
export const addMemberInputSchema = z.object({ userId: z.string().uuid() });
export type AddMemberInput = z.input<typeof addMemberInputSchema>;

export const apiKeySchema = z.object({
  id: z.string(),
  userId: z.string(),
  owner: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type ApiKey = z.infer<typeof apiKeySchema>;
/** GET /api/api-keys[?scope=all]. */
export const apiKeyListSchema = z.object({ apiKeys: z.array(apiKeySchema) });
export type ApiKeyList = z.infer<typeof apiKeyListSchema>;
/** POST /api/api-keys: the only answer that carries the full key. */
export const createdApiKeySchema = z.object({ apiKey: apiKeySchema, key: z.string() });
export type CreatedApiKey = z.infer<typeof createdApiKeySchema>;
/** POST /api/api-keys/:id/revoke. */
export const apiKeyResponseSchema = z.object({ apiKey: apiKeySchema });
export type ApiKeyResponse = z.infer<typeof apiKeyResponseSchema>;

export const createApiKeyInputSchema = z.object({
  name: z.string().trim().min(1).max(100),
  /** Admins may create keys for anyone; everyone else only for themselves. */
  userId: z.string().uuid().optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});
export type CreateApiKeyInput = z.input<typeof createApiKeyInputSchema>;
