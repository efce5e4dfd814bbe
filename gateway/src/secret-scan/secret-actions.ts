import { clip } from '../clip.ts';
import type { SecretAction, SecretMatch } from './secret-scanner.ts';

// What SecretRule `spec.action` does with a scan's matches (ADR 0115): Block refuses the request,
// Redact replaces each match with a placeholder in the body that is forwarded, Observe forwards
// the body unchanged; each match is recorded with the action taken.

/** The audit action of each SecretRule action. */
export const secretEventActions: Record<SecretAction, string> = {
  block: 'gateway.secret_blocked',
  redact: 'gateway.secret_redacted',
  observe: 'gateway.secret_observed',
};

/** The placeholder a redacted secret becomes, e.g. `[REDACTED:aws-access-key-id]`. */
export function redactionPlaceholder(rule: string): string {
  return `[REDACTED:${rule}]`;
}

/** Events a request records: one per match, at most this many (the rest are counted in the last). */
const maxEventsPerRequest = 20;

/**
 * The event detail of a match: where and what, never the value (a fingerprint to correlate, the
 * length, and for Redact the placeholder that replaced it).
 */
export function secretEventDetail(match: SecretMatch, model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    rule: match.rule,
    secretRule: match.secretRule,
    action: match.action,
    location: match.path,
    fingerprint: match.fingerprint,
    length: match.end - match.start,
    model: clip(model),
    ...(match.action === 'redact' ? { replacedWith: redactionPlaceholder(match.rule) } : {}),
    ...extra,
  };
}

/** The events of a scan's Redact and Observe matches (Block refuses with its own event). */
export function secretNotices(matches: readonly SecretMatch[], model: string) {
  const notices = matches.filter((m) => m.action !== 'block');
  const kept = notices.slice(0, maxEventsPerRequest);
  return kept.map((match, i) => ({
    action: secretEventActions[match.action],
    targetType: 'secret_rule',
    targetName: match.secretRule,
    detail: secretEventDetail(
      match,
      model,
      i === kept.length - 1 && notices.length > kept.length ? { moreMatches: notices.length - kept.length } : {},
    ),
  }));
}

/**
 * Replaces every Redact match in `body` (in place) with its placeholder; returns how many spans
 * were replaced. Overlapping spans are merged. A match inside JSON held by a string (tool-call
 * arguments) re-serialises that string's JSON with the secret replaced.
 */
export function redactBody(body: Record<string, unknown>, matches: readonly SecretMatch[]): number {
  const byPath = new Map<string, SecretMatch[]>();
  for (const match of matches) {
    if (match.action !== 'redact') continue;
    const list = byPath.get(match.path) ?? [];
    list.push(match);
    byPath.set(match.path, list);
  }
  let replaced = 0;
  for (const list of byPath.values()) {
    const spans = mergeSpans(list);
    replaced += spans.length;
    replaceAt(body, list[0]!.pathParts, 0, spans);
  }
  return replaced;
}

type Span = { start: number; end: number; rule: string };

function mergeSpans(matches: readonly SecretMatch[]): Span[] {
  const sorted = [...matches].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const m of sorted) {
    const last = out[out.length - 1];
    if (last && m.start < last.end) last.end = Math.max(last.end, m.end);
    else out.push({ start: m.start, end: m.end, rule: m.rule });
  }
  return out;
}

/** The value at `parts[from..]` below `value`, with the spans replaced; containers are changed in place. */
function replaceAt(value: unknown, parts: readonly (string | number)[], from: number, spans: readonly Span[]): unknown {
  if (typeof value === 'string') {
    if (from === parts.length) {
      let out = value;
      for (let i = spans.length - 1; i >= 0; i--) {
        const span = spans[i]!;
        out = out.slice(0, span.start) + redactionPlaceholder(span.rule) + out.slice(span.end);
      }
      return out;
    }
    // The scanner parsed this string as JSON and went on inside it.
    return JSON.stringify(replaceAt(JSON.parse(value) as unknown, parts, from, spans));
  }
  if (value === null || typeof value !== 'object' || from === parts.length) return value;
  const container = value as Record<string | number, unknown>;
  const key = parts[from]!;
  container[key] = replaceAt(container[key], parts, from + 1, spans);
  return value;
}
