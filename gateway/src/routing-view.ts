import type { SnapshotModel } from '@codevector/core/config-snapshot';
import { createModelRouter, type ModelRouter } from './model-router.ts';

/** Tenant namespaces and the console groups whose keys they serve (CODEVECTOR_TENANTS, ADR 0122). */
export type Tenants = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * The routes one key sees (ADR 0122): the Models of the tenant namespaces its groups belong to
 * and of every namespace that is no tenant, and the defaults for names nothing matches, best
 * first (the key's tenants' by namespace/name, then the installation namespace's).
 */
export type RoutingView<T> = {
  router: ModelRouter<T>;
  defaults: readonly { model: SnapshotModel; target: T; providerType: string }[];
  /** Whether this key may reach the Models of a namespace. */
  visible(namespace: string): boolean;
  /** Names, aliases and patterns this key could use on a surface served by these provider types. */
  namesServing(providerTypes: readonly string[]): string[];
  /** The tenant namespaces the key belongs to. */
  tenantOf: readonly string[];
};

/**
 * Routing views per set of tenancies, built on first use and kept for the snapshot's life: a
 * key's view depends only on which tenant namespaces its groups open, so there are as many views
 * as distinct combinations in use (bounded; past the bound a view is built per call). Shared by
 * the gateway and `codevector route`, so the CLI explains exactly what the gateway does.
 */
export function createRoutingViews<T>(
  entries: readonly { model: SnapshotModel; target: T; providerType: string }[],
  installationNamespace: string,
  tenants: Tenants,
  fullRouter: ModelRouter<T> = createModelRouter(entries, () => {}),
): (principal: { groups: readonly string[] }) => RoutingView<T> {
  const views = new Map<string, RoutingView<T>>();
  const build = (member: ReadonlySet<string>): RoutingView<T> => {
    const open = (namespace: string) => namespace === installationNamespace || !tenants.has(namespace) || member.has(namespace);
    const visible = entries.filter((e) => open(e.model.namespace));
    const router = tenants.size === 0 ? fullRouter : createModelRouter(visible, () => {});
    // A default in a namespace that is nobody's tenant would catch every key's unknown names
    // (and send their prompts to that namespace's provider): only the key's tenants' and the
    // installation's count, the tenants' first.
    const rank = (e: (typeof visible)[number]) => (e.model.namespace === installationNamespace ? 1 : 0);
    const ref = (e: (typeof visible)[number]) => `${e.model.namespace}/${e.model.name}`;
    const defaults = visible
      .filter((e) => e.model.isDefault && (e.model.namespace === installationNamespace || member.has(e.model.namespace)))
      .sort((a, b) => rank(a) - rank(b) || (ref(a) < ref(b) ? -1 : ref(a) > ref(b) ? 1 : 0));
    const names = new Map<string, string[]>();
    return {
      router,
      defaults,
      visible: open,
      tenantOf: [...member].sort(),
      namesServing(providerTypes) {
        const key = providerTypes.join(',');
        let list = names.get(key);
        if (!list) {
          const serving = new Set<string>();
          for (const { model, providerType } of visible) {
            if (!providerTypes.includes(providerType)) continue;
            for (const name of [model.modelName, ...model.aliases, ...model.patterns]) serving.add(name);
          }
          list = [...serving].sort();
          names.set(key, list);
        }
        return list;
      },
    };
  };
  return (principal) => {
    const member = new Set<string>();
    for (const [namespace, groups] of tenants) if (principal.groups.some((g) => groups.has(g))) member.add(namespace);
    const key = [...member].sort().join(',');
    let view = views.get(key);
    if (!view) {
      view = build(member);
      if (views.size < 1000) views.set(key, view);
    }
    return view;
  };
}

/** Parses `team-a=group1,group2;team-b=group3`; null with the offending entry when it does not parse. */
export function parseTenants(value: string | undefined): { tenants: Tenants } | { error: string } {
  const tenants = new Map<string, Set<string>>();
  for (const entry of (value ?? '')
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(.+)$/.exec(entry);
    const groups =
      match?.[3]
        ?.split(',')
        .map((g) => g.trim())
        .filter(Boolean) ?? [];
    if (!match || groups.length === 0) return { error: `"${entry}" is not namespace=group[,group...]` };
    tenants.set(match[1]!, new Set(groups));
  }
  return { tenants };
}
