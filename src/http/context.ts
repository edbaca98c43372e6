// What the routes need from the composition root, decorated on the app as `app.broker`.
import type { ReloadingFile } from '../config/watch.js';
import type { RegistriesConfig } from '../registry/registries-conf.js';
import type { Settings } from '../config/settings.js';
import type { ApplicationSource } from '../argocd/types.js';
import type { CredentialCache } from '../credentials/cache.js';
import type { Resolver } from '../credentials/resolver.js';
import type { SecretStore } from '../kube/secret-store.js';
import type { AgentPool } from '../transport/http-client.js';
import type { Metrics } from '../metrics.js';

export type AuthAction = 'resolve' | 'explain' | 'test' | 'validate' | 'registries' | 'status' | 'invalidate';

export interface BrokerContext {
  settings: Settings
  metrics: Metrics
  registries: ReloadingFile<RegistriesConfig>
  store: SecretStore
  applications?: ApplicationSource
  cache: CredentialCache
  resolver: Resolver
  /** connections to registries for POST /v1/credentials/test, one Agent per TLS profile */
  registryAgents: AgentPool
  /** Kubernetes side of GET /v1/auth/status; absent in local mode */
  kubeStatus?: () => Promise<unknown>
  /** set when the process is shutting down: /readyz answers 503 */
  closing: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    broker: BrokerContext
  }
}
