import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ConsoleConfig } from '../config.ts';
import type { SignInOptions } from './auth-contract.ts';
import { secureCookie, setSessionCookie } from './auth-routes.ts';
import { type OidcSignIn, OidcSignInError } from './oidc-sign-in.ts';
import type { SessionStore } from './session-store.ts';

const attemptCookie = 'cv_oidc';

type OidcRoutesOptions = {
  config: Pick<ConsoleConfig, 'COOKIE_SECURE' | 'OIDC_REDIRECT_URL' | 'CONSOLE_LOCAL_LOGIN'>;
  sessions: SessionStore;
  oidc: OidcSignIn | null;
};

/** Only paths of this console: never an absolute or protocol-relative URL (open redirect). */
const safeReturnTo = (value: unknown) => (typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value.slice(0, 500) : '/');

/**
 * SSO sign-in: `/api/auth/oidc/start` sends the browser to the IdP, `/api/auth/oidc/callback`
 * comes back with a code and ends in a console session; `/api/auth/providers` tells the sign-in
 * page which ways to sign in are on.
 */
export const oidcRoutes: FastifyPluginAsync<OidcRoutesOptions> = async (app, deps) => {
  const secure = (request: FastifyRequest) => secureCookie(deps, request);
  const redirectUri = (request: FastifyRequest) =>
    deps.config.OIDC_REDIRECT_URL ?? `${request.protocol}://${request.host}/api/auth/oidc/callback`;

  app.get<{ Reply: SignInOptions }>('/api/auth/providers', async () => ({
    password: deps.config.CONSOLE_LOCAL_LOGIN === 'true',
    sso: deps.oidc ? { name: deps.oidc.displayName, start: '/api/auth/oidc/start' } : null,
  }));

  const oidc = deps.oidc;
  if (!oidc) return;

  app.get<{ Querystring: { returnTo?: string } }>('/api/auth/oidc/start', async (request, reply) => {
    const { url, cookie } = await oidc.begin(redirectUri(request), safeReturnTo(request.query.returnTo));
    // Lax: the IdP's redirect back is a top-level GET, which Lax cookies accompany.
    void reply.setCookie(attemptCookie, cookie, {
      path: '/api/auth/oidc',
      httpOnly: true,
      sameSite: 'lax',
      secure: secure(request),
      maxAge: 600,
    });
    return reply.redirect(url.href);
  });

  app.get('/api/auth/oidc/callback', async (request, reply) => {
    const callbackUrl = new URL(request.url, redirectUri(request));
    void reply.clearCookie(attemptCookie, { path: '/api/auth/oidc' });
    try {
      const { identity, returnTo } = await oidc.complete(callbackUrl, request.cookies[attemptCookie], { ip: request.ip });
      const created = await deps.sessions.create(identity, { userAgent: request.headers['user-agent'], ip: request.ip });
      setSessionCookie(reply, created.token, created.expiresAt, secure(request));
      return reply.redirect(safeReturnTo(returnTo));
    } catch (error) {
      if (!(error instanceof OidcSignInError)) throw error;
      request.log.info({ reason: error.message }, 'SSO sign-in refused');
      return reply.redirect(`/?signInError=${encodeURIComponent(error.message)}`);
    }
  });
};
