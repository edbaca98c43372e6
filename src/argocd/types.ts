// The interface behind which Argo CD Applications are read: through the Kubernetes API
// (argoproj.io/v1alpha1 custom resources) or through the Argo CD REST API.

export interface ApplicationInfo {
  name: string
  namespace: string
  annotations: Record<string, string>
}

export interface ApplicationsStatus {
  api: 'kubernetes' | 'argocd'
  ok: boolean
  detail: Record<string, unknown>
}

export interface ApplicationSource {
  readonly api: 'kubernetes' | 'argocd'
  /**
   * The Application, or undefined when it does not exist. Throws ArgocdUnavailable or
   * KubernetesUnavailable/KubernetesForbidden when it cannot be read.
   */
  getApplication (name: string, namespace?: string): Promise<ApplicationInfo | undefined>
  /** for GET /v1/auth/status */
  status (): Promise<ApplicationsStatus>
  close (): Promise<void>
}
