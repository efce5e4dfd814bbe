import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const migrationsDir = fileURLToPath(new URL('../migrations/', import.meta.url));
// Any constant works; it only has to be the same for every process that migrates.
const migrationLockKey = 7_412_003_001;

export type Migration = { version: number; name: string; file: string };

/** Lists the numbered migration files in order (`0001_name.sql`). */
export async function listMigrations(): Promise<Migration[]> {
  const files = (await readdir(migrationsDir)).filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file));
  return files
    .map((file) => ({ version: Number(file.slice(0, 4)), name: file.slice(5, -4), file: path.join(migrationsDir, file) }))
    .sort((a, b) => a.version - b.version);
}

/**
 * Applies every migration not yet applied, each in its own transaction, under an advisory
 * lock so two migrators never race. Only `operator migrate` (a Helm hook Job) and the test
 * bed call this; serving pods never migrate. Uses a bare pg client because a migration file
 * is several statements, which only PostgreSQL's simple query protocol accepts.
 * @throws when a migration fails; earlier ones stay applied, the failed one is rolled back.
 */
export async function migrate(databaseUrl: string, log: (line: string) => void = () => {}): Promise<number[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'codevector-migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [migrationLockKey]);
    await client.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = new Set(
      (await client.query<{ version: number }>('select version from schema_migrations')).rows.map((row) => row.version),
    );
    const done: number[] = [];
    for (const migration of await listMigrations()) {
      if (applied.has(migration.version)) continue;
      const text = await readFile(migration.file, 'utf8');
      await client.query('begin');
      try {
        await client.query(text);
        await client.query('insert into schema_migrations (version, name) values ($1, $2)', [migration.version, migration.name]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(`migration ${path.basename(migration.file)} failed: ${(error as Error).message}`, { cause: error });
      }
      log(`applied migration ${path.basename(migration.file)}`);
      done.push(migration.version);
    }
    return done;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [migrationLockKey]).catch(() => {});
    await client.end();
  }
}

/**
 * Stores how many days audit rows are kept (null = forever), as the migrator: serving roles may
 * read the setting but not change it (core/migrations/0401).
 */
export async function setAuditRetention(databaseUrl: string, days: number | null): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'codevector-migrate' });
  await client.connect();
  try {
    await client.query('update audit_retention set days = $1', [days]);
  } finally {
    await client.end();
  }
}
