import t from 'tap';
import { CredentialCache, refreshMarginMs, type Fetched, type GetOptions } from '../../src/credentials/cache.js';
import { KubernetesUnavailable } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';

function fixture (maxStaleMs = 60_000) {
  let now = 1_000_000;
  let since: number | undefined;
  const metrics = createMetrics({ defaultMetrics: false });
  const cache = new CredentialCache({ maxStaleMs, metrics, now: () => now, disconnectedSince: () => since });
  let fetches = 0;
  let nextPassword = 'p1';
  let expiresAt: Date | null = null;
  let fail: Error | undefined;
  const fetch = async (): Promise<Fetched> => {
    fetches++;
    if (fail !== undefined) throw fail;
    return { credential: { username: 'u', password: nextPassword, tokenType: 'basic', expiresAt }, deps: ['secret/argocd/s'], namespaces: ['argocd'] };
  };
  const opts = (extra: Partial<GetOptions> = {}): GetOptions => ({
    key: 'registry|secret:argocd/s#c|ghcr.io', level: 'registry', ref: 'secret:argocd/s#c', sourceType: 'secret', registry: 'ghcr.io', image: 'ghcr.io/a', ...extra
  });
  return {
    cache, metrics, fetch, opts,
    advance: (ms: number) => { now += ms; },
    get fetches () { return fetches; },
    set password (p: string) { nextPassword = p; },
    set expiresAt (d: Date | null) { expiresAt = d; },
    set fail (e: Error | undefined) { fail = e; },
    set disconnectedSince (t: number | undefined) { since = t; },
    now: () => now
  };
}

t.test('credsexpire bounds a registry-level entry', async (t) => {
  const f = fixture();
  t.teardown(() => f.cache.close());
  t.equal((await f.cache.get(f.opts({ ttlMs: 60_000 }), f.fetch)).hit, false);
  t.equal((await f.cache.get(f.opts({ ttlMs: 60_000 }), f.fetch)).hit, true);
  f.advance(59_000);
  t.equal((await f.cache.get(f.opts({ ttlMs: 60_000 }), f.fetch)).hit, true, 'fresh until credsexpire');
  f.password = 'p2';
  f.advance(2_000);
  const after = await f.cache.get(f.opts({ ttlMs: 60_000 }), f.fetch);
  t.equal(after.hit, false, 'refetched after credsexpire');
  t.equal(after.entry.credential?.password, 'p2');
  t.equal(f.fetches, 2);
  const hits = await f.metrics.cacheHits.get();
  t.equal(hits.values.find((v) => v.labels.level === 'registry')?.value, 2);
});

t.test('a credential that says when it expires is refreshed before then', async (t) => {
  const f = fixture();
  t.teardown(() => f.cache.close());
  const life = 12 * 3_600_000;
  f.expiresAt = new Date(f.now() + life);
  const first = await f.cache.get(f.opts(), f.fetch);
  t.equal(first.entry.freshUntil, f.now() + life - refreshMarginMs(life), 'fresh until expiry minus the margin');
  t.equal(refreshMarginMs(life), 5 * 60_000, 'margin capped at 5 minutes');
  t.equal(refreshMarginMs(60_000), 6_000, '10% of a short life');
  f.advance(life - 4 * 60_000);
  t.equal((await f.cache.get(f.opts(), f.fetch)).hit, false, 'refetched inside the margin');
  const capped = fixture();
  t.teardown(() => capped.cache.close());
  capped.expiresAt = new Date(capped.now() + life);
  const e = await capped.cache.get(capped.opts({ ttlMs: 3_600_000 }), capped.fetch);
  t.equal(e.entry.freshUntil, capped.now() + 3_600_000, 'credsexpire wins when it is sooner');
});

t.test('invalidation by dependency, and single flight', async (t) => {
  const f = fixture();
  t.teardown(() => f.cache.close());
  const all = await Promise.all(Array.from({ length: 20 }, async () => await f.cache.get(f.opts(), f.fetch)));
  t.equal(f.fetches, 1, 'twenty concurrent misses, one fetch');
  t.ok(all.every((r) => r.entry.credential?.password === 'p1'));
  t.equal(f.cache.invalidateDep('secret/argocd/other'), 0);
  t.equal(f.cache.invalidateDep('secret/argocd/s'), 1);
  t.equal((await f.cache.get(f.opts(), f.fetch)).hit, false);
  t.equal((await f.metrics.cacheEntries.get()).values[0]?.value, 1);
});

t.test('stale serving: on a Kubernetes API outage, up to maxStale past expiry', async (t) => {
  const f = fixture(30_000);
  t.teardown(() => f.cache.close());
  await f.cache.get(f.opts({ ttlMs: 10_000 }), f.fetch);
  f.fail = new KubernetesUnavailable('down');
  f.advance(20_000);
  const stale = await f.cache.get(f.opts({ ttlMs: 10_000 }), f.fetch);
  t.equal(stale.stale, true, 'served stale');
  t.equal(stale.entry.credential?.password, 'p1');
  f.advance(25_000);
  await t.rejects(f.cache.get(f.opts({ ttlMs: 10_000 }), f.fetch), { code: 'KUBERNETES_UNAVAILABLE' }, 'too stale');
  f.fail = new Error('other');
  await t.rejects(f.cache.get(f.opts({ key: 'k2', ttlMs: 10_000 }), f.fetch), /other/, 'errors without a cached entry propagate');
  await f.cache.get(f.opts({ key: 'k3', ttlMs: 10_000 }), async () => ({ credential: { username: 'u', password: 'x', tokenType: 'basic', expiresAt: null }, deps: [], namespaces: [] }));
  f.advance(11_000);
  await t.rejects(f.cache.get(f.opts({ key: 'k3', ttlMs: 10_000 }), f.fetch), /other/, 'other errors are not covered by a stale entry');
});

t.test('a hit whose source has been disconnected longer than maxStale is refused', async (t) => {
  const f = fixture(30_000);
  t.teardown(() => f.cache.close());
  await f.cache.get(f.opts(), f.fetch);
  f.disconnectedSince = f.now();
  f.advance(10_000);
  const ok = await f.cache.get(f.opts(), f.fetch);
  t.equal(ok.stale, true);
  f.advance(30_000);
  await t.rejects(f.cache.get(f.opts(), f.fetch), { code: 'KUBERNETES_UNAVAILABLE' });
});

t.test('noStore entries are not kept unless they expire', async (t) => {
  const f = fixture();
  t.teardown(() => f.cache.close());
  await f.cache.get(f.opts({ noStore: true }), f.fetch);
  await f.cache.get(f.opts({ noStore: true }), f.fetch);
  t.equal(f.fetches, 2, 'run every time');
  f.expiresAt = new Date(f.now() + 3_600_000);
  await f.cache.get(f.opts({ noStore: true }), f.fetch);
  t.equal((await f.cache.get(f.opts({ noStore: true }), f.fetch)).hit, true, 'kept when it says when it expires');
});
