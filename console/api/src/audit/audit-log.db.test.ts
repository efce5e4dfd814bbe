import { sql, statement } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;

// 400 rows over 40 days: admin mutations by three people, Kubernetes changes, and gateway
// rejections by 60 different users (more combinations than the merge strategy takes, so both
// query strategies run).
beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
  await t.deps.pool.query(statement`
    insert into audit_log (at, action, target_type, target_id, target_name, actor, actor_source, detail, request_id)
    select timestamptz '2030-01-01T00:00:00Z' + (i * interval '2 hours 24 minutes'),
      case when i % 4 = 0 then (array['user.created','group.updated','api_key.revoked'])[1 + i % 3]
           when i % 4 = 1 then (array['provider.updated','model.created'])[1 + (i / 4) % 2]
           else (array['gateway.rate_limit_exceeded','gateway.budget_exceeded','gateway.secret_blocked'])[1 + i % 3] end,
      case when i % 4 = 0 then (array['user','group','api_key'])[1 + i % 3]
           when i % 4 = 1 then (array['provider','model'])[1 + (i / 4) % 2]
           else 'api_key' end,
      'id-' || i, 'name-' || i,
      case when i % 4 = 0 then (array['alice@example.com','bob@example.com','carol@example.com'])[1 + i % 3]
           when i % 4 = 1 then 'kubernetes-admin'
           else 'user' || (i % 60) || '@example.com' end,
      case when i % 4 = 0 then 'console' when i % 4 = 1 then 'kubernetes' else 'gateway' end,
      case when i % 4 >= 2 then jsonb_build_object('rule', 'aws-key', 'limit', i)
           when i % 8 = 1 then jsonb_build_object('before', jsonb_build_object('n', i), 'after', jsonb_build_object('n', i + 1),
             'origin', jsonb_build_object('via', 'argocd', 'application', 'Application argocd/app-' || (i % 3),
               'repository', 'https://git.example.com/fleet-' || (i % 2) || '.git', 'revision', md5(i::text)))
           when i % 8 = 5 then jsonb_build_object('before', jsonb_build_object('n', i), 'after', jsonb_build_object('n', i + 1),
             'origin', jsonb_build_object('via', 'kubectl', 'fieldManager', 'kubectl-client-side-apply'))
           else jsonb_build_object('before', jsonb_build_object('n', i), 'after', jsonb_build_object('n', i + 1)) end,
      'req-' || i
    from generate_series(1, 400) i`);
});
afterAll(() => t.close());

type Filter = { action?: string; actor?: string; targetType?: string; origin?: string; from?: string; to?: string };

/** Brute force: the ids a filter should return, newest first, straight from SQL. */
async function expected(filter: Filter): Promise<number[]> {
  const parts = [sql.fragment`true`];
  if (filter.action) parts.push(sql.fragment`strpos(lower(action), lower(${filter.action})) > 0`);
  if (filter.actor) parts.push(sql.fragment`actor = ${filter.actor}`);
  if (filter.targetType) parts.push(sql.fragment`target_type = ${filter.targetType}`);
  if (filter.origin) {
    const o = filter.origin;
    parts.push(sql.fragment`(detail->'origin'->>'via' = lower(${o}) or strpos(lower(detail->'origin'->>'application'), lower(${o})) > 0
      or strpos(lower(detail->'origin'->>'repository'), lower(${o})) > 0 or starts_with(detail->'origin'->>'revision', ${o}))`);
  }
  if (filter.from) parts.push(sql.fragment`at >= ${filter.from}::timestamptz`);
  if (filter.to) parts.push(sql.fragment`at < ${filter.to}::timestamptz`);
  return [
    ...(await t.deps.pool.anyFirst(sql.type(z.object({ id: z.number() }))`
    select id from audit_log where ${sql.join(parts, sql.fragment` and `)} order by at desc, id desc`)),
  ];
}

async function walk(filter: Filter, limit = 7): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ ...filter, limit: String(limit), ...(cursor ? { cursor } : {}) });
    const page = await admin.request('GET', `/api/audit?${query}`);
    expect(page.status).toBe(200);
    ids.push(...page.json.entries.map((e: { id: number }) => e.id));
    cursor = page.json.nextCursor;
  } while (cursor);
  return ids;
}

const filters: Filter[] = [
  {},
  { action: 'EXCEEDED' },
  { action: 'user.' },
  { action: 'no-such-action' },
  { actor: 'alice@example.com' },
  { actor: 'user7@example.com' },
  { targetType: 'api_key' },
  { targetType: 'provider' },
  { from: '2030-01-10T00:00:00Z', to: '2030-01-20T00:00:00Z' },
  { action: 'gateway', targetType: 'api_key' },
  { action: 'gateway', actor: 'user7@example.com', from: '2030-01-05T00:00:00Z' },
  { actor: 'bob@example.com', targetType: 'group', to: '2030-02-01T00:00:00Z' },
  { actor: 'alice@example.com', targetType: 'provider' },
  { action: 'created', targetType: 'model', from: '2030-01-03T00:00:00Z', to: '2030-02-03T00:00:00Z' },
  { origin: 'argocd' },
  { origin: 'KUBECTL' },
  { origin: 'fleet-1' },
  { origin: 'argocd/app-2', action: 'updated' },
  { origin: 'c4ca' },
  { origin: 'argocd', actor: 'kubernetes-admin', from: '2030-01-10T00:00:00Z' },
  { origin: 'nothing-has-this-origin' },
];

