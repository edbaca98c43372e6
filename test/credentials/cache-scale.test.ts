// The credential cache at scale, through the resolver: a pull secret is one entry whatever
// the number of images; a Secret change costs what it drops (counted); a flood of image names
// does not evict a registry-level ext: credential in use (its script runs once per credsexpire).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { CredentialCache } from '../../src/credentials/cache.js';
import { Resolver } from '../../src/credentials/resolver.js';
import type { ChangeListener, SecretObject, SecretStore } from '../../src/kube/secret-store.js';
import { createMetrics } from '../../src/metrics.js';
import { countCollectionOps } from '../cache/count-ops.js';

const NS = 'argocd';

function memoryStore (secrets: Record<string, Record<string, string>>): SecretStore & { change (name: string): void } {
  const listeners: ChangeListener[] = [];
  const built = new Map<string, SecretObject>(Object.entries(secrets).map(([name, data]) =>
    [name, { namespace: NS, name, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])) }]));
  const objects = (name: string): SecretObject | undefined => built.get(name);
  return {
    start: async () => {},
    getSecret: async (_ns, name) => objects(name),
    getServiceAccount: async () => undefined,
    onChange: (l) => { listeners.push(l); return () => {}; },
    status: () => ({ kind: 'local', synced: true, namespaces: { [NS]: { synced: true } } }),
    close: async () => {},
    change: (name) => { for (const l of listeners) l('secret', NS, name); }
  };
}

function setup (conf: string, secrets: Record<string, Record<string, string>>, opts: { maxEntries?: number, now?: () => number } = {}) {
  const metrics = createMetrics({ defaultMetrics: false });
  const store = memoryStore(secrets);
  const cache = new CredentialCache({ maxStaleMs: 60_000, metrics, ...opts });
  store.onChange((kind, ns, name) => { cache.invalidateDep(`${kind}/${ns}/${name}`); });
  const registries = parseRegistriesConf(conf, 'registries.conf');
  const resolver = new Resolver({
    registries: { current: () => registries },
    store,
    cache,
    secretNamespaces: [NS],
    extTimeoutMs: 10_000,
    extMaxOutputBytes: 65536,
    cacheMaxStaleMs: 60_000,
    env: {},
    metrics
  });
  return { cache, resolver, store, metrics };
}

const dockerconfig = (auths: Record<string, string>) => ({
  '.dockerconfigjson': JSON.stringify({ auths: Object.fromEntries(Object.entries(auths).map(([k, u]) => [k, { username: u, password: `${u}-pass` }])) })
});

t.test('10,000 images of one pull secret are one cache entry; each still gets its best-matching key', async (t) => {
  const { cache, resolver } = setup(`registries:
  - name: Pull
    prefix: pull.example.com
    credentials: pullsecret:${NS}/regcred
`, { regcred: dockerconfig({ 'pull.example.com': 'all', 'pull.example.com/team-a': 'team-a' }) });
  for (let i = 0; i < 10_000; i++) {
    const r = await resolver.resolve({ image: `pull.example.com/team-${i % 2 === 0 ? 'a' : 'b'}/app-${i}:1.0` });
    if (i < 2) t.equal(r.username, i === 0 ? 'team-a' : 'all', 'matched per image');
  }
  t.equal(cache.size, 1, 'one entry');
  const r = await resolver.resolve({ image: 'pull.example.com/team-a/x' });
  t.same([r.cached, r.matchedKey, r.username], [true, 'pull.example.com/team-a', 'team-a']);
  await t.rejects(resolver.resolve({ image: 'other.example.com/x', credentials: `pullsecret:${NS}/regcred` }), { code: 'NO_MATCHING_AUTH_ENTRY' });
});

t.test('a Secret change drops its entries at a cost in proportion to what it drops (counted)', async (t) => {
  // request-level secret: references, one per field of a wide Secret: each its own entry behind that Secret
  const fields = (n: number, prefix: string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, `u${i}:p${i}`]));
  const measure = async (others: number, dropped: number) => {
    const { cache, resolver, store } = setup('registries: []\n', { wide: fields(dropped, 'f'), other: fields(others, 'g') }, { maxEntries: 20_000 });
    for (let i = 0; i < dropped; i++) await resolver.resolve({ image: 'r.example.com/a', credentials: `secret:${NS}/wide#f${i}` });
    for (let i = 0; i < others; i++) await resolver.resolve({ image: 'r.example.com/a', credentials: `secret:${NS}/other#g${i}` });
    t.equal(cache.size, dropped + others);
    const ops = await countCollectionOps(() => { store.change('wide'); });
    t.equal(cache.size, others, `${dropped} dropped, ${others} kept`);
    return ops;
  };
  const tenOf100 = await measure(100, 10);
  const tenOf10k = await measure(10_000, 10);
  const oneOf100 = await measure(100, 1);
  const hundredOf100 = await measure(100, 100);
  t.same(tenOf10k, tenOf100, 'dropping 10 entries costs the same among 10,000 as among 100');
  t.equal(tenOf10k.iterations, 1, 'one walk: over the dropped keys of the index');
  const work = (o: typeof oneOf100) => o.total - o.iterations;
  const perEntry = (work(tenOf100) - work(oneOf100)) / 9;
  t.ok(perEntry > 0 && perEntry < 10, `a few map operations per dropped entry (${perEntry})`);
  t.equal(work(hundredOf100) - work(tenOf100), perEntry * 90, 'each further dropped entry costs the same: linear in what is dropped');
});

