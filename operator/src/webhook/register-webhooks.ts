import { randomBytes } from 'node:crypto';
import type { Logger } from '@codevector/core/logger';
import type { V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { apiVersion, changedByAnnotation, operatorKinds, providerSecretLabel } from '../kinds.ts';
import { apiStatus, type KubeClient, type KubeObject } from '../kube/kube-client.ts';

export type WebhookTarget = { url: string } | { service: { namespace: string; name: string; port: number } };

export type WebhookRegistration = {
  client: KubeClient;
  log: Logger;
  /** Name of both webhook configurations. */
  name: string;
  target: WebhookTarget;
  caPem: string;
  /** Restrict the webhooks to these namespaces (tests, namespaced installs). */
  namespaces?: readonly string[];
  failurePolicy: 'Fail' | 'Ignore';
};

/**
 * Creates or updates the Mutating (stamp the actor) and Validating (record who deletes)
 * webhook configurations with the operator's CA as caBundle.
 */
export async function registerWebhooks(options: WebhookRegistration): Promise<void> {
  const caBundle = Buffer.from(options.caPem).toString('base64');
  const clientConfig = (path: string) =>
    'url' in options.target
      ? { url: `${options.target.url.replace(/\/$/, '')}${path}`, caBundle }
      : { service: { ...options.target.service, path }, caBundle };
  const namespaceSelector = options.namespaces
    ? { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...options.namespaces] }] }
    : {};
  const [group = '', version = ''] = apiVersion.split('/');
  const plurals = operatorKinds.map((k) => k.plural);
  const common = {
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 5,
    failurePolicy: options.failurePolicy,
    matchPolicy: 'Equivalent',
    namespaceSelector,
  };

  const mutating: V1MutatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name, labels: { 'app.kubernetes.io/managed-by': 'codevector-operator' } },
    webhooks: [
      {
        name: 'resources.codevector.dev',
        clientConfig: clientConfig('/mutate'),
        rules: [{ apiGroups: [group], apiVersions: [version], operations: ['CREATE', 'UPDATE'], resources: plurals, scope: 'Namespaced' }],
        sideEffects: 'None',
        reinvocationPolicy: 'IfNeeded',
        ...common,
      },
      {
        name: 'secrets.codevector.dev',
        clientConfig: clientConfig('/mutate'),
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['secrets'], scope: 'Namespaced' }],
        objectSelector: { matchLabels: { [providerSecretLabel]: 'true' } },
        sideEffects: 'None',
        reinvocationPolicy: 'IfNeeded',
        ...common,
      },
    ],
  };
  const validating: V1ValidatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: options.name, labels: { 'app.kubernetes.io/managed-by': 'codevector-operator' } },
    webhooks: [
      {
        name: 'deletes.codevector.dev',
        clientConfig: clientConfig('/delete'),
        rules: [{ apiGroups: [group], apiVersions: [version], operations: ['DELETE'], resources: plurals, scope: 'Namespaced' }],
        sideEffects: 'NoneOnDryRun',
        ...common,
      },
    ],
  };
  const api = options.client.admissionRegistration;
  await upsert(options.name, {
    read: () => api.readMutatingWebhookConfiguration({ name: options.name }),
    create: () => api.createMutatingWebhookConfiguration({ body: mutating }),
    replace: (resourceVersion) =>
      api.replaceMutatingWebhookConfiguration({
        name: options.name,
        body: { ...mutating, metadata: { ...mutating.metadata, resourceVersion } },
      }),
  });
  await upsert(options.name, {
    read: () => api.readValidatingWebhookConfiguration({ name: options.name }),
    create: () => api.createValidatingWebhookConfiguration({ body: validating }),
    replace: (resourceVersion) =>
      api.replaceValidatingWebhookConfiguration({
        name: options.name,
        body: { ...validating, metadata: { ...validating.metadata, resourceVersion } },
      }),
  });
  options.log.info({ name: options.name }, 'webhook configurations registered');
}

async function upsert(
  name: string,
  calls: {
    read(): Promise<{ metadata?: { resourceVersion?: string } }>;
    create(): Promise<unknown>;
    replace(resourceVersion: string | undefined): Promise<unknown>;
  },
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const existing = await calls.read().catch((error: unknown) => {
        if (apiStatus(error) === 404) return null;
        throw error;
      });
      if (existing) await calls.replace(existing.metadata?.resourceVersion);
      else await calls.create();
      return;
    } catch (error) {
      if (apiStatus(error) !== 409) throw error;
    }
  }
  throw new Error(`could not write webhook configuration ${name}: conflicts`);
}

/** Removes both configurations (tests, uninstall). */
export async function unregisterWebhooks(client: KubeClient, name: string): Promise<void> {
  const api = client.admissionRegistration;
  for (const remove of [() => api.deleteMutatingWebhookConfiguration({ name }), () => api.deleteValidatingWebhookConfiguration({ name })]) {
    try {
      await remove();
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
    }
  }
}

/**
 * The apiserver loads webhook configurations asynchronously; probe with dry-run creates until
 * the stamp shows up, so callers know changes from now on are attributed.
 * @throws when the webhook does not answer within timeoutMs.
 */
export async function waitForWebhook(client: KubeClient, namespace: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const rateLimits = operatorKinds.find((k) => k.kind === 'RateLimit')!.plural;
  const [group = '', version = ''] = apiVersion.split('/');
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const created = (await client.customObjects.createNamespacedCustomObject({
        group,
        version,
        namespace,
        plural: rateLimits,
        dryRun: 'All',
        body: {
          apiVersion,
          kind: 'RateLimit',
          metadata: { name: `webhook-probe-${randomBytes(4).toString('hex')}`, namespace },
          spec: { subject: { kind: 'global' }, requestsPerMinute: 1 },
        },
      })) as KubeObject;
      if (created.metadata.annotations?.[changedByAnnotation]) return;
      last = 'no stamp yet';
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`admission webhook did not answer within ${timeoutMs} ms: ${String(last)}`);
}
