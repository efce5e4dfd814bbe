import type { ActorSource } from '@codevector/core/audit-entry';
import type { ChangeOrigin } from './webhook/change-origin.ts';

/**
 * Who an audit row names for a change (ADR 0102), how the operator learned it, and where the
 * change came from when the admission webhook could tell (a GitOps tool and revision, or kubectl).
 */
export type Actor = { actor: string; actorSource: ActorSource; origin?: ChangeOrigin };
