import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { runAdminStatements } from './postgres.ts';

// Each test file gets its own database copied from the migrated template, and sees it as
// DATABASE_URL, the same variable the services read. KUBECONFIG points at the admin
// kubeconfig of the shared control plane for kube and e2e tests.
const adminUrl = inject('postgresAdminUrl');
const template = inject('postgresTemplate');
const database = `t_${randomBytes(6).toString('hex')}`;
await runAdminStatements(adminUrl, [`create database ${database} template ${template}`]);
const url = new URL(adminUrl);
url.pathname = `/${database}`;
process.env['DATABASE_URL'] = url.toString();
const kubeconfigPath = inject('kubeconfigPath');
if (kubeconfigPath) process.env['KUBECONFIG'] = kubeconfigPath;

afterAll(async () => {
  await runAdminStatements(adminUrl, [`drop database if exists ${database} with (force)`]);
});
