import { type ErrorCode, errorCodes } from '@codevector/core/errors';

export type Surface = 'anthropic' | 'openai';

const anthropicTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

const openaiTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'invalid_request_error',
  408: 'timeout',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** Machine-readable codes for OpenAI-shaped errors, named after what OpenAI itself uses where it has one. */
const openaiCodes: Partial<Record<ErrorCode, string>> = {
  GW_UNAUTHENTICATED: 'invalid_api_key',
  GW_KEY_REVOKED: 'invalid_api_key',
  GW_MODEL_NOT_FOUND: 'model_not_found',
  GW_SECRET_BLOCKED: 'secret_blocked',
  GW_RATE_LIMITED: 'rate_limit_exceeded',
  GW_BUDGET_EXCEEDED: 'budget_exceeded',
};

/**
 * An error body in the caller's API shape (DESIGN §6): Anthropic `{type:"error", error:{type,
 * message}}`, OpenAI `{error:{message, type, param, code}}`.
 */
export function formatApiError(surface: Surface, code: ErrorCode, message?: string): { status: number; body: string } {
  const { status } = errorCodes[code];
  const text = message ?? errorCodes[code].message;
  if (surface === 'anthropic') {
    return { status, body: JSON.stringify({ type: 'error', error: { type: anthropicTypes[status] ?? 'api_error', message: text } }) };
  }
  return {
    status,
    body: JSON.stringify({
      error: { message: text, type: openaiTypes[status] ?? 'server_error', param: null, code: openaiCodes[code] ?? code.toLowerCase() },
    }),
  };
}
