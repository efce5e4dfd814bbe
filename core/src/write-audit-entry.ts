import { z } from 'zod';
import { type AuditEntry, auditEntrySchema } from './audit-entry.ts';
import { type DatabaseTransactionConnection, sql } from './create-pool.ts';
import { CodeVectorError } from './errors.ts';

/**
 * Writes a mutation's audit row inside the caller's transaction, so the change and its record
 * commit together or not at all (DESIGN §5.1). Takes a transaction connection on purpose: an
 * audit row written on its own connection could survive a rolled-back change, or vice versa.
 * @throws CodeVectorError CORE_AUDIT_WRITE_FAILED; the caller's transaction must then abort.
 */
export async function writeAuditEntry(tx: DatabaseTransactionConnection, entry: AuditEntry): Promise<number> {
  const row = auditEntrySchema.parse(entry);
  try {
    return await tx.oneFirst(sql.type(z.object({ id: z.number() }))`
      insert into audit_log (action, target_type, target_id, target_name, actor, actor_source, detail, request_id)
      values (${row.action}, ${row.targetType}, ${row.targetId ?? null}, ${row.targetName ?? null},
              ${row.actor}, ${row.actorSource}, ${sql.jsonb(row.detail as never)}, ${row.requestId ?? null})
      returning id`);
  } catch (error) {
    throw new CodeVectorError('CORE_AUDIT_WRITE_FAILED', undefined, { cause: error });
  }
}
