import { toSnapshotBudget, toSnapshotModel } from '@codevector/core/config-snapshot';
import type { DatabasePool } from '@codevector/core/create-pool';
import { sql } from '@codevector/core/create-pool';
import type { ErrorCode } from '@codevector/core/errors';
import { fingerprintSecret } from '@codevector/core/secret-box';
import { type ModelSpec, parseSpec } from '@codevector/crds';
import RE2 from 're2';
import { z } from 'zod';
import { auditSinkProgress } from './audit-sink/audit-sink-progress.ts';
import { budgetSpend } from './budget-spend.ts';
import { type OperatorKind, providerSecretLabel } from './kinds.ts';
import type { KubeObject } from './kube/kube-client.ts';
import { providerHealth, rateLimitUsage } from './live-status.ts';
import type { DesiredRow } from './plan-resource.ts';
import type { ResourceSource } from './resource-source.ts';

export type Resolution =
  | { ok: true; desired: DesiredRow; apiKey: string | null; secretName?: string; statusExtra: Record<string, unknown> }
  | {
      ok: false;
      code: ErrorCode;
      reason: string;
      message: string;
      statusExtra: Record<string, unknown>;
      waiting: boolean;
      /**
       * Waiting on a dependency that exists and is being reconciled (its store re-queues this
       * one): status says so, but no warning is logged or recorded.
       */
      transient?: boolean;
      /**
       * A refusal on the installation's terms (a lost name conflict, an unmarked Secret, a baseURL
       * outside the allow-list), not a mistake to wait out: a stored row is withdrawn and the
       * refusal is audited (`<kind>.conflict` or `<kind>.refused`), instead of the last good row
       * staying in force.
       */
      refusal?: 'conflict' | 'refused';
    };

/** What the installation allows, beyond what the CRD schemas say (ADR 0120). */
export type InstallationPolicy = {
  installationNamespace: string;
  /** Allowed Provider baseURL prefixes; undefined = any. */
  providerBaseURLs?: readonly string[];
};

/** How long a resource waiting on something the operator cannot watch (an unlabeled Secret) waits before it looks again. */
export const waitingRetryMs = 5_000;

/**
 * Turns an object into the row it should become, or says in words a person understands why it
 * cannot: a spec the schema rejects, a missing Secret or key, an unknown Provider, a pattern RE2
 * cannot compile. Reads only; never writes.
 */
