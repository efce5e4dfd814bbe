import { randomBytes } from 'node:crypto';
import { createPool, type DatabasePool } from '@codevector/core/create-pool';
import { createSecretBox, type SecretBox } from '@codevector/core/secret-box';
import { type FakeProvider, type FakeProviderOptions, startFakeProvider } from '@codevector/testbed/fake-provider';
import { startGateway } from '../main.ts';
import { type SeedConfig, type SeedResource, seedGatewayConfig, seedUserWithKey } from '../seed-config.ts';

export type { SeedResource };

/**
 * The whole gateway under test, for db and e2e tests: its own pool on the file's database
 * (DATABASE_URL, set per file by testbed's vitest setup), the fake provider, the seeded config
 * and one user's virtual key, and a real gateway listening on a random port. It lives in the
 * gateway package because it starts the gateway; testbed stays below gateway in the dependency
 * order.
 */
export type GatewayFixture = {
  /** A pool on the same database the gateway uses, for seeding and for asserting rows. */
  pool: DatabasePool;
  secretBox: SecretBox;
  fake: FakeProvider;
  gateway: Awaited<ReturnType<typeof startGateway>>;
  /** `http://127.0.0.1:<port>` of the gateway's client port. */
  base: string;
  /** The gateway's environment: start another replica on the same database with startGateway(env). */
  gatewayEnv: Record<string, string>;
  /** The seeded user's virtual key (in clear) and its row id. */
  key: string;
  keyId: string;
  /** Writes more config the way the operator does; the gateway picks it up through NOTIFY. */
  seedConfig(config: SeedConfig): Promise<number>;
  /** Creates another user with one key (see seedUserWithKey). */
  seedUser(options: { email: string; groups?: string[]; keyName?: string }): Promise<{ key: string; keyId: string; userId: string }>;
  close(): Promise<void>;
};

export type GatewayFixtureOptions = {
  /** What the gateway serves, built once the fake provider is up (its URL goes into providers). */
  config: (fake: FakeProvider) => SeedConfig;
  /** The user whose key `key` is. */
  user: { email: string; groups?: string[] };
  /** Gateway environment on top of the defaults (random ports, silent logs). */
  env?: Record<string, string>;
  fakeProvider?: FakeProviderOptions;
};

/** The provider keys the fixture's providers hold; the fake provider sees these, never the virtual key. */
export const upstreamKeys = { anthropic: 'sk-ant-upstream', openai: 'sk-openai-upstream' } as const;

/** An `anthropic` and an `openai` provider, both pointing at the fake provider. */
export function fakeProviders(fake: FakeProvider, options: { timeoutSeconds: number }): (SeedResource & { apiKey: string })[] {
  return [
    {
      name: 'anthropic',
      spec: { type: 'anthropic', baseURL: fake.url, timeoutSeconds: options.timeoutSeconds },
      apiKey: upstreamKeys.anthropic,
    },
    {
      name: 'openai',
      spec: { type: 'openai', baseURL: `${fake.url}/v1`, timeoutSeconds: options.timeoutSeconds },
      apiKey: upstreamKeys.openai,
    },
  ];
}

/** Claude Sonnet on the `anthropic` provider of fakeProviders, priced with cache tokens. */
export const sonnetModel: SeedResource = {
  name: 'sonnet',
  spec: {
    name: 'claude-sonnet-5',
    providerRef: { name: 'anthropic' },
    upstreamModel: 'claude-sonnet-5',
    pricing: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  },
};

/** Starts the fake provider, seeds config and a user, and starts a gateway; `close()` stops all three. */
export async function startGatewayFixture(options: GatewayFixtureOptions): Promise<GatewayFixture> {
  const databaseUrl = process.env['DATABASE_URL'];
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: run this under the vitest db or e2e project');
  const encryptionKey = randomBytes(32).toString('base64');
  const secretBox = createSecretBox(encryptionKey);
  const pool = await createPool(databaseUrl, { maxPoolSize: 4 });
  let fake: FakeProvider | undefined;
  let gateway: GatewayFixture['gateway'] | undefined;
  const close = async () => {
    await gateway?.close();
    await fake?.close();
    await pool.end();
  };
  try {
    fake = await startFakeProvider(options.fakeProvider);
    await seedGatewayConfig(pool, secretBox, options.config(fake));
    const { key, keyId } = await seedUserWithKey(pool, options.user);
    const gatewayEnv: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      CODEVECTOR_ENCRYPTION_KEY: encryptionKey,
      PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'silent',
      // The fake provider is steered by x-fake-* headers, which the allow-list keeps from real upstreams.
      UPSTREAM_HEADER_ALLOW: 'x-fake-*',
      ...options.env,
    };
    gateway = await startGateway(gatewayEnv);
    return {
      gatewayEnv,
      pool,
      secretBox,
      fake,
      gateway,
      base: `http://127.0.0.1:${gateway.port}`,
      key,
      keyId,
      seedConfig: (config) => seedGatewayConfig(pool, secretBox, config),
      seedUser: (user) => seedUserWithKey(pool, user),
      close,
    };
  } catch (error) {
    // A half-started fixture would hold the pool and ports open and hang the test run.
    await close().catch(() => {});
    throw error;
  }
}
