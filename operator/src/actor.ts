import type { ActorSource } from '@codevector/core/audit-entry';

/** Who an audit row names for a change (ADR 0102), and how the operator learned it. */
export type Actor = { actor: string; actorSource: ActorSource };
