// Argo CD Applications read as argoproj.io/v1alpha1 custom resources through the Kubernetes API
// (APPLICATIONS_API=kubernetes). Read on demand and cached briefly (≤ 5 s, single-flight per name)
// rather than watched: a `get` in the namespaces asked is all the RBAC it needs (no cluster-wide
// list/watch), and only the Applications callers name are held in memory, not every one in the cluster.
import {
  AuthorizationV1Api, CustomObjectsApi, Observable,
  type ConfigurationOptions, type KubeConfig, type ObservableMiddleware
} from '@kubernetes/client-node';
import { KubernetesForbidden, KubernetesUnavailable } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { ApplicationCache, validApplicationName, type ApplicationCacheOptions } from './argocd-applications.js';
import type { ApplicationInfo, ApplicationSource, ApplicationsStatus } from './types.js';
import { isRecord } from '../config/schema.js';

const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const PLURAL = 'applications';
const RESOURCE = `${PLURAL}.${GROUP}`;

export interface KubeApplicationsOptions {
  /** where Applications are read when the caller names no namespace (the service's own, POD_NAMESPACE) */
  defaultNamespace: string
  cacheTtlMs?: number
  timeoutMs?: number
  metrics?: Metrics
  now?: () => number
}

/** The HTTP status of an ApiException (or anything shaped like one). */
function statusOf (err: unknown): number | undefined {
  if (!isRecord(err)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function parseBody (err: unknown): Record<string, unknown> | undefined {
  const body = (err as { body?: unknown }).body;
  if (isRecord(body)) return body;
  if (typeof body !== 'string' || body.length > 64 * 1024) return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Per-request options that abort a call after `ms` (the client has no timeout of its own). */
function timeoutOptions (ms: number): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res))
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

export class KubeApplications implements ApplicationSource {
  readonly api = 'kubernetes' as const;
  private readonly objects: CustomObjectsApi;
  private readonly authz: AuthorizationV1Api;
  private readonly cache: ApplicationCache<ApplicationInfo>;
  private readonly timeoutMs: number;

  constructor (kc: KubeConfig, private readonly opts: KubeApplicationsOptions) {
    this.objects = kc.makeApiClient(CustomObjectsApi);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    const cacheOpts: ApplicationCacheOptions = {};
    if (opts.cacheTtlMs !== undefined) cacheOpts.ttlMs = opts.cacheTtlMs;
    if (opts.now !== undefined) cacheOpts.now = opts.now;
    this.cache = new ApplicationCache(cacheOpts);
  }

  async getApplication (name: string, namespace?: string): Promise<ApplicationInfo | undefined> {
    const ns = namespace === undefined || namespace === '' ? this.opts.defaultNamespace : namespace;
    if (!validApplicationName(name, ns)) return undefined;
    return await this.cache.get(`${ns}/${name}`, async () => await this.fetch(name, ns));
  }

  private count (code: string): void {
    this.opts.metrics?.kubernetesRequests.inc({ verb: 'get', resource: PLURAL, code });
  }

  private async fetch (name: string, ns: string): Promise<ApplicationInfo | undefined> {
    let obj: unknown;
    const timer = this.opts.metrics?.kubernetesRequestDuration.startTimer({ verb: 'get', resource: PLURAL });
    try {
      obj = await this.objects.getNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name },
        timeoutOptions(this.timeoutMs));
    } catch (err) {
      // Never forward the ApiException's message: it embeds the response body and headers.
      const status = statusOf(err);
      if (status === undefined) {
        this.count('error');
        const reason = (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : ((err as NodeJS.ErrnoException).code ?? 'connection failed');
        throw new KubernetesUnavailable(`cannot reach the Kubernetes API to get ${RESOURCE} in namespace ${ns}: ${reason}`);
      }
      this.count(String(status));
      if (status === 404) {
        const details = parseBody(err)?.details;
        // 404 without the object's name in the Status details: the API does not serve the resource at all.
        if (isRecord(details) && details.name === undefined && details.kind === undefined) {
          throw new KubernetesUnavailable(`the Kubernetes API does not serve ${RESOURCE}/${VERSION}: is Argo CD's Application CRD installed?`);
        }
        return undefined;
      }
      if (status === 401 || status === 403) {
        throw new KubernetesForbidden(`the Kubernetes API refused get ${RESOURCE} in namespace ${ns} (${status})`);
      }
      throw new KubernetesUnavailable(`the Kubernetes API answered ${status} to get ${RESOURCE} in namespace ${ns}`);
    } finally {
      timer?.();
    }
    this.count('200');
    const meta = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata : {};
    const annotations: Record<string, string> = {};
    if (isRecord(meta.annotations)) {
      for (const [k, v] of Object.entries(meta.annotations)) if (typeof v === 'string') annotations[k] = v;
    }
    return {
      name: typeof meta.name === 'string' ? meta.name : name,
      namespace: typeof meta.namespace === 'string' ? meta.namespace : ns,
      annotations
    };
  }

  async status (): Promise<ApplicationsStatus> {
    const namespace = this.opts.defaultNamespace;
    const detail: Record<string, unknown> = { namespace, resource: RESOURCE };
    try {
      const review = await this.authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { group: GROUP, resource: PLURAL, verb: 'get', namespace } }
        }
      }, timeoutOptions(this.timeoutMs));
      detail.canGetApplications = review.status?.allowed === true;
    } catch (err) {
      const status = statusOf(err);
      detail.canGetApplications = false;
      detail.error = status === undefined
        ? 'cannot reach the Kubernetes API'
        : `the Kubernetes API answered ${status} to create selfsubjectaccessreviews`;
    }
    return { api: 'kubernetes', ok: detail.canGetApplications === true, detail };
  }

  async close (): Promise<void> {
    this.cache.clear();
  }
}
