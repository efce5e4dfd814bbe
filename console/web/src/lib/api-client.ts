// The one way the console talks to its API. Response types come from the API's contract
// schemas (console/api/src/**/*-contract.ts), imported as types only: nothing of the server
// reaches the bundle, and a field the API renames breaks this build instead of a page.
import type { ApiErrorBody } from '@codevector/console-api/http/http-contract';

/** The console API's error shape, thrown by `api` for any non-2xx answer. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrfToken = '';

/** Remembers the session's CSRF token; every mutation echoes it in x-csrf-token. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/**
 * Calls the console API and returns its JSON body as `T`, the route's contract type.
 * @throws ApiError for any non-2xx answer; a 401 also tells the shell the session ended.
 */
export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json().catch(() => null)) as Partial<ApiErrorBody> | null;
  if (!response.ok) {
    if (response.status === 401 && url !== '/api/auth/login') window.dispatchEvent(new Event('codevector:signed-out'));
    throw new ApiError(response.status, json?.error?.code ?? 'HTTP', json?.error?.message ?? `Request failed (${response.status})`);
  }
  return json as T;
}
