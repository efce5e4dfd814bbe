import type { z } from 'zod';

/**
 * One validation rule, written once and enforced twice: as a CEL rule in the CRD
 * (`x-kubernetes-validations`, evaluated by the apiserver) and, through `check`, by zod in
 * TypeScript (operator, unit tests, file source). Both report the same `message`, so a user
 * sees one wording whether `kubectl apply` or a local validation rejects the object.
 */
export type CelRule<T> = {
  /** CEL expression evaluated with `self` bound to the value (and `oldSelf` on update). */
  rule: string;
  message: string;
  /** Points the apiserver's error at a child field, e.g. `.name`, instead of the object. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
  /**
   * The same rule in TypeScript. Absent only for transition rules (`oldSelf`), which need the
   * stored object and so can only be checked by the apiserver.
   */
  check?: (value: T) => boolean;
};

/** Attaches CEL rules to a schema's JSON Schema output and the equivalent zod refinements. */
export function withCelRules<S extends z.ZodType>(schema: S, rules: CelRule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const { check, message, fieldPath } of rules) {
      if (!check || check(value)) continue;
      const path = fieldPath ? fieldPath.split('.').filter(Boolean) : [];
      ctx.addIssue({ code: 'custom', message, path, input: value });
    }
  });
  const validations = rules.map(({ rule, message, fieldPath, reason }) => ({
    rule,
    message,
    ...(fieldPath ? { fieldPath } : {}),
    ...(reason ? { reason } : {}),
  }));
  return refined.meta({ 'x-kubernetes-validations': validations }) as S;
}
