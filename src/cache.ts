// The one cache primitive of the service (docs/operations.md "Caching"): a bounded least-recently-used map
// (lru-cache) of fetched values, each fresh until a deadline and then kept a while longer as a
// stand-in; concurrent misses of one key share one fetch. Used by the credential cache, the
// TokenReview cache, the Argo CD Application cache and the Kubernetes store's Secret data (bounded by bytes). Every operation is O(1): no key lists.
import { LRUCache } from 'lru-cache';

export interface Stored<V> {
  value: V
  /** epoch ms of the fetch */
  fetchedAt: number
  /** epoch ms after which the value is fetched again; null = fresh until dropped */
  freshUntil: number | null
  /** epoch ms after which the value is not even a stale stand-in; null = until dropped */
  keepUntil: number | null
}

/** What a fetch function returns. */
export interface Fetched<V> {
  value: V
  /** epoch ms until which it is fresh; absent = `ttlMs` from now; null = until dropped */
  freshUntil?: number | null
  /** epoch ms until which it may stand in when stale; absent = `staleMs` past freshUntil */
  keepUntil?: number | null
  /** false: hand the value out without keeping it */
  store?: boolean
}

export type FetchFn<V> = () => Promise<Fetched<V>>;

export interface Lookup<V> {
  stored: Stored<V>
  /** served from memory (fresh, or stale) rather than by this call's fetch */
  hit: boolean
  stale: boolean
}

export type DropReason = 'evict' | 'delete' | 'set' | 'expire';

export interface CacheOptions<V> {
  /** the bound: the least recently used value is evicted beyond it (may be left out when maxBytes is set) */
  max?: number
  /** a second bound, in bytes as `sizeOf` counts them: least recently used values are evicted beyond it */
  maxBytes?: number
  /** the bytes a value counts for under maxBytes (at least 1) */
  sizeOf?: (value: V, key: string) => number
  /** default freshness of a fetched value; undefined or 0 = fresh until dropped */
  ttlMs?: number
  /** how long past its freshness a value is kept as a stale stand-in */
  staleMs?: number
  /**
   * true: a stale value is answered at once and refetched in the background (one fetch);
   * false: the caller waits for the refetch and gets the stale value only if the fetch
   * fails with an error `staleOn` accepts
   */
  staleWhileRefetch?: boolean
  staleOn?: (err: unknown) => boolean
  /** `refresh: true` refetches a key at most this often (default 0) */
  minRefetchMs?: number
  now?: () => number
  /** called whenever a value leaves the cache (evicted, deleted, replaced): for indexes */
  onDrop?: (key: string, stored: Stored<V>, reason: DropReason) => void
  /** called after a fetched value is stored (after onDrop of the value it replaces) */
  onStore?: (key: string, stored: Stored<V>) => void
  /** tests: the store, to count its operations */
  store?: LRUCache<string, Stored<V>>
}

interface Flight<V> { promise: Promise<Stored<V>> }

export class Cache<V> {
  private readonly lru: LRUCache<string, Stored<V>>;
  private readonly inflight = new Map<string, Flight<V>>();
  private readonly now: () => number;

  constructor (private readonly opts: CacheOptions<V>) {
    this.now = opts.now ?? Date.now;
    const onDrop = opts.onDrop;
    const bytes = opts.maxBytes !== undefined && opts.maxBytes > 0 ? opts.maxBytes : undefined;
    const sizeOf = opts.sizeOf;
    const bounds: LRUCache.Options<string, Stored<V>, unknown> = bytes === undefined
      ? { max: Math.max(1, opts.max ?? 1) }
      : {
          ...(opts.max !== undefined ? { max: Math.max(1, opts.max) } : {}),
          maxSize: bytes,
          sizeCalculation: (v: Stored<V>, k: string) => Math.max(1, Math.ceil(sizeOf?.(v.value, k) ?? 1))
        };
    this.lru = opts.store ?? new LRUCache<string, Stored<V>>({
      ...bounds,
      ...(onDrop !== undefined ? { dispose: (v: Stored<V>, k: string, reason: LRUCache.DisposeReason) => { onDrop(k, v, reason === 'fetch' ? 'delete' : reason); } } : {})
    });
  }

