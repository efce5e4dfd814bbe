import { type CommonQueryMethods, sql } from '@codevector/core/create-pool';
import { z } from 'zod';

/** What `kubectl get auditsinks` shows: how far the sink acknowledged, how far behind the sealed chain it is, the last failure. */
export async function auditSinkProgress(db: CommonQueryMethods, sinkUid: string): Promise<Record<string, unknown>> {
  const row = await db.one(sql.type(
    z.object({ delivered: z.number(), head: z.number(), delivered_at: z.string().nullable(), last_error: z.string().nullable() }),
  )`
    select coalesce(c.delivered_seq, 0)::int8::float8 as delivered,
           coalesce((select max(seq) from audit_chain), 0)::float8 as head,
           to_char(c.delivered_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as delivered_at,
           case when c.last_error_at > coalesce(c.delivered_at, '-infinity') then c.last_error end as last_error
    from (select 1) one left join audit_sink_cursors c on c.sink_uid = ${sinkUid}`);
  return {
    lastDeliveredSequence: row.delivered,
    lagRows: Math.max(0, row.head - row.delivered),
    ...(row.delivered_at ? { lastDeliveredAt: row.delivered_at } : {}),
    ...(row.last_error ? { lastError: row.last_error.slice(0, 1024) } : {}),
  };
}
