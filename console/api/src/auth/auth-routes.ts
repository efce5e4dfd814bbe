import type { DatabasePool } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleConfig } from '../config.ts';
import type { Ok } from '../http/http-contract.ts';
import { parseInput } from '../http/http-errors.ts';
import { loginInputSchema, type SessionInfo } from './auth-contract.ts';
import type { PasswordIdentityProvider } from './identity-provider.ts';
import { deviceCookie, type LoginThrottle } from './login-throttle.ts';
import { requireRole } from './request-context.ts';
import type { SessionStore } from './session-store.ts';

export const sessionCookie = 'cv_session';

// Spelled out rather than picked from AppDeps: app-deps.ts is made of this folder's types, and
// naming it here would loop auth/ back onto it.
type AuthRoutesOptions = {
  config: Pick<ConsoleConfig, 'COOKIE_SECURE' | 'CONSOLE_LOCAL_LOGIN'>;
  pool: DatabasePool;
  sessions: SessionStore;
  throttle: LoginThrottle;
  identityProvider: PasswordIdentityProvider;
};

/**
 * Whether the session cookie gets `Secure`: forced by config, else when the request came over
 * https. request.protocol honours X-Forwarded-Proto only from TRUST_PROXY's addresses.
 */
export function secureCookie(deps: { config: Pick<ConsoleConfig, 'COOKIE_SECURE'> }, request: FastifyRequest): boolean {
  if (deps.config.COOKIE_SECURE !== 'auto') return deps.config.COOKIE_SECURE === 'true';
  return request.protocol === 'https';
}

/** Sign-in, sign-out and the current session. */
export const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (app, deps) => {
  app.post<{ Reply: SessionInfo }>('/api/auth/login', async (request, reply) => {
    if (deps.config.CONSOLE_LOCAL_LOGIN === 'false')
      throw new CodeVectorError('CON_FORBIDDEN', 'Password sign-in is turned off here; sign in with SSO.');
    const input = parseInput(loginInputSchema, request.body);
    // request.ip is the peer's address, or X-Forwarded-For's as far as TRUST_PROXY's proxies vouch.
    const device = request.cookies[deviceCookie];
    await deps.throttle.assertAllowed(input.email, request.ip, device);
    const identity = await deps.identityProvider.authenticate(input.email, input.password);
    // Password sign-ins are on the record like SSO ones (ADR 0305): who, from where, never the
    // password. Attempts the throttle refused before checking are not: they checked nothing.
    const email = input.email.slice(0, 320);
    if (!identity) {
      await deps.throttle.recordFailure(input.email, request.ip, device);
      request.log.info({ email: input.email, ip: request.ip }, 'sign-in failed');
      await deps.pool.transaction((tx) =>
        writeAuditEntry(tx, {
          action: 'user.sign_in_failed',
          targetType: 'user',
          targetName: email,
          actor: email,
          actorSource: 'console',
          detail: { idp: 'local', reason: 'wrong e-mail or password, or a disabled account', ip: request.ip },
        }),
      );
      throw new CodeVectorError('CON_INVALID_CREDENTIALS');
    }
    const deviceToken = await deps.throttle.recordSuccess(input.email, request.ip, device);
    const created = await deps.sessions.create(identity, { userAgent: request.headers['user-agent'], ip: request.ip });
    await deps.pool.transaction((tx) =>
      writeAuditEntry(tx, {
        action: 'user.signed_in',
        targetType: 'user',
        targetId: identity.userId,
        targetName: email,
        actor: email,
        actorSource: 'console',
        detail: { idp: 'local', ip: request.ip },
      }),
    );
    const secure = secureCookie(deps, request);
    setSessionCookie(reply, created.token, created.expiresAt, secure);
    // Proof that this browser signed in to this account before: its attempts skip the
    // account-wide backoff a stranger may have caused (login-throttle.ts).
    void reply.setCookie(deviceCookie, deviceToken, {
      path: '/api/auth',
      httpOnly: true,
      sameSite: 'strict',
      secure,
      maxAge: 180 * 24 * 3600,
    });
    const session = await deps.sessions.find(created.token);
    return { user: session!.user, csrfToken: created.csrfToken };
  });

  app.post<{ Reply: Ok }>('/api/auth/logout', async (request, reply) => {
    const token = request.cookies[sessionCookie];
    // The session ends and its audit row is written together (issue #13 §1: sign-outs are on the
    // record, as sign-ins and refused sign-ins are). A cookie of no live session ends nothing.
    if (token)
      await deps.pool.transaction(async (tx) => {
        const ended = await deps.sessions.end(tx, token);
        if (!ended) return;
        await writeAuditEntry(tx, {
          action: 'user.signed_out',
          targetType: 'user',
          targetId: ended.user_id,
          targetName: ended.email,
          actor: ended.email,
          actorSource: 'console',
          detail: { idp: ended.idp, ip: request.ip },
        });
      });
    void reply.clearCookie(sessionCookie, { path: '/' });
    return { ok: true };
  });

  app.get<{ Reply: SessionInfo }>('/api/session', async (request) => {
    requireRole(request, 'admin', 'auditor', 'member');
    return { user: request.session!.user, csrfToken: request.session!.csrfToken };
  });
};

export function setSessionCookie(reply: FastifyReply, token: string, expires: Date, secure: boolean): void {
  void reply.setCookie(sessionCookie, token, { path: '/', httpOnly: true, sameSite: 'lax', secure, expires });
}
