// The Secret store backed by the Kubernetes API: list + watch of Secrets and ServiceAccounts,
// kept in memory so that reading a Secret costs no API request.
//
// Memory follows what is served (docs/operations.md "Memory"): Secrets are listed and watched
// metadata-only (name and resourceVersion are kept per Secret); a Secret's data is read with one
// GET the first time a reference asks for it (concurrent misses share it) and held in a byte
// budget (SECRET_CACHE_MAX_BYTES, least recently used evicted) until the watch reports a new
// resourceVersion or its deletion. ServiceAccounts are small and kept whole.
//
// One list/watch per allowed namespace rather than one cluster-wide watch filtered locally:
// least privilege. The chart grants a Role (get, list, watch) in each namespace of
// SECRET_NAMESPACES and never a cluster-wide right to read Secrets; only SECRET_NAMESPACES=*
// lists and watches cluster-wide.
//
// Written with plain list (the generated CoreV1Api) + a watch stream rather than client-node's
// makeInformer/ListWatch: that one stops for good on any error (no reconnect, no backoff), has no
// per-namespace 403 state, and its Watch class (1.4.0) has no connect timeout and no bound on a
// line. Here: resourceVersion + allowWatchBookmarks, re-list on 410 Gone (firing for what
// changed or vanished meanwhile), capped exponential backoff with jitter, an idle watchdog.
import type https from 'node:https';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { Cache } from '../cache.js';
import { KubernetesForbidden, KubernetesUnavailable, MalformedCredentials, NamespaceNotAllowed } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { setOwn } from '../own.js';
import { countRequest, kubeRequest, toKubeError, statusOf, type KubeRequest } from './client.js';
import { AgentPool, TransportError, openLineStream, type TlsProfile } from '../transport/http-client.js';
import type {
  ChangeKind, ChangeListener, NamespaceSyncState, SecretObject, SecretStore, ServiceAccountObject, StoreStatus
} from './secret-store.js';

