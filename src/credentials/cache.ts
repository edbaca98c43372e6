// The credential cache (SPEC §3 step 4): entries live until their expiry (credsexpire or the
// source's own expiresAt) or until a Secret they came from changes; concurrent misses for one
// key share one fetch; expired entries are kept CACHE_MAX_STALE longer for outages.
import NodeCache from 'node-cache';
import type { Metrics } from '../metrics.js';
import type { CloudDetail } from './cloud/types.js';
import type { Credential, SourceType } from './types.js';

export type Level = 'request' | 'image' | 'application' | 'registry';

export interface Fetched {
  credential: Credential
  /** docker-config key that matched, for pullsecret/serviceaccount */
  matchedKey?: string
  /** objects the credential came from, as `secret/<ns>/<name>` or `serviceaccount/<ns>/<name>` */
  deps: string[]
  /** the namespaces whose store state decides staleness */
  namespaces: string[]
  /** ecr:, gcp:, acr: where the credential came from (never a secret) */
  cloud?: CloudDetail
}

/** what an entry is for: its key, level, reference, and the endpoint prefix and image it was fetched for */
export interface EntryIdentity {
  key: string
  level: Level
  ref: string
  sourceType: SourceType
  registry: string
  image: string
}

export interface CacheEntry extends Fetched, EntryIdentity {
  fetchedAt: Date
  /** epoch ms after which the entry must be refetched; null = until invalidated */
  freshUntil: number | null
}

export interface CacheLookup {
  entry: CacheEntry
  hit: boolean
  stale: boolean
}

export interface CacheOptions {
  maxStaleMs: number
  maxEntries?: number
  metrics?: Metrics
  now?: () => number
  /** minimum spacing of `refresh: true` refetches of one key */
  refreshIntervalMs?: number
}

export interface GetOptions extends EntryIdentity {
  /** lifetime from configuration (credsexpire); undefined = no limit */
  ttlMs?: number
  /** entries that should not be kept at all (e.g. ext: at a non-registry level without expiry) */
  noStore?: boolean
  refresh?: boolean
  /** may a stale entry stand in for a fetch that failed with this error? */
  serveStaleOn?: (err: unknown) => boolean
  /** for a hit: is the entry's source currently out of reach, and since when? */
  disconnectedSince?: (entry: CacheEntry) => number | undefined
  /** thrown when a hit's source has been out of reach longer than maxStale */
  tooStale?: () => Error
}

/** Refresh a credential that says when it expires before then: 10% of its life, at most 5 minutes. */
export function refreshMarginMs (lifetimeMs: number): number {
  return Math.min(5 * 60_000, Math.max(0, lifetimeMs * 0.1));
}

export class CredentialCache {
  private readonly cache: NodeCache;
  private readonly inflight = new Map<string, Promise<CacheEntry>>();
  private readonly byDep = new Map<string, Set<string>>();
  private readonly now: () => number;
  private readonly refreshIntervalMs: number;

  constructor (private readonly opts: CacheOptions) {
    this.now = opts.now ?? Date.now;
    this.refreshIntervalMs = opts.refreshIntervalMs ?? 1000;
    this.cache = new NodeCache({ useClones: false, checkperiod: 60, maxKeys: opts.maxEntries ?? 10_000 });
    this.cache.on('del', (key: string, entry: CacheEntry) => this.unindex(key, entry));
    this.cache.on('expired', (key: string, entry: CacheEntry) => this.unindex(key, entry));
  }

