import { randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DatabasePool } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { Logger } from '@codevector/core/logger';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerApiKeyRoutes } from './api-key-routes.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerAuthRoutes, sessionCookie } from './auth-routes.ts';
import type { ConsoleConfig } from './config.ts';
import { registerGroupRoutes } from './group-routes.ts';
import { handleError } from './http-errors.ts';
import type { PasswordIdentityProvider } from './identity-provider.ts';
import { registerInsightRoutes } from './insight-routes.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { registerResourceRoutes } from './resource-routes.ts';
import type { SessionStore } from './session-store.ts';
import { registerUserRoutes } from './user-routes.ts';

export type AppDeps = {
  config: ConsoleConfig;
  pool: DatabasePool;
  /** Long-running reads (export, verify) get their own pool without a statement timeout. */
  exportPool: DatabasePool;
  logger: Logger;
  sessions: SessionStore;
  throttle: LoginThrottle;
  identityProvider: PasswordIdentityProvider;
};

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Builds the console API (and web host) without listening; main.ts and tests call this. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    trustProxy: deps.config.TRUST_PROXY === 'true',
    genReqId: () => randomUUID(),
    bodyLimit: 64 * 1024,
  });
  app.decorateRequest('session', null);
  await app.register(fastifyCookie);
  app.setErrorHandler(handleError);

  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/api/')) return;
    const token = request.cookies[sessionCookie];
    request.session = token ? await deps.sessions.find(token) : null;
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
  });

  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('x-frame-options', 'DENY');
    void reply.header('referrer-policy', 'same-origin');
    if (request.url.startsWith('/api/')) void reply.header('cache-control', reply.getHeader('cache-control') ?? 'no-store');
    else {
      void reply.header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
    }
  });

  app.get('/healthz', async () => ({ ok: true }));
  registerAuthRoutes(app, deps);
  registerUserRoutes(app, deps);
  registerGroupRoutes(app, deps);
  registerApiKeyRoutes(app, deps);
  registerResourceRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerInsightRoutes(app, deps);

  const dist = deps.config.CONSOLE_WEB_DIST ? path.resolve(deps.config.CONSOLE_WEB_DIST) : null;
  if (dist && existsSync(path.join(dist, 'index.html'))) {
    await app.register(fastifyStatic, { root: dist, wildcard: false, index: false });
    // The web app routes on the client (/admin/audit-log?actor=…): any non-API path gets index.html.
    app.get('/*', (request, reply) => {
      if (request.url.startsWith('/api/')) throw new CodeVectorError('CON_NOT_FOUND');
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    });
  }
  app.setNotFoundHandler((_request, _reply) => {
    throw new CodeVectorError('CON_NOT_FOUND');
  });
  return app;
}
