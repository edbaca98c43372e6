// The credential cache (docs/operations.md "Caching"): the one cache primitive (../cache.ts), bounded by
// CACHE_MAX_ENTRIES with least-recently-used eviction. Registry-level entries (as many as
// registries.conf has entries) are kept in a segment of their own, so that a flood of
// request-, image- or application-level entries never evicts them. Entries live until their expiry
// (credsexpire or the source's own expiresAt) or until a Secret they came from changes
// (an index by Secret: invalidation costs what it drops); concurrent misses for one key share
// one fetch; expired entries are kept CACHE_MAX_STALE longer for outages of the Kubernetes API.
import { Cache, type Stored } from '../cache.js';
import { formatDuration } from '../config/duration.js';
import { KubernetesUnavailable, isCodedError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { CloudDetail } from './cloud/types.js';
import type { DockerConfig } from './dockerconfig.js';
import type { Level } from './results.js';
import type { Credential, SourceType } from './types.js';

export type { Level };

export const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
/** entries a Secret change deletes per event-loop turn */
export const SWEEP_CHUNK = 1000;

export interface Fetched {
  /** the credential of a single-credential source (secret:, env:, ext:) */
  credential?: Credential
  /**
   * the keyring of a pullsecret:/serviceaccount: source, matched per image on every lookup:
   * one entry per Secret, whatever the number of images it serves
   */
  keyring?: { config: DockerConfig, label: string }
  /** objects the credential came from, as `secret/<ns>/<name>` or `serviceaccount/<ns>/<name>` */
  deps: string[]
  /** the namespaces whose store state decides staleness */
  namespaces: string[]
  /** ecr:, gcp:, acr: where the credential came from (never a secret) */
  cloud?: CloudDetail
}

/** what an entry is for: its key, level, reference, and the endpoint prefix and image it was (first) fetched for */
export interface EntryIdentity {
  key: string
  level: Level
  ref: string
  sourceType: SourceType
  registry: string
  image: string
}

export interface CacheEntry extends Fetched, EntryIdentity {
  /** the generation of each dep when the entry was stored: a Secret change bumps it */
  gens?: number[]
  /** when it was fetched, ISO 8601: written once, answered on every hit */
  fetchedAt: string
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
  /** CACHE_MAX_ENTRIES (default 10,000) */
  maxEntries?: number
  metrics?: Metrics
  now?: () => number
  /** minimum spacing of `refresh: true` refetches of one key */
  refreshIntervalMs?: number
  /** since when (epoch ms) the source of any of these namespaces has been out of reach, if it is */
  disconnectedSince?: (namespaces: string[]) => number | undefined
}

export interface GetOptions extends EntryIdentity {
  /** lifetime from configuration (credsexpire); undefined = no limit */
  ttlMs?: number
  /** entries that should not be kept at all (e.g. ext: at a non-registry level without expiry) */
  noStore?: boolean
  refresh?: boolean
}

/** Refresh a credential that says when it expires before then: 10% of its life, at most 5 minutes. */
export function refreshMarginMs (lifetimeMs: number): number {
  return Math.min(5 * 60_000, Math.max(0, lifetimeMs * 0.1));
}

/** the earliest expiry of what was fetched (for a keyring: of any of its credentials) */
function expiryOf (f: Fetched): number | undefined {
  let at = f.credential?.expiresAt?.getTime();
  for (const e of f.keyring?.config.entries ?? []) {
    const t = e.credential.expiresAt?.getTime();
    if (t !== undefined && (at === undefined || t < at)) at = t;
  }
  return at;
}

export class CredentialCache {
  /** registry-level entries, and the others */
  private readonly segments: [Cache<CacheEntry>, Cache<CacheEntry>];
  /** `secret/<ns>/<name>` → keys of the entries that came from it */
  private readonly byDep = new Map<string, { name: string, keys: Set<string> }>();
  /** `secret/<ns>/<name>` → how many times it changed: entries of an older generation are dead at once */
  private readonly depGen = new Map<string, number>();
  /** index sets of changed objects whose entries are still being deleted, a chunk per event-loop turn */
  private readonly sweeps: Array<Iterator<string>> = [];
  private sweeping = false;
  private readonly now: () => number;

  constructor (private readonly opts: CacheOptions) {
    this.now = opts.now ?? Date.now;
    const segment = () => new Cache<CacheEntry>({
      max: opts.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES,
      staleMs: opts.maxStaleMs,
      // only an outage of the Kubernetes API or a cloud provider lets an expired entry stand in
      staleOn: (err) => isCodedError(err) && (err.code === 'KUBERNETES_UNAVAILABLE' || err.code === 'CLOUD_PROVIDER_UNAVAILABLE'),
      minRefetchMs: opts.refreshIntervalMs ?? 1000,
      now: this.now,
      onDrop: (key, stored) => { this.unindex(key, stored.value); },
      onStore: (_key, stored) => { this.index(stored.value); }
    });
    this.segments = [segment(), segment()];
  }

  get size (): number { return this.segments[0].size + this.segments[1].size; }

  private segment (level: Level): Cache<CacheEntry> {
    return this.segments[level === 'registry' ? 0 : 1];
  }

  async get (o: GetOptions, fetch: () => Promise<Fetched>): Promise<CacheLookup> {
    const lookup = await this.segment(o.level).get(o.key, async () => {
      // a fetch that fails is a miss too (it went to the source)
      const fetched = await fetch().catch((err: unknown) => { this.opts.metrics?.cacheMisses.inc({ level: o.level }); throw err; });
      const fetchedAt = this.now();
      let freshUntil: number | null = o.ttlMs !== undefined && o.ttlMs > 0 ? fetchedAt + o.ttlMs : null;
      const expiresAt = expiryOf(fetched);
      if (expiresAt !== undefined) {
        const refreshAt = expiresAt - refreshMarginMs(expiresAt - fetchedAt);
        freshUntil = freshUntil === null ? refreshAt : Math.min(freshUntil, refreshAt);
      }
      // every field written here, in one order (no spread, `gens` set later in place): all
      // entries share one hidden class; a spread gave each of them its own (about 370 bytes each)
      const entry: CacheEntry = {
        credential: fetched.credential,
        keyring: fetched.keyring,
        deps: fetched.deps,
        namespaces: fetched.namespaces,
        cloud: fetched.cloud,
        key: o.key,
        level: o.level,
        ref: o.ref,
        sourceType: o.sourceType,
        registry: o.registry,
        image: o.image,
        fetchedAt: new Date(fetchedAt).toISOString(),
        freshUntil,
        gens: undefined
      };
      // a stale stand-in for CACHE_MAX_STALE, but never past the credential's own expiry: then it is of no use to anyone
      const keepUntil = freshUntil === null ? null : Math.min(freshUntil + this.opts.maxStaleMs, expiresAt ?? Infinity);
      return { value: entry, freshUntil, keepUntil, store: o.noStore !== true || freshUntil !== null };
    }, o.refresh === true ? { refresh: true } : {});
    this.opts.metrics?.cacheEntries.set(this.size);
    if (lookup.hit && this.dead(lookup.stored.value)) {
      // its Secret changed and the sweep has not reached it yet: as good as gone
      this.segment(o.level).delete(o.key);
      return await this.get(o, fetch);
    }
    if (lookup.hit) {
      // an entry read before an outage is stale while its source is out of reach, and refused after CACHE_MAX_STALE
      const since = this.opts.disconnectedSince?.(lookup.stored.value.namespaces);
      if (since !== undefined && this.now() - since > this.opts.maxStaleMs) {
        throw new KubernetesUnavailable(`the Kubernetes API has been unreachable for longer than CACHE_MAX_STALE (${formatDuration(this.opts.maxStaleMs)})`);
      }
      this.opts.metrics?.cacheHits.inc({ level: o.level });
      return { entry: lookup.stored.value, hit: true, stale: lookup.stale || since !== undefined };
    }
    this.opts.metrics?.cacheMisses.inc({ level: o.level });
    return { entry: lookup.stored.value, hit: false, stale: false };
  }

  private dead (entry: CacheEntry): boolean {
    const gens = entry.gens;
    if (gens === undefined) return false;
    for (let i = 0; i < gens.length; i++) if ((this.depGen.get(entry.deps[i] as string) ?? 0) !== gens[i]) return true;
    return false;
  }

  /** index a stored entry by the objects it came from */
  private index (entry: CacheEntry): void {
    const deps = entry.deps;
    entry.gens = deps.map((dep) => this.depGen.get(dep) ?? 0);
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i] as string;
      let slot = this.byDep.get(dep);
      if (slot === undefined) this.byDep.set(dep, slot = { name: dep, keys: new Set() });
      // the index's copy of the name: one string per Secret, not one per entry
      else deps[i] = slot.name;
      slot.keys.add(entry.key);
    }
  }

  private unindex (key: string, entry: CacheEntry): void {
    for (const dep of entry.deps) {
      const slot = this.byDep.get(dep);
      if (slot === undefined) continue;
      slot.keys.delete(key);
      if (slot.keys.size === 0) this.byDep.delete(dep);
    }
  }

  /**
   * Drop every entry that came from this object (`secret/<ns>/<name>`). Its entries are dead at
   * once (a generation bump, O(1)); they leave memory in chunks of SWEEP_CHUNK per event-loop
   * turn, so that a Secret behind many entries never blocks the loop. Returns how many there were.
   */
  invalidateDep (dep: string): number {
    // a fetch in flight may have read the object before this change: it must not be kept
    for (const s of this.segments) s.forgetInflight();
    const keys = this.byDep.get(dep)?.keys;
    if (keys === undefined) return 0;
    this.depGen.set(dep, (this.depGen.get(dep) ?? 0) + 1);
    this.byDep.delete(dep);
    this.sweeps.push(keys.values());
    this.sweep();
    return keys.size;
  }

  private sweep (): void {
    let budget = SWEEP_CHUNK;
    while (budget > 0 && this.sweeps.length > 0) {
      const it = this.sweeps[0] as Iterator<string>;
      const next = it.next();
      if (next.done === true) { this.sweeps.shift(); continue; }
      budget--;
      for (const s of this.segments) {
        const stored = s.peek(next.value);
        if (stored !== undefined && this.dead(stored.value)) s.delete(next.value);
      }
    }
    this.opts.metrics?.cacheEntries.set(this.size);
    if (this.sweeps.length > 0 && !this.sweeping) {
      this.sweeping = true;
      setImmediate(() => { this.sweeping = false; this.sweep(); });
    }
  }

  /** drop the entries the filter picks (admin and reload paths: a scan of every entry) */
  invalidate (filter: (entry: CacheEntry) => boolean = () => true): number {
    let n = 0;
    for (const s of this.segments) {
      const keys: string[] = [];
      for (const [key, stored] of s.entries()) if (filter(stored.value)) keys.push(key);
      for (const key of keys) s.delete(key);
      n += keys.length;
    }
    this.opts.metrics?.cacheEntries.set(this.size);
    return n;
  }

  peek (key: string): CacheEntry | undefined {
    return (this.segments[0].peek(key) ?? this.segments[1].peek(key))?.value;
  }

  entries (): CacheEntry[] {
    const out: CacheEntry[] = [];
    for (const s of this.segments) for (const [, stored] of s.entries()) out.push(stored.value);
    return out;
  }

  close (): void {
    this.sweeps.length = 0;
    for (const s of this.segments) s.clear();
    this.byDep.clear();
  }
}

export type { Stored };
