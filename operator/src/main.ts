import { createPool } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createMetricsRegistry, startMetricsServer } from '@codevector/core/metrics-server';
import { migrate, setAuditRetention } from '@codevector/core/migrate';
import { provisionServiceLogins } from '@codevector/core/service-roles';
import { buildOperator, type OperatorSource } from './build-operator.ts';
import { loadOperatorConfig } from './config.ts';
import { createKubeClient } from './kube/kube-client.ts';
import { type KubeConfigSource, loadKubeConfig } from './kube/kube-config.ts';
import { startWebhook } from './webhook/start-webhook.ts';

const usage = `usage:
  operator run [--source dir:<folder>]   reconcile the cluster (KUBECONFIG or in-cluster) or a folder of manifests
  operator migrate                       apply database migrations (the only place they run)`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const config = loadOperatorConfig(process.env);
  const log = createLogger({ name: 'operator', level: config.LOG_LEVEL });

  if (command === 'migrate') {
    const applied = await migrate(config.DATABASE_URL, (line) => log.info(line));
    log.info({ applied }, 'migrations done');
    const logins = (
      [
        ['operator', config.CODEVECTOR_DB_OPERATOR_USER, config.CODEVECTOR_DB_OPERATOR_PASSWORD],
        ['gateway', config.CODEVECTOR_DB_GATEWAY_USER, config.CODEVECTOR_DB_GATEWAY_PASSWORD],
        ['console', config.CODEVECTOR_DB_CONSOLE_USER, config.CODEVECTOR_DB_CONSOLE_PASSWORD],
      ] as const
    ).flatMap(([service, user, password]) => (password ? [{ service, user, password }] : []));
    await provisionServiceLogins(config.DATABASE_URL, logins, (line) => log.info(line));
    await setAuditRetention(config.DATABASE_URL, config.CODEVECTOR_AUDIT_RETENTION_DAYS ?? null);
    log.info({ retentionDays: config.CODEVECTOR_AUDIT_RETENTION_DAYS ?? null }, 'audit retention set');
    return;
  }
  if (command !== 'run') {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  const sourceIndex = rest.indexOf('--source');
  const sourceArg = sourceIndex >= 0 ? rest[sourceIndex + 1] : undefined;
  if (sourceIndex >= 0 && !sourceArg?.startsWith('dir:')) {
    console.error(`--source must be dir:<folder>\n${usage}`);
    process.exitCode = 2;
    return;
  }

  const db = await createPool(config.DATABASE_URL, {
    maxPoolSize: config.CODEVECTOR_CONCURRENCY + 4,
    applicationName: 'codevector-operator',
  });
  let source: OperatorSource;
  let stopWebhook: () => Promise<void> = async () => {};
  let closeClient = () => {};
  if (sourceArg) {
    source = { type: 'dir', dir: sourceArg.slice('dir:'.length) };
  } else {
    const kubeSource: KubeConfigSource | null = config.KUBECONFIG
      ? { type: 'kubeconfig', paths: config.KUBECONFIG, context: config.CODEVECTOR_KUBE_CONTEXT }
      : config.KUBERNETES_SERVICE_HOST && config.KUBERNETES_SERVICE_PORT
        ? { type: 'in-cluster' }
        : null;
    if (!kubeSource) throw new Error('no cluster: set KUBECONFIG, run in a pod, or use --source dir:<folder>');
    // Six informers hold a watch connection each; requests get the rest.
    const client = createKubeClient(loadKubeConfig(kubeSource), { maxSockets: config.CODEVECTOR_CONCURRENCY * 2 + 12 });
    closeClient = () => client.close();
    source = { type: 'kubernetes', client };
    if (config.CODEVECTOR_WEBHOOK) stopWebhook = (await startWebhook({ config, db, log, client })).stop;
  }
  const metricsRegistry = createMetricsRegistry('operator');
  const operator = buildOperator({ config, db, log, source, metricsRegistry });
  const metricsServer =
    config.CODEVECTOR_METRICS_PORT === undefined
      ? null
      : await startMetricsServer({ registry: metricsRegistry, port: config.CODEVECTOR_METRICS_PORT, host: config.CODEVECTOR_METRICS_BIND });
  if (metricsServer) log.info({ port: metricsServer.port }, 'metrics listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await operator.stop({ release: true });
    await stopWebhook();
    await metricsServer?.close();
    closeClient();
    await db.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await operator.start();
  log.info({ source: sourceArg ?? 'kubernetes' }, 'operator started');
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
