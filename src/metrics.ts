// One prom-client Registry per app; every metric docs/operations.md lists is defined here.
// Label values are bounded sets: never an image, a Secret or a caller name.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from './version.js';

/**
 * prom-client's gauges named `_total` fail `promtool check metrics` (a `_total` suffix is
 * for counters); the same numbers stay available per type as nodejs_active_handles,
 * nodejs_active_requests and nodejs_active_resources (sum them).
 */
export const UNLINTED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** Buckets for calls to the Kubernetes API, Argo CD and registries: 5 ms to 30 s. */
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What the secret store gauges read at scrape time (the store's own status, as /readyz reports it). */
export interface StoreStatusSource {
  synced: boolean
  namespaces: Record<string, { synced: boolean, forbidden?: boolean, disconnectedSince?: string }>
}

export function createMetrics (opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    for (const name of UNLINTED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }

  const buildInfo = new Gauge({
    name: 'credbroker_build_info',
    help: 'Always 1; the labels carry the credbroker version and the Node.js version it runs on',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry]
  });
  buildInfo.set({ version: VERSION, node_version: process.versions.node }, 1);

  const credentialRequests = new Counter({
    name: 'credbroker_credential_requests_total',
    help: 'Credential requests by outcome (ok or an error code) and source type',
    labelNames: ['outcome', 'source_type'] as const,
    registers: [registry]
  });
  const cacheHits = new Counter({
    name: 'credbroker_cache_hits_total',
    help: 'Credential cache hits by credential level',
    labelNames: ['level'] as const,
    registers: [registry]
  });
  const cacheMisses = new Counter({
    name: 'credbroker_cache_misses_total',
    help: 'Credential cache misses by credential level',
    labelNames: ['level'] as const,
    registers: [registry]
  });
  const cacheEntries = new Gauge({
    name: 'credbroker_cache_entries',
    help: 'Credentials currently held in the cache',
    registers: [registry]
  });
  const fetchDuration = new Histogram({
    name: 'credbroker_credential_fetch_duration_seconds',
    help: 'Time to fetch a credential from its source (cache misses only)',
    labelNames: ['source_type'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry]
  });
  const extRuns = new Counter({
    name: 'credbroker_ext_script_runs_total',
    help: 'ext: script runs by outcome (ok, failed, timeout, malformed)',
    labelNames: ['outcome'] as const,
    registers: [registry]
  });
  const cloudTokenRequests = new Counter({
    name: 'credbroker_cloud_token_requests_total',
    help: 'Requests for a registry token to a cloud provider (ecr, gcp, acr) by outcome (ok or an error code)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry]
  });
  const kubernetesRequests = new Counter({
    name: 'credbroker_kubernetes_requests_total',
    help: 'Requests to the Kubernetes API by verb, resource and HTTP status code',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [registry]
  });
  const kubernetesRequestDuration = new Histogram({
    name: 'credbroker_kubernetes_request_duration_seconds',
    help: 'Duration of requests to the Kubernetes API (watches excluded) by verb and resource',
    labelNames: ['verb', 'resource'] as const,
    buckets: UPSTREAM_BUCKETS,
    registers: [registry]
  });
  const watchRestarts = new Counter({
    name: 'credbroker_kubernetes_watch_restarts_total',
    help: 'Kubernetes watches restarted, by resource and reason (gone, error, closed)',
    labelNames: ['resource', 'reason'] as const,
    registers: [registry]
  });
  const argocdRequests = new Counter({
    name: 'credbroker_argocd_requests_total',
    help: 'Requests to the Argo CD API by endpoint and HTTP status code',
    labelNames: ['endpoint', 'code'] as const,
    registers: [registry]
  });
  const argocdRequestDuration = new Histogram({
    name: 'credbroker_argocd_request_duration_seconds',
    help: 'Duration of requests to the Argo CD API by endpoint (each attempt, failures included)',
    labelNames: ['endpoint'] as const,
    buckets: UPSTREAM_BUCKETS,
    registers: [registry]
  });
  const registryRequests = new Counter({
    name: 'credbroker_registry_requests_total',
    help: 'Requests to container registries by kind (ping, token, tags) and HTTP status code',
    labelNames: ['kind', 'code'] as const,
    registers: [registry]
  });
  const registryRequestDuration = new Histogram({
    name: 'credbroker_registry_request_duration_seconds',
    help: 'Duration of requests to container registries by kind (ping, token, tags), failures included',
    labelNames: ['kind'] as const,
    buckets: UPSTREAM_BUCKETS,
    registers: [registry]
  });
  let storeStatus: (() => StoreStatusSource) | undefined;
  const secretStoreSynced = new Gauge({
    name: 'credbroker_secret_store_synced',
    help: '1 when every namespace of the secret store has been listed (as /readyz checks), 0 otherwise',
    registers: [registry],
    collect () {
      if (storeStatus !== undefined) this.set(storeStatus().synced ? 1 : 0);
    }
  });
  const secretStoreDisconnected = new Gauge({
    name: 'credbroker_secret_store_disconnected_namespaces',
    help: 'Namespaces whose Secret or ServiceAccount watch is down (the store serves the last synced state)',
    registers: [registry],
    collect () {
      if (storeStatus !== undefined) this.set(Object.values(storeStatus().namespaces).filter((n) => n.disconnectedSince !== undefined).length);
    }
  });
  const configReloads = new Counter({
    name: 'credbroker_config_reloads_total',
    help: 'Reloads of registries.conf, the policy and the token file by file and result',
    labelNames: ['file', 'result'] as const,
    registers: [registry]
  });
  const configLastReloadSuccess = new Gauge({
    name: 'credbroker_config_last_reload_successful',
    help: '1 when the last reload of the file succeeded, 0 when the last good config is kept',
    labelNames: ['file'] as const,
    registers: [registry]
  });
  const authDecisions = new Counter({
    name: 'credbroker_auth_decisions_total',
    help: 'Caller authentication and authorization decisions by result',
    labelNames: ['result'] as const,
    registers: [registry]
  });
  const httpDuration = new Histogram({
    name: 'credbroker_http_request_duration_seconds',
    help: 'HTTP request durations by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry]
  });

  return {
    registry,
    buildInfo,
    credentialRequests,
    cacheHits,
    cacheMisses,
    cacheEntries,
    fetchDuration,
    extRuns,
    cloudTokenRequests,
    kubernetesRequests,
    kubernetesRequestDuration,
    watchRestarts,
    argocdRequests,
    argocdRequestDuration,
    registryRequests,
    registryRequestDuration,
    secretStoreSynced,
    secretStoreDisconnected,
    /** the secret store gauges read this at each scrape */
    observeSecretStore (status: () => StoreStatusSource): void { storeStatus = status; },
    configReloads,
    configLastReloadSuccess,
    authDecisions,
    httpDuration
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
