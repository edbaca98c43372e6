// Argo CD Applications read through the Argo CD REST API (APPLICATIONS_API=argocd), each cached
// briefly with one request in flight per name: annotation changes are seen within 5 s (docs/operations.md "On Kubernetes").
import { Cache } from '../cache.js';
import type { ApplicationInfo, ApplicationSource, ApplicationsStatus } from './types.js';
import type { ArgocdClient } from './client.js';

/** a change to an Application's annotations takes effect within five seconds. */
export const MAX_APPLICATION_CACHE_TTL_MS = 5000;
export const DEFAULT_APPLICATION_CACHE_TTL_MS = 2000;

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** True when the name (and namespace) could name a Kubernetes object; others cannot exist. */
export function validApplicationName (name: string, namespace?: string): boolean {
  return NAME.test(name) && (namespace === undefined || NAMESPACE.test(namespace));
}

export interface ApplicationCacheOptions {
  ttlMs?: number
  maxEntries?: number
  now?: () => number
}

/**
 * Applications by name on the one cache primitive: bounded, fresh for `ttlMs`, then served
 * stale while one refetch runs, never older than five seconds; absent results are cached
 * too, errors are not.
 */
export class ApplicationCache<T> {
  private readonly cache: Cache<T | undefined>;

  constructor (opts: ApplicationCacheOptions = {}) {
    const ttlMs = Math.min(opts.ttlMs ?? DEFAULT_APPLICATION_CACHE_TTL_MS, MAX_APPLICATION_CACHE_TTL_MS);
    this.cache = new Cache<T | undefined>({
      max: opts.maxEntries ?? 1000,
      ttlMs,
      staleMs: MAX_APPLICATION_CACHE_TTL_MS - ttlMs,
      staleWhileRefetch: true,
      ...(opts.now !== undefined ? { now: opts.now } : {})
    });
  }

  async get (key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    return (await this.cache.get(key, async () => ({ value: await load() }))).stored.value;
  }

  clear (): void {
    this.cache.clear();
  }
}

export interface ArgocdApplicationsOptions {
  cacheTtlMs?: number
  now?: () => number
}

export class ArgocdApplications implements ApplicationSource {
  readonly api = 'argocd' as const;
  private readonly cache: ApplicationCache<ApplicationInfo>;

  constructor (private readonly client: ArgocdClient, opts: ArgocdApplicationsOptions = {}) {
    const cacheOpts: ApplicationCacheOptions = {};
    if (opts.cacheTtlMs !== undefined) cacheOpts.ttlMs = opts.cacheTtlMs;
    if (opts.now !== undefined) cacheOpts.now = opts.now;
    this.cache = new ApplicationCache(cacheOpts);
  }

  async getApplication (name: string, namespace?: string): Promise<ApplicationInfo | undefined> {
    if (!validApplicationName(name, namespace)) return undefined;
    return await this.cache.get(`${namespace ?? ''}/${name}`, async () => {
      const app = await this.client.getApplication(name, namespace);
      if (app === undefined) return undefined;
      return {
        name: app.metadata.name ?? name,
        namespace: app.metadata.namespace ?? namespace ?? '',
        annotations: app.metadata.annotations ?? {}
      };
    });
  }

  async status (): Promise<ApplicationsStatus> {
    const [user, can, version] = await Promise.allSettled([
      this.client.userInfo(),
      this.client.canI('applications', 'get', '*'),
      this.client.version()
    ]);
    const detail: Record<string, unknown> = { server: this.client.server };
    const errors: string[] = [];
    if (user.status === 'fulfilled') {
      detail.authenticated = user.value.loggedIn;
      if (user.value.username !== undefined) detail.username = user.value.username;
    } else {
      detail.authenticated = false;
      errors.push((user.reason as Error).message);
    }
    if (can.status === 'fulfilled') {
      detail.canGetApplications = can.value;
    } else {
      detail.canGetApplications = false;
      errors.push((can.reason as Error).message);
    }
    if (version.status === 'fulfilled') {
      if (version.value.version !== undefined) detail.version = version.value.version;
    } else {
      errors.push((version.reason as Error).message);
    }
    if (errors.length > 0) detail.error = [...new Set(errors)].join('; ');
    return { api: 'argocd', ok: detail.authenticated === true && detail.canGetApplications === true, detail };
  }

  async close (): Promise<void> {
    this.cache.clear();
    this.client.close();
  }
}
