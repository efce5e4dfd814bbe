import type { IncomingMessage } from 'node:http';
import type { ErrorCode } from '@codevector/core/errors';
import type { KeyLookup, KeyStore } from '../key-store.ts';
import type { Principal } from '../principal.ts';

export type Authentication = { ok: true; principal: Principal } | { ok: false; code: ErrorCode; message: string };

/** The virtual key from `x-api-key` or `Authorization: Bearer` (what each SDK sends). */
export function readKey(headers: IncomingMessage['headers']): string | null {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  const auth = headers.authorization;
  if (auth && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  return null;
}

/**
 * Step 1 of the request path, for every surface (HTTP, SSE, the Responses WebSocket): who is
 * calling. Synchronous while the key is cached (the common case), so the hot path takes no
 * extra tick.
 */
export function authenticate(
  keys: Pick<KeyStore, 'authenticate'>,
  headers: IncomingMessage['headers'],
): Authentication | Promise<Authentication> {
  const key = readKey(headers);
  if (!key)
    return { ok: false, code: 'GW_UNAUTHENTICATED', message: 'A CodeVector API key is required in x-api-key or Authorization: Bearer.' };
  const found = keys.authenticate(key);
  return found instanceof Promise ? found.then(toAuthentication) : toAuthentication(found);
}

function toAuthentication(lookup: KeyLookup): Authentication {
  if (lookup.ok) return { ok: true, principal: lookup.principal };
  switch (lookup.reason) {
    case 'revoked':
      return { ok: false, code: 'GW_KEY_REVOKED', message: 'This CodeVector API key has been revoked.' };
    case 'expired':
      return { ok: false, code: 'GW_UNAUTHENTICATED', message: 'This CodeVector API key has expired.' };
    case 'disabled':
      return { ok: false, code: 'GW_UNAUTHENTICATED', message: 'The owner of this CodeVector API key is disabled.' };
    default:
      return { ok: false, code: 'GW_UNAUTHENTICATED', message: 'The CodeVector API key is not valid.' };
  }
}
