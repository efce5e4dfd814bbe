import { z } from 'zod';

// The shape and limits of metav1.Condition, so generic tooling (kubectl wait --for=condition=Ready,
// Argo CD and Flux health checks, kstatus) understands our status without special cases.
export const conditionSchema = z
  .strictObject({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe('Type of condition in CamelCase. CodeVector sets Ready on every resource.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .meta({ format: 'int64' })
      .describe(
        'The .metadata.generation the condition was set for; older than the current generation means the condition is out of date.',
      ),
    lastTransitionTime: z.iso.datetime({ offset: true }).describe('When the condition last changed from one status to another (RFC 3339).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe(
        'Programmatic identifier in CamelCase for the last transition, e.g. Reconciled, SecretNotFound, ProviderNotFound, PatternInvalid or StoreFailed.',
      ),
    message: z.string().max(32768).describe('Human-readable details about the last transition; may be empty.'),
  })
  .describe('One observation of the resource state, in the shape of the standard metav1.Condition.');
export type Condition = z.infer<typeof conditionSchema>;
