import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CodeVectorError } from '@codevector/core/errors';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { AppDeps } from './app-deps.ts';
import { auditRoutes } from './audit/audit-routes.ts';
import { authRoutes } from './auth/auth-routes.ts';
import { oidcRoutes } from './auth/oidc-routes.ts';
import { createSessionGuard } from './auth/session-guard.ts';
import { registerConsoleMetrics } from './console-metrics.ts';
import { handleError } from './http/http-errors.ts';
import { insightRoutes } from './insights/insight-routes.ts';
import { apiKeyRoutes } from './people/api-key-routes.ts';
import { groupRoutes } from './people/group-routes.ts';
import { userRoutes } from './people/user-routes.ts';
import { resourceRoutes } from './resources/resource-routes.ts';
import { scimRoutes } from './scim/scim-routes.ts';

/** Builds the console API (and web host) without listening; main.ts and tests call this. */
export async function buildApp(deps: AppDeps, options: { metricsRegistry?: Registry } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Only the named proxies' X-Forwarded-* count (request.ip, request.protocol); false otherwise.
    trustProxy: deps.config.TRUST_PROXY.length > 0 ? deps.config.TRUST_PROXY : false,
    genReqId: () => randomUUID(),
    bodyLimit: 64 * 1024,
  });
  app.decorateRequest('session', null);
  await app.register(fastifyCookie);
  app.setErrorHandler(handleError);

  app.addHook('onRequest', createSessionGuard(deps.sessions));
  if (options.metricsRegistry) registerConsoleMetrics(app, options.metricsRegistry);

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
  // Each room is an encapsulated plugin handed only what it uses; the guard, error handler and
  // headers above are on the root instance, so every plugin inherits them.
  await app.register(authRoutes, {
    config: deps.config,
    pool: deps.pool,
    sessions: deps.sessions,
    throttle: deps.throttle,
    identityProvider: deps.identityProvider,
  });
  await app.register(oidcRoutes, { config: deps.config, sessions: deps.sessions, oidc: deps.oidc });
  await app.register(userRoutes, { pool: deps.pool, sessions: deps.sessions });
  await app.register(groupRoutes, { pool: deps.pool });
  await app.register(apiKeyRoutes, { pool: deps.pool });
  await app.register(resourceRoutes, { pool: deps.pool });
  await app.register(auditRoutes, { pool: deps.pool, exportPool: deps.exportPool, anchor: deps.anchor });
  await app.register(insightRoutes, { config: deps.config, pool: deps.pool });
  await app.register(scimRoutes, { config: deps.config, pool: deps.pool });

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
