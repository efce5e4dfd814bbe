import { z } from 'zod';

/**
 * The part of metav1.ObjectMeta CodeVector code reads. Loose on purpose: the apiserver owns
 * this object and adds fields (managedFields, ownerReferences, …) that we pass through untouched.
 */
export const objectMetaSchema = z.looseObject({
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63).optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof objectMetaSchema>;
