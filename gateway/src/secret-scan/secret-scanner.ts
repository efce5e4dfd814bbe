import { hash as hashText } from 'node:crypto';
import type { SnapshotSecretRule } from '@codevector/core/config-snapshot';
import { fingerprintSecret } from '@codevector/core/secret-box';
import RE2 from 're2';
import { createBoundedSet } from '../bounded-set.ts';
import { jsonDepthExceeds } from '../pipeline/request-body.ts';
import { type BuiltinDetector, isSecretObjectKey, selectBuiltinDetectors } from './builtin-detectors.ts';
import { encodeUtf8 } from './encode-utf8.ts';
import { createKeywordFinder, type FinderKeyword, isFindable } from './keyword-finder.ts';
import { holdsKubernetesSecret, kubernetesSecretView, type TextView, unescapedView, unwrappedView } from './text-views.ts';
import { isKnownExample, isSecretLikeValue } from './validate-token.ts';

/** What a SecretRule does with a match (SecretRule `spec.action`). */
export type SecretAction = 'block' | 'redact' | 'observe';

export type SecretMatch = {
  /** Detector id (built-in) or pattern name (custom). */
  rule: string;
  /** The SecretRule resource that enabled it, `namespace/name`. */
  secretRule: string;
  /** What that SecretRule does with a match. */
  action: SecretAction;
  /** Where in the request body, e.g. `messages[4].content[1].text`. */
  path: string;
  /** The same path as keys and indexes; a string among them was parsed as JSON (its text holds the rest). */
  pathParts: (string | number)[];
  /** Character offsets within the decoded string at `path`. */
  start: number;
  end: number;
  /** The matched text; callers must never put it in responses, logs or events. */
  text: string;
  /** sha256 prefix of the match, safe for audit events. */
  fingerprint: string;
};

/**
 * `blocked`: a match of a Block rule (the scan stops at the first one unless `all`). Matches of
 * Redact and Observe rules never stop a scan, so every one of them is in `matches`.
 */
export type ScanResult = {
  blocked: boolean;
  matches: SecretMatch[];
  scannedStrings: number;
  cachedStrings: number;
  /** Blocks (scanBlocks) skipped because their bytes were found clean before under these rules. */
  cachedBlocks?: number;
};

/** A piece of a body, by its bytes' hash (pipeline/request-document.ts). */
export type ScanBlock = { raw: Buffer; hash: string; path: readonly (string | number)[]; value: () => unknown };

type Check = {
  rule: string;
  secretRule: string;
  action: SecretAction;
  span?: BuiltinDetector['span'];
  fallback?: boolean;
  keywords: string[];
  /** Built-in: JS RegExp with a validator. Custom: RE2 (linear time, safe for user patterns). */
  pattern: RegExp | RE2;
  validate: BuiltinDetector['validate'];
  mayMatchAt?: BuiltinDetector['mayMatchAt'];
  costly: boolean;
  /**
   * Built-in patterns are not run over whole strings: `sticky` is tried only where a keyword hit
   * puts a match start (`offsets`), or, with `window`, `pattern` runs over the ranges hits place.
   * Unset for custom patterns, which search whole strings.
   */
  sticky?: RegExp;
  offsets?: Map<string, number[]>;
  window?: BuiltinDetector['window'];
  /** Lowercase, matched case-insensitively, only to place windows. */
  context?: string[];
};

/** Keyword positions in one decoded string, ascending. */
type Hits = { at: Map<string, Int32Array>; context: number[]; loose: Set<string> };
const noHits: Hits = { at: new Map(), context: [], loose: new Set() };

export type SecretScanner = {
  readonly ruleCount: number;
  /**
   * Scans the decoded JSON strings of a request. `raw` is the uncompressed body: one RE2 pass
   * over its bytes finds which keywords occur at all, and only strings holding one are searched.
   */
  scan(raw: Buffer, body: unknown, options?: { all?: boolean }): ScanResult;
  /**
   * The same search over a body given as blocks plus the rest (`rest`, the short top-level values
   * and the long values' keys): a block whose bytes this scanner found clean before is skipped
   * unread, so an agent's resent conversation costs a hash, not a scan (ADR 0117). Paths are the
   * body's, as `scan` of the whole body would report them.
   */
  scanBlocks(rest: { raw: Buffer; value: unknown }, blocks: readonly ScanBlock[], options?: { all?: boolean }): ScanResult;
};

export type CompileProblem = { secretRule: string; pattern: string; error: string };

