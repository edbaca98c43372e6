// The interface every Secret store (local folder, Kubernetes API, test fakes) implements.

export interface SecretObject {
  namespace: string
  name: string
  type?: string
  /** decoded values of `data` merged with `stringData` */
  data: Record<string, Buffer>
  resourceVersion?: string
}

export interface ServiceAccountObject {
  namespace: string
  name: string
  /** names of `imagePullSecrets`, in order */
  imagePullSecrets: string[]
  resourceVersion?: string
}

export interface NamespaceSyncState {
  synced: boolean
  /** true when the API refused list/watch (403): reported, but does not make the service unready */
  forbidden?: boolean
  /** human-readable, never an API response body */
  error?: string
  lastSyncAt?: string
  /** set while the watch is down after a successful sync: data may be out of date since then */
  disconnectedSince?: string
}

export interface StoreStatus {
  kind: 'local' | 'kubernetes'
  synced: boolean
  namespaces: Record<string, NamespaceSyncState>
}

export type ChangeKind = 'secret' | 'serviceaccount';
export type ChangeListener = (kind: ChangeKind, namespace: string, name: string) => void;

export interface SecretStore {
  /** initial sync; resolves when every namespace has been listed once (or failed) */
  start (): Promise<void>
  /**
   * The Secret, or undefined when it does not exist. Throws KubernetesUnavailable /
   * KubernetesForbidden when the store cannot answer. The caller has already checked
   * SECRET_NAMESPACES.
   */
  getSecret (namespace: string, name: string): Promise<SecretObject | undefined>
  getServiceAccount (namespace: string, name: string): Promise<ServiceAccountObject | undefined>
  /** called when a Secret or ServiceAccount is added, changed or deleted; returns unsubscribe */
  onChange (listener: ChangeListener): () => void
  status (): StoreStatus
  close (): Promise<void>
}
