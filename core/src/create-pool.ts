import {
  createPool as createSlonikPool,
  type DatabasePool,
  type Interceptor,
  type QueryResultRow,
  SchemaValidationError,
  sql,
} from 'slonik';
import { z } from 'zod';

export type { CommonQueryMethods, DatabaseTransactionConnection } from 'slonik';
export type { DatabasePool };
export { sql };

/**
 * A statement whose result rows nobody reads (DDL, `set`, deletes, locks): the one place that
 * spells slonik's typed-tag for "no columns", so call sites say what they mean.
 */
export const statement = sql.type(z.object({}));

// Slonik passes `sql.type(schema)` to interceptors but does not validate rows itself; without
// this interceptor a typed query would silently trust whatever the database returned.
const resultParserInterceptor: Interceptor = {
  name: 'result-parser',
  transformRow: (context, query, row, fields) => {
    const parser = context.resultParser;
    if (!parser) return row;
    const result = parser['~standard'].validate(row);
    if (result instanceof Promise) throw new Error('result parsers must be synchronous');
    if (result.issues) throw new SchemaValidationError(query, row as never, result.issues as never);
    void fields;
    return result.value as QueryResultRow;
  },
};

// int8 as a JS number (ids and token counts stay far below 2^53), timestamps as Date: the
// shapes the zod row schemas expect. numeric stays the exact decimal text PostgreSQL sent: it
// holds money (ADR 0004), and a float would round it; cast to float8 in SQL where a chart
// wants a number.
const typeParsers = [
  { name: 'int8', parse: (value: string) => Number(value) },
  { name: 'numeric', parse: (value: string) => value },
  { name: 'timestamptz', parse: (value: string) => new Date(value) },
  { name: 'timestamp', parse: (value: string) => new Date(`${value}Z`) },
];

/** Creates the shared slonik pool with row validation and the project's type parsers. */
export async function createPool(
  databaseUrl: string,
  options: { maxPoolSize?: number; applicationName?: string; statementTimeoutMs?: number } = {},
): Promise<DatabasePool> {
  const url = new URL(databaseUrl);
  if (options.applicationName && !url.searchParams.has('application_name')) {
    url.searchParams.set('application_name', options.applicationName);
  }
  return createSlonikPool(url.toString(), {
    interceptors: [resultParserInterceptor],
    typeParsers,
    maxPoolSize: options.maxPoolSize ?? 10,
    statementTimeout: options.statementTimeoutMs ?? 30_000,
    // A retried transaction would re-run its audit write; callers decide about retries.
    transactionRetryLimit: 0,
    queryRetryLimit: 0,
    // slonik's default sends DISCARD ALL after every query: an extra round trip, and PL/pgSQL
    // functions (the gateway's lease syncs) re-plan every statement on the next call. Nothing
    // here leaves session state behind: settings are `set local` or transaction-level, advisory
    // locks are transaction-scoped, LISTEN and the migration lock use their own clients.
    resetConnection: async () => {},
  });
}
