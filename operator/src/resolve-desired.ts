import { toSnapshotBudget, toSnapshotModel } from '@codevector/core/config-snapshot';
import type { DatabasePool } from '@codevector/core/create-pool';
import { sql } from '@codevector/core/create-pool';
import type { ErrorCode } from '@codevector/core/errors';
import { fingerprintSecret } from '@codevector/core/secret-box';
import { parseSpec } from '@codevector/crds';
import RE2 from 're2';
import { z } from 'zod';
import { budgetSpend } from './budget-spend.ts';
import type { OperatorKind } from './kinds.ts';
import type { KubeObject } from './kube/kube-client.ts';
import type { DesiredRow } from './plan-resource.ts';
import type { ResourceSource } from './resource-source.ts';

export type Resolution =
  | { ok: true; desired: DesiredRow; apiKey: string | null; secretName?: string; statusExtra: Record<string, unknown> }
  | { ok: false; code: ErrorCode; reason: string; message: string; statusExtra: Record<string, unknown>; waiting: boolean };

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
  deps: { source: ResourceSource; db: DatabasePool; uid: string; now: () => Date },
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
      const ref = typed.spec.apiKeySecretRef;
      const data = await deps.source.getSecret(namespace, ref.name);
      if (data === null) {
        return failure('OP_SECRET_NOT_FOUND', 'SecretNotFound', `Secret "${ref.name}" does not exist in namespace "${namespace}".`, true);
      }
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
        statusExtra: { apiKeyFingerprint: fingerprint.slice('sha256:'.length, 'sha256:'.length + 8) },
      };
    }
    case 'Model': {
      const providerName = typed.spec.providerRef.name;
      const stored = await deps.db.maybeOneFirst(sql.type(z.object({ uid: z.string() }))`
        select uid from providers where namespace = ${namespace} and name = ${providerName}`);
      if (stored === null) {
        const exists = deps.source.get('Provider', namespace, providerName) !== undefined;
        return exists
          ? failure(
              'OP_PROVIDER_NOT_FOUND',
              'ProviderNotReady',
              `Provider "${providerName}" exists but is not Ready yet; see its status.`,
              true,
            )
          : failure(
              'OP_PROVIDER_NOT_FOUND',
              'ProviderNotFound',
              `Provider "${providerName}" does not exist in namespace "${namespace}".`,
              true,
            );
      }
      // Clients pick a model by name alone, so a name or alias may be served by one Model only;
      // the one stored first keeps it.
      // Two Models with the same pattern would leave the choice to chance; overlapping patterns
      // are fine, the router's precedence decides (longest literal part first).
      const names = [typed.spec.name, ...(typed.spec.aliases ?? [])];
      const patterns = typed.spec.patterns ?? [];
      const clash = await deps.db.maybeOne(sql.type(z.object({ namespace: z.string(), name: z.string() }))`
        select namespace, name from models
        where uid <> ${deps.uid}
          and (spec->>'name' = any(${sql.array(names, 'text')}) or spec->'aliases' ?| ${sql.array(names, 'text')}
            or coalesce(spec->'patterns', '[]'::jsonb) ?| ${sql.array(patterns, 'text')})
        limit 1`);
      if (clash) {
        return failure(
          'OP_SPEC_INVALID',
          'ModelNameConflict',
          `Model "${clash.namespace}/${clash.name}" already serves one of the names ${[...names, ...patterns].map((n) => `"${n}"`).join(', ')}; model names, aliases and patterns must be unique across the installation.`,
          true,
        );
      }
      try {
        toSnapshotModel(ref, typed.spec, stored);
      } catch (error) {
        return failure('OP_SPEC_INVALID', 'SpecInvalid', `The spec is not valid: ${(error as Error).message}`, false);
      }
      return { ok: true, desired, apiKey: null, statusExtra: {} };
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
      return { ok: true, desired, apiKey: null, statusExtra: {} };
  }
}

function failure(code: ErrorCode, reason: string, message: string, waiting: boolean): Resolution {
  return { ok: false, code, reason, message, statusExtra: {}, waiting };
}
