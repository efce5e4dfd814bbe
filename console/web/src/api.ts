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
  const json = (await response.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (!response.ok) {
    if (response.status === 401 && url !== '/api/auth/login') window.dispatchEvent(new Event('codevector:signed-out'));
    throw new ApiError(response.status, json?.error?.code ?? 'HTTP', json?.error?.message ?? `Request failed (${response.status})`);
  }
  return json as T;
}

export type Role = 'admin' | 'auditor' | 'member';
export type User = { id: string; email: string; displayName: string; role: Role };

export type AuditEntry = {
  id: number;
  at: string;
  action: string;
  targetType: string;
  targetId: string | null;
  targetName: string | null;
  actor: string;
  actorSource: 'console' | 'kubernetes' | 'gateway' | 'system';
  detail: unknown;
  requestId: string | null;
  sealed: number | null;
};