t.test('N concurrent misses of one pull secret: one read of the Secret', async (t) => {
  const { resolver, metrics } = setup(`registries:
  - name: Pull
    prefix: pull.example.com
    credentials: pullsecret:${NS}/regcred
`, { regcred: dockerconfig({ 'pull.example.com': 'all' }) });
  const all = await Promise.all(Array.from({ length: 50 }, async (_, i) => await resolver.resolve({ image: `pull.example.com/app-${i}` })));
  t.ok(all.every((r) => r.username === 'all'));
  const misses = (await metrics.cacheMisses.get()).values.reduce((n, v) => n + v.value, 0);
  const fetches = (await metrics.fetchDuration.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
  t.equal(fetches, 1, 'fifty concurrent requests, one fetch');
  t.equal(misses, 50, 'each counted as a miss that waited for it');
});

t.test('50,000 distinct image names stream in: the registry-level ext: credential asked once a second runs once per credsexpire', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-flood-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'creds.sh');
  writeFileSync(script, '#!/bin/sh\necho "ext-user:ext-pass"\n');
  chmodSync(script, 0o755);
  let now = 1_000_000;
  const { resolver, metrics, cache } = setup(`registries:
  - name: Script
    prefix: ext.example.com
    credentials: ext:${script}
    credsexpire: 10s
  - name: Pull
    prefix: pull.example.com
    credentials: pullsecret:${NS}/regcred
`, { regcred: dockerconfig({ 'pull.example.com': 'all' }), wide: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`f${i}`, `u:p${i}`])) },
  { maxEntries: 1_000, now: () => now });
  const start = now;
  for (let i = 0; i < 50_000; i++) {
    // 1,000 names a second: new repositories of both registries, and request-level references that each take an entry
    await resolver.resolve({ image: `pull.example.com/flood/app-${i}:1` });
    await resolver.resolve({ image: `r.example.com/flood/app-${i}`, credentials: `secret:${NS}/wide#f${i}` });
    if (i % 1000 === 0) {
      const r = await resolver.resolve({ image: `ext.example.com/team/app-${i}` });
      t.equal(r.username, 'ext-user');
      now += 1000;
    }
  }
  t.equal(cache.size, 1_000 + 2, 'the flood filled the cache to its bound (plus the two registry-level entries)');
  const seconds = (now - start) / 1000;
  const runs = (await metrics.extRuns.get()).values.reduce((n, v) => n + v.value, 0);
  t.equal(seconds, 50);
  t.equal(runs, 5, 'one run per 10 s credsexpire over 50 s');
});

t.test('a Secret behind many entries: all dead at once, deleted a chunk per event-loop turn', async (t) => {
  const fields = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`f${i}`, `u${i}:p${i}`]));
  const { cache, resolver, store } = setup('registries: []\n', { wide: fields });
  for (let i = 0; i < 2500; i++) await resolver.resolve({ image: 'r.example.com/a', credentials: `secret:${NS}/wide#f${i}` });
  t.equal(cache.size, 2500);
  const dropped: number[] = [];
  store.onChange((_k, _ns, name) => { if (name === 'wide') dropped.push(cache.size); });
  store.change('wide');
  t.equal(dropped[0], 1500, 'one chunk of 1,000 deleted in the event itself');
  const r = await resolver.resolve({ image: 'r.example.com/a', credentials: `secret:${NS}/wide#f2499` });
  t.equal(r.cached, false, 'an entry the sweep has not reached is not served: refetched');
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(cache.size, 1, 'the rest went in later turns; the refetched entry stays');
  t.equal((await resolver.resolve({ image: 'r.example.com/a', credentials: `secret:${NS}/wide#f2499` })).cached, true, 'and is served');
});

t.test('entries share one hidden class (memory per entry: a hidden class each cost about 370 bytes)', async (t) => {
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--allow-natives-syntax');
  // eslint-disable-next-line no-new-func
  const sameShape = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;
  const fields = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, `u${i}:p${i}`]));
  const { cache, resolver } = setup('registries: []\n', { wide: fields });
  const keys: string[] = [];
  for (let i = 0; i < 50; i++) {
    await resolver.resolve({ image: `r.example.com/app-${i}`, credentials: `secret:${NS}/wide#f${i}` });
    keys.push(`request|secret:${NS}/wide#f${i}`);
  }
  const entries = keys.map((k) => cache.peek(k));
  t.ok(entries.every((e) => e !== undefined), '50 entries, found by their key (one flat string: level|reference)');
  const first = entries[0];
  t.ok(entries.every((e) => sameShape(e, first)), 'all 50 entries have the same hidden class');
  t.same([...new Set(entries.map((e) => e?.deps[0]))], [`secret/${NS}/wide`], 'each indexed by its Secret');
});
