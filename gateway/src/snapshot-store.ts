import {
  type ConfigSnapshot,
  configChangedChannel,
  loadConfigSnapshot,
  type SnapshotBudget,
  type SnapshotModel,
  type SnapshotProvider,
  type SnapshotRateLimit,
  type SnapshotSecretRule,
} from '@codevector/core/config-snapshot';
import type { DatabasePool } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { SecretBox } from '@codevector/core/secret-box';
import pg from 'pg';
import { Pool } from 'undici';
import { createModelRouter, type ModelRouter } from './model-router.ts';
import type { Principal } from './principal.ts';
import { createRoutingViews, type RoutingView, type Tenants } from './routing-view.ts';
import { createSecretScanner, type SecretScanner } from './secret-scan/secret-scanner.ts';

/** A provider ready to forward to: decrypted key, connection pool, path prefix. */
export type ProviderRuntime = {
  provider: SnapshotProvider;
  /** `namespace/name`, for usage rows and events. */
  ref: string;
  apiKey: string | null;
  origin: string;
  basePath: string;
  upstream: Pool;
};

/**
 * The policies that govern traffic to the Models of one namespace (ADR 0120, namespaces are
 * tenants): that namespace's own Budgets, RateLimits and SecretRules plus the installation
 * namespace's. They add up: every one that applies must admit the request, so a team can add
 * limits to its own Models but never lift an installation-wide one, nor touch another team's.
 */
export type NamespacePolicy = {
  namespace: string;
  budgets: SnapshotBudget[];
  rateLimits: SnapshotRateLimit[];
  secretRules: SnapshotSecretRule[];
  scanner: SecretScanner | null;
};

/** One upstream a request for a Model may go to. */
export type Upstream = { provider: ProviderRuntime; upstreamModel: string };

export type RoutedModel = {
  model: SnapshotModel;
  /** The primary upstream's provider (`upstreams[0].provider`). */
  provider: ProviderRuntime;
  /** The primary, then the Model's fallbacks that speak its API, in the order they are tried. */
  upstreams: readonly Upstream[];
  /** The Model's name and aliases: a Budget or RateLimit listing any of them covers every way to reach it. */
  names: ReadonlySet<string>;
  /** The policies of the Model's namespace plus the installation namespace's (ADR 0120). */
  policy: NamespacePolicy;
};

/** The snapshot compiled for the request path: lookups are map reads, each namespace's scanner is built once. */
export type CompiledSnapshot = {
  version: number;
  config: ConfigSnapshot;
  /** Exact names and aliases (what /v1/models lists). */
  models: Map<string, RoutedModel>;
  /** Every requested name to its Model: names, aliases, variants and patterns (model-router.ts). */
  router: ModelRouter<RoutedModel>;
  /** By Model namespace; only namespaces that have Models. */
  policies: Map<string, NamespacePolicy>;
  /** What one key may reach: its tenants' Models and every open namespace's (ADR 0122). */
  viewFor(principal: Pick<Principal, 'groups'>): RoutingView<RoutedModel>;
  loadedAt: number;
};