  async get (o: GetOptions, fetch: () => Promise<Fetched>): Promise<CacheLookup> {
    const now = this.now();
    const existing = this.cache.get<CacheEntry>(o.key);
    const fresh = existing !== undefined && (existing.freshUntil === null || existing.freshUntil > now);
    const recentlyFetched = existing !== undefined && now - existing.fetchedAt.getTime() < this.refreshIntervalMs;
    if (existing !== undefined && fresh && (o.refresh !== true || recentlyFetched)) {
      const since = o.disconnectedSince?.(existing);
      if (since !== undefined && now - since > this.opts.maxStaleMs && o.tooStale !== undefined) throw o.tooStale();
      this.opts.metrics?.cacheHits.inc({ level: o.level });
      return { entry: existing, hit: true, stale: since !== undefined };
    }
    this.opts.metrics?.cacheMisses.inc({ level: o.level });
    try {
      const entry = await this.fetchOnce(o, fetch);
      return { entry, hit: false, stale: false };
    } catch (err) {
      if (existing !== undefined && o.serveStaleOn?.(err) === true &&
          (existing.freshUntil === null || now - existing.freshUntil <= this.opts.maxStaleMs) &&
          // a credential past its own expiry is of no use to anyone
          (existing.credential.expiresAt === null || existing.credential.expiresAt.getTime() > now)) {
        // an entry that never expires is still bounded by how long its source has been out of reach
        const since = o.disconnectedSince?.(existing);
        if (since !== undefined && now - since > this.opts.maxStaleMs && o.tooStale !== undefined) throw o.tooStale();
        return { entry: existing, hit: true, stale: true };
      }
      throw err;
    }
  }

  private fetchOnce (o: GetOptions, fetch: () => Promise<Fetched>): Promise<CacheEntry> {
    const running = this.inflight.get(o.key);
    if (running !== undefined) return running;
    const p = (async () => {
      const fetched = await fetch();
      const entry = this.makeEntry(o, fetched);
      if (o.noStore !== true || entry.freshUntil !== null) this.store(entry);
      return entry;
    })();
    this.inflight.set(o.key, p);
    const clear = () => { this.inflight.delete(o.key); };
    p.then(clear, clear);
    return p;
  }

  private makeEntry (o: GetOptions, fetched: Fetched): CacheEntry {
    const fetchedAt = this.now();
    let freshUntil: number | null = o.ttlMs !== undefined && o.ttlMs > 0 ? fetchedAt + o.ttlMs : null;
    const expiresAt = fetched.credential.expiresAt?.getTime();
    if (expiresAt !== undefined) {
      const refreshAt = expiresAt - refreshMarginMs(expiresAt - fetchedAt);
      freshUntil = freshUntil === null ? refreshAt : Math.min(freshUntil, refreshAt);
    }
    return { ...fetched, key: o.key, level: o.level, ref: o.ref, sourceType: o.sourceType, registry: o.registry, image: o.image, fetchedAt: new Date(fetchedAt), freshUntil };
  }

  private store (entry: CacheEntry): void {
    const ttlSec = entry.freshUntil === null
      ? 0
      : Math.max(1, Math.ceil((entry.freshUntil - this.now() + this.opts.maxStaleMs) / 1000));
    const old = this.cache.get<CacheEntry>(entry.key);
    if (old !== undefined) this.unindex(entry.key, old);
    try {
      this.cache.set(entry.key, entry, ttlSec);
    } catch {
      return; // full: serve without caching rather than fail the request
    }
    for (const dep of entry.deps) {
      let keys = this.byDep.get(dep);
      if (keys === undefined) this.byDep.set(dep, keys = new Set());
      keys.add(entry.key);
    }
    this.updateGauge();
  }

  private unindex (key: string, entry: CacheEntry): void {
    for (const dep of entry.deps) {
      const keys = this.byDep.get(dep);
      keys?.delete(key);
      if (keys?.size === 0) this.byDep.delete(dep);
    }
    this.updateGauge();
  }

  private updateGauge (): void {
    this.opts.metrics?.cacheEntries.set(this.cache.keys().length);
  }

  /** drop every entry that came from this object (`secret/<ns>/<name>`) */
  invalidateDep (dep: string): number {
    const keys = this.byDep.get(dep);
    if (keys === undefined) return 0;
    return this.cache.del([...keys]);
  }

  invalidate (filter: (entry: CacheEntry) => boolean = () => true): number {
    const keys = this.entries().filter(filter).map((e) => e.key);
    return keys.length === 0 ? 0 : this.cache.del(keys);
  }

  peek (key: string): CacheEntry | undefined {
    return this.cache.get<CacheEntry>(key);
  }

  entries (): CacheEntry[] {
    const out: CacheEntry[] = [];
    for (const k of this.cache.keys()) {
      const e = this.cache.get<CacheEntry>(k);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  close (): void {
    this.cache.flushAll();
    this.cache.close();
  }
}
