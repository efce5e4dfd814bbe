import type { AddressInfo } from 'node:net';
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { adminEmail, startTestConsole, type TestClient } from '../testing/test-console.ts';

// SCIM 2.0 over real HTTP against real PostgreSQL, driven by the request sequences Okta's and
// Microsoft Entra ID's provisioning documentation give (their exact shapes: Entra's capitalised
// ops and "False" strings, Okta's path-less replace), plus the RFC 7644 error cases.
const token = 'scim-token-0123456789abcdef0123456789abcdef';
let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
let base: string;

beforeAll(async () => {
  t = await startTestConsole({ env: { CODEVECTOR_SCIM_TOKEN: token, CODEVECTOR_SCIM_IDP: 'okta' } });
  admin = await t.signIn();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/scim/v2`;
});
afterAll(() => t.close());

async function scim(method: string, path: string, body?: unknown, auth = `Bearer ${token}`) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: auth, ...(body ? { 'content-type': 'application/scim+json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  // biome-ignore lint/suspicious/noExplicitAny: SCIM bodies are read loosely and asserted
  return { status: response.status, type: response.headers.get('content-type'), json: (text ? JSON.parse(text) : null) as any };
}
const User = 'urn:ietf:params:scim:schemas:core:2.0:User';
const Group = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PatchOp = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const auditOf = (targetId: string) =>
  t.deps.pool.any(sql.type(z.object({ action: z.string(), actor: z.string(), actor_source: z.string(), detail: z.any() }))`
    select action, actor, actor_source, detail from audit_log where target_id = ${targetId} order by id`);

describe('SCIM authentication and errors', () => {
  it('refuses a missing or wrong bearer token with a SCIM 401', async () => {
    for (const auth of ['', 'Bearer nope', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`]) {
      const r = await scim('GET', '/Users', undefined, auth);
      expect(r.status).toBe(401);
      expect(r.type).toContain('application/scim+json');
      expect(r.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    }
  });

  it('answers unknown users, bad filters and bad bodies in SCIM shape', async () => {
    expect((await scim('GET', '/Users/2819c223-7f76-453a-919d-413861904646')).json).toMatchObject({ status: '404', scimType: 'noTarget' });
    expect((await scim('GET', `/Users?filter=${encodeURIComponent('userName co "x"')}`)).json).toMatchObject({
      status: '400',
      scimType: 'invalidFilter',
    });
    expect((await scim('GET', `/Users?filter=${encodeURIComponent('userName eq')}`)).json).toMatchObject({
      status: '400',
      scimType: 'invalidFilter',
    });
    expect((await scim('POST', '/Users', { schemas: [User] })).json).toMatchObject({ status: '400', scimType: 'invalidValue' });
    expect((await scim('PATCH', '/Users/x', { Operations: [] })).status).toBe(400);
    expect((await scim('GET', '/Nope')).json).toMatchObject({ status: '404' });
  });

  it('never shows or touches local accounts: the bootstrap admin is out of reach', async () => {
    const listed = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${adminEmail}"`)}`);
    expect(listed.json).toMatchObject({ totalResults: 0, Resources: [] });
    const adminId = (await admin.request('GET', '/api/users')).json.users.find((u: { email: string }) => u.email === adminEmail).id;
    const patched = await scim('PATCH', `/Users/${adminId}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(patched.status).toBe(404);
    const taken = await scim('POST', '/Users', { schemas: [User], userName: adminEmail, active: true });
    expect(taken.json).toMatchObject({ status: '409', scimType: 'uniqueness' });
  });
});

describe("Okta's provisioning sequence", () => {
  let id: string;
  it('looks the user up, creates it, reads it back with what it wrote', async () => {
    const userName = 'test.user@okta.local';
    const lookup = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    expect(lookup.json).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      totalResults: 0,
      startIndex: 1,
      itemsPerPage: 0,
      Resources: [],
    });
    const created = await scim('POST', '/Users', {
      schemas: [User],
      userName,
      name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: userName, type: 'work' }],
      displayName: 'Test User',
      locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7',
      groups: [],
      password: '1mz050nq',
      active: true,
    });
    expect(created.status).toBe(201);
    id = created.json.id;
    expect(created.json).toMatchObject({
      userName,
      active: true,
      externalId: '00ujl29u0le5T6Aj10h7',
      name: { givenName: 'Test' },
      locale: 'en-US',
    });
    expect(created.json.meta).toMatchObject({ resourceType: 'User', location: `${base}/Users/${id}` });
    expect(JSON.stringify(created.json)).not.toContain('1mz050nq');
    const read = await scim('GET', `/Users/${id}`);
    expect(read.json.emails).toEqual([{ primary: true, value: userName, type: 'work' }]);
    const again = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "TEST.USER@okta.local"`)}`);
    expect(again.json.totalResults).toBe(1);
    expect(await scim('POST', '/Users', { schemas: [User], userName })).toMatchObject({ status: 409 });
  });

  it('deactivates with a path-less replace: keys revoked, sessions ended, one audit row by the IdP', async () => {
    const key = await admin.request('POST', '/api/api-keys', { name: 'laptop', userId: id });
    expect(key.status).toBe(201);
    const r = await scim('PATCH', `/Users/${id}`, { schemas: [PatchOp], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(r.status).toBe(200);
    expect(r.json.active).toBe(false);
    const revoked = await t.deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from api_keys where user_id = ${id} and revoked_at is not null`);
    expect(revoked).toBe(1);
    const rows = await auditOf(id);
    expect(rows.map((row) => row.action)).toEqual(['user.created', 'user.disabled']);
    expect(rows.every((row) => row.actor === 'okta' && row.actor_source === 'idp')).toBe(true);
    expect(rows[1]?.detail).toMatchObject({ before: { disabled: false }, after: { disabled: true }, revokedApiKeys: 1 });
    // The same deactivation again changes nothing and writes nothing.
    await scim('PATCH', `/Users/${id}`, { schemas: [PatchOp], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(await auditOf(id)).toHaveLength(2);
  });

  it('manages a group: create, add and remove members, rename, delete', async () => {
    const group = await scim('POST', '/Groups', { schemas: [Group], displayName: 'Test SCIMv2', members: [] });
    expect(group.status).toBe(201);
    const gid = group.json.id;
    const add = await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'add', path: 'members', value: [{ value: id, display: 'test.user@okta.local' }] }],
    });
    expect(add.json.members).toEqual([{ value: id, display: 'test.user@okta.local' }]);
    const rename = await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'replace', value: { id: gid, displayName: 'Test SCIMv2 renamed' } }],
    });
    expect(rename.json).toMatchObject({ id: gid, displayName: 'Test SCIMv2 renamed' });
    const remove = await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }],
    });
    expect(remove.json.members).toEqual([]);
    expect((await auditOf(gid)).map((row) => row.action)).toEqual([
      'group.created',
      'group.member_added',
      'group.updated',
      'group.member_removed',
    ]);
    expect((await scim('DELETE', `/Groups/${gid}`)).status).toBe(204);
    expect((await scim('GET', `/Groups/${gid}`)).status).toBe(404);
  });
});