export async function resolveDesired(
  kind: OperatorKind,
  object: KubeObject,
  deps: { source: ResourceSource; db: DatabasePool; uid: string; now: () => Date; policy: InstallationPolicy },
): Promise<Resolution> {
  const namespace = object.metadata.namespace ?? '';
  const parsed = parseSpec(kind.kind, object.spec ?? {});
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'spec'}: ${issue.message}`).join('; ');
    return failure('OP_SPEC_INVALID', 'SpecInvalid', `The spec is not valid: ${details}`, false);
  }
  const typed = parsed.value;
  const ref = { uid: deps.uid, namespace, name: object.metadata.name };
  const desired: DesiredRow = {
    ...ref,
    generation: object.metadata.generation ?? null,
    // Stored as parsed (defaults applied); core's loader parses it again with the same schema.
    spec: typed.spec as Record<string, unknown>,
    apiKeyFingerprint: null,
  };

  switch (typed.kind) {
    case 'Provider': {
      const allowList = deps.policy.providerBaseURLs;
      if (allowList && !baseURLAllowed(typed.spec.baseURL, allowList)) {
        return refusal(
          'OP_BASE_URL_NOT_ALLOWED',
          'BaseURLNotAllowed',
          `baseURL "${typed.spec.baseURL}" is not in this installation's allow-list (${allowList.join(', ')}); ask the platform team to add it to operator.providerBaseURLs.`,
          'refused',
        );
      }
      const ref = typed.spec.apiKeySecretRef;
      const secret = await deps.source.getSecret(namespace, ref.name);
      if (secret === null) {
        return failure('OP_SECRET_NOT_FOUND', 'SecretNotFound', `Secret "${ref.name}" does not exist in namespace "${namespace}".`, true);
      }
      if (!secret.marked) {
        // Without the owner's mark, whoever may create Providers could send any Secret of the
        // namespace to a baseURL of their choosing.
        return {
          ...refusal(
            'OP_SECRET_NOT_MARKED',
            'SecretNotMarked',
            `Secret "${ref.name}" is not marked for CodeVector; its owner must label it ${providerSecretLabel}=true (kubectl label secret ${ref.name} -n ${namespace} ${providerSecretLabel}=true) before a Provider may use it.`,
            'refused',
          ),
          waiting: true,
        };
      }
      const { data } = secret;
      const encoded = data[ref.key];
      const apiKey = encoded === undefined ? '' : Buffer.from(encoded, 'base64').toString('utf8').trim();
      if (apiKey === '') {
        const keys = Object.keys(data).sort();
        return failure(
          'OP_SECRET_NOT_FOUND',
          'SecretKeyNotFound',
          `Secret "${ref.name}" has no non-empty key "${ref.key}" (it has: ${keys.length ? keys.join(', ') : 'no keys'}).`,
          true,
        );
      }
      const fingerprint = fingerprintSecret(apiKey);
      return {
        ok: true,
        desired: { ...desired, apiKeyFingerprint: fingerprint },
        apiKey,
        secretName: ref.name,
        statusExtra: {
          apiKeyFingerprint: fingerprint.slice('sha256:'.length, 'sha256:'.length + 8),
          ...(await providerHealth(deps.db, `${namespace}/${object.metadata.name}`, deps.now())),
        },
      };
    }
    case 'Model': {
      const providerName = typed.spec.providerRef.name;
      const stored = await deps.db.maybeOneFirst(sql.type(z.object({ uid: z.string() }))`
        select uid from providers where namespace = ${namespace} and name = ${providerName}`);
      if (stored === null) {
        const exists = deps.source.get('Provider', namespace, providerName) !== undefined;
        return exists
          ? {
              ...failure(
                'OP_PROVIDER_NOT_FOUND',
                'ProviderNotReady',
                `Provider "${providerName}" exists but is not Ready yet; see its status.`,
                true,
              ),
              transient: true,
            }
          : failure(
              'OP_PROVIDER_NOT_FOUND',
              'ProviderNotFound',
              `Provider "${providerName}" does not exist in namespace "${namespace}".`,
              true,
            );
      }
      // Clients pick a model by name alone, so a name or alias may be served by one Model only,
      // in every namespace. The oldest claim keeps it (creationTimestamp, then namespace/name, as
      // Gateway API resolves conflicts), whatever order the operator happens to see them in: a
      // newer Model in another namespace can never take over a name that serves traffic. Within
      // one second (creationTimestamp's resolution) the Model already serving the name keeps it,
      // so a same-second twin cannot displace it by sorting first.
      // Names, aliases and patterns are claimed alike (a pattern holds a *, a name cannot).
      const names = modelNames(object);
      const serving = new Set(
        await deps.db.anyFirst(sql.type(z.object({ uid: z.string() }))`
          select uid from models
          where spec->>'name' = any(${sql.array(names, 'text')}) or spec->'aliases' ?| ${sql.array(names, 'text')}
            or coalesce(spec->'patterns', '[]'::jsonb) ?| ${sql.array(names, 'text')}`),
      );
      const before = (a: KubeObject, b: KubeObject) => claimsBefore(a, b, serving);
      const older = deps.source
        .list('Model')
        .filter((other) => other.metadata.uid !== deps.uid && !other.metadata.deletionTimestamp)
        .filter((other) => modelNames(other).some((n) => names.includes(n)) && before(other, object))
        .sort((a, b) => (before(a, b) ? -1 : 1))[0];
      if (older) {
        const shared = modelNames(older).filter((n) => names.includes(n));
        return refusal(
          'OP_CONFLICT',
          'ModelNameConflict',
          `Model "${older.metadata.namespace}/${older.metadata.name}" is older and already claims ${shared.map((n) => `"${n}"`).join(', ')}; model names and aliases are unique across the installation and the oldest Model keeps them.`,
          'conflict',
        );
      }
      // A source that cannot see the other (a Model outside the watched namespaces): the stored one keeps it.
      const clash = await deps.db.maybeOne(sql.type(z.object({ namespace: z.string(), name: z.string() }))`
        select namespace, name from models
        where uid <> ${deps.uid}
          and (spec->>'name' = any(${sql.array(names, 'text')}) or spec->'aliases' ?| ${sql.array(names, 'text')}
            or coalesce(spec->'patterns', '[]'::jsonb) ?| ${sql.array(names, 'text')})
        limit 1`);
      if (clash && deps.source.get('Model', clash.namespace, clash.name) === undefined) {
        return refusal(
          'OP_CONFLICT',
          'ModelNameConflict',
          `Model "${clash.namespace}/${clash.name}" already serves one of the names ${names.map((n) => `"${n}"`).join(', ')}; model names, aliases and patterns must be unique across the installation.`,
          'conflict',
        );
      }
      try {
        toSnapshotModel(ref, typed.spec, stored);
      } catch (error) {
        return failure('OP_SPEC_INVALID', 'SpecInvalid', `The spec is not valid: ${(error as Error).message}`, false);
      }
      // Fallbacks must speak the primary's API: the gateway forwards the client's body unchanged.
      const fallbackNames = (typed.spec.fallbacks ?? []).map((f) => f.providerRef.name);
      const types = new Map(
        (
          await deps.db.any(sql.type(z.object({ name: z.string(), type: z.string() }))`
            select name, spec->>'type' as type from providers
            where namespace = ${namespace} and name = any(${sql.array([providerName, ...fallbackNames], 'text')})`)
        ).map((p) => [p.name, p.type]),
      );
      const family = (type: string | undefined) => (type === 'anthropic' ? 'anthropic' : 'openai');
      const wrong = fallbackNames.filter((n) => types.has(n) && family(types.get(n)) !== family(types.get(providerName)));
      if (wrong.length > 0) {
        return failure(
          'OP_SPEC_INVALID',
          'FallbackWrongAPI',
          `Fallback Provider ${wrong.map((n) => `"${n}"`).join(', ')} speaks another API than Provider "${providerName}" (${types.get(providerName)}); a fallback receives the client's request unchanged, so it must be of the same type (openai and openai-compatible mix).`,
          false,
        );
      }
      return { ok: true, desired, apiKey: null, statusExtra: { routing: describeRouting(typed.spec, (n) => types.has(n)) } };
    }
    case 'SecretRule': {
      const patterns = typed.spec.patterns ?? [];
      const patternErrors: { name: string; message: string }[] = [];
      for (const pattern of patterns) {
        try {
          new RE2(pattern.regex, 'u');
        } catch (error) {
          patternErrors.push({ name: pattern.name, message: (error as Error).message });
        }
      }
      if (patternErrors.length > 0) {
        const list = patternErrors.map((e) => `"${e.name}" (${e.message})`).join(', ');
        return {
          ...failure(
            'OP_PATTERN_INVALID',
            'PatternInvalid',
            `Pattern ${list} does not compile in RE2 syntax; the rule is not enforced until it does.`,
            false,
          ),
          statusExtra: { compiledPatterns: patterns.length - patternErrors.length, patternErrors },
        };
      }
      return { ok: true, desired, apiKey: null, statusExtra: { compiledPatterns: patterns.length, patternErrors: [] } };
    }
    case 'Budget': {
      const statusExtra = await budgetSpend(deps.db, toSnapshotBudget(ref, typed.spec), deps.now());
      return { ok: true, desired, apiKey: null, statusExtra };
    }
    case 'RateLimit':
      return { ok: true, desired, apiKey: null, statusExtra: await rateLimitUsage(deps.db, deps.uid, deps.now()) };
    case 'AuditSink': {
      // A sink receives the whole installation's audit log: in a team's namespace it would hand
      // every other team's changes and rejections to whoever may create it there (ADR 0120).
      if (namespace !== deps.policy.installationNamespace) {
        return refusal(
          'OP_NOT_IN_INSTALLATION_NAMESPACE',
          'NotInInstallationNamespace',
          `An AuditSink receives the whole installation's audit log, so only the installation namespace "${deps.policy.installationNamespace}" may hold one.`,
          'refused',
        );
      }
      const ref = typed.spec.webhook?.hmacSecretRef ?? typed.spec.otlp?.headersSecretRef;
      if (ref) {
        const secret = await deps.source.getSecret(namespace, ref.name);
        if (secret === null) {
          return failure('OP_SECRET_NOT_FOUND', 'SecretNotFound', `Secret "${ref.name}" does not exist in namespace "${namespace}".`, true);
        }
        if (!secret.marked) {
          return {
            ...refusal(
              'OP_SECRET_NOT_MARKED',
              'SecretNotMarked',
              `Secret "${ref.name}" is not marked for CodeVector; label it ${providerSecretLabel}=true before an AuditSink may use it.`,
              'refused',
            ),
            waiting: true,
          };
        }
        const key = 'key' in ref ? String(ref.key) : null;
        if (key !== null && !secret.data[key]) {
          return failure('OP_SECRET_NOT_FOUND', 'SecretKeyNotFound', `Secret "${ref.name}" has no key "${key}".`, true);
        }
      }
      return { ok: true, desired, apiKey: null, statusExtra: await auditSinkProgress(deps.db, deps.uid) };
    }
  }
}

