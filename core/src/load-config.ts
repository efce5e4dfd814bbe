import type { z } from 'zod';
import { CodeVectorError } from './errors.ts';

/**
 * Parses an environment (normally process.env) with a service's zod schema once at start-up.
 * @throws CodeVectorError CORE_CONFIG_INVALID listing every missing or invalid variable.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new CodeVectorError('CORE_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
}
