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
 * response.completed (or incomplete/failed). It also counts the output relayed so far (delta
 * events and their characters), so a stream cut before its usage arrived is still billed for
 * what the client received (ADR 0114).
 */
export function createSseUsageTap(format: UsageFormat): SseUsageTap {
  // The unfinished line is kept as its pieces and joined once when its newline comes: joining
  // on every chunk re-copied the whole line each time (a 10 MB SSE line in 64 KB chunks made
  // ~400 MB of garbage, fault suite "upstream faults"). A line longer than maxLineChars is not
  // read for usage at all, so what the tap holds is bounded whatever the upstream sends.
  let parts: string[] = [];
  let partChars = 0;
  let overlong = false;
  let overlongChars = 0;
  const tap: SseUsageTap = {
    usage: emptyUsage(),
    seen: false,
    inputSeen: false,
    outputSeen: false,
    deltas: { events: 0, chars: 0 },
    push(text: string) {
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const piece = text.slice(start, nl);
        if (overlong) {
          // A delta too long to read is still output the client got.
          tap.deltas.events++;
          tap.deltas.chars += overlongChars + piece.length;
        }
        const line = overlong ? '' : parts.length === 0 ? piece : parts.join('') + piece;
        parts = [];
        partChars = 0;
        overlong = false;
        overlongChars = 0;
        if (line.startsWith('data:')) {
          if (line.includes('"usage":{') || line.includes('"usage": {')) {
            const raw = findUsageObject(line);
            if (raw) {
              mergeUsage(format, raw, tap.usage);
              tap.seen = true;
              if (format === 'anthropic' ? 'input_tokens' in raw : true) tap.inputSeen = true;
              // Anthropic's message_start carries output_tokens 1 before any output: only the
              // final message_delta's count is the output.
              if (format !== 'anthropic' || !line.includes('"message_start"')) tap.outputSeen = true;
            }
          }
          countDelta(format, line, tap.deltas);
        }
        start = nl + 1;
      }
      if (start < text.length) {
        if (overlong) overlongChars += text.length - start;
        else {
          partChars += text.length - start;
          if (partChars > maxLineChars) {
            overlong = true;
            overlongChars = partChars;
            parts = [];
          } else parts.push(start === 0 ? text : text.slice(start));
        }
      }
    },
  };
  return tap;
}

export type SseUsageTap = {
  push(text: string): void;
  usage: Usage;
  /** A usage object was read. */
  seen: boolean;
  /** The input count was read (Anthropic's message_start, or any OpenAI usage). */
  inputSeen: boolean;
  /** The final output count was read. */
  outputSeen: boolean;
  /** Output relayed: delta events and the characters of text, thinking and tool arguments in them. */
  deltas: { events: number; chars: number };
};

const deltaFields = ['"text":"', '"partial_json":"', '"thinking":"', '"content":"', '"arguments":"', '"delta":"', '"reasoning_content":"'];

/**
 * Adds one SSE data line's output to `into` when it is a delta event: the characters of the
 * strings that carry output, read without parsing the line (the JSON escapes count as one
 * character each, close enough for an estimate).
 */
function countDelta(format: UsageFormat, line: string, into: { events: number; chars: number }): void {
  const isDelta =
    format === 'anthropic'
      ? line.includes('"content_block_delta"')
      : format === 'openai-chat'
        ? line.includes('"delta":{')
        : line.includes('.delta"');
  if (!isDelta) return;
  into.events++;
  for (const field of deltaFields) {
    let at = line.indexOf(field);
    while (at >= 0) {
      const from = at + field.length;
      let i = from;
      while (i < line.length) {
        const c = line.charCodeAt(i);
        if (c === 92) i += 2;
        else if (c === 34) break;
        else i++;
      }
      into.chars += i - from;
      at = line.indexOf(field, i);
    }
  }
}

/**
 * Output tokens of the deltas relayed (ADR 0114): the larger of one token per delta event (what
 * OpenAI streams send) and a token per four characters (the providers' own rule of thumb for
 * English and code, and what Anthropic's multi-token deltas come to). An upper estimate, for
 * streams cut before the provider said its count.
 */
export function outputTokensOfDeltas(deltas: { events: number; chars: number }): number {
  return Math.max(deltas.events, Math.ceil(deltas.chars / 4));
}

/**
 * Input tokens of a request body when the provider never said (a stream cut before its first
 * usage, a non-streaming answer the client abandoned): a token per four characters of the text
 * the model reads (messages or input, system, instructions, tool definitions), never zero for a
 * request that reached the upstream (ADR 0114).
 */
export function estimateInputTokens(body: Record<string, unknown>): number {
  let chars = 0;
  const stack: unknown[] = [body['messages'], body['input'], body['system'], body['instructions'], body['tools']];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) for (const item of value) stack.push(item);
    else if (value !== null && typeof value === 'object')
      for (const key in value as Record<string, unknown>) stack.push((value as Record<string, unknown>)[key]);
  }
  return Math.max(1, Math.ceil(chars / 4));
}

/**
 * What a request consumed when its answer did not finish (ADR 0114): the counts the provider
 * sent before the cut, and for what it had not said, the input counted from the body and the
 * output counted from the deltas relayed.
 */
export function partialUsage(tap: SseUsageTap | null, inputTokens: () => number, fallbackOutput: number): Usage {
  const used = tap ? { ...tap.usage } : emptyUsage();
  if (!tap?.inputSeen) used.input = inputTokens();
  if (!tap?.outputSeen) used.output = tap ? Math.max(used.output, outputTokensOfDeltas(tap.deltas)) : fallbackOutput;
  return used;
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