export type SnapshotStore = {
  current(): CompiledSnapshot | null;
  /** Loads the first snapshot and starts listening for changes (and retrying while none is good). */
  start(): Promise<void>;
  /** Reloads now (coalesced with a reload already running). */
  reload(reason: string): Promise<void>;
  /** Stops following changes (the current snapshot stays in force); the first step of shutdown. */
  stopListening(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { reloads: number; failures: number; lastError: string | null };
};

/**
 * Holds the config snapshot in memory and swaps it on NOTIFY config_changed (DESIGN §1, §5).
 * LISTEN runs on a dedicated pg client (a pooled connection would be handed to queries) that
 * reconnects with capped backoff and reloads after every reconnect, since notifications sent
 * while it was away are lost. A slow poll of config_state.version backs it up. A snapshot that
 * fails validation or compilation never replaces the last good one; the failure is logged at
 * error level and counted.
 */
export function createSnapshotStore(options: {
  pool: DatabasePool;
  databaseUrl: string;
  secretBox: SecretBox;
  logger: Logger;
  /** Whose Budgets, RateLimits and SecretRules govern every namespace's traffic (ADR 0120). */
  installationNamespace: string;
  /** Namespaces whose Models serve only some groups' keys (ADR 0122); none by default. */
  tenants?: Tenants;
  pollIntervalMs?: number;
  onChange?: (snapshot: CompiledSnapshot) => void;
  /**
   * More channels on the same LISTEN connection (e.g. the key store's revocations), each with
   * what to do on a notification and after every (re)connect, when missed ones must be assumed.
   */
  channels?: Record<string, { onNotify(payload: string): void; onListen(): void }>;
}): SnapshotStore {
  const { pool, databaseUrl, secretBox, logger } = options;
  let snapshot: CompiledSnapshot | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let closed = false;
  let listener: pg.Client | null = null;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoffMs = 100;
  const pools = new Map<string, Pool>();
  const stats = { reloads: 0, failures: 0, lastError: null as string | null };

  function upstreamPool(origin: string, timeoutSeconds: number): Pool {
    const key = `${origin}|${timeoutSeconds}`;
    let upstream = pools.get(key);
    if (!upstream) {
      upstream = new Pool(origin, {
        connections: 256,
        headersTimeout: timeoutSeconds * 1000,
        bodyTimeout: timeoutSeconds * 1000,
        keepAliveTimeout: 30_000,
      });
      pools.set(key, upstream);
    }
    return upstream;
  }

  function compile(config: ConfigSnapshot): CompiledSnapshot {
    const providers = new Map<string, ProviderRuntime>();
    for (const provider of config.providers) {
      const url = new URL(provider.baseURL);
      providers.set(provider.uid, {
        provider,
        ref: `${provider.namespace}/${provider.name}`,
        // @throws when the sealed key was not made with our key: the snapshot is then refused.
        apiKey: provider.apiKeySealed ? secretBox.open(provider.apiKeySealed) : null,
        origin: url.origin,
        basePath: url.pathname.replace(/\/+$/, ''),
        upstream: upstreamPool(url.origin, provider.timeoutSeconds),
      });
    }
    const policies = compilePolicies(config, options.installationNamespace, (rules) =>
      createSecretScanner(rules, (problem) => logger.error(problem, 'secret rule pattern does not compile; skipped')),
    );
    const entries: { model: SnapshotModel; target: RoutedModel }[] = [];
    const family = (type: string) => (type === 'anthropic' ? 'anthropic' : 'openai');
    for (const model of config.models) {
      const provider = providers.get(model.providerUid);
      if (!provider) continue;
      const upstreams: Upstream[] = [{ provider, upstreamModel: model.upstreamModel }];
      for (const fallback of model.fallbacks) {
        const other = providers.get(fallback.providerUid);
        // The operator refuses a fallback of another API (a race with a Provider edit skips it here);
        // one without a key yet would only fail, so it is skipped too.
        if (other?.apiKey && family(other.provider.type) === family(provider.provider.type)) {
          upstreams.push({ provider: other, upstreamModel: fallback.upstreamModel });
        }
      }
      const target = {
        model,
        provider,
        upstreams,
        names: new Set([model.modelName, ...model.aliases]),
        policy: policies.get(model.namespace)!,
      };
      entries.push({ model, target });
    }
    // The operator stores one holder per name (the oldest Model); two can coexist only for the
    // moment between the winner's store and the loser's removal: the first one wins here.
    const router = createModelRouter(entries, (name) => logger.warn({ model: name }, 'duplicate model name; the first one wins'));
    // Exact names and aliases, as /v1/models lists them.
    const models = new Map<string, RoutedModel>();
    for (const { model, target } of entries) {
      for (const name of [model.modelName, ...model.aliases]) if (!models.has(name)) models.set(name, target);
    }
    const viewFor = createRoutingViews(
      entries.map((e) => ({ ...e, providerType: e.target.provider.provider.type })),
      options.installationNamespace,
      options.tenants ?? new Map(),
      router,
    );
    return { version: config.version, config, models, router, policies, viewFor, loadedAt: Date.now() };
  }

  async function reloadOnce(reason: string): Promise<void> {
    try {
      const config = await loadConfigSnapshot(pool);
      if (snapshot && config.version === snapshot.version && reason !== 'start') return;
      const compiled = compile(config);
      const previous = snapshot;
      snapshot = compiled;
      stats.reloads++;
      logger.info({ version: compiled.version, previous: previous?.version ?? null, reason }, 'config snapshot loaded');
      closeUnusedPools(compiled);
      options.onChange?.(compiled);
    } catch (error) {
      stats.failures++;
      stats.lastError = (error as Error).message;
      logger.error(
        { err: error, reason, keptVersion: snapshot?.version ?? null },
        'config snapshot rejected; keeping the last good snapshot',
      );
      if (!snapshot) throw error;
    }
  }

  function closeUnusedPools(compiled: CompiledSnapshot): void {
    const used = new Set(compiled.config.providers.map((p) => `${new URL(p.baseURL).origin}|${p.timeoutSeconds}`));
    for (const [key, upstream] of pools) {
      if (!used.has(key)) {
        pools.delete(key);
        // In-flight requests finish; the pool closes after them.
        upstream.close().catch(() => {});
      }
    }
  }

  function reload(reason: string): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await reloadOnce(reason);
        } while (again && !closed);
      } finally {
        running = null;
      }
    })();
    return running;
  }

  async function listen(): Promise<void> {
    if (closed) return;
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'codevector-gateway-listen' });
    client.on('error', (error) => {
      // Shutting down (PostgreSQL may stop first, as `npm start` stops both on Ctrl-C): expected.
      if (closed) return;
      logger.warn({ err: error }, 'config listener connection lost');
      scheduleReconnect(client);
    });
    client.on('end', () => scheduleReconnect(client));
    client.on('notification', (message) => {
      if (message.channel === configChangedChannel) reload('notify').catch(() => {});
      else options.channels?.[message.channel]?.onNotify(message.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`listen ${configChangedChannel}`);
      for (const channel of Object.keys(options.channels ?? {})) await client.query(`listen ${channel}`);
      listener = client;
      backoffMs = 100;
      for (const channel of Object.values(options.channels ?? {})) channel.onListen();
      // Notifications sent while we were not listening are lost: catch up.
      await reload('listen').catch(() => {});
    } catch (error) {
      logger.warn({ err: error }, 'config listener could not connect');
      scheduleReconnect(client);
    }
  }

  function scheduleReconnect(client: pg.Client): void {
    if (closed || reconnectTimer || (listener !== null && listener !== client)) return;
    listener = null;
    client.end().catch(() => {});
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      listen().catch(() => {});
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 5000);
  }

  let pollTimer: NodeJS.Timeout | undefined;

  return {
    stats,
    current: () => snapshot,
    async start() {
      // A bad or missing first snapshot leaves the gateway up but not ready (/readyz) and retrying.
      await reload('start').catch(() => {});
      await listen();
      const pollEvery = Math.max(1, Math.round((options.pollIntervalMs ?? 10_000) / 1000));
      let ticks = 0;
      pollTimer = setInterval(() => {
        if (!snapshot || ++ticks % pollEvery === 0) reload('poll').catch(() => {});
      }, 1000);
      pollTimer.unref();
    },
    reload,
    async stopListening() {
      closed = true;
      clearInterval(pollTimer);
      clearTimeout(reconnectTimer);
      const ending = listener;
      listener = null;
      if (ending) await ending.end().catch(() => {});
    },
    async close() {
      await this.stopListening();
      await running?.catch(() => {});
      await Promise.all([...pools.values()].map((upstream) => upstream.close().catch(() => {})));
      pools.clear();
    },
  };
}