// Strings shorter than this are searched every time; longer ones are remembered once clean when
// their search is costly, so a conversation resent turn after turn is searched once (DESIGN §6).
const cacheMinLength = 512;
const cacheMaxEntries = 20_000;
// Clean blocks (messages, tool definitions) remembered per scanner: a few hundred conversations' worth.
const blockCacheMaxEntries = 50_000;
// Strings this long are searched by custom RE2 patterns as UTF-8 bytes encoded once (RE2 would
// encode the string again for every pattern), and hashed from those bytes.
const re2MinLength = 1024;
// Bodies smaller than this skip the raw prefilter (see `scan`); tests lower it to cover both paths.
const defaultPrefilterMinBytes = 65_536;
// Bodies this large that are mostly strings of `longStringMin`+ characters skip it too.
const directMinBytes = 1_000_000;
const longStringMin = 65_536;

// Keyword sets and alternations shared by scanners: a new snapshot compiles the same keywords
// again, and RE2 keeps the DFA states it has built (~2 ms per cold MB). Scans are synchronous and
// a finder runs to the end before anything else uses its pattern, so sharing `lastIndex` is safe.
const sharedPatterns = new Map<string, object>();
function shared<T extends object>(key: string, build: () => T): T {
  let pattern = sharedPatterns.get(key) as T | undefined;
  if (pattern === undefined) {
    if (sharedPatterns.size >= 256) sharedPatterns.clear();
    pattern = build();
    sharedPatterns.set(key, pattern);
  }
  return pattern;
}

/** Characters in strings of `longStringMin`+ characters, counted until `enough`. */
function longStringBytes(body: unknown, enough: number): number {
  let total = 0;
  const stack: unknown[] = [body];
  while (stack.length > 0 && total < enough) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (value.length >= longStringMin) total += value.length;
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      for (const key in value as Record<string, unknown>) stack.push((value as Record<string, unknown>)[key]);
    }
  }
  return total;
}

/** Nesting a JSON string may have and still be walked (the request body's own limit is JSON_MAX_DEPTH). */
const maxNestedDepth = 128;
/** Keys shorter than any secret the detectors know are not searched (most keys are `type`, `text`, `role`). */
const minKeyScanLength = 8;

