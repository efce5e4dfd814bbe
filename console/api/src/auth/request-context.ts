import type { AuditEntry } from '@codevector/core/audit-entry';
import type { DatabaseTransactionConnection } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import type { FastifyRequest } from 'fastify';
import type { Role, SessionUser } from './auth-contract.ts';
import type { Session } from './session-store.ts';

declare module 'fastify' {
  interface FastifyRequest {
    session: Session | null;
  }
}

/**
 * The signed-in user, when their role is one of `allowed`.
 * @throws CodeVectorError CON_UNAUTHENTICATED without a session, CON_FORBIDDEN for other roles.
 */
export function requireRole(request: FastifyRequest, ...allowed: Role[]): SessionUser {
  const user = request.session?.user;
  if (!user) throw new CodeVectorError('CON_UNAUTHENTICATED');
  if (!allowed.includes(user.role)) throw new CodeVectorError('CON_FORBIDDEN');
  return user;
}

/** Writes a console mutation's audit row in its transaction, attributed to the signed-in user. */
export function auditConsoleChange(
  tx: DatabaseTransactionConnection,
  request: FastifyRequest,
  entry: Omit<AuditEntry, 'actor' | 'actorSource' | 'requestId'>,
): Promise<number> {
  const actor = request.session?.user.email;
  if (!actor) throw new CodeVectorError('CON_UNAUTHENTICATED');
  return writeAuditEntry(tx, { ...entry, actor, actorSource: 'console', requestId: request.id });
}
