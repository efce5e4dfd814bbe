// Every route's answer against its contract schema, the one the web console's types come from.
// `parse` strips keys a schema does not name, so `toEqual` also catches a field the API sends
// but the contract does not declare: drift either way fails here, not in a browser.
import { statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { sealAuditChain } from './audit/audit-chain.ts';
import { auditFacetsSchema, auditPageSchema, chainHeadSchema, chainReportSchema } from './audit/audit-contract.ts';
import { sessionSchema } from './auth/auth-contract.ts';
import { apiErrorSchema, okSchema } from './http/http-contract.ts';
import { connectInfoSchema, dashboardSchema } from './insights/insight-contract.ts';
import {
  apiKeyListSchema,
  apiKeyResponseSchema,
  createdApiKeySchema,
  createdGroupSchema,
  groupListSchema,
  updatedGroupSchema,
  userListSchema,
  userResponseSchema,
} from './people/people-contract.ts';
import { resourceListSchema } from './resources/resource-contract.ts';
import { adminEmail, adminPassword, startTestConsole, type TestClient } from './testing/test-console.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
  await t.deps.pool.query(statement`insert into providers (uid, namespace, name, generation, spec, api_key_ciphertext, api_key_fingerprint)
    values ('p1', 'team-a', 'anthropic', 2, '{"type":"anthropic"}', '\\xdeadbeef', 'sha256:ab12')`);
  await t.deps.pool.query(
    statement`insert into budgets (uid, namespace, name, generation, spec) values ('b1', 'team-a', 'monthly', 1, '{"amountUSD":100}')`,
  );
});
afterAll(() => t.close());

async function expectShape(schema: z.ZodType, response: Promise<{ status: number; json: unknown }>, status = 200) {
  const r = await response;
  expect(r.status).toBe(status);
  expect(schema.parse(r.json)).toEqual(r.json);
  return r.json as never;
}

describe('console API contract', () => {
  it('answers auth, people and key routes as their schemas say', async () => {
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: adminEmail, password: adminPassword } });
    expect(sessionSchema.parse(login.json())).toEqual(login.json());
    await expectShape(sessionSchema, admin.request('GET', '/api/session'));

    const { user } = await expectShape(
      userResponseSchema,
      admin.request('POST', '/api/users', { email: 'c@example.com', role: 'member', password: 'a long enough password' }),
      201,
    );
    await expectShape(userResponseSchema, admin.request('PATCH', `/api/users/${(user as { id: string }).id}`, { role: 'auditor' }));
    await expectShape(userListSchema, admin.request('GET', '/api/users'));

    const { group } = await expectShape(createdGroupSchema, admin.request('POST', '/api/groups', { name: 'platform' }), 201);
    const groupId = (group as { id: string }).id;
    await expectShape(updatedGroupSchema, admin.request('PATCH', `/api/groups/${groupId}`, { description: 'the platform team' }));
    await expectShape(okSchema, admin.request('POST', `/api/groups/${groupId}/members`, { userId: (user as { id: string }).id }), 201);
    const groups = await expectShape(groupListSchema, admin.request('GET', '/api/groups'));
    expect(groups).toMatchObject({ groups: [{ name: 'platform', members: [{ email: 'c@example.com' }] }] });

    const created = await expectShape(createdApiKeySchema, admin.request('POST', '/api/api-keys', { name: 'laptop' }), 201);
    const keyId = (created as { apiKey: { id: string } }).apiKey.id;
    await expectShape(apiKeyListSchema, admin.request('GET', '/api/api-keys?scope=all'));
    await expectShape(apiKeyResponseSchema, admin.request('POST', `/api/api-keys/${keyId}/revoke`));

    await expectShape(okSchema, admin.request('DELETE', `/api/groups/${groupId}`));
    await expectShape(apiErrorSchema, admin.request('DELETE', `/api/groups/${groupId}`), 404);
  });

  it('answers resources, insights and the audit log as their schemas say', async () => {
    const providers = await expectShape(resourceListSchema, admin.request('GET', '/api/resources/providers'));
    expect(providers).toMatchObject({ items: [{ name: 'anthropic', apiKeyFingerprint: 'sha256:ab12' }] });
    const budgets = await expectShape(resourceListSchema, admin.request('GET', '/api/resources/budgets'));
    expect(budgets).toMatchObject({ items: [{ name: 'monthly', currentSpendUsd: null }] });
    await expectShape(connectInfoSchema, admin.request('GET', '/api/connect'));
    await expectShape(dashboardSchema, admin.request('GET', '/api/dashboard?days=7'));

    await sealAuditChain(t.deps.pool);
    const page = await expectShape(auditPageSchema, admin.request('GET', '/api/audit?limit=500'));
    const entries = (page as { entries: { sealed: number | null; detail: unknown }[] }).entries;
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.some((e) => e.sealed !== null)).toBe(true);
    await expectShape(auditFacetsSchema, admin.request('GET', '/api/audit/facets'));
    await expectShape(chainReportSchema, admin.request('GET', '/api/audit/verify'));
    await expectShape(chainHeadSchema, admin.request('GET', '/api/audit/chain'));
    const ndjson = await admin.request('GET', '/api/audit/export?format=ndjson');
    const exported = ndjson.body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(exported).toEqual(auditPageSchema.parse({ entries: exported, nextCursor: null }).entries);
    await expectShape(okSchema, admin.request('POST', '/api/auth/logout'));
  });
});
