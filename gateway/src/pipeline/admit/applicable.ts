import { appliesToModel, type Principal, subjectKey } from '../../principal.ts';

/** The limits or budgets that govern this caller and model, each with the subject it is counted under. */
export function applicable<T extends { subject: Parameters<typeof subjectKey>[0]; models: string[] }, R>(
  items: readonly T[],
  principal: Principal,
  model: string,
  map: (entry: { item: T; subject: string }) => R,
): R[] {
  const out: R[] = [];
  for (const item of items) {
    if (!appliesToModel(item.models, model)) continue;
    const subject = subjectKey(item.subject, principal);
    if (subject !== null) out.push(map({ item, subject }));
  }
  return out;
}