/**
 * The Model's routes in precedence order, for `kubectl get -o wide` (status.routing): what a
 * requested name is matched against, then the upstreams tried in order.
 */
export function describeRouting(spec: ModelSpec, stored: (provider: string) => boolean): string {
  const parts = [`name ${spec.name}`];
  if (spec.aliases?.length) parts.push(`aliases ${spec.aliases.join(', ')}`);
  if (spec.patterns?.length) {
    parts.push(`patterns ${spec.patterns.map((p) => `${p} (rank ${p.replaceAll('*', '').length})`).join(', ')}`);
  }
  if (spec.default) parts.push('default for unmatched names');
  const upstreams = [
    `${spec.providerRef.name}/${spec.upstreamModel}`,
    ...(spec.fallbacks ?? []).map(
      (f) => `${f.providerRef.name}/${f.upstreamModel ?? spec.upstreamModel}${stored(f.providerRef.name) ? '' : ' (not Ready, skipped)'}`,
    ),
  ];
  parts.push(`upstreams ${upstreams.join(' → ')}`);
  return parts.join('; ').slice(0, 1024);
}

function failure(code: ErrorCode, reason: string, message: string, waiting: boolean): Extract<Resolution, { ok: false }> {
  return { ok: false, code, reason, message, statusExtra: {}, waiting };
}

