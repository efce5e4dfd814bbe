/**
 * Builds the {before, after} pair an audit row shows: only what changed stays visible, so a
 * one-field edit of a large spec reads as one field. Objects are compared key by key
 * (recursively); arrays and scalars as whole values. A created resource has before = null, a
 * deleted one after = null. Returns null when nothing changed, so callers write no row.
 */
export function auditDiff(before: unknown, after: unknown): { before: unknown; after: unknown } | null {
  if (before === null || before === undefined || after === null || after === undefined) {
    if ((before ?? null) === null && (after ?? null) === null) return null;
    return { before: before ?? null, after: after ?? null };
  }
  const changed = diffValues(before, after);
  return changed === unchanged ? null : changed;
}

const unchanged = Symbol('unchanged');

function diffValues(before: unknown, after: unknown): { before: unknown; after: unknown } | typeof unchanged {
  if (isPlainObject(before) && isPlainObject(after)) {
    const out = { before: {} as Record<string, unknown>, after: {} as Record<string, unknown> };
    let any = false;
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const inBefore = Object.hasOwn(before, key);
      const inAfter = Object.hasOwn(after, key);
      if (!inAfter) {
        out.before[key] = before[key];
        any = true;
      } else if (!inBefore) {
        out.after[key] = after[key];
        any = true;
      } else {
        const child = diffValues(before[key], after[key]);
        if (child !== unchanged) {
          out.before[key] = child.before;
          out.after[key] = child.after;
          any = true;
        }
      }
    }
    return any ? out : unchanged;
  }
  return stableStringify(before) === stableStringify(after) ? unchanged : { before, after };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}
