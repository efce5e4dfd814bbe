import type { TokenPrices } from '@codevector/core/config-snapshot';
import type { Money } from '@codevector/core/money';

/** Token counts by kind, normalised across APIs: `input` excludes cache reads and writes. */
export type Usage = { input: number; output: number; cacheRead: number; cacheWrite: number };
export type UsageFormat = 'anthropic' | 'openai-chat' | 'openai-responses';

export const emptyUsage = (): Usage => ({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 });

/** The exact cost of a usage at a model's prices (picodollars per token, ADR 0004). */
export function costOf(usage: Usage, pricing: TokenPrices): Money {
  return (
    BigInt(usage.input) * pricing.input +
    BigInt(usage.output) * pricing.output +
    BigInt(usage.cacheRead) * pricing.cacheRead +
    BigInt(usage.cacheWrite) * pricing.cacheWrite
  );
}

type RawUsage = Record<string, unknown>;
// Token counts are whole and never negative, whatever a provider (or a fake one) sends.
const num = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER) : 0;

/** Merges an API's usage object into `into` (later events carry later counts). */
export function mergeUsage(format: UsageFormat, raw: RawUsage, into: Usage): void {
  if (format === 'anthropic') {
    if ('input_tokens' in raw) into.input = num(raw['input_tokens']);
    if ('cache_read_input_tokens' in raw) into.cacheRead = num(raw['cache_read_input_tokens']);
    if ('cache_creation_input_tokens' in raw) into.cacheWrite = num(raw['cache_creation_input_tokens']);
    if ('output_tokens' in raw) into.output = num(raw['output_tokens']);
    return;
  }
  // OpenAI counts cached tokens inside the prompt/input total.
  const prompt = num(format === 'openai-chat' ? raw['prompt_tokens'] : raw['input_tokens']);
  const details = (format === 'openai-chat' ? raw['prompt_tokens_details'] : raw['input_tokens_details']) as RawUsage | undefined;
  const cached = num(details?.['cached_tokens']);
  into.cacheRead = cached;
  into.input = Math.max(0, prompt - cached);
  into.output = num(format === 'openai-chat' ? raw['completion_tokens'] : raw['output_tokens']);
}

/**
 * The `"usage":{…}` object of a JSON text without parsing the whole response: finds the last
 * occurrence and parses just that object.
 */
export function findUsageObject(text: string): RawUsage | null {
  let at = text.lastIndexOf('"usage":');
  while (at >= 0) {
    let i = at + 8;
    while (text.charCodeAt(i) === 32) i++;
    if (text.charCodeAt(i) === 123) {
      const endAt = matchingBrace(text, i);
      if (endAt > 0) {
        try {
          return JSON.parse(text.slice(i, endAt + 1)) as RawUsage;
        } catch {
          return null;
        }
      }
      return null;
    }
    at = text.lastIndexOf('"usage":', at - 1);
  }
  return null;
}

const usageKey = Buffer.from('"usage":');

/**
 * `findUsageObject` on the bytes of a JSON response, so a large answer is never turned into one
 * string: the search and the brace matching run on UTF-8 bytes (every multi-byte sequence is
 * ≥ 0x80, so it can never be mistaken for a quote, backslash or brace), and only the usage
 * object itself is decoded and parsed.
 */
export function findUsageObjectInBytes(bytes: Buffer): RawUsage | null {
  let at = bytes.lastIndexOf(usageKey);
  while (at >= 0) {
    let i = at + usageKey.length;
    while (bytes[i] === 32) i++;
    if (bytes[i] === 123) {
      const endAt = matchingByteBrace(bytes, i);
      if (endAt > 0) {
        try {
          return JSON.parse(bytes.toString('utf8', i, endAt + 1)) as RawUsage;
        } catch {
          return null;
        }
      }
      return null;
    }
    at = at === 0 ? -1 : bytes.lastIndexOf(usageKey, at - 1);
  }
  return null;
}