/**
 * Groups the declared policies by the namespace whose Models they govern: a namespace's own plus
 * the installation namespace's (ADR 0120). A namespace without SecretRules of its own shares the
 * installation namespace's scanner, so installation-wide patterns compile once, not once per team.
 */
export function compilePolicies(
  config: Pick<ConfigSnapshot, 'models' | 'budgets' | 'rateLimits' | 'secretRules'>,
  installationNamespace: string,
  compileScanner: (rules: SnapshotSecretRule[]) => SecretScanner,
): Map<string, NamespacePolicy> {
  const governs = (namespace: string) => (item: { namespace: string }) =>
    item.namespace === namespace || item.namespace === installationNamespace;
  const installationRules = config.secretRules.filter(governs(installationNamespace));
  const installationScanner = installationRules.length > 0 ? compileScanner(installationRules) : null;
  const policies = new Map<string, NamespacePolicy>();
  for (const namespace of new Set(config.models.map((m) => m.namespace))) {
    const secretRules = config.secretRules.filter(governs(namespace));
    const scanner =
      secretRules.length === installationRules.length ? installationScanner : secretRules.length > 0 ? compileScanner(secretRules) : null;
    policies.set(namespace, {
      namespace,
      budgets: config.budgets.filter(governs(namespace)),
      rateLimits: config.rateLimits.filter(governs(namespace)),
      secretRules,
      scanner,
    });
  }
  return policies;
}
