import { hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ErrorCode } from '@codevector/core/errors';
import type { KeyLookup, KeyStore } from '../key-store.ts';
import type { Principal } from '../principal.ts';
import type { Refusal } from './refuse.ts';

export type Authentication = { ok: true; principal: Principal } | ({ ok: false } & Refusal);

/** The virtual key from `x-api-key` or `Authorization: Bearer` (what each SDK sends). */
export function readKey(headers: IncomingMessage['headers']): string | null {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  const auth = headers.authorization;
  if (auth && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  return null;
}

/**
 * Step 1 of the request path, for every surface (HTTP, SSE, the Responses WebSocket, and again
 * before each WebSocket turn): who is calling. Synchronous while the key is cached (the common
 * case), so the hot path takes no extra tick. A refusal carries its `gateway.key_refused` event,
 * aggregated per key (revoked, expired, disabled owner) or per source address (unknown or
 * missing key) and minute, so a flood of bad keys cannot fill the audit log (issue #14 §5).
 */
export function authenticate(
  keys: Pick<KeyStore, 'authenticate'>,
  headers: IncomingMessage['headers'],
  source = 'unknown',
): Authentication | Promise<Authentication> {
  const key = readKey(headers);
  if (!key)
    return keyRefused('missing', 'GW_UNAUTHENTICATED', 'A CodeVector API key is required in x-api-key or Authorization: Bearer.', source);
  const found = keys.authenticate(key);
  return found instanceof Promise ? found.then((lookup) => toAuthentication(lookup, key, source)) : toAuthentication(found, key, source);
}

function toAuthentication(lookup: KeyLookup, key: string, source: string): Authentication {
  if (lookup.ok) return { ok: true, principal: lookup.principal };
  const known = { keyId: lookup.keyId, keyPrefix: lookup.keyPrefix, email: lookup.email };
  switch (lookup.reason) {
    case 'revoked':
      return keyRefused('revoked', 'GW_KEY_REVOKED', 'This CodeVector API key has been revoked.', source, known);
    case 'expired':
      return keyRefused('expired', 'GW_UNAUTHENTICATED', 'This CodeVector API key has expired.', source, known);
    case 'disabled':
      return keyRefused('disabled', 'GW_UNAUTHENTICATED', 'The owner of this CodeVector API key is disabled.', source, known);
    default:
      // Never any part of the key: a short hash tells repeated attempts with one key apart.
      return keyRefused('unknown', 'GW_UNAUTHENTICATED', 'The CodeVector API key is not valid.', source, {
        fingerprint: hash('sha256', key, 'hex').slice(0, 16),
      });
  }
}

function keyRefused(
  reason: string,
  code: ErrorCode,
  message: string,
  source: string,
  known: { keyId?: string | undefined; keyPrefix?: string | undefined; email?: string | undefined; fingerprint?: string } = {},
): { ok: false } & Refusal {
  const subject = known.keyId ? `key:${known.keyId}` : `source:${source}`;
  return {
    ok: false,
    code,
    message,
    headers: {},
    event: {
      action: 'gateway.key_refused',
      targetType: 'api_key',
      targetId: known.keyId ?? null,
      targetName: known.keyPrefix ?? null,
      detail: {
        reason,
        source,
        ...(known.email ? { owner: known.email } : {}),
        ...(known.fingerprint ? { fingerprint: known.fingerprint } : {}),
      },
    },
    aggregate: { subject, signature: reason },
  };
}
