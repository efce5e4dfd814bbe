import { CodeVectorError } from '@codevector/core/errors';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  CheckIntegrityConstraintViolationError,
  ForeignKeyIntegrityConstraintViolationError,
  UniqueIntegrityConstraintViolationError,
} from 'slonik';
import type { z } from 'zod';

/**
 * Parses untrusted input with a zod schema.
 * @throws CodeVectorError CON_VALIDATION naming the first offending field.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  throw new CodeVectorError('CON_VALIDATION', field ? `${field}: ${issue.message}` : issue.message, {
    details: { issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}

/** Maps any error to `{ error: { code, message } }` and a status: the console API's one edge. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const known = toCodeVectorError(error);
  if (!known || known.status >= 500) request.log.error({ err: error }, 'request failed');
  if (!known) {
    void reply.status(500).send({ error: { code: 'INTERNAL', message: 'Internal error.' } });
    return;
  }
  const retryAfter = known.details?.['retryAfterSeconds'];
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(Math.max(1, retryAfter)));
  void reply
    .status(known.status)
    .send({ error: { code: known.code, message: known.message, ...(known.details ? { details: known.details } : {}) } });
}

function toCodeVectorError(error: unknown): CodeVectorError | null {
  if (error instanceof CodeVectorError) return error;
  if (error instanceof UniqueIntegrityConstraintViolationError) return new CodeVectorError('CON_CONFLICT');
  if (error instanceof ForeignKeyIntegrityConstraintViolationError)
    return new CodeVectorError('CON_NOT_FOUND', 'A referenced record does not exist.');
  if (error instanceof CheckIntegrityConstraintViolationError) return new CodeVectorError('CON_VALIDATION');
  const fastifyError = error as Partial<FastifyError>;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    if (fastifyError.statusCode === 404) return new CodeVectorError('CON_NOT_FOUND');
    return new CodeVectorError('CON_VALIDATION', fastifyError.message);
  }
  return null;
}
