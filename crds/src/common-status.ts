import { z } from 'zod';
import { conditionSchema } from './condition.ts';

/** Fields every CodeVector status has; each kind's status schema spreads these in. */
export const commonStatusShape = {
  observedGeneration: z
    .int()
    .min(0)
    .optional()
    .meta({ format: 'int64' })
    .describe(
      'The .metadata.generation the operator last reconciled. Compare with .metadata.generation to see whether the status is current.',
    ),
  conditions: z
    .array(conditionSchema)
    .max(16)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe(
      'Current state of the resource. Ready is True when the operator has stored the resource and every gateway enforces it; when False, its reason and message say what is wrong.',
    ),
};
