import { type Principal, subjectKey } from '../../principal.ts';
import type { RoutedModel } from '../../snapshot-store.ts';

/**
 * The limits or budgets that govern this caller and model, each with the subject it is counted
 * under. A `models` filter covers the Model however it was reached: by the name the client sent,
 * or by any of the Model's names and aliases (an alias, a variant or a pattern is no way around it).
 */
export function applicable<T extends { subject: Parameters<typeof subjectKey>[0]; models: string[] }, R>(
  items: readonly T[],
  principal: Principal,
  requested: string,
  routed: RoutedModel,
  map: (entry: { item: T; subject: string }) => R,
): R[] {
  const out: R[] = [];
  for (const item of items) {
    if (item.models.length > 0 && !item.models.some((name) => name === requested || routed.names.has(name))) continue;
    const subject = subjectKey(item.subject, principal);
    if (subject !== null) out.push(map({ item, subject }));
  }
  return out;
}
