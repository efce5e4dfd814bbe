import { timingSafeEqual } from 'node:crypto';
import { CodeVectorError } from '@codevector/core/errors';
import type { onRequestAsyncHookHandler } from 'fastify';
import { sessionCookie } from './auth-routes.ts';
import type { SessionStore } from './session-store.ts';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The onRequest hook in front of every /api/ route: loads the session from its cookie and
 * refuses cross-site mutations. Registered on the root instance, so no route plugin can opt out.
 * @throws CodeVectorError CON_CSRF, CON_UNAUTHENTICATED or CON_VALIDATION before any handler runs.
 */
export function createSessionGuard(sessions: SessionStore): onRequestAsyncHookHandler {
  return async (request) => {
    if (!request.url.startsWith('/api/')) return;
    const token = request.cookies[sessionCookie];
    request.session = token ? await sessions.find(token) : null;
    if (safeMethods.has(request.method)) return;
    // Cross-site requests never reach a handler: a foreign Origin is refused outright, and every
    // mutation of a signed-in session must echo the session's CSRF token in a header, which a
    // cross-site form or image cannot set. Sign-in has no session yet; it relies on the Origin
    // check and on requiring a JSON body (not sendable cross-site without a CORS preflight).
    const origin = request.headers.origin;
    if (origin && origin !== 'null' && new URL(origin).host !== request.host)
      throw new CodeVectorError('CON_CSRF', 'Cross-site request refused.');
    if (request.url === '/api/auth/login') {
      if (!request.headers['content-type']?.startsWith('application/json')) throw new CodeVectorError('CON_VALIDATION', 'Send JSON.');
      return;
    }
    if (!request.session) {
      if (request.url === '/api/auth/logout') return;
      throw new CodeVectorError('CON_UNAUTHENTICATED');
    }
    const sent = request.headers['x-csrf-token'];
    const expected = Buffer.from(request.session.csrfToken);
    if (typeof sent !== 'string' || sent.length !== expected.length || !timingSafeEqual(Buffer.from(sent), expected)) {
      throw new CodeVectorError('CON_CSRF');
    }
  };
}