  get size (): number { return this.lru.size; }
  get max (): number { return this.lru.max; }
  /** the bytes held, as `sizeOf` counts them (0 without maxBytes) */
  get bytes (): number { return this.lru.calculatedSize ?? 0; }

  /** The value of `key`: from memory while fresh, else from `fetch` (shared with concurrent callers). */
  async get (key: string, fetch: FetchFn<V>, opts: { refresh?: boolean } = {}): Promise<Lookup<V>> {
    const now = this.now();
    let s = this.lru.get(key);
    if (s !== undefined && s.keepUntil !== null && s.keepUntil <= now) {
      this.lru.delete(key);
      s = undefined;
    }
    if (s !== undefined) {
      const fresh = s.freshUntil === null || s.freshUntil > now;
      if (fresh && (opts.refresh !== true || now - s.fetchedAt < (this.opts.minRefetchMs ?? 0))) {
        return { stored: s, hit: true, stale: false };
      }
      if (!fresh && opts.refresh !== true && this.opts.staleWhileRefetch === true) {
        this.fetchOnce(key, fetch).catch(() => undefined);
        return { stored: s, hit: true, stale: true };
      }
    }
    try {
      return { stored: await this.fetchOnce(key, fetch), hit: false, stale: false };
    } catch (err) {
      if (s !== undefined && this.opts.staleOn?.(err) === true && (s.keepUntil === null || s.keepUntil > now)) {
        return { stored: s, hit: true, stale: true };
      }
      throw err;
    }
  }

  /** the stored value without touching its recency */
  peek (key: string): Stored<V> | undefined {
    return this.lru.peek(key);
  }

  /** drop one key; a fetch of it still in flight will not store its result */
  delete (key: string): boolean {
    this.inflight.delete(key);
    return this.lru.delete(key);
  }

  /** fetches in flight now will not store their results (their callers still get them) */
  forgetInflight (): void {
    this.inflight.clear();
  }

  clear (): void {
    this.inflight.clear();
    this.lru.clear();
  }

  /** every stored entry, most recently used first (O(n): for listings and admin filters only) */
  * entries (): IterableIterator<[string, Stored<V>]> {
    for (const [k, v] of this.lru.entries()) yield [k, v];
  }

  private fetchOnce (key: string, fetch: FetchFn<V>): Promise<Stored<V>> {
    const running = this.inflight.get(key);
    if (running !== undefined) return running.promise;
    const flight = {} as Flight<V>;
    this.inflight.set(key, flight);
    flight.promise = this.run(key, flight, fetch);
    return flight.promise;
  }

  private async run (key: string, flight: Flight<V>, fetch: FetchFn<V>): Promise<Stored<V>> {
    try {
      const f = await fetch();
      const fetchedAt = this.now();
      const ttl = this.opts.ttlMs ?? 0;
      const freshUntil = f.freshUntil !== undefined ? f.freshUntil : ttl > 0 ? fetchedAt + ttl : null;
      const stored: Stored<V> = {
        value: f.value,
        fetchedAt,
        freshUntil,
        keepUntil: f.keepUntil !== undefined ? f.keepUntil : freshUntil === null ? null : freshUntil + (this.opts.staleMs ?? 0)
      };
      // after a delete() or forgetInflight() the result may predate the change: hand it out, keep it not
      if (f.store !== false && this.inflight.get(key) === flight && (stored.keepUntil === null || stored.keepUntil > fetchedAt)) {
        this.lru.set(key, stored);
        this.opts.onStore?.(key, stored);
      }
      return stored;
    } finally {
      if (this.inflight.get(key) === flight) this.inflight.delete(key);
    }
  }
}
