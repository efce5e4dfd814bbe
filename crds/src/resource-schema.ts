import { z } from 'zod';
import { apiVersion } from './api-group.ts';
import { objectMetaSchema } from './object-meta.ts';

/** A whole object of one kind (apiVersion, kind, metadata, spec, status), as the apiserver returns it or a manifest declares it. */
export function resourceSchema<K extends string, Spec extends z.ZodType, Status extends z.ZodType>(kind: K, spec: Spec, status: Status) {
  return z.object({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    metadata: objectMetaSchema,
    spec,
    status: status.optional(),
  });
}