describe("Microsoft Entra ID's provisioning sequence", () => {
  let id: string;
  let gid: string;
  const userName = 'Test_User_dfeef4c5-5681-4387-b016-bdf221e82081';
  it('creates a user with the enterprise extension and finds it by userName', async () => {
    const created = await scim('POST', '/Users', {
      schemas: [User, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      userName,
      active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      roles: [],
    });
    expect(created.status).toBe(201);
    id = created.json.id;
    expect(created.json.displayName).toBe('givenName familyName');
    const found = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    expect(found.json.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
  });

  it('updates with capitalised ops and filtered paths, deactivates with the string "False"', async () => {
    const updated = await scim('PATCH', `/Users/${id}`, {
      schemas: [PatchOp],
      Operations: [
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
      ],
    });
    expect(updated.status).toBe(200);
    expect(updated.json.emails[0].value).toBe('updatedEmail@microsoft.com');
    expect(updated.json.name.familyName).toBe('updatedFamilyName');
    const off = await scim('PATCH', `/Users/${id}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(off.json.active).toBe(false);
    const on = await scim('PATCH', `/Users/${id}`, { schemas: [PatchOp], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect(on.json.active).toBe(true);
    expect((await auditOf(id)).map((row) => row.action)).toEqual(['user.created', 'user.updated', 'user.disabled', 'user.enabled']);
  });

  it('creates a group, lists it without members, adds and removes a member with a value list', async () => {
    const group = await scim('POST', '/Groups', {
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'displayName',
      meta: { resourceType: 'Group' },
      schemas: [Group],
    });
    gid = group.json.id;
    const listed = await scim('GET', `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "displayName"')}`);
    expect(listed.json.totalResults).toBe(1);
    expect(listed.json.Resources[0].members).toEqual([]);
    await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'Add', path: 'members', value: [{ $ref: null, value: id }] }],
    });
    expect((await scim('GET', `/Groups/${gid}`)).json.members.map((m: { value: string }) => m.value)).toEqual([id]);
    await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: id }] }],
    });
    expect((await scim('GET', `/Groups/${gid}`)).json.members).toEqual([]);
    const stranger = await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PatchOp],
      Operations: [{ op: 'Add', path: 'members', value: [{ value: '2819c223-7f76-453a-919d-413861904646' }] }],
    });
    expect(stranger.json).toMatchObject({ status: '400', scimType: 'invalidValue' });
  });

  it('deletes the user: gone for SCIM, its keys with it, and the deletion audited', async () => {
    expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
    expect((await scim('GET', `/Users/${id}`)).status).toBe(404);
    expect((await auditOf(id)).at(-1)).toMatchObject({ action: 'user.deleted', actor: 'okta', actor_source: 'idp' });
  });

  it('never writes the token into the audit log', async () => {
    const all = await t.deps.pool.anyFirst(sql.type(z.object({ d: z.string() }))`select detail::text as d from audit_log`);
    expect(all.join('\n')).not.toContain(token);
  });
});
