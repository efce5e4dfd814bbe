import type { UsageFormat } from '../usage.ts';

export type Json = Record<string, unknown>;

/** A request the gateway cannot express in the upstream's API (e.g. `n` > 1 for Anthropic); answered 400 in the client's shape. */
export class TranslationError extends Error {}

/** What an attempt sends upstream instead of the client's bytes. */
export type TranslatedRequest = { path: string; body: Json };

/** Rewrites an upstream SSE stream, piece by piece, into the client's; `end` flushes what the last piece left open. */
export type StreamTranslator = { push(text: string): string; end(): string };

export type TranslateContext = {
  /** The model name the client sent: what the client sees in answers. */
  clientModel: string;
  /** The name the upstream knows the model by. */
  upstreamModel: string;
  /** The Provider's type (`openai` takes `max_completion_tokens`, compatible servers `max_tokens`). */
  providerType: string;
  /** The client's request as it sent it (a Responses answer echoes some of it back). */
  clientBody?: Json;
};

/**
 * One direction of translation between the client's API and the upstream's (ADR 0124): the
 * request, a whole answer, a stream and an error, each in the other API's shape. Usage and cost
 * are never read from a translated answer: the forward step reads the upstream's own usage
 * fields (`upstreamFormat`) before translating, as for any request.
 */
export type Translator = {
  upstreamFormat: UsageFormat;
  /** @throws TranslationError when the request has no equivalent upstream. */
  request(body: Json, ctx: TranslateContext): TranslatedRequest;
  response(upstream: Json, ctx: TranslateContext): Json;
  stream(ctx: TranslateContext & { includeUsage: boolean }): StreamTranslator;
};

export const isJson = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);
export const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export const asString = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Parses tool-call arguments; a model that wrote broken JSON still gets its text through, under `_raw`. */
export function parseArguments(text: string): Json {
  if (!text.trim()) return {};
  try {
    const value = JSON.parse(text) as unknown;
    return isJson(value) ? value : { _raw: text };
  } catch {
    return { _raw: text };
  }
}

/** `n` random hex characters for ids the gateway makes up (`msg_…`, `chatcmpl-…`). */
export function randomId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll('-', '').slice(0, 24)}`;
}

/** Text of a system prompt or message content given as a string or a list of text blocks. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return asArray(content)
    .filter(isJson)
    .map((block) => (typeof block['text'] === 'string' ? block['text'] : ''))
    .filter(Boolean)
    .join('\n');
}

/** A data URL's media type and base64 payload, or null for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | null {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return match ? { mediaType: match[1]!, data: match[2]! } : null;
}

/** An Anthropic image block for an OpenAI image URL (a data URL becomes base64, anything else stays a URL). */
export function anthropicImage(url: string): Json {
  const data = parseDataUrl(url);
  return data
    ? { type: 'image', source: { type: 'base64', media_type: data.mediaType, data: data.data } }
    : { type: 'image', source: { type: 'url', url } };
}

/** The OpenAI image URL for an Anthropic image block, or null for a source OpenAI has no form for. */
export function openaiImageUrl(block: Json): string | null {
  const source = block['source'];
  if (!isJson(source)) return null;
  if (source['type'] === 'base64') return `data:${asString(source['media_type'])};base64,${asString(source['data'])}`;
  if (source['type'] === 'url') return asString(source['url']) || null;
  return null;
}

/** Anthropic stop reasons as OpenAI Chat finish reasons. */
export function finishReasonOf(stopReason: unknown): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** OpenAI Chat finish reasons as Anthropic stop reasons. */
export function stopReasonOf(finishReason: unknown): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Anthropic's usage block as OpenAI counts it: cached and cache-written tokens are part of the prompt. */
export function openaiCounts(usage: unknown): { prompt: number; cached: number; completion: number } {
  const u = isJson(usage) ? usage : {};
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  const cached = n(u['cache_read_input_tokens']);
  return {
    prompt: n(u['input_tokens']) + cached + n(u['cache_creation_input_tokens']),
    cached,
    completion: n(u['output_tokens']),
  };
}
