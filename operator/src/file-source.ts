import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@codevector/core/logger';
import { parseAllDocuments } from 'yaml';
import { apiVersion, type KindName, keyOf, kindByName, providerSecretLabel } from './kinds.ts';
import type { KubeObject } from './kube/kube-client.ts';
import type { ResourceSource, ResourceStatus } from './resource-source.ts';

export type FileSource = ResourceSource & {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Latest status per key (the folder has nowhere to write it back). */
  statuses(): Map<string, ResourceStatus>;
};

type Entry = { object: KubeObject; file: string; fingerprint: string };

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The `status` an apiserver would hold after the reconciler's last report. */
function statusObject(status: ResourceStatus): Record<string, unknown> {
  return {
    // null removes a field, as a merge patch of the apiserver's status does.
    ...Object.fromEntries(Object.entries(status.extra ?? {}).filter(([, value]) => value !== null)),
    conditions: [{ type: 'Ready', status: status.ready ? 'True' : 'False', reason: status.reason, message: status.message }],
  };
}

/** Stable uid for an object without an apiserver: the same manifest always maps to the same row. */
export function fileUid(kind: string, namespace: string, name: string): string {
  const hex = createHash('sha256').update(`${kind}/${namespace}/${name}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Declared resources from a folder of manifests (multi-document YAML or JSON, Secrets included)
 * for machines without a cluster (`npm start`). Same reconciler, same audit rows; the actor is
 * `file:<path>` with actor source `system`. Edits are picked up by fs.watch with a debounce. A
 * file that fails to parse keeps its previous objects: a typo never deletes anything.
 */
export function createFileSource(options: { dir: string; log: Logger; enqueue(key: string): void; debounceMs?: number }): FileSource {
  const { log } = options;
  const dir = path.resolve(options.dir);
  let objects = new Map<string, Entry>();
  let secrets = new Map<string, Entry>();
  const lastFile = new Map<string, string>();
  const statuses = new Map<string, ResourceStatus>();
  const previousByFile = new Map<string, Entry[]>();
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<void> = Promise.resolve();

  async function listFiles(folder: string): Promise<string[]> {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    const files: string[] = [];
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory() && !entry.name.startsWith('.')) files.push(...(await listFiles(full)));
      else if (entry.isFile() && /\.(ya?ml|json)$/.test(entry.name)) files.push(full);
    }
    return files.sort();
  }

  async function parseFile(file: string): Promise<Entry[] | null> {
    try {
      const text = await readFile(file, 'utf8');
      const entries: Entry[] = [];
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length > 0) throw doc.errors[0];
        const raw = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown> | null;
        if (!raw || typeof raw !== 'object') continue;
        const meta = (raw['metadata'] ?? {}) as {
          name?: string;
          namespace?: string;
          annotations?: Record<string, string>;
          labels?: Record<string, string>;
        };
        const kind = String(raw['kind'] ?? '');
        if (!meta.name) continue;
        const namespace = meta.namespace ?? 'default';
        // What the apiserver would refuse is refused here too: a name such as `../../x` or one
        // with a newline never becomes a key, a row or a log line's path.
        if (!dnsSubdomain.test(meta.name) || meta.name.length > 253 || !dnsLabel.test(namespace)) {
          log.warn({ file, name: String(meta.name).slice(0, 80) }, 'manifest name or namespace is not a Kubernetes name; ignored');
          continue;
        }
        const isSecret = kind === 'Secret' && raw['apiVersion'] === 'v1';
        if (!isSecret && !(raw['apiVersion'] === apiVersion && kindByName.has(kind))) continue;
        let data = raw['data'] as Record<string, string> | undefined;
        if (isSecret) {
          const plain = (raw['stringData'] ?? {}) as Record<string, string>;
          data = { ...data, ...Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, Buffer.from(String(v)).toString('base64')])) };
        }
        const object: KubeObject = {
          apiVersion: String(raw['apiVersion']),
          kind,
          metadata: {
            name: meta.name,
            namespace,
            uid: fileUid(kind, namespace, meta.name),
            resourceVersion: '0',
            annotations: meta.annotations ?? {},
            labels: meta.labels ?? {},
          },
          ...(isSecret ? { data } : { spec: raw['spec'] ?? {} }),
        };
        entries.push({ object, file, fingerprint: JSON.stringify(isSecret ? data : (raw['spec'] ?? {})) });
      }
      return entries;
    } catch (error) {
      log.error({ file, err: error }, 'manifest not readable; keeping its previous objects');
      return null;
    }
  }

  async function load(): Promise<void> {
    const nextObjects = new Map<string, Entry>();
    const nextSecrets = new Map<string, Entry>();
    const files = await listFiles(dir);
    const seenFiles = new Set<string>();
    for (const file of files) {
      seenFiles.add(file);
      const parsed = (await parseFile(file)) ?? previousByFile.get(file) ?? [];
      previousByFile.set(file, parsed);
      for (const entry of parsed) {
        const { kind } = entry.object;
        const { namespace = 'default', name } = entry.object.metadata;
        const target = kind === 'Secret' ? nextSecrets : nextObjects;
        const key = kind === 'Secret' ? `${namespace}/${name}` : keyOf(kind ?? '', namespace, name);
        if (target.has(key)) log.warn({ key, file, other: target.get(key)?.file }, 'declared twice; the later file wins');
        target.set(key, entry);
      }
    }
    for (const file of previousByFile.keys()) if (!seenFiles.has(file)) previousByFile.delete(file);

    const changed = new Set<string>();
    for (const [key, entry] of nextObjects) if (objects.get(key)?.fingerprint !== entry.fingerprint) changed.add(key);
    for (const [key, entry] of objects) {
      if (!nextObjects.has(key)) {
        lastFile.set(key, entry.file);
        changed.add(key);
      }
    }
    const changedSecrets = new Set<string>();
    for (const [key, entry] of nextSecrets) if (secrets.get(key)?.fingerprint !== entry.fingerprint) changedSecrets.add(key);
    for (const key of secrets.keys()) if (!nextSecrets.has(key)) changedSecrets.add(key);
    // Status lives beside the object, as on an apiserver: a re-read manifest keeps what the
    // reconciler last reported, so "already reported" checks (one refusal row, not one per retry)
    // hold without a cluster.
    for (const [key, entry] of nextObjects) {
      const status = statuses.get(key);
      if (status) entry.object.status = statusObject(status);
    }
    objects = nextObjects;
    secrets = nextSecrets;
    for (const entry of objects.values()) {
      const ref = (entry.object.spec as { apiKeySecretRef?: { name?: string } }).apiKeySecretRef?.name;
      if (entry.object.kind === 'Provider' && changedSecrets.has(`${entry.object.metadata.namespace}/${ref}`)) {
        changed.add(keyOf('Provider', entry.object.metadata.namespace ?? '', entry.object.metadata.name));
      }
    }
    for (const key of changed) options.enqueue(key);
  }

  const actorFor = (file: string) => ({ actor: `file:${path.relative(process.cwd(), file) || file}`, actorSource: 'system' as const });

  return {
    async start() {
      await load();
      try {
        watcher = watch(dir, { recursive: true }, () => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            loading = loading.then(load).catch((error: unknown) => log.error({ err: error }, 'reload failed'));
          }, options.debounceMs ?? 150);
        });
      } catch (error) {
        log.warn({ err: error, dir }, 'cannot watch the folder; edits need a restart');
      }
    },
    async stop() {
      clearTimeout(timer);
      watcher?.close();
      await loading;
    },
    statuses: () => statuses,
    get: (kind, namespace, name) => objects.get(keyOf(kind, namespace, name))?.object,
    list: (kind) => [...objects.values()].filter((e) => e.object.kind === kind).map((e) => e.object),
    async getSecret(namespace, name) {
      const entry = secrets.get(`${namespace}/${name}`);
      if (!entry) return null;
      // The same rule as in a cluster: only Secrets marked for CodeVector feed a Provider.
      if (entry.object.metadata.labels?.[providerSecretLabel] !== 'true') return { marked: false };
      return { marked: true, data: (entry.object.data as Record<string, string> | undefined) ?? {} };
    },
    changeActor(object, secretName) {
      const ns = object.metadata.namespace ?? 'default';
      const file = secretName
        ? secrets.get(`${ns}/${secretName}`)?.file
        : objects.get(keyOf(object.kind ?? '', ns, object.metadata.name))?.file;
      return actorFor(file ?? dir);
    },
    async deleteActor(kind: KindName, namespace, name) {
      return actorFor(lastFile.get(keyOf(kind, namespace, name)) ?? dir);
    },
    async ensureFinalizer() {},
    async removeFinalizer() {},
    async writeStatus(kind, object, status) {
      const key = keyOf(kind, object.metadata.namespace ?? '', object.metadata.name);
      const previous = statuses.get(key);
      statuses.set(key, status);
      const entry = objects.get(key);
      if (entry) entry.object.status = statusObject(status);
      if (previous?.ready === status.ready && previous.reason === status.reason && previous.message === status.message) return;
      if (status.ready) log.info({ key, reason: status.reason }, 'resource ready');
    },
    async recordWarning(kind, object, reason, message) {
      log.warn({ key: keyOf(kind, object.metadata.namespace ?? '', object.metadata.name), reason, detail: message }, 'resource not ready');
    },
  };
}