describe('GET /api/audit', () => {
  it.each(filters)('pages through exactly the matching rows: %j', async (filter) => {
    expect(await walk(filter)).toEqual(await expected(filter));
  });

  it('returns the contract columns, newest first, with pending seals', async () => {
    const page = await admin.request('GET', '/api/audit?limit=2&actor=alice@example.com');
    expect(page.json.entries[0]).toEqual({
      id: expect.any(Number),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      action: expect.any(String),
      targetType: expect.any(String),
      targetId: expect.any(String),
      targetName: expect.any(String),
      actor: 'alice@example.com',
      actorSource: 'console',
      detail: expect.any(Object),
      requestId: expect.any(String),
      sealed: null,
    });
  });

  it('treats % and _ in the action filter literally', async () => {
    expect(await walk({ action: '%' })).toEqual([]);
    expect(await walk({ action: 'rate_limit' })).toEqual(await expected({ action: 'rate_limit' }));
  });

  it('keeps pages stable while rows arrive, and reports new rows above the first page', async () => {
    const first = await admin.request('GET', '/api/audit?limit=5');
    const second = await admin.request('GET', `/api/audit?limit=5&cursor=${first.json.nextCursor}`);
    await t.deps.pool.transaction((tx) =>
      writeAuditEntry(tx, {
        action: 'group.created',
        targetType: 'group',
        targetName: 'late',
        actor: 'dave@example.com',
        actorSource: 'console',
      }),
    );
    const secondAgain = await admin.request('GET', `/api/audit?limit=5&cursor=${first.json.nextCursor}`);
    expect(secondAgain.json.entries).toEqual(second.json.entries);
    const newest = first.json.entries[0];
    const { encodeCursor } = await import('./audit-filter.ts');
    const fresh = await admin.request('GET', `/api/audit?newerThan=${encodeCursor({ at: newest.at, id: newest.id })}`);
    // Rows written "now" sort above the seeded future-dated ones only if newer; seed is in 2030.
    expect(fresh.json.entries).toEqual([]);
    const all = await walk({ actor: 'dave@example.com' });
    expect(all).toHaveLength(1);
  });

  it('lists every actor and target type ever seen, including new ones', async () => {
    const facets = (await admin.request('GET', '/api/audit/facets')).json;
    expect(facets.actors).toContainEqual({ actor: 'kubernetes-admin', source: 'kubernetes' });
    expect(facets.actors).toContainEqual({ actor: 'user59@example.com', source: 'gateway' });
    expect(facets.actors).toContainEqual({ actor: 'system', source: 'system' });
    expect(facets.targetTypes).toEqual(['api_key', 'group', 'model', 'provider', 'user']);
  });

  it('rejects malformed filters and cursors', async () => {
    expect((await admin.request('GET', '/api/audit?from=yesterday')).json.error.code).toBe('CON_VALIDATION');
    expect((await admin.request('GET', '/api/audit?cursor=bogus')).json.error.code).toBe('CON_VALIDATION');
  });
});

describe('GET /api/audit/export', () => {
  it('streams the current filter as CSV with a header and safe cells', async () => {
    await t.deps.pool.transaction((tx) =>
      writeAuditEntry(tx, {
        action: 'group.created',
        targetType: 'group',
        targetName: '=HYPERLINK("x")',
        actor: 'eve@example.com',
        actorSource: 'console',
        detail: { note: 'a, "b"\nc' },
      }),
    );
    const filter = { action: 'gateway', actor: 'user7@example.com' };
    const r = await admin.request('GET', `/api/audit/export?format=csv&${new URLSearchParams(filter)}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/csv');
    expect(r.headers['content-disposition']).toMatch(/attachment; filename="codevector-audit-.*\.csv"/);
    const lines = r.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('id,at,action,target_type,target_id,target_name,actor,actor_source,request_id,sealed_seq,detail');
    expect(lines.slice(1).map((l) => Number(l.split(',')[0]))).toEqual(await expected(filter));
    const eve = await admin.request('GET', '/api/audit/export?format=csv&actor=eve@example.com');
    expect(eve.body).toContain(`'=HYPERLINK(""x"")`);
    expect(eve.body).toContain('"{""note"":""a, \\""b\\""\\nc""}"');
  });

  it('streams NDJSON with the same entries as the API', async () => {
    const r = await admin.request('GET', '/api/audit/export?format=ndjson&targetType=provider');
    expect(r.headers['content-type']).toContain('application/x-ndjson');
    const rows = r.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((x) => x.id)).toEqual(await expected({ targetType: 'provider' }));
    const page = await admin.request('GET', '/api/audit?targetType=provider&limit=1');
    expect(rows[0]).toEqual(page.json.entries[0]);
  });

  it('exports nothing but the header for a filter that matches nothing', async () => {
    const r = await admin.request('GET', '/api/audit/export?format=csv&action=nothing-matches');
    expect(r.body).toBe('id,at,action,target_type,target_id,target_name,actor,actor_source,request_id,sealed_seq,detail\r\n');
  });
});
