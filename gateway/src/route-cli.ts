import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ConfigSnapshot, loadConfigSnapshot, type SnapshotModel, toSnapshotModel } from '@codevector/core/config-snapshot';
import { createPool } from '@codevector/core/create-pool';
import { modelSpecSchema, providerSpecSchema } from '@codevector/crds';
import { parseAllDocuments } from 'yaml';
import { createModelRouter } from './model-router.ts';
import { createRoutingViews, parseTenants } from './routing-view.ts';

const usage = `usage: codevector route <model-name>... [--manifests <file or folder>...] [--groups <g1,g2>] [--json]

Prints which Model and Provider each model name reaches and why (exact name, alias, pattern,
variant, or the default Model for names nothing matches), and the upstreams tried in order
(the Model's fallbacks), with the gateway's own router. Reads the declared config from
DATABASE_URL, or from Model and Provider manifests (YAML, as you would kubectl apply them) with
--manifests. --groups routes as a key whose owner is in those console groups would be routed
when CODEVECTOR_TENANTS names tenant namespaces (CODEVECTOR_INSTALLATION_NAMESPACE, default
codevector, as on the gateway).
Exit status: 0 every name routes, 1 some name reaches nothing, 2 usage or input error.`;

/** The two API families a request can come in on, and the provider types each can call. */
const surfaces = [
  { name: 'anthropic', label: 'Anthropic requests (/v1/messages)', providerTypes: ['anthropic'] },
  { name: 'openai', label: 'OpenAI requests (/v1/chat/completions, /v1/responses)', providerTypes: ['openai', 'openai-compatible'] },
] as const;

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
      const uidOf = (name: string) => providers.find((p) => p.namespace === r.namespace && p.name === name)?.uid ?? null;
      const provider = uidOf(spec.providerRef.name);
      return provider ? [toSnapshotModel(r, spec, provider, uidOf)] : [];
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
  let groups: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--groups') {
      groups = (args[++i] ?? '').split(',').filter(Boolean);
    } else if (arg === '--manifests') {
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
  const tenants = parseTenants(env['CODEVECTOR_TENANTS']);
  if ('error' in tenants) {
    io.stderr.write(`CODEVECTOR_TENANTS: ${tenants.error}\n`);
    return 2;
  }
  const providers = new Map(config.providers.map((p) => [p.uid, p]));
  const entries = config.models
    .filter((m) => providers.has(m.providerUid))
    .map((model) => ({ model, target: model, providerType: providers.get(model.providerUid)!.type }));
  const full = createModelRouter(entries, (name) => io.stderr.write(`warning: two Models claim "${name}"; the first one wins\n`));
  const view = createRoutingViews(entries, env['CODEVECTOR_INSTALLATION_NAMESPACE'] || 'codevector', tenants.tenants, full)({ groups });
  const providerOf = (uid: string) => providers.get(uid)!;
  const ref = (r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`;
  // The primary, then the fallbacks, as the gateway tries them (each in its own Provider's API, ADR 0124).
  const upstreams = (model: SnapshotModel) =>
    [{ providerUid: model.providerUid, upstreamModel: model.upstreamModel }, ...model.fallbacks]
      .filter((u) => providers.has(u.providerUid))
      .map((u) => ({ provider: providerOf(u.providerUid), upstreamModel: u.upstreamModel }));
  const describeUpstreams = (model: SnapshotModel) =>
    upstreams(model)
      .map(
        (u, i) =>
          `${i === 0 ? 'Provider' : `then, if it fails before answering (429, 5xx, 529, unreachable), fallback ${i}`} ${ref(u.provider)} (${u.provider.type}, ${u.provider.baseURL}) as "${u.upstreamModel}"`,
      )
      .join(', ');
  let missing = 0;
  for (const name of names) {
    const found = view.router.route(name);
    const defaults = found
      ? []
      : surfaces.flatMap((surface) => {
          const d = view.defaults.find((e) => (surface.providerTypes as readonly string[]).includes(e.providerType));
          return d ? [{ surface, model: d.model }] : [];
        });
    if (!found && defaults.length === 0) missing++;
    if (json) {
      const route = (model: SnapshotModel) => ({
        model: ref(model),
        modelName: model.modelName,
        provider: ref(providerOf(model.providerUid)),
        upstreamModel: model.upstreamModel,
        upstreams: upstreams(model).map((u) => ({ provider: ref(u.provider), upstreamModel: u.upstreamModel })),
      });
      const line = found
        ? { name, ...route(found.target), via: found.via, matched: found.matched, variant: found.variant }
        : defaults.length > 0
          ? { name, model: null, via: 'default', defaults: defaults.map((d) => ({ surface: d.surface.name, ...route(d.model) })) }
          : { name, model: null, available: [...new Set(surfaces.flatMap((s) => view.namesServing(s.providerTypes)))].sort() };
      io.stdout.write(`${JSON.stringify(line)}\n`);
    } else if (found) {
      const why = found.via === 'pattern' ? `pattern "${found.matched}"` : found.via === 'alias' ? `alias "${found.matched}"` : 'its name';
      io.stdout.write(
        `${name} → Model ${ref(found.target)} by ${why}${found.variant ? ` (variant ${found.variant})` : ''} → ${describeUpstreams(found.target)}\n`,
      );
    } else if (defaults.length > 0) {
      const lines = defaults.map((d) => `  ${d.surface.label}: default Model ${ref(d.model)} → ${describeUpstreams(d.model)}`);
      const without = surfaces.filter((s) => !defaults.some((d) => d.surface === s)).map((s) => `  ${s.label}: refused, no default`);
      io.stdout.write(`${name} → no name, alias or pattern matches; served by the default Model:\n${[...lines, ...without].join('\n')}\n`);
    } else {
      const available = [...new Set(surfaces.flatMap((s) => view.namesServing(s.providerTypes)))].sort();
      io.stdout.write(`${name} → no Model and no default; names served: ${available.join(', ') || 'none'}\n`);
    }
  }
  return missing > 0 ? 1 : 0;
}