export interface StoreLogger {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface KubernetesSecretStoreOptions {
  kubeConfig: KubeConfig
  /** settings.secretNamespaces; '*' = one cluster-wide list/watch */
  namespaces: string[] | '*'
  metrics?: Pick<Metrics, 'kubernetesRequests' | 'watchRestarts'>
  logger?: StoreLogger
  /** first retry delay, doubled per failure up to maxBackoffMs, with ±20 % jitter (default 250 ms) */
  initialBackoffMs?: number
  /** default 30 s */
  maxBackoffMs?: number
  /** list requests and watch connects (default 10 s) */
  requestTimeoutMs?: number
  /** the API ends each watch after this long and it is resumed from its resourceVersion (default 300 s) */
  watchTimeoutSeconds?: number
  /** Secrets whose data is larger are ignored (default 1 MiB) */
  maxSecretBytes?: number
  /** the budget of Secret data held, counted as decoded values + names (default 32 MiB) */
  maxCacheBytes?: number
  /** list page size (default 500) */
  pageSize?: number
}

type Resource = 'secrets' | 'serviceaccounts';
type Value = SecretObject | ServiceAccountObject;
/**
 * What is known of one object: its resourceVersion, the list generation that last saw it, and for
 * a ServiceAccount its value. A Secret's data lives in the store's byte budget; tooLarge marks one
 * found over maxSecretBytes at this resourceVersion.
 */
interface Entry { rv: string, gen: number, value?: Value, tooLarge?: boolean }
interface RawObject { metadata?: { name?: string, namespace?: string, resourceVersion?: string }, [k: string]: unknown }
interface WatchEnd { reason: 'gone' | 'error' | 'closed' | 'stopped', connected: boolean, events: number, code?: number }

const MAX_WATCH_LINE = 4 * 1024 * 1024;
export const DEFAULT_SECRET_CACHE_MAX_BYTES = 32 * 1024 * 1024;
// kube-apiserver's metadata-only representations; the plain type after the comma is the fallback of an older API
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const METADATA_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const KIND: Record<Resource, ChangeKind> = { secrets: 'secret', serviceaccounts: 'serviceaccount' };

function decodeSecret (raw: RawObject): SecretObject {
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries((raw.data ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') setOwn(data, k, Buffer.from(v, 'base64'));
    else if (Buffer.isBuffer(v)) setOwn(data, k, v);
  }
  for (const [k, v] of Object.entries((raw.stringData ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') setOwn(data, k, Buffer.from(v, 'utf8'));
  }
  return {
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    ...(typeof raw.type === 'string' ? { type: raw.type } : {}),
    data,
    resourceVersion: raw.metadata?.resourceVersion
  };
}

/** What a held Secret counts for in the byte budget: its decoded values and its names. */
function heldBytes (s: SecretObject): number {
  let n = s.namespace.length + s.name.length + (s.type?.length ?? 0);
  for (const [k, v] of Object.entries(s.data)) n += k.length + v.length;
  return n;
}

function secretSize (raw: RawObject): number {
  let n = 0;
  for (const v of Object.values((raw.data ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') n += Buffer.byteLength(v, 'base64');
  }
  for (const v of Object.values((raw.stringData ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') n += Buffer.byteLength(v, 'utf8');
  }
  return n;
}

function decodeServiceAccount (raw: RawObject): ServiceAccountObject {
  const refs = Array.isArray(raw.imagePullSecrets) ? raw.imagePullSecrets as Array<{ name?: unknown }> : [];
  return {
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    imagePullSecrets: refs.map((r) => r?.name).filter((n): n is string => typeof n === 'string' && n !== ''),
    resourceVersion: raw.metadata?.resourceVersion
  };
}

interface ReflectorState {
  synced: boolean
  listForbidden: boolean
  watchForbidden: boolean
  error?: string
  lastSyncAt?: string
  disconnectedSince?: string
}

/** One resource in one namespace (or cluster-wide): list, then watch from the list's resourceVersion. */
class Reflector {
  readonly items = new Map<string, Entry>();
  readonly state: ReflectorState = { synced: false, listForbidden: false, watchForbidden: false };
  private rv = '';
  private gen = 0;
  private stopped = false;
  private abortWatch?: () => void;
  private wake?: () => void;
  private firstAttempt!: () => void;
  readonly firstAttemptDone = new Promise<void>((resolve) => { this.firstAttempt = resolve; });
  private loop?: Promise<void>;

  constructor (
    private readonly store: KubernetesSecretStore,
    readonly resource: Resource,
    /** undefined = cluster-wide */
    readonly namespace: string | undefined
  ) {}

  get forbidden (): boolean {
    return this.state.listForbidden || this.state.watchForbidden;
  }

  start (): void {
    this.loop ??= this.run();
  }

  async stop (): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    this.wake?.();
    await this.loop;
  }

  private req (verb: string): KubeRequest {
    return { verb, resource: this.resource, namespace: this.namespace };
  }

  private async run (): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.rv === '') {
        const ok = await this.list();
        this.firstAttempt();
        if (this.stopped) break;
        if (!ok) {
          await this.sleep(this.backoff(failures++));
          continue;
        }
      }
      const startedAt = Date.now();
      const end = await this.watch();
      if (this.stopped || end.reason === 'stopped') break;
      this.store.opts.metrics?.watchRestarts.inc({ resource: this.resource, reason: end.reason });
      // a watch that worked is resumed at once when closed (timeoutSeconds, a proxy, an API restart);
      // one that keeps failing or closing straight away backs off
      const healthy = end.connected && (end.events > 0 || Date.now() - startedAt >= 1000);
      if (healthy) failures = 0;
      if (end.reason === 'gone') {
        this.markDisconnected();
        this.rv = '';
        continue;
      }
      if (end.reason === 'closed' && healthy) continue;
      this.markDisconnected();
      await this.sleep(this.backoff(failures++));
    }
    this.firstAttempt();
  }

  private backoff (failures: number): number {
    const o = this.store.opts;
    const base = Math.min(o.maxBackoffMs, o.initialBackoffMs * 2 ** Math.min(failures, 20));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private sleep (ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
    });
  }

  private markDisconnected (): void {
    if (this.state.synced && this.state.disconnectedSince === undefined) {
      this.state.disconnectedSince = new Date().toISOString();
    }
  }

  private key (raw: RawObject): string | undefined {
    const ns = raw.metadata?.namespace ?? this.namespace;
    const name = raw.metadata?.name;
    return ns === undefined || name === undefined || name === '' ? undefined : `${ns}/${name}`;
  }

  /**
   * Records what the API says of one object (from a list page or a watch event); fires when its
   * resourceVersion changed, dropping the Secret data held for an older one.
   */
  private apply (k: string, raw: RawObject, gen: number, fire: boolean): void {
    const rv = raw.metadata?.resourceVersion ?? '';
    const prev = this.items.get(k);
    if (prev !== undefined && prev.rv === rv) {
      prev.gen = gen;
      return;
    }
    this.items.set(k, this.resource === 'serviceaccounts' ? { rv, gen, value: decodeServiceAccount(raw) } : { rv, gen });
    if (this.resource === 'secrets') this.store.dropData(k, rv);
    if (fire) this.changed(k);
  }

  private remove (k: string): void {
    if (!this.items.delete(k)) return;
    if (this.resource === 'secrets') this.store.dropData(k);
    this.changed(k);
  }

  private changed (k: string): void {
    const i = k.indexOf('/');
    this.store.emit(KIND[this.resource], k.slice(0, i), k.slice(i + 1));
  }

  /**
   * Lists every page (Secrets metadata-only), applying each page as it comes so that a re-list
   * holds one copy of what is known, never two; then drops what the list no longer has. Fires
   * for what differs from before. A continue token that expired (410) starts the list over.
   */
  private async list (): Promise<boolean> {
    const api = this.store.coreApi;
    const ns = this.namespace;
    const o = this.store.opts;
    const first = !this.state.synced && this.items.size === 0;
    let gen = ++this.gen;
    let cont: string | undefined;
    let listRv = '';
    let restarts = 0;
    try {
      for (;;) {
        const param = { limit: o.pageSize, _continue: cont };
        const call = kubeRequest(this.req('list'), (opt) => {
          if (this.resource === 'secrets') {
            return ns === undefined
              ? api.listSecretForAllNamespacesWithHttpInfo(param, opt)
              : api.listNamespacedSecretWithHttpInfo({ ...param, namespace: ns }, opt);
          }
          return ns === undefined
            ? api.listServiceAccountForAllNamespacesWithHttpInfo(param, opt)
            : api.listNamespacedServiceAccountWithHttpInfo({ ...param, namespace: ns }, opt);
        }, { metrics: o.metrics, timeoutMs: o.requestTimeoutMs, ...(this.resource === 'secrets' ? { accept: METADATA_LIST } : {}) });
        let page: Awaited<typeof call>;
        try {
          page = await call;
        } catch (err) {
          if (cont === undefined || statusOf(err) !== 410 || restarts++ >= 3) throw err;
          // the snapshot behind the continue token was compacted: list again from the start
          gen = ++this.gen;
          cont = undefined;
          continue;
        }
        for (const item of page.items as unknown as RawObject[]) {
          const k = this.key(item);
          if (k !== undefined) this.apply(k, item, gen, !first);
        }
        listRv = page.metadata?.resourceVersion ?? listRv;
        cont = page.metadata?._continue || undefined;
        if (cont === undefined || this.stopped) break;
      }
    } catch (err) {
      if (statusOf(err) === 403) {
        this.state.listForbidden = true;
        this.state.synced = false;
        this.dropAll();
      }
      this.state.error = (err as Error).message;
      this.store.opts.logger?.warn({ resource: this.resource, namespace: ns ?? '*', error: this.state.error }, 'kubernetes list failed');
      return false;
    }
    if (cont !== undefined) return false;
    for (const [k, e] of this.items) {
      if (e.gen !== gen) this.remove(k);
    }
    this.rv = listRv;
    Object.assign(this.state, { synced: true, listForbidden: false, lastSyncAt: new Date().toISOString() });
    if (!this.state.watchForbidden) this.state.error = undefined;
    this.state.disconnectedSince = undefined;
    return true;
  }

  private dropAll (): void {
    for (const k of this.items.keys()) this.remove(k);
  }

  private handleEvent (type: unknown, obj: RawObject, end: (e: Partial<WatchEnd>) => void): void {
    if (type === 'ERROR') {
      const code = typeof obj.code === 'number' ? obj.code : undefined;
      end(code === 410 ? { reason: 'gone', code } : { reason: 'error', code });
      return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (typeof rv === 'string' && rv !== '') this.rv = rv;
      return;
    }
    const k = this.key(obj);
    if (k === undefined) return;
    if (type === 'ADDED' || type === 'MODIFIED') {
      this.apply(k, obj, this.gen, true);
    } else if (type === 'DELETED') {
      this.remove(k);
    } else {
      return;
    }
    if (typeof rv === 'string' && rv !== '') this.rv = rv;
  }

  /** One watch connection, from this.rv; resolves when it ends. */
  private async watch (): Promise<WatchEnd> {
    const o = this.store.opts;
    const kc = this.store.kubeConfig;
    const cluster = kc.getCurrentCluster();
    const path = this.namespace === undefined
      ? `/api/v1/${this.resource}`
      : `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/${this.resource}`;
    const req = this.req('watch');
    let url: URL;
    let headers: Record<string, string>;
    let dispatcher: Dispatcher;
    try {
      if (cluster === null) throw new KubernetesUnavailable('the kubeconfig has no current cluster');
      url = new URL(cluster.server.replace(/\/$/, '') + path);
      url.searchParams.set('watch', 'true');
      url.searchParams.set('resourceVersion', this.rv);
      url.searchParams.set('allowWatchBookmarks', 'true');
      url.searchParams.set('timeoutSeconds', String(o.watchTimeoutSeconds));
      ({ headers, dispatcher } = await this.store.connection());
      if (this.resource === 'secrets') headers.accept = METADATA_WATCH;
    } catch (err) {
      countRequest(o.metrics, req, 'error');
      this.state.error = toKubeError(err, req).message;
      return { reason: 'error', connected: false, events: 0 };
    }
    if (this.stopped) return { reason: 'stopped', connected: false, events: 0 };

    const where = `the watch of ${this.resource} ${this.namespace === undefined ? 'cluster-wide' : `in namespace ${this.namespace}`}`;
    const ac = new AbortController();
    this.abortWatch = () => { ac.abort(); };
    let connected = false;
    let events = 0;
    let end: WatchEnd | undefined;
    const finish = (e: Partial<WatchEnd>): void => { end ??= { reason: e.reason ?? 'error', connected, events, ...(e.code !== undefined ? { code: e.code } : {}) }; };
    try {
      const stream = await openLineStream(url, {
        headers,
        dispatcher,
        headersTimeoutMs: o.requestTimeoutMs,
        // the API sends bookmarks about once a minute and ends the watch at timeoutSeconds
        idleTimeoutMs: (o.watchTimeoutSeconds + 60) * 1000,
        maxLineBytes: MAX_WATCH_LINE,
        signal: ac.signal
      });
      countRequest(o.metrics, req, stream.status);
      if (stream.status !== 200) {
        stream.close();
        const code = stream.status;
        if (code === 403) this.state.watchForbidden = true;
        if (code !== 410) this.state.error = toKubeError({ statusCode: code }, req).message;
        return { reason: code === 410 ? 'gone' : 'error', connected, events, code };
      }
      connected = true;
      this.state.watchForbidden = false;
      this.state.disconnectedSince = undefined;
      if (!this.state.listForbidden) this.state.error = undefined;
      for await (const line of stream.lines) {
        let ev: { type?: unknown, object?: RawObject };
        try {
          ev = JSON.parse(line) as { type?: unknown, object?: RawObject };
        } catch {
          this.state.error = `${where} ended: the API sent a line that is not JSON`;
          finish({ reason: 'error' });
          break;
        }
        if (ev.object === null || typeof ev.object !== 'object') continue;
        events++;
        this.handleEvent(ev.type, ev.object, finish);
        if (end !== undefined) break;
      }
      finish({ reason: 'closed' });
    } catch (err) {
      if (ac.signal.aborted) {
        finish({ reason: 'stopped' });
      } else if (err instanceof TransportError) {
        if (!connected) countRequest(o.metrics, req, 'error');
        this.state.error = connected || err.detail === 'headers'
          ? `${where} ended: ${watchFailure(err)}`
          : toKubeError(err.code === 'HTTP_TIMEOUT' ? { name: 'TimeoutError' } : { code: err.detail }, req).message;
        finish({ reason: 'error' });
      } else {
        throw err;
      }
    } finally {
      this.abortWatch = undefined;
    }
    const result = end ?? { reason: 'error', connected, events };
    if (result.reason === 'error' && result.code !== undefined && result.code !== 410) {
      if (result.code === 403) this.state.watchForbidden = true;
      this.state.error = toKubeError({ statusCode: result.code }, req).message;
    }
    return result;
  }
}

/** Why an open watch ended, in words. */
function watchFailure (err: TransportError): string {
  if (err.code === 'HTTP_TIMEOUT') return 'the watch stalled';
  if (err.code === 'HTTP_RESPONSE_TOO_LARGE') return 'the API sent an event over the size limit';
  return 'connection lost';
}

export class KubernetesSecretStore implements SecretStore {
  readonly opts: Required<Omit<KubernetesSecretStoreOptions, 'metrics' | 'logger' | 'kubeConfig' | 'namespaces'>> &
    Pick<KubernetesSecretStoreOptions, 'metrics' | 'logger'>;

  readonly kubeConfig: KubeConfig;
  readonly coreApi: CoreV1Api;
  private readonly scopes: Array<string | undefined>;
  private readonly reflectors = new Map<string, Reflector>();
  private readonly listeners = new Set<ChangeListener>();
  /** the data of Secrets a reference asked for, by "namespace/name", in a byte budget */
  private readonly held: Cache<SecretObject | undefined>;
  /** watch connections: one Agent per TLS profile of the cluster (client certificates rotate), no cap on connections */
  private readonly agents = new AgentPool({ max: 2, connections: null, connectTimeoutMs: 10_000 });
  private started?: Promise<void>;

  constructor (options: KubernetesSecretStoreOptions) {
    this.kubeConfig = options.kubeConfig;
    this.coreApi = options.kubeConfig.makeApiClient(CoreV1Api);
    this.opts = {
      metrics: options.metrics,
      logger: options.logger,
      initialBackoffMs: options.initialBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
      maxSecretBytes: options.maxSecretBytes ?? 1024 * 1024,
      maxCacheBytes: options.maxCacheBytes ?? DEFAULT_SECRET_CACHE_MAX_BYTES,
      pageSize: options.pageSize ?? 500
    };
    this.held = new Cache<SecretObject | undefined>({
      maxBytes: this.opts.maxCacheBytes,
      sizeOf: (s) => s === undefined ? 1 : heldBytes(s)
    });
    this.scopes = options.namespaces === '*' ? [undefined] : [...new Set(options.namespaces)];
    for (const scope of this.scopes) {
      for (const resource of ['secrets', 'serviceaccounts'] as const) {
        this.reflectors.set(`${resource} ${scope ?? '*'}`, new Reflector(this, resource, scope));
      }
    }
  }

  start (): Promise<void> {
    this.started ??= (async () => {
      for (const r of this.reflectors.values()) r.start();
      await Promise.all([...this.reflectors.values()].map((r) => r.firstAttemptDone));
    })();
    return this.started;
  }

  private reflector (resource: Resource, namespace: string): Reflector {
    const r = this.reflectors.get(`${resource} ${namespace}`) ?? this.reflectors.get(`${resource} *`);
    if (r === undefined) throw new NamespaceNotAllowed(namespace);
    if (r.forbidden) {
      throw new KubernetesForbidden(r.state.error ?? `the service account may not read ${resource} in namespace ${namespace}`);
    }
    if (!r.state.synced) {
      throw new KubernetesUnavailable(`the ${resource} of namespace ${namespace} are not synced from the Kubernetes API yet` +
        (r.state.error === undefined ? '' : ` (${r.state.error})`));
    }
    return r;
  }

  /**
   * From memory when its data is held (for the resourceVersion the watch knows); a Secret the
   * metadata does not know is not found without a request; else one GET, shared by concurrent callers.
   */
  async getSecret (namespace: string, name: string): Promise<SecretObject | undefined> {
    const k = `${namespace}/${name}`;
    const e = this.reflector('secrets', namespace).items.get(k);
    if (e === undefined) return undefined;
    if (e.tooLarge === true) throw this.tooLarge(namespace, name);
    const { stored } = await this.held.get(k, async () => {
      const req: KubeRequest = { verb: 'get', resource: 'secrets', namespace };
      let raw: RawObject;
      try {
        raw = await kubeRequest(req, (opt) => this.coreApi.readNamespacedSecretWithHttpInfo({ name, namespace }, opt),
          { metrics: this.opts.metrics, timeoutMs: this.opts.requestTimeoutMs }) as unknown as RawObject;
      } catch (err) {
        // deleted since the watch last said: not found, and nothing held
        if (statusOf(err) === 404) return { value: undefined, store: false };
        throw err;
      }
      const size = secretSize(raw);
      if (size > this.opts.maxSecretBytes) {
        if (raw.metadata?.resourceVersion === e.rv) e.tooLarge = true;
        this.opts.logger?.warn({ namespace, name, bytes: size }, 'secret ignored: its data is larger than the store keeps');
        throw this.tooLarge(namespace, name);
      }
      return { value: decodeSecret(raw) };
    });
    return stored.value;
  }

  private tooLarge (namespace: string, name: string): Error {
    return new MalformedCredentials(`secret ${namespace}/${name} is larger than ${this.opts.maxSecretBytes} bytes and is not read`);
  }

  /** @internal The watch or a list saw `key` at resourceVersion `rv` (undefined: deleted): data held for another is dropped. */
  dropData (key: string, rv?: string): void {
    const held = this.held.peek(key);
    if (held === undefined || rv === undefined || held.value?.resourceVersion !== rv) this.held.delete(key);
  }

  /** What the store holds: Secrets known by metadata, Secrets whose data is held, and the bytes of that data. */
  memory (): { knownSecrets: number, heldSecrets: number, heldBytes: number } {
    let known = 0;
    for (const r of this.reflectors.values()) if (r.resource === 'secrets') known += r.items.size;
    return { knownSecrets: known, heldSecrets: this.held.size, heldBytes: this.held.bytes };
  }

  async getServiceAccount (namespace: string, name: string): Promise<ServiceAccountObject | undefined> {
    return this.reflector('serviceaccounts', namespace).items.get(`${namespace}/${name}`)?.value as ServiceAccountObject | undefined;
  }

  onChange (listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** @internal */
  emit (kind: ChangeKind, namespace: string, name: string): void {
    for (const l of this.listeners) {
      try {
        l(kind, namespace, name);
      } catch (err) {
        this.opts.logger?.warn({ kind, namespace, name, error: (err as Error).message }, 'secret store change listener failed');
      }
    }
  }

  /**
   * Per namespace ('*' when cluster-wide): synced once Secrets and ServiceAccounts were listed
   * (ServiceAccounts the API refuses do not hold it back); forbidden when Secrets are refused.
   * The store is synced when every namespace is synced or forbidden.
   */
  status (): StoreStatus {
    const namespaces: Record<string, NamespaceSyncState> = {};
    for (const scope of this.scopes) {
      const ns = scope ?? '*';
      const sec = this.reflectors.get(`secrets ${ns}`) as Reflector;
      const sa = this.reflectors.get(`serviceaccounts ${ns}`) as Reflector;
      const errors = [sec.state.error, sa.state.error].filter((e): e is string => e !== undefined);
      const disconnected = [sec.state.disconnectedSince, sa.state.disconnectedSince]
        .filter((d): d is string => d !== undefined).sort()[0];
      namespaces[ns] = {
        synced: sec.state.synced && !sec.forbidden && (sa.state.synced || sa.forbidden),
        ...(sec.forbidden ? { forbidden: true } : {}),
        ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
        ...(sec.state.lastSyncAt !== undefined ? { lastSyncAt: sec.state.lastSyncAt } : {}),
        ...(disconnected !== undefined ? { disconnectedSince: disconnected } : {})
      };
    }
    return {
      kind: 'kubernetes',
      synced: Object.values(namespaces).every((s) => s.synced || s.forbidden === true),
      namespaces
    };
  }

  /** @internal The headers (fresh token) and the Agent of the next watch request, from the kubeconfig. */
  async connection (): Promise<{ headers: Record<string, string>, dispatcher: Dispatcher }> {
    const opts: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    if (typeof opts.auth === 'string') headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const pem = (v: unknown): string | Buffer | undefined =>
      typeof v === 'string' || Buffer.isBuffer(v) ? v : undefined;
    const ca = pem(opts.ca);
    const cert = pem(opts.cert);
    const key = pem(opts.key);
    const proxyUrl = this.kubeConfig.getCurrentCluster()?.proxyUrl;
    const profile: TlsProfile = {
      insecure: opts.rejectUnauthorized === false,
      ...(ca !== undefined ? { ca: [ca] } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(typeof opts.servername === 'string' ? { servername: opts.servername } : {}),
      ...(proxyUrl !== undefined && proxyUrl !== '' ? { proxyUrl } : {})
    };
    return { headers, dispatcher: this.agents.get(profile) };
  }

  async close (): Promise<void> {
    await Promise.all([...this.reflectors.values()].map((r) => r.stop()));
    this.held.clear();
    await this.agents.close();
  }
}
