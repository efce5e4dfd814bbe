import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ConfigSnapshot, loadConfigSnapshot, toSnapshotModel } from '@codevector/core/config-snapshot';
import { createPool } from '@codevector/core/create-pool';
import { modelSpecSchema, providerSpecSchema } from '@codevector/crds';
import { parseAllDocuments } from 'yaml';
import { createModelRouter } from './model-router.ts';

const usage = `usage: codevector route <model-name>... [--manifests <file or folder>...] [--json]

Prints which Model and Provider each model name reaches and why (exact name, alias, pattern,
variant), with the gateway's own router. Reads the declared config from DATABASE_URL, or from
Model and Provider manifests (YAML, as you would kubectl apply them) with --manifests.
Exit status: 0 every name routes, 1 some name reaches nothing, 2 usage or input error.`;

type Models = Pick<ConfigSnapshot, 'models'> & {
  providers: { uid: string; namespace: string; name: string; type: string; baseURL: string }[];
};

async function manifestFiles(entry: string): Promise<string[]> {
  if (!(await stat(entry)).isDirectory()) return [entry];
  return (await readdir(entry))
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => path.join(entry, f));
}

/** Models and Providers from manifests, translated as the operator would store them. */
async function fromManifests(entries: readonly string[]): Promise<Models> {
  const docs: { kind?: string; metadata?: { name?: string; namespace?: string }; spec?: unknown }[] = [];
  for (const entry of entries) {
    for (const file of await manifestFiles(entry)) {
      for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
        const value = doc.toJS() as (typeof docs)[number] | null;
        if (value) docs.push(value);
      }
    }
  }
  const ref = (d: (typeof docs)[number]) => {
    const namespace = d.metadata?.namespace ?? 'default';
    const name = d.metadata?.name ?? 'unnamed';
    return { uid: `${namespace}/${name}`, namespace, name };
  };
  const providers = docs.filter((d) => d.kind === 'Provider').map((d) => ({ ...ref(d), ...providerSpecSchema.parse(d.spec) }));
  const models = docs
    .filter((d) => d.kind === 'Model')
    .flatMap((d) => {
      const spec = modelSpecSchema.parse(d.spec);
      const r = ref(d);
      const provider = providers.find((p) => p.namespace === r.namespace && p.name === spec.providerRef.name);
      return provider ? [toSnapshotModel(r, spec, provider.uid)] : [];
    });
  return { models, providers };
}

/** `codevector route`: returns the exit status. */
export async function runRouteCli(
  args: string[],
  io = { stdout: process.stdout, stderr: process.stderr },
  env = process.env,
): Promise<number> {
  const names: string[] = [];
  const manifests: string[] = [];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--manifests') {
      while (args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) manifests.push(args[++i]!);
    } else if (arg === '--help' || arg === '-h') {
      io.stdout.write(`${usage}\n`);
      return 0;
    } else if (arg.startsWith('--')) {
      io.stderr.write(`unknown argument ${arg}\n${usage}\n`);
      return 2;
    } else names.push(arg);
  }
  if (names.length === 0) {
    io.stderr.write(`${usage}\n`);
    return 2;
  }
  let config: Models;
  try {
    if (manifests.length > 0) config = await fromManifests(manifests);
    else {
      const url = env['DATABASE_URL'];
      if (!url) {
        io.stderr.write('set DATABASE_URL or pass --manifests\n');
        return 2;
      }
      const pool = await createPool(url, { maxPoolSize: 1 });
      try {
        config = await loadConfigSnapshot(pool);
      } finally {
        await pool.end();
      }
    }
  } catch (error) {
    io.stderr.write(`could not read the config: ${(error as Error).message}\n`);
    return 2;
  }
  const providers = new Map(config.providers.map((p) => [p.uid, p]));
  const router = createModelRouter(
    config.models.filter((m) => providers.has(m.providerUid)).map((model) => ({ model, target: model })),
    (name) => io.stderr.write(`warning: two Models claim "${name}"; the first one wins\n`),
  );
  let missing = 0;
  for (const name of names) {
    const found = router.route(name);
    const provider = found ? providers.get(found.target.providerUid)! : null;
    if (!found || !provider) missing++;
    if (json) {
      io.stdout.write(
        `${JSON.stringify(
          found && provider
            ? {
                name,
                model: `${found.target.namespace}/${found.target.name}`,
                modelName: found.target.modelName,
                via: found.via,
                matched: found.matched,
                variant: found.variant,
                provider: `${provider.namespace}/${provider.name}`,
                upstreamModel: found.target.upstreamModel,
              }
            : { name, model: null, available: router.names() },
        )}\n`,
      );
    } else if (found && provider) {
      const why = found.via === 'pattern' ? `pattern "${found.matched}"` : found.via === 'alias' ? `alias "${found.matched}"` : 'its name';
      io.stdout.write(
        `${name} → Model ${found.target.namespace}/${found.target.name} by ${why}${found.variant ? ` (variant ${found.variant})` : ''} → Provider ${provider.namespace}/${provider.name} (${provider.type}, ${provider.baseURL}) as "${found.target.upstreamModel}"\n`,
      );
    } else {
      io.stdout.write(`${name} → no Model; names served: ${router.names().join(', ') || 'none'}\n`);
    }
  }
  return missing > 0 ? 1 : 0;
}
