// The auth routes' requests and answers (contract file: zod and other contracts only, see
// http/http-contract.ts).
import { z } from 'zod';

export const roles = ['admin', 'auditor', 'member'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

/** Who is signed in, as every page sees them. */
export const sessionUserSchema = z.object({ id: z.string(), email: z.string(), displayName: z.string(), role: roleSchema });
export type SessionUser = z.infer<typeof sessionUserSchema>;

/** POST /api/auth/login. */
export const loginInputSchema = z.object({ email: z.string().trim().min(1).max(320), password: z.string().min(1).max(1024) });
export type LoginInput = z.input<typeof loginInputSchema>;

/** POST /api/auth/login and GET /api/session: the user, and the token every mutation must echo in x-csrf-token. */
export const sessionSchema = z.object({ user: sessionUserSchema, csrfToken: z.string() });
export type SessionInfo = z.infer<typeof sessionSchema>;

/** GET /api/auth/providers: the ways to sign in that are on (the sign-in page shows these). */
export const signInOptionsSchema = z.object({
  password: z.boolean(),
  sso: z.object({ name: z.string(), start: z.string() }).nullable(),
});
export type SignInOptions = z.infer<typeof signInOptionsSchema>;