/** `matchingBrace` over bytes (kept apart so each loop stays monomorphic). */
function matchingByteBrace(bytes: Buffer, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123) depth++;
    else if (c === 125 && --depth === 0) return i;
  }
  return -1;
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123) depth++;
    else if (c === 125 && --depth === 0) return i;
  }
  return -1;
}

/** Usage of a non-streaming response body (its text, or its decoded bytes). */
export function usageFromJson(format: UsageFormat, body: string | Buffer): Usage | null {
  const raw = typeof body === 'string' ? findUsageObject(body) : findUsageObjectInBytes(body);
  if (!raw) return null;
  const usage = emptyUsage();
  mergeUsage(format, raw, usage);
  return usage;
}

/**
 * Follows an SSE stream's usage without touching the bytes the client gets: Anthropic's
 * message_start and message_delta, OpenAI Chat's final usage chunk, the Responses API's
 * response.completed (or incomplete/failed).
 */
export function createSseUsageTap(format: UsageFormat): { push(text: string): void; usage: Usage; seen: boolean } {
  // The unfinished line is kept as its pieces and joined once when its newline comes: joining
  // on every chunk re-copied the whole line each time (a 10 MB SSE line in 64 KB chunks made
  // ~400 MB of garbage, fault suite "upstream faults"). A line longer than maxLineChars is not
  // read for usage at all, so what the tap holds is bounded whatever the upstream sends.
  let parts: string[] = [];
  let partChars = 0;
  let overlong = false;
  const tap = {
    usage: emptyUsage(),
    seen: false,
    push(text: string) {
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const piece = text.slice(start, nl);
        const line = overlong ? '' : parts.length === 0 ? piece : parts.join('') + piece;
        parts = [];
        partChars = 0;
        overlong = false;
        if (line.startsWith('data:') && (line.includes('"usage":{') || line.includes('"usage": {'))) {
          const raw = findUsageObject(line);
          if (raw) {
            mergeUsage(format, raw, tap.usage);
            tap.seen = true;
          }
        }
        start = nl + 1;
      }
      if (start < text.length && !overlong) {
        partChars += text.length - start;
        if (partChars > maxLineChars) {
          overlong = true;
          parts = [];
        } else parts.push(start === 0 ? text : text.slice(start));
      }
    },
  };
  return tap;
}

const maxLineChars = 16 * 1024 * 1024;

/**
 * Recent output tokens per model, for default-mode budget reservations: a high percentile of the
 * last answers predicts the next one without reserving a coding agent's 64k `max_tokens`.
 */
export function createOutputEstimator(options: { window?: number; percentile?: number; fallback?: number } = {}) {
  const size = options.window ?? 256;
  const percentile = options.percentile ?? 0.95;
  const fallback = options.fallback ?? 4096;
  // The percentile is recomputed every 32 answers (a sort of 256 numbers), not per request.
  const recent = new Map<string, { values: number[]; next: number; cached: number | null; sinceSort: number }>();
  return {
    observe(model: string, outputTokens: number) {
      let entry = recent.get(model);
      if (!entry) {
        entry = { values: [], next: 0, cached: null, sinceSort: 0 };
        recent.set(model, entry);
      }
      if (entry.values.length < size) entry.values.push(outputTokens);
      else entry.values[entry.next] = outputTokens;
      entry.next = (entry.next + 1) % size;
      if (++entry.sinceSort >= 32 || entry.values.length < 64) {
        entry.sinceSort = 0;
        entry.cached = null;
      }
    },
    estimate(model: string): number {
      const entry = recent.get(model);
      if (!entry || entry.values.length < 8) return fallback;
      if (entry.cached === null) {
        const sorted = [...entry.values].sort((a, b) => a - b);
        entry.cached = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * percentile))]!;
      }
      return entry.cached;
    },
  };
}
export type OutputEstimator = ReturnType<typeof createOutputEstimator>;
