import type { Actor } from './actor.ts';
import type { KindName } from './kinds.ts';
import type { KubeObject } from './kube/kube-client.ts';

export type ProviderSecret = { marked: true; data: Record<string, string> } | { marked: false };

/** The Ready condition and the kind-specific status fields the operator reports. */
export type ResourceStatus = {
  ready: boolean;
  reason: string;
  message: string;
  extra?: Record<string, unknown>;
};

/**
 * Where declared resources come from: the cluster (informers + admission stamps) or a folder
 * (file source). The reconciler is the same for both, so both have the same audit semantics.
 */
export type ResourceSource = {
  /** The current object from the source's cache; undefined when it does not exist. */
  get(kind: KindName, namespace: string, name: string): KubeObject | undefined;
  list(kind: KindName): KubeObject[];
  /**
   * The Secret's data (base64 values, as the API returns them) and whether its owner marked it for
   * CodeVector (label `codevector.dev/provider-secret: "true"`), or null when it does not exist.
   * Unmarked Secrets come back without data: they are never read for a Provider.
   */
  getSecret(namespace: string, name: string): Promise<ProviderSecret | null>;
  /** Who made the object's latest spec change; for a key rotation, who changed the Secret. */
  changeActor(object: KubeObject, secretName?: string): Actor;
  /** Who deleted the object (uid), when the source knows it. */
  deleteActor(kind: KindName, namespace: string, name: string, uid: string | undefined): Promise<Actor>;
  /** Makes sure deletion waits for the operator; false when the object changed meanwhile (requeue). */
  ensureFinalizer(kind: KindName, object: KubeObject): Promise<void>;
  removeFinalizer(kind: KindName, object: KubeObject): Promise<void>;
  /** Writes status when it differs from the object's current status. */
  writeStatus(kind: KindName, object: KubeObject, status: ResourceStatus): Promise<void>;
  /** A Kubernetes Event (warning) for a condition that needs a person. */
  recordWarning(kind: KindName, object: KubeObject, reason: string, message: string): Promise<void>;
};