function refusal(code: ErrorCode, reason: string, message: string, kind: 'conflict' | 'refused'): Extract<Resolution, { ok: false }> {
  return { ok: false, code, reason, message, statusExtra: {}, waiting: false, refusal: kind };
}

/** The client-facing names a Model object claims (name and aliases), read leniently from its spec. */
export function modelNames(object: KubeObject): string[] {
  const spec = (object.spec ?? {}) as { name?: unknown; aliases?: unknown; patterns?: unknown };
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((a): a is string => typeof a === 'string') : []);
  const claims = [...strings(spec.aliases), ...strings(spec.patterns)];
  return typeof spec.name === 'string' ? [spec.name, ...claims] : claims;
}

/**
 * Whether `a` claims a name before `b`: older creationTimestamp first; within the same second,
 * the one already serving it (uid in `serving`); then namespace/name, so the order is total.
 */
export function claimsBefore(a: KubeObject, b: KubeObject, serving: ReadonlySet<string> = new Set()): boolean {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta < tb;
  const sa = serving.has(a.metadata.uid);
  const sb = serving.has(b.metadata.uid);
  if (sa !== sb) return sa;
  return `${a.metadata.namespace ?? ''}/${a.metadata.name}` < `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
}

/**
 * Whether a Provider baseURL lies under one of the allowed URLs: same scheme, host and port, and
 * a path at or below the entry's path, segment by segment — so `https://api.openai.com` allows
 * `https://api.openai.com/v1` but not `https://api.openai.com.evil.test` or `https://x@evil.test`.
 */
export function baseURLAllowed(baseURL: string, allowed: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  const segments = (pathname: string) => pathname.split('/').filter(Boolean);
  const path = segments(url.pathname);
  return allowed.some((entry) => {
    const allow = new URL(entry);
    if (allow.protocol !== url.protocol || allow.host !== url.host) return false;
    const prefix = segments(allow.pathname);
    return prefix.every((segment, i) => path[i] === segment);
  });
}
