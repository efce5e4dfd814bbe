// What every console API answer may be, beside its route's own shape. Contract files import zod
// and other contract files only: the web console imports their types (import type), and the
// browser build must never reach server code through them (see layout.test.ts).
import { z } from 'zod';

/** Any non-2xx answer (http-errors.ts `handleError`). */
export const apiErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** A mutation with nothing to return. */
export const okSchema = z.object({ ok: z.literal(true) });
export type Ok = z.infer<typeof okSchema>;
