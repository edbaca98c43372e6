// The one cache primitive: bound and LRU eviction, O(1) operations (counted), single flight,
// stale-while-refetching, no storing of a fetch that a delete overtook.
import t from 'tap';
import { LRUCache } from 'lru-cache';
import { Cache, type Stored } from '../../src/cache.js';
import { countCollectionOps } from './count-ops.js';

const value = (v: string, freshUntil?: number | null) => async () => ({ value: v, ...(freshUntil !== undefined ? { freshUntil } : {}) });

t.test('bounded: the least recently used key is evicted', async (t) => {
  const dropped: string[] = [];
  const c = new Cache<string>({ max: 3, onDrop: (k, _s, reason) => { dropped.push(`${k}:${reason}`); } });
  for (const k of ['a', 'b', 'c']) await c.get(k, value(k));
  t.equal((await c.get('a', value('x'))).hit, true, 'a used again');
  await c.get('d', value('d'));
  t.equal(c.size, 3);
  t.same(dropped, ['b:evict'], 'b, the least recently used, went');
  t.equal(c.peek('a')?.value, 'a');
  t.equal(c.peek('b'), undefined);
});

t.test('bounded by bytes: least recently used values go until the rest fits; a value larger than the budget is not kept', async (t) => {
  const c = new Cache<string>({ maxBytes: 10, sizeOf: (v) => v.length });
  for (const k of ['a', 'b', 'c']) await c.get(k, value(k.repeat(3)));
  t.equal(c.bytes, 9);
  await c.get('a', value('x'));
  await c.get('d', value('dddd'));
  t.same([...c.entries()].map(([k]) => k), ['d', 'a', 'c'], 'b, the least recently used, went to make room for 4 bytes');
  t.equal(c.bytes, 10);
  const big = await c.get('e', value('e'.repeat(11)));
  t.equal(big.stored.value.length, 11, 'handed out');
  t.equal(c.peek('e'), undefined, 'not kept');
  t.equal(c.bytes, 10, 'and nothing else was evicted for it');
});

t.test('N concurrent misses share one fetch; errors are not kept', async (t) => {
  const c = new Cache<number>({ max: 10 });
  let fetches = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const fetch = async () => { fetches++; await gate; return { value: fetches }; };
  const all = Promise.all(Array.from({ length: 100 }, async () => await c.get('k', fetch)));
  release();
  const results = await all;
  t.equal(fetches, 1, '100 concurrent misses, one fetch');
  t.ok(results.every((r) => r.stored.value === 1 && !r.hit));
  let failing = 0;
  const bad = async (): Promise<{ value: number }> => { failing++; throw new Error('down'); };
  await t.rejects(c.get('e', bad), /down/);
  await t.rejects(c.get('e', bad), /down/);
  t.equal(failing, 2, 'a failure is not cached');
});

t.test('TTL, and stale-while-refetching: the stale value at once, one background fetch', async (t) => {
  let now = 0;
  const c = new Cache<string>({ max: 10, ttlMs: 1000, staleMs: 3000, staleWhileRefetch: true, now: () => now });
  let n = 0;
  const fetch = async () => ({ value: `v${++n}` });
  t.equal((await c.get('k', fetch)).stored.value, 'v1');
  now = 999;
  t.equal((await c.get('k', fetch)).hit, true, 'fresh within the TTL');
  now = 1500;
  const [a, b] = await Promise.all([c.get('k', fetch), c.get('k', fetch)]);
  t.same([a.stored.value, a.stale, b.stored.value, b.stale], ['v1', true, 'v1', true], 'stale answered at once');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(n, 2, 'one refetch in the background');
  t.same(await c.get('k', fetch).then((r) => [r.stored.value, r.stale]), ['v2', false]);
  now = 1500 + 1000 + 3000;
  t.same(await c.get('k', fetch).then((r) => [r.stored.value, r.hit]), ['v3', false], 'past staleMs: fetched while the caller waits');
});

t.test('without stale-while-refetching a stale value stands in only for errors staleOn accepts', async (t) => {
  let now = 0;
  const c = new Cache<string>({ max: 10, ttlMs: 1000, staleMs: 5000, staleOn: (err) => (err as Error).message === 'outage', now: () => now });
  await c.get('k', value('v1'));
  now = 2000;
  const r = await c.get('k', async () => { throw new Error('outage'); });
  t.same([r.stored.value, r.stale, r.hit], ['v1', true, true]);
  await t.rejects(c.get('k', async () => { throw new Error('bad'); }), /bad/);
  now = 7000;
  await t.rejects(c.get('k', async () => { throw new Error('outage'); }), /outage/, 'kept no longer than staleMs');
});

t.test('a fetch overtaken by delete() is handed out but not stored', async (t) => {
  const c = new Cache<string>({ max: 10 });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const p = c.get('k', async () => { await gate; return { value: 'old' }; });
  c.delete('k');
  release();
  t.equal((await p).stored.value, 'old');
  t.equal(c.peek('k'), undefined, 'not kept');
  t.equal((await c.get('k', value('new'))).stored.value, 'new');
  await c.get('n', async () => ({ value: 'x', store: false }));
  t.equal(c.peek('n'), undefined, 'store: false is not kept');
});

t.test('insert, lookup and eviction cost the same at 1,000 entries and at 20,000 (counted map operations, no key lists)', async (t) => {
  const measure = async (max: number) => {
    const c = new Cache<string>({ max, now: () => 0 });
    for (let i = 0; i < max; i++) await c.get(`k${i}`, value('v'));
    const insertEvict = await countCollectionOps(async () => { await c.get('new', value('v')); });
    const lookup = await countCollectionOps(async () => { await c.get(`k${max >> 1}`, value('v')); });
    t.equal(c.size, max, `${max}: still at the bound`);
    t.equal(c.peek('k0'), undefined, `${max}: the least recently used went`);
    return { insertEvict, lookup };
  };
  const small = await measure(1_000);
  const large = await measure(20_000);
  t.same(large, small, 'the same operations at 20,000 entries as at 1,000');
  t.equal(large.insertEvict.iterations + large.lookup.iterations, 0, 'no iteration over keys');
  t.ok(large.insertEvict.delete >= 1 && large.lookup.total > 0, 'the counter sees the store');
});

t.test('the store can be instrumented: each get is a constant number of store calls', async (t) => {
  const calls: string[] = [];
  class Counting extends LRUCache<string, Stored<string>> {
    override get (k: string) { calls.push('get'); return super.get(k); }
    override set (k: string, v: Stored<string>) { calls.push('set'); return super.set(k, v); }
  }
  const c = new Cache<string>({ max: 5, store: new Counting({ max: 5 }) });
  for (let i = 0; i < 50; i++) await c.get(`k${i}`, value('v'));
  t.equal(calls.length, 100, 'one get and one set per miss');
});
