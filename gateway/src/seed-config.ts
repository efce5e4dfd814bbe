import { randomUUID } from 'node:crypto';
import { generateApiKey } from '@codevector/core/api-key';
import { bumpConfigVersion } from '@codevector/core/config-snapshot';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import type { SecretBox } from '@codevector/core/secret-box';
import { parseSpec, type ResourceKindName } from '@codevector/crds';
import { z } from 'zod';

/**
 * Writes declared config the way the operator does (spec = the CRD spec, one transaction, version
 * bump, NOTIFY config_changed), for tests, the benchmark and local runs while the operator is
 * not in the loop. Resources are keyed by namespace/name; `delete` lists ones to remove.
 */
export type SeedResource = { namespace?: string; name: string; spec: Record<string, unknown> };
export type SeedConfig = {
  providers?: (SeedResource & { apiKey?: string })[];
  models?: SeedResource[];
  budgets?: SeedResource[];
  rateLimits?: SeedResource[];
  secretRules?: SeedResource[];
  delete?: { table: 'providers' | 'models' | 'budgets' | 'rate_limits' | 'secret_rules'; namespace?: string; name: string }[];
};

const kindOfTable = {
  providers: 'Provider',
  models: 'Model',
  budgets: 'Budget',
  rate_limits: 'RateLimit',
  secret_rules: 'SecretRule',
} as const satisfies Record<string, ResourceKindName>;

export async function seedGatewayConfig(pool: DatabasePool, secretBox: SecretBox, config: SeedConfig): Promise<number> {
  return pool.transaction(async (tx) => {
    const upsert = async (table: keyof typeof kindOfTable, resource: SeedResource, sealed?: Buffer | null) => {
      const namespace = resource.namespace ?? 'default';
      // Seeds give a provider's key directly; the Secret the operator would have read it from is
      // named for the record only.
      const input =
        table === 'providers' && resource.spec['apiKeySecretRef'] === undefined
          ? { ...resource.spec, apiKeySecretRef: { name: `${resource.name}-api-key`, key: 'apiKey' } }
          : resource.spec;
      // Stored as the operator stores it (parsed by the kind's schema, defaults applied) when it
      // parses; as given otherwise, so tests can plant a row the gateway must refuse.
      const parsed = parseSpec(kindOfTable[table], input);
      const spec = sql.jsonb((parsed.success ? parsed.value.spec : input) as never);
      if (table === 'providers') {
        await tx.query(statement`
          insert into providers (uid, namespace, name, generation, spec, api_key_ciphertext, api_key_fingerprint)
          values (${randomUUID()}, ${namespace}, ${resource.name}, 1, ${spec}, ${sealed ? sql.binary(sealed) : null}, null)
          on conflict (namespace, name) do update set spec = excluded.spec, generation = providers.generation + 1,
            api_key_ciphertext = coalesce(excluded.api_key_ciphertext, providers.api_key_ciphertext), updated_at = now()`);
        return;
      }
      await tx.query(statement`
        insert into ${sql.identifier([table])} (uid, namespace, name, generation, spec)
        values (${randomUUID()}, ${namespace}, ${resource.name}, 1, ${spec})
        on conflict (namespace, name) do update set spec = excluded.spec, generation = ${sql.identifier([table])}.generation + 1, updated_at = now()`);
    };
    for (const provider of config.providers ?? [])
      await upsert('providers', provider, provider.apiKey ? secretBox.seal(provider.apiKey) : null);
    for (const model of config.models ?? []) await upsert('models', model);
    for (const budget of config.budgets ?? []) await upsert('budgets', budget);
    for (const limit of config.rateLimits ?? []) await upsert('rate_limits', limit);
    for (const rule of config.secretRules ?? []) await upsert('secret_rules', rule);
    for (const item of config.delete ?? []) {
      await tx.query(
        statement`delete from ${sql.identifier([item.table])} where namespace = ${item.namespace ?? 'default'} and name = ${item.name}`,
      );
    }
    return bumpConfigVersion(tx);
  });
}

/** Creates a user (and groups) with one virtual key, as the console does; returns the key in clear. */
export async function seedUserWithKey(
  pool: DatabasePool,
  options: { email: string; groups?: string[]; keyName?: string },
): Promise<{ key: string; keyId: string; userId: string }> {
  return pool.transaction(async (tx) => {
    const userId = await tx.oneFirst(sql.type(z.object({ id: z.string() }))`
      insert into users (email, role) values (${options.email}, 'member')
      on conflict (lower(email)) do update set updated_at = now() returning id::text as id`);
    for (const group of options.groups ?? []) {
      const groupId = await tx.oneFirst(sql.type(z.object({ id: z.string() }))`
        insert into groups (name) values (${group}) on conflict (name) do update set updated_at = now() returning id::text as id`);
      await tx.query(statement`insert into group_members (group_id, user_id) values (${groupId}, ${userId}) on conflict do nothing`);
    }
    const { key, displayPrefix, hash } = generateApiKey();
    const keyId = await tx.oneFirst(sql.type(z.object({ id: z.string() }))`
      insert into api_keys (user_id, name, prefix, hash) values (${userId}, ${options.keyName ?? 'default'}, ${displayPrefix}, ${sql.binary(hash)})
      returning id::text as id`);
    return { key, keyId, userId };
  });
}
