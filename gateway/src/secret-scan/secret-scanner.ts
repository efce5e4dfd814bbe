import { hash as hashText } from 'node:crypto';
import type { SnapshotSecretRule } from '@codevector/core/config-snapshot';
import { fingerprintSecret } from '@codevector/core/secret-box';
import RE2 from 're2';
import { type BuiltinDetector, selectBuiltinDetectors } from './builtin-detectors.ts';

export type SecretMatch = {
  /** Detector id (built-in) or pattern name (custom). */
  rule: string;
  /** The SecretRule resource that enabled it, `namespace/name`. */
  secretRule: string;
  /** Where in the request body, e.g. `messages[4].content[1].text`. */
  path: string;
  /** Character offsets within the decoded string at `path`. */
  start: number;
  end: number;
  /** The matched text; callers must never put it in responses, logs or events. */
  text: string;
  /** sha256 prefix of the match, safe for audit events. */
  fingerprint: string;
};

export type ScanResult = { blocked: boolean; matches: SecretMatch[]; scannedStrings: number; cachedStrings: number };

type Check = {
  rule: string;
  secretRule: string;
  keywords: string[];
  /** Built-in: JS RegExp with a validator. Custom: RE2 (linear time, safe for user patterns). */
  pattern: RegExp | RE2;
  validate: BuiltinDetector['validate'];
  costly: boolean;
};

export type SecretScanner = {
  readonly ruleCount: number;
  /**
   * Scans the decoded JSON strings of a request. `raw` is the uncompressed body: one RE2 pass
   * over its bytes finds which keywords occur at all, and only strings holding one are searched.
   */
  scan(raw: Buffer, body: unknown, options?: { all?: boolean }): ScanResult;
};

export type CompileProblem = { secretRule: string; pattern: string; error: string };

// Strings shorter than this are searched every time; longer ones are remembered once clean when
// their search is costly, so a conversation resent turn after turn is searched once (DESIGN §6).
const cacheMinLength = 512;
const cacheMaxEntries = 20_000;

/** Compiles SecretRules into a scanner; patterns that do not compile are reported and skipped. */
export function createSecretScanner(
  rules: readonly Pick<SnapshotSecretRule, 'namespace' | 'name' | 'detectors' | 'patterns'>[],
  onProblem: (problem: CompileProblem) => void = () => {},
): SecretScanner {
  const checks: Check[] = [];
  const alwaysChecks: Check[] = [];
  for (const rule of rules) {
    const secretRule = `${rule.namespace}/${rule.name}`;
    for (const detector of selectBuiltinDetectors(rule.detectors)) {
      checks.push({
        rule: detector.id,
        secretRule,
        keywords: detector.keywords,
        pattern: detector.pattern,
        validate: detector.validate,
        costly: detector.costly === true,
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
      ? new RE2.Set(keywords.map((keyword) => (customKeywords.has(keyword) ? `(?i)${escapeRegExp(keyword)}` : escapeRegExp(keyword))))
      : null;
  const cleanCache = new Map<string, true>();
  // Which keywords a decoded string holds, looking only for those the raw prefilter found: a
  // few are searched with indexOf (memchr-fast), more with one combined pass per string.
  const customKeywordByLower = new Map([...customKeywords].map((keyword) => [keyword.toLowerCase(), keyword]));
  const keywordFinder = (present: readonly string[]): ((text: string) => Set<string>) => {
    const exact = present.filter((keyword) => !customKeywords.has(keyword));
    const loose = present.filter((keyword) => customKeywords.has(keyword));
    const exactPattern = exact.length > 4 ? new RegExp(exact.map(escapeRegExp).join('|'), 'g') : null;
    const loosePattern = loose.length > 0 ? new RegExp(loose.map(escapeRegExp).join('|'), 'gi') : null;
    return (text) => {
      const found = new Set<string>();
      if (exactPattern) {
        exactPattern.lastIndex = 0;
        for (let m = exactPattern.exec(text); m !== null; m = exactPattern.exec(text)) found.add(m[0]);
      } else {
        for (const keyword of exact) if (text.includes(keyword)) found.add(keyword);
      }
      if (loosePattern) {
        loosePattern.lastIndex = 0;
        for (let m = loosePattern.exec(text); m !== null; m = loosePattern.exec(text)) {
          found.add(customKeywordByLower.get(m[0].toLowerCase()) ?? m[0]);
        }
      }
      return found;
    };
  };

  function remember(hash: string): void {
    if (cleanCache.size >= cacheMaxEntries) {
      const oldest = cleanCache.keys().next().value;
      if (oldest !== undefined) cleanCache.delete(oldest);
    }
    cleanCache.set(hash, true);
  }

  return {
    ruleCount: checks.length + alwaysChecks.length,
    scan(raw, body, options = {}) {
      const result: ScanResult = { blocked: false, matches: [], scannedStrings: 0, cachedStrings: 0 };
      let active: Check[] = alwaysChecks;
      let activeKeywords: string[] = [];
      if (keywordSet) {
        const present = keywordSet.match(raw);
        if (present.length > 0) {
          activeKeywords = present.map((i) => keywords[i]!);
          const presentSet = new Set(activeKeywords);
          active = [...alwaysChecks, ...checks.filter((check) => check.keywords.some((keyword) => presentSet.has(keyword)))];
        }
      }
      if (active.length === 0) return result;
      const path: (string | number)[] = [];
      const keywordsIn = keywordFinder(activeKeywords);

      const scanString = (text: string): boolean => {
        const found = keywordsIn(text);
        const candidates = active.filter((check) => check.keywords.length === 0 || check.keywords.some((keyword) => found.has(keyword)));
        if (candidates.length === 0) return false;
        let hash: string | undefined;
        // Hashing reads the whole string too: worth it only when the search would cost more
        // (several rules, a pattern without a literal start, or any custom RE2 pattern).
        if (text.length >= cacheMinLength && (candidates.length > 2 || candidates.some((check) => check.costly))) {
          hash = hashText('sha1', text, 'base64');
          if (cleanCache.has(hash)) {
            result.cachedStrings++;
            return false;
          }
        }
        result.scannedStrings++;
        const before = result.matches.length;
        // JSON inside a string (tool-call arguments, file contents): search its decoded strings.
        const first = text.charCodeAt(0);
        if ((first === 123 || first === 91) && text.length > 2) {
          try {
            const inner: unknown = JSON.parse(text);
            if (inner !== null && typeof inner === 'object') {
              walk(inner);
              if (result.matches.length === before && hash) remember(hash);
              return result.matches.length > before && !options.all;
            }
          } catch {
            // not JSON: search the text itself
          }
        }
        for (const check of candidates) {
          const pattern = check.pattern;
          pattern.lastIndex = 0;
          for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
            if (m[0].length === 0) {
              pattern.lastIndex++;
              continue;
            }
            if (check.validate && !check.validate(m as RegExpExecArray, text)) continue;
            const found = m[0];
            const start = m.index;
            result.matches.push({
              rule: check.rule,
              secretRule: check.secretRule,
              path: formatPath(path),
              start,
              end: start + found.length,
              text: found,
              fingerprint: fingerprintSecret(found),
            });
            if (!options.all) return true;
          }
        }
        if (result.matches.length === before && hash) remember(hash);
        return false;
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
          path.push(key);
          const stop = walk((value as Record<string, unknown>)[key]);
          path.pop();
          if (stop) return true;
        }
        return false;
      };

      walk(body);
      result.blocked = result.matches.length > 0;
      return result;
    },
  };
}

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
