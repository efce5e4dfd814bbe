import { type AuditRecord, auditRecordSchema } from '@codevector/core/audit-entry';
import { type CommonQueryMethods, sql } from '@codevector/core/create-pool';
import { z } from 'zod';
import type { AuditFacets, AuditPage } from './audit-contract.ts';
import { type AuditCursor, type AuditFilter, atText, encodeCursor, likePattern, rangeConditions } from './audit-filter.ts';

// The record's fields under their API names (core audit-entry.ts), so rows need no mapping.
export const recordColumns = sql.fragment`a.id, ${atText} as at, a.action, a.target_type as "targetType", a.target_id as "targetId",
  a.target_name as "targetName", a.actor, a.actor_source as "actorSource", a.detail, a.request_id as "requestId"`;
const unsealedRecordSchema = auditRecordSchema.omit({ sealed: true });

const facetRow = z.object({ action: z.string(), target_type: z.string(), actor: z.string() });
export type Facet = z.infer<typeof facetRow>;

// Up to this many (action, target type, actor) combinations, a page is the merge of one short
// index range per combination: cost bounded by combinations x page size, whatever the table
// size or how rare the combination. Above it the filter is broad (typically many gateway
// actors), matching rows are dense, and one ordered scan with a filter finds a page quickly.
const maxMergedFacets = 48;

/** The distinct combinations a filter can match, from the small facets table. */
export async function matchFacets(db: CommonQueryMethods, filter: AuditFilter): Promise<Facet[]> {
  const conditions = [sql.fragment`true`];
  if (filter.action) conditions.push(sql.fragment`action ilike ${likePattern(filter.action)}`);
  if (filter.actor) conditions.push(sql.fragment`actor = ${filter.actor}`);
  if (filter.targetType) conditions.push(sql.fragment`target_type = ${filter.targetType}`);
  return [
    ...(await db.any(sql.type(facetRow)`
    select distinct action, target_type, actor from audit_facets where ${sql.join(conditions, sql.fragment` and `)}`)),
  ];
}

/** Conditions for the broad strategy and export: equality on actor/target, action in the matched set. */
export function filterConditions(filter: AuditFilter, facets: Facet[] | null) {
  const parts = rangeConditions(filter);
  if (filter.actor) parts.push(sql.fragment`a.actor = ${filter.actor}`);
  if (filter.targetType) parts.push(sql.fragment`a.target_type = ${filter.targetType}`);
  if (filter.action && facets) {
    const actions = [...new Set(facets.map((f) => f.action))];
    parts.push(sql.fragment`a.action = any(${sql.array(actions, 'text')})`);
  }
  return parts;
}

/**
 * One page of the audit log, newest first, keyset-paginated on (at, id) so pages stay stable
 * while rows arrive. `newerThan` instead returns what arrived above a cursor (for live updates).
 */
export async function listAuditEntries(
  db: CommonQueryMethods,
  filter: AuditFilter,
  options: { cursor?: AuditCursor | undefined; newerThan?: AuditCursor | undefined; limit: number },
): Promise<AuditPage> {
  const hasFacetFilter = Boolean(filter.action || filter.actor || filter.targetType);
  const facets = hasFacetFilter ? await matchFacets(db, filter) : null;
  if (facets && facets.length === 0) return { entries: [], nextCursor: null };

  const scan = [...rangeConditions(filter)];
  if (options.cursor) scan.push(sql.fragment`(a.at, a.id) < (${options.cursor.at}::timestamptz, ${options.cursor.id})`);
  if (options.newerThan) scan.push(sql.fragment`(a.at, a.id) > (${options.newerThan.at}::timestamptz, ${options.newerThan.id})`);
  const take = options.limit + 1;

  let rows: readonly Omit<AuditRecord, 'sealed'>[];
  if (facets && facets.length <= maxMergedFacets) {
    const scanWhere = sql.join([sql.fragment`true`, ...scan], sql.fragment` and `);
    rows = await db.any(sql.type(unsealedRecordSchema)`
      select r.* from unnest(${sql.array(
        facets.map((f) => f.action),
        'text',
      )}, ${sql.array(
        facets.map((f) => f.target_type),
        'text',
      )}, ${sql.array(
        facets.map((f) => f.actor),
        'text',
      )}) as f(action, target_type, actor)
      cross join lateral (
        select ${recordColumns} from audit_log a
        where a.action = f.action and a.target_type = f.target_type and a.actor = f.actor and ${scanWhere}
        order by a.at desc, a.id desc limit ${take}
      ) r
      order by r.at desc, r.id desc limit ${take}`);
  } else {
    const where = sql.join(
      [sql.fragment`true`, ...filterConditions({ ...filter, from: undefined, to: undefined, origin: undefined }, facets), ...scan],
      sql.fragment` and `,
    );
    rows = await db.any(sql.type(unsealedRecordSchema)`
      select ${recordColumns} from audit_log a where ${where} order by a.at desc, a.id desc limit ${take}`);
  }

  const page = rows.slice(0, options.limit);
  const seals = await sealsFor(
    db,
    page.map((r) => r.id),
  );
  const entries = page.map((r) => ({ ...r, sealed: seals.get(r.id) ?? null }));
  const last = page.at(-1);
  return { entries, nextCursor: rows.length > options.limit && last ? encodeCursor({ at: last.at, id: last.id }) : null };
}

async function sealsFor(db: CommonQueryMethods, ids: number[]): Promise<Map<number, number>> {
  if (ids.length === 0) return new Map();
  const rows = await db.any(sql.type(z.object({ audit_id: z.number(), seq: z.number() }))`
    select audit_id, seq from audit_chain where audit_id = any(${sql.array(ids, 'int8')})`);
  return new Map(rows.map((r) => [r.audit_id, r.seq]));
}

/** Every actor and target type ever seen, for the dropdowns. */
export async function listAuditFacetValues(db: CommonQueryMethods): Promise<AuditFacets> {
  const actors = await db.any(sql.type(z.object({ actor: z.string(), actor_source: auditRecordSchema.shape.actorSource }))`
    select distinct actor, actor_source from audit_facets order by actor, actor_source`);
  const targetTypes = await db.anyFirst(sql.type(z.object({ target_type: z.string() }))`
    select distinct target_type from audit_facets order by target_type`);
  const actions = await db.anyFirst(sql.type(z.object({ action: z.string() }))`
    select distinct action from audit_facets order by action`);
  return { actors: actors.map((a) => ({ actor: a.actor, source: a.actor_source })), targetTypes: [...targetTypes], actions: [...actions] };
}
