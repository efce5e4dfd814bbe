/**
 * Every error the product reports on purpose, one table with a prefix per area (GW_ gateway,
 * OP_ operator, CON_ console, CORE_ shared). Each code maps to an HTTP status and a default
 * message; docs/errors.md must list every code (a test checks it). `final` marks refusals a
 * retry cannot fix (a bad key, an unknown model, a secret, a spent budget): the gateway sends
 * `x-should-retry: false` with them, which the Anthropic and OpenAI SDKs (and so Claude Code and
 * Codex) honour by stopping at once instead of retrying for minutes.
 */
export const errorCodes = {
  CORE_CONFIG_INVALID: { status: 500, message: 'The service configuration is invalid.' },
  CORE_AUDIT_WRITE_FAILED: { status: 500, message: 'The audit record could not be written, so the change was not made.' },
  CORE_DATABASE_UNAVAILABLE: { status: 503, message: 'The database is unavailable.' },

  GW_UNAUTHENTICATED: { status: 401, message: 'A valid CodeVector API key is required.', final: true },
  GW_KEY_REVOKED: { status: 401, message: 'This API key has been revoked.', final: true },
  GW_MODEL_NOT_FOUND: { status: 404, message: 'The requested model is not configured on this gateway.', final: true },
  GW_SECRET_BLOCKED: { status: 400, message: 'The request contains a secret and was blocked.', final: true },
  GW_RATE_LIMITED: { status: 429, message: 'Rate limit exceeded.' },
  GW_BUDGET_EXCEEDED: { status: 402, message: 'Budget exceeded.', final: true },
  GW_BAD_REQUEST: { status: 400, message: 'The request body is not valid.', final: true },
  GW_UPSTREAM_UNAVAILABLE: { status: 502, message: 'The model provider could not be reached.' },
  GW_UPSTREAM_TIMEOUT: { status: 504, message: 'The model provider did not answer in time.' },
  GW_EVENT_NOT_RECORDED: { status: 503, message: 'The gateway could not record this request; try again.' },
  GW_NOT_READY: { status: 503, message: 'The gateway has not loaded its configuration yet.' },
  GW_WRONG_SURFACE: { status: 400, message: 'This model is served through the other API surface.', final: true },
  GW_PROVIDER_KEY_MISSING: { status: 503, message: 'The provider for this model has no API key configured.' },
  GW_BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.', final: true },
  GW_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time.' },
  GW_UNSUPPORTED_ENCODING: { status: 415, message: 'The content-encoding of the request body is not supported.', final: true },
  GW_UNKNOWN_MESSAGE: { status: 400, message: 'The gateway does not accept this WebSocket message type.', final: true },

  OP_SECRET_NOT_FOUND: { status: 422, message: 'The referenced Secret or key does not exist.' },
  OP_PROVIDER_NOT_FOUND: { status: 422, message: 'The referenced Provider does not exist.' },
  OP_PATTERN_INVALID: { status: 422, message: 'A secret rule pattern does not compile.' },
  OP_SPEC_INVALID: { status: 422, message: 'The resource spec is not valid.' },
  OP_SECRET_NOT_MARKED: { status: 403, message: 'The referenced Secret is not marked for use by CodeVector Providers.' },
  OP_BASE_URL_NOT_ALLOWED: { status: 403, message: "The Provider's baseURL is not in the installation's allow-list." },
  OP_CONFLICT: { status: 409, message: 'Another, older resource already holds what this one claims.' },
  OP_NOT_IN_INSTALLATION_NAMESPACE: { status: 403, message: 'Only the installation namespace may hold this kind of resource.' },

  CON_UNAUTHENTICATED: { status: 401, message: 'Sign in first.' },
  CON_FORBIDDEN: { status: 403, message: 'Your role does not allow this.' },
  CON_CSRF: { status: 403, message: 'The request is missing its CSRF token.' },
  CON_NOT_FOUND: { status: 404, message: 'Not found.' },
  CON_CONFLICT: { status: 409, message: 'That conflicts with an existing record.' },
  CON_VALIDATION: { status: 400, message: 'The input is not valid.' },
  CON_THROTTLED: { status: 429, message: 'Too many attempts; wait and try again.' },
  CON_INVALID_CREDENTIALS: { status: 401, message: 'The email or password is not correct.' },
  CON_LAST_ADMIN: { status: 409, message: 'This would leave no enabled admin.' },
} as const satisfies Record<string, { status: number; message: string; final?: true }>;

export type ErrorCode = keyof typeof errorCodes;

/** An error the product reports on purpose; the edge maps it to the caller's API shape. */
export class CodeVectorError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(message ?? errorCodes[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CodeVectorError';
    this.code = code;
    this.status = errorCodes[code].status;
    this.details = options?.details;
  }
}
