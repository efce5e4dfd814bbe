// Test support (not a test): a console on the per-file test database, signed-in clients via inject.
import { createLogger } from '@codevector/core/logger';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ensureBootstrapAdmin } from '../auth/bootstrap-admin.ts';
import type { ThrottlePolicies } from '../auth/login-throttle.ts';
import { buildApp } from '../build-app.ts';
import { consoleConfigSchema } from '../config.ts';
import { createDeps } from '../create-deps.ts';

export const adminEmail = 'admin@example.com';
export const adminPassword = 'correct horse battery staple';

export type TestClient = {
  csrfToken: string;
  cookie: string;
  request(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies loosely
  ): Promise<{ status: number; json: any; body: string; headers: Record<string, unknown> }>;
};

export async function startTestConsole(
  options: { env?: Record<string, string>; throttle?: ThrottlePolicies; metricsRegistry?: Registry } = {},
) {
  const config = consoleConfigSchema.parse({
    DATABASE_URL: process.env['DATABASE_URL'],
    SESSION_SECRET: 'test-secret-test-secret-test-secret-0123',
    CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL: adminEmail,
    CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
    GATEWAY_PUBLIC_URL: 'https://gateway.example.com',
    ...options.env,
  });
  const logger = createLogger({ name: 'console-test', level: 'silent' });
  const deps = await createDeps(config, logger, options.throttle ? { throttle: options.throttle } : {});
  await ensureBootstrapAdmin(deps.pool, adminEmail, adminPassword);
  const app = await buildApp(deps, { metricsRegistry: options.metricsRegistry });

  async function signIn(email = adminEmail, password = adminPassword): Promise<TestClient> {
    const response = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password } });
    if (response.statusCode !== 200) throw new Error(`sign-in failed: ${response.statusCode} ${response.body}`);
    const cookie = response.cookies.find((c) => c.name === 'cv_session')!;
    const csrfToken = response.json().csrfToken as string;
    return clientFor(app, `cv_session=${cookie.value}`, csrfToken);
  }
  return {
    app,
    deps,
    signIn,
    async close() {
      await app.close();
      await deps.close();
    },
  };
}

export function clientFor(app: FastifyInstance, cookie: string, csrfToken: string): TestClient {
  return {
    cookie,
    csrfToken,
    async request(method, url, body) {
      const response = await app.inject({
        method,
        url,
        headers: { cookie, ...(method === 'GET' ? {} : { 'x-csrf-token': csrfToken }) },
        ...(body === undefined ? {} : { payload: body as object }),
      });
      let json: unknown = null;
      try {
        json = response.json();
      } catch {}
      return { status: response.statusCode, json, body: response.body, headers: response.headers };
    },
  };
}
