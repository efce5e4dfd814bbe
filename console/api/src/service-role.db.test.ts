import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealAuditChain } from './audit/audit-chain.ts';
import { startTestConsole, type TestClient } from './testing/test-console.ts';

// Every console route once, with the console connected as its own database role
// (codevector_console, core/migrations/0400): a grant missing for a page shows up here as a 500.
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;
let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;

beforeAll(async () => {
  login = await createTestServiceLogin('console');
  t = await startTestConsole({ env: { DATABASE_URL: login.url } });
  admin = await t.signIn();
});
afterAll(async () => {
  await t?.close();
  await login?.drop();
});

describe('the console on its own database role', () => {
  it('serves every page and mutation', async () => {
    const ok = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => {
      const response = await admin.request(method, url, body);
      expect({ url, status: response.status < 300 ? 'ok' : `${response.status} ${response.body}` }).toEqual({ url, status: 'ok' });
      return response.json;
    };
    const user = (await ok('POST', '/api/users', { email: 'kim@example.com', role: 'member', password: 'kim password 123' })).user;
    await ok('PATCH', `/api/users/${user.id}`, { role: 'auditor', password: 'kim password 456' });
    await ok('GET', '/api/users');
    const group = (await ok('POST', '/api/groups', { name: 'platform' })).group;
    await ok('PATCH', `/api/groups/${group.id}`, { description: 'the platform team' });
    await ok('POST', `/api/groups/${group.id}/members`, { userId: user.id });
    await ok('GET', '/api/groups');
    await ok('DELETE', `/api/groups/${group.id}/members/${user.id}`);
    await ok('DELETE', `/api/groups/${group.id}`);
    const key = (await ok('POST', '/api/api-keys', { name: 'laptop' })).apiKey;
    await ok('GET', '/api/api-keys');
    await ok('POST', `/api/api-keys/${key.id}/revoke`);
    for (const kind of ['providers', 'models', 'budgets', 'rate-limits', 'secret-rules']) await ok('GET', `/api/resources/${kind}`);
    await ok('GET', '/api/dashboard');
    await ok('GET', '/api/connect');
    await sealAuditChain(t.deps.pool);
    await ok('GET', '/api/audit?limit=5');
    await ok('GET', '/api/audit?actor=admin%40example.com&limit=5');
    await ok('GET', '/api/audit/facets');
    await ok('GET', '/api/audit/chain');
    expect((await ok('GET', '/api/audit/verify')).ok).toBe(true);
    const exported = await admin.request('GET', '/api/audit/export?format=ndjson');
    expect(exported.status).toBe(200);
    expect(exported.body).toContain('api_key.revoked');
    await ok('POST', '/api/auth/logout');
  });
});