/** Compiles SecretRules into a scanner; patterns that do not compile are reported and skipped. */
export function createSecretScanner(
  rules: readonly (Pick<SnapshotSecretRule, 'namespace' | 'name' | 'detectors' | 'patterns'> & { action?: SecretAction })[],
  onProblem: (problem: CompileProblem) => void = () => {},
  tuning: { prefilterMinBytes?: number; rememberClean?: boolean } = {},
): SecretScanner {
  const prefilterMinBytes = tuning.prefilterMinBytes ?? defaultPrefilterMinBytes;
  const checks: Check[] = [];
  const alwaysChecks: Check[] = [];
  // Built-in keywords matched case-insensitively (key names such as `password`), lowercase.
  const looseBuiltin = new Set<string>();
  const keywordPairs = new Map<string, number>();
  for (const rule of rules) {
    const secretRule = `${rule.namespace}/${rule.name}`;
    const action = rule.action ?? 'block';
    for (const detector of selectBuiltinDetectors(rule.detectors)) {
      for (const keyword of detector.looseKeywords ?? []) looseBuiltin.add(keyword);
      for (const [keyword, pair] of Object.entries(detector.keywordPairs ?? {})) keywordPairs.set(keyword, pair);
      const flags = `${detector.pattern.flags.replace('g', '')}y`;
      checks.push({
        rule: detector.id,
        secretRule,
        action,
        span: detector.span,
        fallback: detector.fallback,
        keywords: detector.keywords,
        pattern: detector.pattern,
        validate: detector.validate,
        mayMatchAt: detector.mayMatchAt,
        costly: detector.costly === true,
        sticky: new RegExp(detector.pattern.source, detector.span && !flags.includes('d') ? `${flags}d` : flags),
        offsets: new Map(detector.keywords.map((keyword) => [keyword, detector.keywordOffsets?.[keyword] ?? [0]])),
        window: detector.window,
        context: detector.window?.context.keywords.map((keyword) => keyword.toLowerCase()),
      });
    }
    for (const pattern of rule.patterns) {
      let compiled: RE2;
      try {
        compiled = new RE2(pattern.regex, 'g');
      } catch (error) {
        onProblem({ secretRule, pattern: pattern.name, error: (error as Error).message });
        continue;
      }
      const check: Check = {
        rule: pattern.name,
        secretRule,
        action,
        keywords: pattern.keywords,
        pattern: compiled,
        validate: undefined,
        costly: true,
      };
      if (pattern.keywords.length > 0) checks.push(check);
      else alwaysChecks.push(check);
    }
  }
  // Built-in keywords are exact prefixes; SecretRule keywords match case-insensitively (CRD).
  const keywords = [...new Set(checks.flatMap((check) => check.keywords))];
  const customKeywords = new Set(checks.filter((check) => check.validate === undefined).flatMap((check) => check.keywords));
  const keywordSet =
    keywords.length > 0
      ? (() => {
          const patterns = keywords.map((keyword) => {
            // A built-in keyword ending in a quote (`token"`) is looked for without it: the raw
            // JSON writes the quote escaped.
            const raw = customKeywords.has(keyword) ? keyword : keyword.replace(/["']$/, '');
            return customKeywords.has(keyword) || looseBuiltin.has(keyword) ? `(?i)${escapeRegExp(raw)}` : escapeRegExp(raw);
          });
          // Kubernetes Secret manifests, found in the same pass (their base64 data hides keywords).
          patterns.push(...secretManifestMarkers.map(escapeRegExp));
          return shared(`set:${patterns.join('\u0000')}`, () => new RE2.Set(patterns));
        })()
      : null;
  // The raw prefilter is sound only for keywords that JSON writes as they are. JSON always escapes
  // quotes, backslashes and control characters, so a keyword holding one is never ruled out; and
  // a body that escapes a character some keyword holds (`\u0041KIA`, `ghp\u005f`, `:\/\/`; any
  // `\u` when a keyword goes beyond ASCII) has every string searched, decoded. Escaped control
  // characters (`\u001b` of terminal colours, `\u0000`) do not count. Backslashes before the
  // escape are not counted either: JSON inside a string has its escapes escaped once more.
  const unfilterable = keywords.filter(
    (keyword) => customKeywords.has(keyword) && [...keyword].some((char) => char === '"' || char === '\\' || char < ' '),
  );
  const nonAsciiKeyword = keywords.some((keyword) => !isFindable(keyword));
  const keywordChars = new Set<number>();
  for (const keyword of [...keywords, ...checks.flatMap((check) => check.context ?? [])]) {
    for (const char of keyword)
      for (const variant of [char, char.toLowerCase(), char.toUpperCase()]) keywordChars.add(variant.charCodeAt(0));
  }
  const hidesKeyword = (source: Buffer | string): boolean => {
    for (let at = source.indexOf('\\u00'); at !== -1; at = source.indexOf('\\u00', at + 4)) {
      const hex = typeof source === 'string' ? source.slice(at + 4, at + 6) : source.toString('latin1', at + 4, at + 6);
      if (/^[0-7][0-9a-fA-F]$/.test(hex) && keywordChars.has(Number.parseInt(hex, 16))) return true;
    }
    return (nonAsciiKeyword && source.includes('\\u')) || (keywordChars.has(47) && source.includes('\\/'));
  };
  const cleanCache = createBoundedSet(cacheMaxEntries);
  // Key names (`token=`, `Secret`, `://`) occur in nearly every agent body, so with the generic
  // pack on the raw pass rules out nothing and costs a third of a scan (ADR 0115): the per-string
  // keyword search is the filter, as for small bodies.
  const keywordsEverywhere = checks.some((check) => check.rule === 'generic-secret-assignment');
  const checksByKeyword = new Map<string, Check[]>();
  for (const check of checks) {
    for (const keyword of check.keywords) {
      const list = checksByKeyword.get(keyword) ?? [];
      list.push(check);
      checksByKeyword.set(keyword, list);
    }
  }
  const checksOf = (keyword: string): readonly Check[] => checksByKeyword.get(keyword) ?? [];
  const isFallback = new Set(checks.filter((check) => check.fallback).map((check) => check.rule));
  // Keywords that start a token (prefixes), where a wrapped token's first line is: not the key
  // names of generic rules or the context words of paired ones.
  const wrapAnchors = new Set(
    checks.filter((check) => check.sticky && !check.fallback && !check.window && check.validate).flatMap((check) => check.keywords),
  );
  // A built-in that shares a keyword with a custom pattern sees it case-insensitively, without
  // positions: it searches the whole string, as custom patterns do.
  for (const check of checks) {
    if (check.keywords.some((keyword) => customKeywords.has(keyword))) {
      check.sticky = undefined;
      check.window = undefined;
    }
  }
  // Where the keywords the raw prefilter found occur in a decoded string: one pass of a keyword
  // finder (keyword-finder.ts) over all of them, exact built-in keywords, case-insensitive context
  // keywords and case-insensitive custom keywords alike, every occurrence (overlapping ones too).
  // Built once per scan plan (below); the compiled finder is shared by scanners.
  const customKeywordByLower = new Map([...customKeywords].map((keyword) => [keyword.toLowerCase(), keyword]));
  const keywordFinder = (present: readonly string[], context: readonly string[]): ((text: string) => Hits) => {
    const exact = present.filter((keyword) => !customKeywords.has(keyword));
    const loose = present.filter((keyword) => customKeywords.has(keyword) && isFindable(keyword));
    // Custom keywords with non-ASCII letters fold case as a V8 RegExp does (`i`, no `u`).
    const otherLoose = present.filter((keyword) => customKeywords.has(keyword) && !isFindable(keyword));
    const specs: FinderKeyword[] = [
      ...exact.map((text) => ({ text, ignoreCase: looseBuiltin.has(text), pair: keywordPairs.get(text) })),
      ...context.map((text) => ({ text, ignoreCase: true })),
      ...loose.map((text) => ({ text, ignoreCase: true })),
    ];
    const core =
      specs.length > 0
        ? shared(`finder:${specs.map((spec) => `${spec.ignoreCase ? 'i' : 'e'}${spec.pair ?? ''}${spec.text}`).join('\u0000')}`, () =>
            createKeywordFinder(specs),
          )
        : null;
    const otherPattern = otherLoose.length > 0 ? new RegExp(otherLoose.map(escapeRegExp).join('|'), 'gi') : null;
    const contextFrom = exact.length;
    const looseFrom = exact.length + context.length;
    const finder = (text: string): Hits => {
      const found = core ? core.find(text) : null;
      let hits = noHits;
      if (found && found.total > 0) {
        hits = { at: new Map(), context: [], loose: new Set() };
        const { start, positions } = found;
        for (let k = 0; k < exact.length; k++) {
          if (start[k + 1]! > start[k]!) hits.at.set(exact[k]!, positions.subarray(start[k]!, start[k + 1]!));
        }
        const contextHits: number[] = [];
        for (let k = contextFrom; k < looseFrom; k++) for (let i = start[k]!; i < start[k + 1]!; i++) contextHits.push(positions[i]!);
        if (context.length > 1) contextHits.sort((a, b) => a - b);
        hits.context = contextHits;
        for (let k = looseFrom; k < specs.length; k++) if (start[k + 1]! > start[k]!) hits.loose.add(loose[k - looseFrom]!);
      }
      if (otherPattern) {
        otherPattern.lastIndex = 0;
        for (let m = otherPattern.exec(text); m !== null; m = otherPattern.exec(text)) {
          if (hits === noHits) hits = { at: new Map(), context: [], loose: new Set() };
          hits.loose.add(customKeywordByLower.get(m[0].toLowerCase()) ?? m[0]);
        }
      }
      return hits;
    };
    return finder;
  };

  // What a scan searches for, given the keywords present: the checks, the keyword finder. Built
  // once per keyword combination (a handful in practice), not on every request.
  type Plan = { active: Check[]; keywordless: Check[]; keywordsIn: (text: string) => Hits };
  const plans = new Map<string, Plan>();
  const planFor = (key: string, presentKeywords: () => string[]): Plan => {
    let plan = plans.get(key);
    if (plan === undefined) {
      const present = presentKeywords();
      const presentSet = new Set(present);
      const active = [...alwaysChecks, ...checks.filter((check) => check.keywords.some((keyword) => presentSet.has(keyword)))];
      plan = {
        active,
        keywordless: active.filter((check) => check.keywords.length === 0),
        keywordsIn: keywordFinder(present, [...new Set(active.flatMap((check) => (check.window ? (check.context ?? []) : [])))]),
      };
      if (plans.size >= 256) plans.clear();
      plans.set(key, plan);
    }
    return plan;
  };

  function remember(hash: string): void {
    // Benchmarks of cold scans turn the cache off; the gateway never does.
    if (tuning.rememberClean === false) return;
    cleanCache.add(hash);
  }

  // Blocks found clean, by content hash. The scanner is compiled per rule set, so a cache entry
  // is only ever an answer under the rules it was found with.
  const cleanBlocks = createBoundedSet(blockCacheMaxEntries);
  const rememberBlock = (hash: string): void => cleanBlocks.add(hash);

  const scanner: SecretScanner = {
    ruleCount: checks.length + alwaysChecks.length,
    scanBlocks(rest, blocks, options = {}) {
      const result = scanner.scan(rest.raw, rest.value, options);
      result.cachedBlocks = 0;
      if (result.blocked && !options.all) return result;
      for (const block of blocks) {
        if (cleanBlocks.has(block.hash)) {
          result.cachedBlocks++;
          continue;
        }
        const part = scanner.scan(block.raw, block.value(), options);
        result.scannedStrings += part.scannedStrings;
        result.cachedStrings += part.cachedStrings;
        for (const match of part.matches) {
          const pathParts = [...block.path, ...match.pathParts];
          result.matches.push({ ...match, pathParts, path: formatPath(pathParts) });
        }
        if (part.matches.length === 0 && tuning.rememberClean !== false) rememberBlock(block.hash);
        if (part.blocked) {
          result.blocked = true;
          if (!options.all) return result;
        }
      }
      return result;
    },
    scan(raw, body, options = {}) {
      const result: ScanResult = { blocked: false, matches: [], scannedStrings: 0, cachedStrings: 0 };
      let plan: Plan;
      // Whether a Kubernetes Secret is in the body: the raw pass finds it with the keywords; without
      // that pass every string is checked (`holdsKubernetesSecret`, a cheap `includes` first).
      let secretManifestInBody = true;
      let present: number[] | null = null;
      if (
        keywordSet &&
        !(
          raw.length < prefilterMinBytes ||
          keywordsEverywhere ||
          (raw.length >= directMinBytes && longStringBytes(body, raw.length / 2) >= raw.length / 2) ||
          hidesKeyword(raw)
        )
      ) {
        const found = keywordSet.match(raw);
        secretManifestInBody = found.some((i) => i >= keywords.length);
        present = secretManifestInBody ? null : found;
      }
      if (keywordSet && present === null) {
        // The keyword search in the decoded strings is the filter: it has to run anyway when a
        // keyword occurs, and costs about what the raw prefilter does when none does. So it is
        // used alone for small bodies (the prefilter's fixed cost is most of a 2 KB scan), for a
        // large body that is mostly long strings (one pass over the bytes instead of two), and
        // for a body that escapes a keyword's character (the raw bytes cannot rule keywords out),
        // and for a Kubernetes Secret (its base64 `data:` hides every keyword).
        plan = planFor('all', () => keywords);
      } else {
        const found = present ?? [];
        plan =
          found.length > 0 || unfilterable.length > 0
            ? planFor(found.join(','), () => [...new Set([...found.map((i) => keywords[i]!), ...unfilterable])])
            : planFor('none', () => []);
      }
      const { active, keywordless, keywordsIn } = plan;
      if (active.length === 0) return result;
      // The checks a string's keyword hits enable, in the order of `active` (one pass over the
      // keywords found rather than over every check's keyword list).
      const checkIndex = new Map(active.map((check, i) => [check, i]));
      const enabled = new Uint8Array(active.length);
      const candidatesFor = (hits: Hits): Check[] => {
        enabled.fill(0);
        for (const check of keywordless) enabled[checkIndex.get(check)!] = 1;
        for (const keyword of hits.at.keys())
          for (const check of checksOf(keyword)) if (checkIndex.has(check)) enabled[checkIndex.get(check)!] = 1;
        for (const keyword of hits.loose)
          for (const check of checksOf(keyword)) if (checkIndex.has(check)) enabled[checkIndex.get(check)!] = 1;
        const out: Check[] = [];
        for (let i = 0; i < active.length; i++) if (enabled[i] === 1) out.push(active[i]!);
        return out;
      };
      const path: (string | number)[] = [];
      const keyNamedCheck = active.find((check) => check.rule === 'generic-secret-assignment');
      const keyNamed = keyNamedCheck
        ? { check: { ...keyNamedCheck, validate: undefined, span: undefined }, names: isSecretObjectKey, holds: isSecretLikeValue }
        : null;

      // The view of the string being searched (text-views.ts), whose offsets map back to it.
      let view: TextView | null = null;
      let original = '';
      // Matches reported in this string so far, so a view does not report a span twice.
      let stringMatchesFrom = 0;
      const report = (check: Check, m: RegExpExecArray | RegExpMatchArray | ([string] & { index: number }), text: string): boolean => {
        if (check.validate && !check.validate(m as RegExpExecArray, text)) return false;
        let [start, end] = check.span ? check.span(m as RegExpExecArray) : [m.index!, m.index! + m[0].length];
        const secret = text.slice(start, end);
        if (isKnownExample(secret)) return false;
        let shown = secret;
        if (view) [start, end] = view.toOriginal(start, end);
        // A view's match, or a fallback detector's (generic key names), that a match already
        // covers adds nothing: one secret, one match.
        if (view || check.fallback) {
          for (let i = stringMatchesFrom; i < result.matches.length; i++) {
            const other = result.matches[i]!;
            if (other.start >= end || start >= other.end) continue;
            // A specific detector in a view (a wrapped token) replaces a generic match of its first line.
            if (!check.fallback && other.action === check.action && isFallback.has(other.rule)) result.matches.splice(i--, 1);
            else return false;
          }
        }
        if (view) shown = original.slice(start, end);
        result.matches.push({
          rule: check.rule,
          secretRule: check.secretRule,
          action: check.action,
          path: formatPath(path),
          pathParts: [...path],
          start,
          end,
          text: shown,
          fingerprint: fingerprintSecret(secret),
        });
        if (check.action !== 'block') return false;
        result.blocked = true;
        return !options.all;
      };

      // Tries the sticky pattern where the keyword hits put a match start. Every match of the
      // global pattern starts at such a place, and starts inside an earlier match are skipped as
      // the global search skips them, so this finds what a whole-string search finds.
      const searchAtHits = (check: Check, sticky: RegExp, hits: Hits, text: string): boolean => {
        const starts: number[] = [];
        for (const keyword of check.keywords) {
          const at = hits.at.get(keyword);
          if (!at) continue;
          const offsets = check.offsets?.get(keyword) ?? [0];
          for (const position of at) for (const offset of offsets) if (position >= offset) starts.push(position - offset);
        }
        starts.sort((a, b) => a - b);
        let lastEnd = 0;
        let previous = -1;
        const memo = check.mayMatchAt ? new Map<string, number>() : null;
        for (const start of starts) {
          if (start < lastEnd || start === previous) continue;
          previous = start;
          if (memo && !check.mayMatchAt!(text, start, memo)) continue;
          sticky.lastIndex = start;
          const m = sticky.exec(text);
          if (m === null || m[0].length === 0) continue;
          lastEnd = start + m[0].length;
          if (report(check, m, text)) return true;
        }
        return false;
      };

      // Runs the pattern over the ranges of match starts that hits place (context hits, and hits of
      // the window's keywords that `accept` takes), each match confirmed in the whole string.
      const searchWindows = (check: Check, sticky: RegExp, window: NonNullable<Check['window']>, hits: Hits, text: string): boolean => {
        const ranges: [number, number][] = [];
        for (const position of hits.context) ranges.push([position + window.context.from, position + window.context.to]);
        for (const keyword in window.keywords) {
          const [from, to] = window.keywords[keyword]!;
          for (const position of hits.at.get(keyword) ?? []) {
            if (!window.accept || window.accept(text, position)) ranges.push([position + from, position + to]);
          }
        }
        ranges.sort((a, b) => a[0] - b[0]);
        const pattern = check.pattern;
        let lastEnd = 0;
        for (let i = 0; i < ranges.length; ) {
          const from = Math.max(0, ranges[i]![0]);
          let to = ranges[i]![1];
          for (i++; i < ranges.length && ranges[i]![0] <= to + 1; i++) to = Math.max(to, ranges[i]![1]);
          if (to < from) continue;
          // One character before (the pattern looks behind) and after (it looks ahead) the matches.
          const sliceStart = Math.max(0, from - 1);
          const slice = text.slice(sliceStart, Math.min(text.length, to + window.maxLength + 1));
          pattern.lastIndex = from - sliceStart;
          for (let m = pattern.exec(slice); m !== null; m = pattern.exec(slice)) {
            const start = sliceStart + m.index;
            if (start > to) break;
            if (m[0].length === 0) {
              pattern.lastIndex++;
              continue;
            }
            if (start < lastEnd) continue;
            sticky.lastIndex = start;
            const full = sticky.exec(text);
            if (full === null) continue;
            lastEnd = start + full[0].length;
            if (report(check, full, text)) return true;
          }
        }
        return false;
      };

      // Characters the keyword-placed search of built-ins reads, roughly; custom patterns (and
      // built-ins sharing a custom keyword) read the whole string.
      const placedCost = (candidates: readonly Check[], hits: Hits): number => {
        let cost = 0;
        for (const check of candidates) {
          if (!check.sticky) continue;
          let count = check.window ? hits.context.length : 0;
          for (const keyword of check.keywords) count += hits.at.get(keyword)?.length ?? 0;
          cost += count * (check.window ? 1100 : check.costly ? 20_000 : 64);
        }
        return cost;
      };

      const scanString = (text: string): boolean => {
        const hits = keywordsIn(text);
        const candidates = hits === noHits ? keywordless : candidatesFor(hits);
        const first = text.charCodeAt(0);
        const maybeJson = (first === 123 || first === 91) && text.length > 2;
        if (candidates.length === 0) {
          // JSON inside a string that escapes a keyword's character (a keyword with a quote is
          // always escaped there): its decoded strings may hold what this one does not.
          if (maybeJson && (hidesKeyword(text) || (unfilterable.length > 0 && text.includes('\\')))) {
            result.scannedStrings++;
            walkJson(text);
            return result.blocked && !options.all;
          }
          // Escapes or base64 may hide every keyword of the string: its views may show them.
          if ((hidesKeyword(text) && text.includes('\\')) || (secretManifestInBody && holdsKubernetesSecret(text))) {
            result.scannedStrings++;
            stringMatchesFrom = result.matches.length;
            return searchViews(text, hits);
          }
          return false;
        }
        const whole = candidates.filter((check) => !check.sticky);
        // Fallback detectors (generic key names) run last, after custom patterns too, so a match
        // is named after the most specific rule that finds it.
        const placed = candidates.filter((check) => check.sticky && !check.fallback);
        const fallback = candidates.filter((check) => check.sticky && check.fallback);
        // A long string that custom RE2 patterns search is encoded to UTF-8 once: RE2 reads the
        // bytes (node-re2 would encode the string for every pattern) and the hash of the bytes is
        // the hash of the string. The bytes may live in encodeUtf8's shared space, so they are not
        // used after `walk` (JSON inside this string) could have encoded another string.
        let bytes: Buffer | undefined;
        const utf8 = (): Buffer => {
          bytes ??= encodeUtf8(text);
          return bytes;
        };
        const long = text.length >= re2MinLength;
        // Hashing (to skip a string found clean before) pays only when it reads less than the
        // search would. The keyword-placed built-ins usually read far less, so they run first and
        // the string is hashed just before the whole-string patterns; it is hashed up front when
        // the placed search alone would read as much, or for JSON inside a string.
        const cacheable = text.length >= cacheMinLength;
        const placedCostly = cacheable && placedCost(placed, hits) + placedCost(fallback, hits) >= text.length;
        let hash: string | undefined;
        const cached = (): boolean => {
          hash = hashText('sha1', long && whole.some((check) => check.pattern instanceof RE2) ? utf8() : text, 'base64');
          return cleanCache.has(hash);
        };
        if (cacheable && (placedCostly || (maybeJson && whole.length > 0)) && cached()) {
          result.cachedStrings++;
          return false;
        }
        result.scannedStrings++;
        const before = result.matches.length;
        // JSON inside a string (tool-call arguments, file contents): search its decoded strings.
        if (maybeJson && walkJson(text)) {
          if (result.matches.length === before && hash) remember(hash);
          return result.blocked && !options.all;
        }
        stringMatchesFrom = before;
        if (searchPlaced(placed, hits, text)) return true;
        if (whole.length > 0 && cacheable && hash === undefined && result.matches.length === before && cached()) {
          result.scannedStrings--;
          result.cachedStrings++;
          return false;
        }
        if (searchWhole(whole, text, long ? utf8 : null)) return true;
        if (searchPlaced(fallback, hits, text)) return true;
        if (searchViews(text, hits)) return true;
        if (result.matches.length === before && hash) remember(hash);
        return false;
      };

      const searchPlaced = (placed: readonly Check[], hits: Hits, text: string): boolean => {
        for (const check of placed) {
          if (
            check.window ? searchWindows(check, check.sticky!, check.window, hits, text) : searchAtHits(check, check.sticky!, hits, text)
          ) {
            return true;
          }
        }
        return false;
      };

      /** Custom patterns (and built-ins sharing their keywords) over the whole string. */
      const searchWhole = (whole: readonly Check[], text: string, utf8: (() => Buffer) | null): boolean => {
        for (const check of whole) {
          const pattern = check.pattern;
          pattern.lastIndex = 0;
          if (utf8 && pattern instanceof RE2) {
            const input = utf8();
            // Byte offsets back to string offsets, counted on from the previous match.
            let byteAt = 0;
            let charAt = 0;
            for (let m = pattern.exec(input); m !== null; m = pattern.exec(input)) {
              const matched = m[0] as unknown as Buffer;
              if (matched.length === 0) {
                pattern.lastIndex++;
                continue;
              }
              charAt += input.toString('utf8', byteAt, m.index).length;
              byteAt = m.index;
              const found = Object.assign([matched.toString('utf8')] as [string], { index: charAt });
              if (report(check, found, text)) return true;
            }
            continue;
          }
          for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
            if (m[0].length === 0) {
              pattern.lastIndex++;
              continue;
            }
            if (report(check, m, text)) return true;
          }
        }
        return false;
      };

      /**
       * The string's other readings (text-views.ts): JSON escapes decoded, wrapped tokens joined,
       * Kubernetes Secret data decoded. Each is searched like the string, its matches reported at
       * the string's offsets; spans the string itself reported are not reported again.
       */
      const searchViews = (text: string, hits: Hits): boolean => {
        const views: TextView[] = [];
        if (text.includes('\\')) {
          const unescaped = unescapedView(text);
          if (unescaped) views.push(unescaped);
        }
        if (hits !== noHits) {
          const starts: number[] = [];
          for (const [keyword, at] of hits.at) if (wrapAnchors.has(keyword)) for (const position of at) starts.push(position);
          if (starts.length > 0 && text.includes('\n')) {
            const unwrapped = unwrappedView(text, starts);
            if (unwrapped) views.push(unwrapped);
          }
        }
        if (secretManifestInBody && holdsKubernetesSecret(text)) {
          const decoded = kubernetesSecretView(text);
          if (decoded) views.push(decoded);
        }
        if (views.length === 0) return false;
        original = text;
        let stop = false;
        for (const each of views) {
          view = each;
          const viewHits = keywordsIn(each.text);
          const candidates = candidatesFor(viewHits);
          stop =
            searchPlaced(
              candidates.filter((check) => check.sticky && !check.fallback),
              viewHits,
              each.text,
            ) ||
            searchWhole(
              candidates.filter((check) => !check.sticky),
              each.text,
              null,
            ) ||
            searchPlaced(
              candidates.filter((check) => check.sticky && check.fallback),
              viewHits,
              each.text,
            );
          if (stop) break;
        }
        view = null;
        return stop;
      };

      /** Walks the JSON object or array a string holds; false when it holds none (search the text). */
      const walkJson = (text: string): boolean => {
        // A string holding JSON nested past the body's own limit is searched as text: walking
        // it would recurse as deep as it nests.
        if (jsonDepthExceeds(text, maxNestedDepth)) return false;
        let inner: unknown;
        try {
          inner = JSON.parse(text);
        } catch {
          return false;
        }
        if (inner === null || typeof inner !== 'object') return false;
        walk(inner);
        return true;
      };

      const walk = (value: unknown): boolean => {
        if (typeof value === 'string') return scanString(value);
        if (value === null || typeof value !== 'object') return false;
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            path.push(i);
            const stop = walk(value[i]);
            path.pop();
            if (stop) return true;
          }
          return false;
        }
        for (const key in value as Record<string, unknown>) {
          const item = (value as Record<string, unknown>)[key];
          if (isImageData(value as Record<string, unknown>, key, item)) continue;
          path.push(key);
          // Keys reach the upstream too: a secret used as an object key is still a secret.
          if (key.length >= minKeyScanLength && scanString(key)) {
            path.pop();
            return true;
          }
          const before = result.matches.length;
          let stop = walk(item);
          // A secret-named key's value (JSON config, tool arguments): the key is the context. After
          // the value's own search, so a specific detector's match of it comes first.
          if (!stop && keyNamed && typeof item === 'string' && keyNamed.names(key) && keyNamed.holds(item)) {
            stringMatchesFrom = before;
            stop = report(keyNamed.check, keyValueMatch(item), item);
          }
          path.pop();
          if (stop) return true;
        }
        return false;
      };

      walk(body);
      return result;
    },
  };
  return scanner;
}

/**
 * An image the provider decodes as pixels: an Anthropic `{type: 'base64', media_type: 'image/…',
 * data}` source or an OpenAI `data:image/…;base64,` URL. Text patterns in its base64 are
 * coincidences (false positives only), so it is not searched; documents (PDF) are.
 */
function isImageData(container: Record<string, unknown>, key: string, item: unknown): boolean {
  if (typeof item !== 'string' || item.length < 1024) return false;
  if (key === 'data') {
    const mediaType = container['media_type'];
    return container['type'] === 'base64' && typeof mediaType === 'string' && mediaType.startsWith('image/');
  }
  return key === 'url' && item.startsWith('data:image/') && item.startsWith(';base64,', item.indexOf(';'));
}

function keyValueMatch(value: string): [string] & { index: number } {
  return Object.assign([value] as [string], { index: 0 });
}

const kindSecretInJson = ['"kind":"Secret"', '"kind": "Secret"', '\\"kind\\":\\"Secret', '\\"kind\\": \\"Secret'];

/** A Kubernetes Secret manifest in the raw body (YAML, JSON, or JSON in a string). */
const secretManifestMarkers = ['kind: Secret', ...kindSecretInJson];

function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
