// One prom-client Registry per app; every metric docs/operations.md lists is defined here, once,
// in the METRICS table. Label values are bounded sets: never an image, a Secret or a caller name.
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

interface MetricSpec<K extends 'counter' | 'gauge' | 'histogram', L extends string> {
  kind: K
  name: string
  help: string
  labelNames: readonly L[]
  buckets?: number[]
  /** a gauge set at each scrape from the secret store's status (see observeSecretStore) */
  readStore?: (status: StoreStatusSource) => number
}

// A metric without labels gets prom-client's default label type (string), as `new Counter({...})` would.
const counter = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): MetricSpec<'counter', L> =>
  ({ kind: 'counter', name, help, labelNames });
const gauge = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], readStore?: MetricSpec<'gauge', L>['readStore']): MetricSpec<'gauge', L> =>
  ({ kind: 'gauge', name, help, labelNames, readStore });
const histogram = <L extends string = string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): MetricSpec<'histogram', L> =>
  ({ kind: 'histogram', name, help, labelNames, buckets });

/** Every credbroker_ metric: the property callers use, its kind, name, help, labels and buckets. */
const METRICS = {
  buildInfo: gauge('credbroker_build_info', 'Always 1; the labels carry the credbroker version and the Node.js version it runs on', ['version', 'node_version']),
  credentialRequests: counter('credbroker_credential_requests_total', 'Credential requests by outcome (ok or an error code) and source type', ['outcome', 'source_type']),
  cacheHits: counter('credbroker_cache_hits_total', 'Credential cache hits by credential level', ['level']),
  cacheMisses: counter('credbroker_cache_misses_total', 'Credential cache misses by credential level', ['level']),
  cacheEntries: gauge('credbroker_cache_entries', 'Credentials currently held in the cache'),
  fetchDuration: histogram('credbroker_credential_fetch_duration_seconds', 'Time to fetch a credential from its source (cache misses only)',
    ['source_type'], [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  extRuns: counter('credbroker_ext_script_runs_total', 'ext: script runs by outcome (ok, failed, timeout, malformed)', ['outcome']),
  cloudTokenRequests: counter('credbroker_cloud_token_requests_total',
    'Requests for a registry token to a cloud provider (ecr, gcp, acr) by outcome (ok or an error code)', ['provider', 'outcome']),
  kubernetesRequests: counter('credbroker_kubernetes_requests_total', 'Requests to the Kubernetes API by verb, resource and HTTP status code', ['verb', 'resource', 'code']),
  kubernetesRequestDuration: histogram('credbroker_kubernetes_request_duration_seconds',
    'Duration of requests to the Kubernetes API (watches excluded) by verb and resource', ['verb', 'resource'], UPSTREAM_BUCKETS),
  watchRestarts: counter('credbroker_kubernetes_watch_restarts_total', 'Kubernetes watches restarted, by resource and reason (gone, error, closed)', ['resource', 'reason']),
  argocdRequests: counter('credbroker_argocd_requests_total', 'Requests to the Argo CD API by endpoint and HTTP status code', ['endpoint', 'code']),
  argocdRequestDuration: histogram('credbroker_argocd_request_duration_seconds',
    'Duration of requests to the Argo CD API by endpoint (each attempt, failures included)', ['endpoint'], UPSTREAM_BUCKETS),
  registryRequests: counter('credbroker_registry_requests_total', 'Requests to container registries by kind (ping, token, tags) and HTTP status code', ['kind', 'code']),
  registryRequestDuration: histogram('credbroker_registry_request_duration_seconds',
    'Duration of requests to container registries by kind (ping, token, tags), failures included', ['kind'], UPSTREAM_BUCKETS),
  secretStoreSynced: gauge('credbroker_secret_store_synced', '1 when every namespace of the secret store has been listed (as /readyz checks), 0 otherwise',
    [], (status) => status.synced ? 1 : 0),
  secretStoreDisconnected: gauge('credbroker_secret_store_disconnected_namespaces',
    'Namespaces whose Secret or ServiceAccount watch is down (the store serves the last synced state)',
    [], (status) => Object.values(status.namespaces).filter((n) => n.disconnectedSince !== undefined).length),
  configReloads: counter('credbroker_config_reloads_total', 'Reloads of registries.conf, the policy and the token file by file and result', ['file', 'result']),
  configLastReloadSuccess: gauge('credbroker_config_last_reload_successful', '1 when the last reload of the file succeeded, 0 when the last good config is kept', ['file']),
  authDecisions: counter('credbroker_auth_decisions_total', 'Caller authentication and authorization decisions by result', ['result']),
  httpDuration: histogram('credbroker_http_request_duration_seconds', 'HTTP request durations by method, route template and status code',
    ['method', 'route', 'status_code'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10])
};

type Built<S> = S extends MetricSpec<'counter', infer L> ? Counter<L>
  : S extends MetricSpec<'gauge', infer L> ? Gauge<L>
    : S extends MetricSpec<'histogram', infer L> ? Histogram<L> : never;
type BuiltMetrics = { [P in keyof typeof METRICS]: Built<(typeof METRICS)[P]> };

export function createMetrics (opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    for (const name of UNLINTED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }

  let storeStatus: (() => StoreStatusSource) | undefined;
  const built: Record<string, Counter | Gauge | Histogram> = {};
  for (const [key, spec] of Object.entries(METRICS) as Array<[string, MetricSpec<'counter' | 'gauge' | 'histogram', string>]>) {
    const config = { name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [registry] };
    const readStore = spec.readStore;
    built[key] = spec.kind === 'counter'
      ? new Counter(config)
      : spec.kind === 'histogram'
        ? new Histogram({ ...config, buckets: spec.buckets })
        : new Gauge({
          ...config,
          ...(readStore !== undefined && { collect () { if (storeStatus !== undefined) this.set(readStore(storeStatus())); } })
        });
  }
  const metrics = built as BuiltMetrics;
  metrics.buildInfo.set({ version: VERSION, node_version: process.versions.node }, 1);

  return {
    registry,
    ...metrics,
    /** the secret store gauges read this at each scrape */
    observeSecretStore (status: () => StoreStatusSource): void { storeStatus = status; }
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
