import type { SnapshotModel } from '@codevector/core/config-snapshot';

/** How a requested name reached its Model, for errors, `codevector route` and the console. */
export type RouteMatch<T> = { target: T; via: 'name' | 'alias' | 'pattern'; matched: string; variant: string | null };

type PatternRoute<T> = { pattern: string; literal: number; regex: RegExp; target: T };

// Context-size and similar variants ride on the name as a bracketed suffix (Claude Code's
// `claude-opus-4-8[1m]`); they select the same Model.
const variantSuffix = /\[[^\]]*\]$/;

/**
 * Which Model serves a requested model name, deterministically: an exact name, then an alias,
 * then the pattern with the most literal (non-*) characters, ties broken by the pattern's
 * text. A variant suffix (`[1m]`) is set aside before matching and reported with the route.
 * Built once per snapshot; a lookup is a map read, or a scan of the (few) patterns on a miss.
 */
export function createModelRouter<T>(entries: readonly { model: SnapshotModel; target: T }[], onDuplicate: (name: string) => void) {
  const exact = new Map<string, { target: T; via: 'name' | 'alias' }>();
  for (const via of ['name', 'alias'] as const) {
    for (const { model, target } of entries) {
      for (const name of via === 'name' ? [model.modelName] : model.aliases) {
        if (exact.has(name)) onDuplicate(name);
        else exact.set(name, { target, via });
      }
    }
  }
  const patterns: PatternRoute<T>[] = [];
  for (const { model, target } of entries) {
    for (const pattern of model.patterns) {
      patterns.push({ pattern, literal: pattern.replaceAll('*', '').length, regex: globRegex(pattern), target });
    }
  }
  patterns.sort((a, b) => b.literal - a.literal || (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
  const hits = new Map<string, RouteMatch<T> | null>();

  function lookup(name: string, variant: string | null): RouteMatch<T> | null {
    const direct = exact.get(name);
    if (direct) return { target: direct.target, via: direct.via, matched: name, variant };
    for (const route of patterns) {
      if (route.regex.test(name)) return { target: route.target, via: 'pattern', matched: route.pattern, variant };
    }
    return null;
  }

  return {
    /** The Model for a requested name, or null. */
    route(requested: string): RouteMatch<T> | null {
      const cached = hits.get(requested);
      if (cached !== undefined) return cached;
      // Declared names cannot hold brackets, so a variant is never part of the name to match.
      const suffix = variantSuffix.exec(requested);
      const found = suffix ? lookup(requested.slice(0, suffix.index), suffix[0]) : lookup(requested, null);
      // Bounded: names come from clients.
      if (hits.size < 10_000) hits.set(requested, found);
      return found;
    },
    /** Names and patterns a client may use, for "not configured" answers. */
    names(): string[] {
      return [...exact.keys(), ...patterns.map((p) => p.pattern)].sort();
    },
  };
}

export type ModelRouter<T> = ReturnType<typeof createModelRouter<T>>;

function globRegex(pattern: string): RegExp {
  const escaped = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`);
}
