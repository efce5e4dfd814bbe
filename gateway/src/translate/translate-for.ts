import type { Surface } from '../api-error.ts';
import type { UsageFormat } from '../usage.ts';
import { anthropicToChat } from './anthropic-to-chat.ts';
import { chatToAnthropic } from './chat-to-anthropic.ts';
import { responsesToAnthropic } from './responses-to-anthropic.ts';
import { asString, isJson, type Translator } from './translator.ts';

/**
 * The translator between what the client speaks and what a Provider of `providerType` speaks,
 * or null when they are the same API (ADR 0124). Anthropic clients reach OpenAI-wire Providers
 * through Chat Completions, the API every OpenAI-compatible server has.
 */
export function translateFor(clientFormat: UsageFormat, providerType: string): Translator | null {
  const anthropicUpstream = providerType === 'anthropic';
  if (clientFormat === 'anthropic') return anthropicUpstream ? null : anthropicToChat;
  if (!anthropicUpstream) return null;
  return clientFormat === 'openai-chat' ? chatToAnthropic : responsesToAnthropic;
}

/**
 * An upstream's error body in the client's API shape, with the upstream's status and message
 * (the status tells the client whether to retry; the message what went wrong).
 */
export function translateError(client: Surface, status: number, upstreamBody: string): string {
  let message = '';
  let type = '';
  try {
    const parsed = JSON.parse(upstreamBody) as unknown;
    const error = isJson(parsed) ? parsed['error'] : null;
    if (isJson(error)) {
      message = asString(error['message']);
      type = asString(error['type']);
    } else if (typeof error === 'string') message = error;
  } catch {
    // Not JSON (a proxy's HTML page): the status says enough.
  }
  message ||= `The provider answered ${status}.`;
  if (client === 'anthropic') return JSON.stringify({ type: 'error', error: { type: anthropicErrorType(status, type), message } });
  return JSON.stringify({ error: { message, type: openaiErrorType(status, type), param: null, code: null } });
}

function anthropicErrorType(status: number, upstreamType: string): string {
  if (status === 400 || status === 422) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 529 || status === 503) return 'overloaded_error';
  return upstreamType === 'overloaded_error' ? upstreamType : 'api_error';
}

function openaiErrorType(status: number, upstreamType: string): string {
  if (status === 429) return upstreamType === 'insufficient_quota' ? upstreamType : 'rate_limit_exceeded';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status < 500) return 'invalid_request_error';
  return 'server_error';
}
