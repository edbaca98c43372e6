import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesSecretStore, type KubernetesSecretStoreOptions } from '../../src/kube/api-store.js';
import { createKubeConfig } from '../../src/kube/client.js';
import type { ChangeKind } from '../../src/kube/secret-store.js';
import { createMetrics } from '../../src/metrics.js';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/poll.js';

const SECRET = 's3cr3t-pa55w0rd-value';


interface Setup {
  api: FakeKubeApi
  store: KubernetesSecretStore
  metrics: ReturnType<typeof createMetrics>
  changes: Array<[ChangeKind, string, string]>
  logs: Array<[object, string]>
}

async function setup (tt: Test, opts: Partial<KubernetesSecretStoreOptions> & { api?: FakeKubeApi, start?: boolean } = {}): Promise<Setup> {
  const api = opts.api ?? await startFakeKubeApi();
  const dir = mkdtempSync(join(tmpdir(), 'api-store-'));
  api.writeKubeconfig(join(dir, 'config'));
  const kc = createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: join(dir, 'config'), serviceAccountDir: dir });
  const metrics = createMetrics({ defaultMetrics: false });
  const logs: Array<[object, string]> = [];
  const logger = { warn: (o: object, m: string) => logs.push([o, m]), info: (o: object, m: string) => logs.push([o, m]) };
  const store = new KubernetesSecretStore({
    kubeConfig: kc,
    namespaces: ['argocd', 'team-a'],
    metrics,
    logger,
    initialBackoffMs: 20,
    maxBackoffMs: 200,
    requestTimeoutMs: 2000,
    ...opts
  });
  const changes: Array<[ChangeKind, string, string]> = [];
  store.onChange((kind, ns, name) => changes.push([kind, ns, name]));
  tt.teardown(async () => {
    await store.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  if (opts.start !== false) await store.start();
  return { api, store, metrics, changes, logs };
}

async function seeded (): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  api.putSecret('argocd', 'ghcr', { '.dockerconfigjson': JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from(`bot:${SECRET}`).toString('base64') } } }) }, 'kubernetes.io/dockerconfigjson');
  api.putSecret('argocd', 'plain', { creds: `bot:${SECRET}` });
  api.putSecret('team-a', 'quay', { creds: `robot:${SECRET}` });
  api.putSecret('elsewhere', 'hidden', { creds: `x:${SECRET}` });
  api.putServiceAccount('team-a', 'builder', ['quay', 'missing', 'ghcr']);
  return api;
}

const watchesUp = (api: FakeKubeApi, n = 4) => waitFor(`${n} watches`, () => api.watchCount === n);

async function counter (metrics: Setup['metrics'], name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).filter((x) => Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l));
  return v.reduce((a, x) => a + x.value, 0);
}

function noSecretIn (tt: Test, what: string, text: string) {
  tt.notMatch(text, SECRET, `${what} carries no secret value`);
  tt.notMatch(text, 'fake-sa-token', `${what} carries no token`);
}

t.test('initial sync: Secrets and ServiceAccounts of the allowed namespaces, decoded', async (t) => {
  const { store, api, changes } = await setup(t, { api: await seeded() });
  const st = store.status();
  t.equal(st.kind, 'kubernetes');
  t.equal(st.synced, true);
  t.equal(st.namespaces.argocd?.synced, true);
  t.equal(st.namespaces['team-a']?.synced, true);
  t.type(st.namespaces.argocd?.lastSyncAt, 'string');

  const plain = await store.getSecret('argocd', 'plain');
  t.equal(plain?.data.creds?.toString(), `bot:${SECRET}`);
  t.equal(plain?.type, 'Opaque');
  t.equal(plain?.namespace, 'argocd');
  t.equal(plain?.resourceVersion, api.get('secrets', 'argocd', 'plain')?.metadata.resourceVersion);
  const ghcr = await store.getSecret('argocd', 'ghcr');
  t.equal(ghcr?.type, 'kubernetes.io/dockerconfigjson');
  t.match(JSON.parse(ghcr?.data['.dockerconfigjson']?.toString() ?? '{}'), { auths: { 'ghcr.io': {} } });
  t.equal(await store.getSecret('argocd', 'nope'), undefined, 'a missing Secret is undefined');
  t.same(await store.getServiceAccount('team-a', 'builder'),
    { namespace: 'team-a', name: 'builder', imagePullSecrets: ['quay', 'missing', 'ghcr'], resourceVersion: api.get('serviceaccounts', 'team-a', 'builder')?.metadata.resourceVersion });
  t.equal(await store.getServiceAccount('team-a', 'nobody'), undefined);
  await t.rejects(store.getSecret('elsewhere', 'hidden'), { code: 'NAMESPACE_NOT_ALLOWED' }, 'a namespace not watched is refused');
  t.same(changes, [], 'the initial list fires no change');
  t.equal(api.count({ verb: 'list', namespace: 'elsewhere' }) + api.count({ verb: 'watch', namespace: 'elsewhere' }), 0,
    'nothing is read outside the allowed namespaces');
  t.equal(api.count({ path: '/api/v1/secrets' }), 0, 'no cluster-wide list');
});

t.test('a changed Secret is seen through the watch; deletion too; bookmarks change nothing', async (t) => {
  const { store, api, changes, metrics } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  const watches = api.requests.filter((r) => r.verb === 'watch');
  t.ok(watches.every((r) => r.query.get('allowWatchBookmarks') === 'true' && r.query.get('resourceVersion') !== ''),
    'watches ask for bookmarks and resume from the list resourceVersion');
  api.resetRequests();

  api.putSecret('argocd', 'plain', { creds: 'bot:rotated' });
  await waitFor('the change', () => changes.length > 0);
  t.same(changes, [['secret', 'argocd', 'plain']]);
  t.equal((await store.getSecret('argocd', 'plain'))?.data.creds?.toString(), 'bot:rotated');

  api.bookmark();
  api.putServiceAccount('team-a', 'builder', ['ghcr']);
  await waitFor('the ServiceAccount change', () => changes.length > 1);
  t.same(changes[1], ['serviceaccount', 'team-a', 'builder'], 'the bookmark fired nothing');
  t.same((await store.getServiceAccount('team-a', 'builder'))?.imagePullSecrets, ['ghcr']);

  api.delete('secrets', 'team-a', 'quay');
  await waitFor('the deletion', () => changes.length > 2);
  t.same(changes[2], ['secret', 'team-a', 'quay']);
  t.equal(await store.getSecret('team-a', 'quay'), undefined);

  api.putSecret('argocd', 'new', { k: 'v' });
  await waitFor('the addition', () => changes.length > 3);
  t.equal((await store.getSecret('argocd', 'new'))?.data.k?.toString(), 'v');
  t.equal(api.count({ verb: 'list' }), 0, 'changes arrive by the watch, without re-listing');
  t.equal(api.count({ verb: 'get' }), 2, 'one GET for the rotated Secret and one for the new one; none for the deleted one');
  t.equal(await counter(metrics, 'credbroker_kubernetes_requests_total', { verb: 'list', resource: 'secrets', code: '200' }), 2);
  t.equal(await counter(metrics, 'credbroker_kubernetes_requests_total', { verb: 'watch', resource: 'secrets', code: '200' }), 2);
});

t.test('1,000 getSecret calls in steady state make zero API requests', async (t) => {
  const { store, api } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  await store.getSecret('argocd', 'plain');
  await store.getSecret('team-a', 'quay');
  api.resetRequests();
  for (let i = 0; i < 1000; i++) {
    const s = await store.getSecret(i % 2 === 0 ? 'argocd' : 'team-a', i % 2 === 0 ? 'plain' : 'quay');
    if (s === undefined) t.fail('missing');
  }
  t.equal(api.count(), 0);
});

t.test('410 Gone re-lists and fires for what changed or vanished while disconnected', async (t) => {
  const { store, api, changes, metrics } = await setup(t, { api: await seeded() });
  api.putSecret('argocd', 'stable', { k: 'same' });
  await waitFor('stable', () => changes.length === 1);
  changes.length = 0;
  api.down();
  await waitFor('disconnection', () => store.status().namespaces.argocd?.disconnectedSince !== undefined);
  api.putSecret('argocd', 'plain', { creds: 'bot:changed-offline' });
  api.delete('secrets', 'team-a', 'quay');
  api.putSecret('argocd', 'added-offline', { k: 'v' });
  api.compact();
  api.resetRequests();
  api.up();
  await waitFor('the re-list', () => changes.length >= 3);
  const seen = changes.map((c) => c.join(' ')).sort();
  t.same(seen, ['secret argocd added-offline', 'secret argocd plain', 'secret team-a quay']);
  t.equal((await store.getSecret('argocd', 'plain'))?.data.creds?.toString(), 'bot:changed-offline');
  t.equal(await store.getSecret('team-a', 'quay'), undefined);
  t.ok(api.count({ verb: 'list', resource: 'secrets' }) >= 1, 'listed again');
  t.ok(await counter(metrics, 'credbroker_kubernetes_watch_restarts_total', { reason: 'gone' }) >= 1, 'counted as gone');
  await waitFor('reconnection', () => store.status().namespaces.argocd?.disconnectedSince === undefined);
});

t.test('a dropped watch reconnects from its resourceVersion', async (t) => {
  const { store, api, changes, metrics } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  api.resetRequests();
  t.equal(api.dropWatches(), 4);
  await watchesUp(api);
  t.equal(api.count({ verb: 'list' }), 0, 'no re-list after a clean close');
  api.putSecret('team-a', 'quay', { creds: 'robot:after-drop' });
  await waitFor('the change', () => changes.length > 0);
  t.equal((await store.getSecret('team-a', 'quay'))?.data.creds?.toString(), 'robot:after-drop');
  t.equal(await counter(metrics, 'credbroker_kubernetes_watch_restarts_total', { reason: 'closed' }), 4);
});

t.test('API outage: answers from memory with disconnectedSince; a namespace never synced is unavailable', async (t) => {
  const { store, api, logs } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  t.equal((await store.getSecret('team-a', 'quay'))?.name, 'quay', 'served once before the outage');
  api.down();
  await waitFor('disconnection', () => store.status().namespaces['team-a']?.disconnectedSince !== undefined);
  const st = store.status();
  t.equal(st.namespaces['team-a']?.synced, true, 'still synced: data is served');
  t.ok(Date.parse(st.namespaces['team-a']?.disconnectedSince ?? '') > 0);
  t.equal((await store.getSecret('team-a', 'quay'))?.data.creds?.toString(), `robot:${SECRET}`, 'answered from memory');

  const other = await setup(t, { api, namespaces: ['team-a'] });
  const o = other.store.status();
  t.equal(o.synced, false);
  t.equal(o.namespaces['team-a']?.synced, false);
  t.match(o.namespaces['team-a']?.error, /did not answer/);
  const err = await other.store.getSecret('team-a', 'quay').catch((e: Error) => e);
  t.match(err, { code: 'KUBERNETES_UNAVAILABLE', statusCode: 503 });
  noSecretIn(t, 'the error', String((err as Error).message));

  api.up();
  await waitFor('recovery', () => store.status().namespaces['team-a']?.disconnectedSince === undefined && other.store.status().synced);
  t.equal((await other.store.getSecret('team-a', 'quay'))?.data.creds?.toString(), `robot:${SECRET}`);
  noSecretIn(t, 'the logs', JSON.stringify([...logs, ...other.logs]));
});

t.test('a namespace whose Secrets are refused (403) is forbidden, named, and does not hold back sync', async (t) => {
  const api = await seeded();
  api.forbid('list', 'secrets', 'team-a');
  const { store, metrics, logs } = await setup(t, { api });
  const st = store.status();
  t.equal(st.synced, true, 'a forbidden namespace does not make the store unsynced');
  t.equal(st.namespaces['team-a']?.forbidden, true);
  t.equal(st.namespaces['team-a']?.synced, false);
  t.equal(st.namespaces['team-a']?.error, 'the service account may not list secrets in namespace team-a');
  t.notOk(st.namespaces.argocd?.forbidden);
  const err = await store.getSecret('team-a', 'quay').catch((e: Error) => e);
  t.match(err, { code: 'KUBERNETES_FORBIDDEN', statusCode: 502, message: 'the service account may not list secrets in namespace team-a' });
  t.notMatch(String((err as Error).message), /User "|cannot list resource|forbidden:/, 'no API response body');
  t.equal((await store.getServiceAccount('team-a', 'builder'))?.name, 'builder', 'ServiceAccounts there are still read');
  t.equal((await store.getSecret('argocd', 'plain'))?.name, 'plain');
  t.ok(await counter(metrics, 'credbroker_kubernetes_requests_total', { verb: 'list', resource: 'secrets', code: '403' }) >= 1);
  noSecretIn(t, 'the logs', JSON.stringify(logs));

  api.allow('list', 'secrets', 'team-a');
  await waitFor('the grant to be noticed', () => store.status().namespaces['team-a']?.synced === true);
  t.notOk(store.status().namespaces['team-a']?.forbidden);
  t.equal((await store.getSecret('team-a', 'quay'))?.data.creds?.toString(), `robot:${SECRET}`);
});

t.test('a refused watch is forbidden as well', async (t) => {
  const api = await seeded();
  api.forbid('watch', 'secrets', 'argocd');
  const { store } = await setup(t, { api });
  await waitFor('the refusal', () => store.status().namespaces.argocd?.forbidden === true);
  t.equal(store.status().namespaces.argocd?.error, 'the service account may not watch secrets in namespace argocd');
  await t.rejects(store.getSecret('argocd', 'plain'), { code: 'KUBERNETES_FORBIDDEN' });
});

t.test('cluster-wide with *', async (t) => {
  const { store, api, changes } = await setup(t, { api: await seeded(), namespaces: '*' });
  t.same(Object.keys(store.status().namespaces), ['*']);
  t.equal(api.count({ path: '/api/v1/secrets', verb: 'list' }), 1);
  t.equal((await store.getSecret('elsewhere', 'hidden'))?.data.creds?.toString(), `x:${SECRET}`);
  t.equal(await store.getSecret('nowhere', 'x'), undefined);
  await watchesUp(api, 2);
  api.putSecret('another', 'fresh', { a: 'b' });
  await waitFor('the change', () => changes.length > 0);
  t.same(changes, [['secret', 'another', 'fresh']]);
});

t.test('Secrets over the size bound are ignored with a warning that holds no value', async (t) => {
  const api = await seeded();
  api.putSecret('argocd', 'huge', { blob: 'x'.repeat(1024 * 1024), creds: `bot:${SECRET}` });
  const { store, logs } = await setup(t, { api });
  const err = await store.getSecret('argocd', 'huge').catch((e: Error) => e);
  t.match(err, { code: 'MALFORMED_CREDENTIALS' });
  t.match(String((err as Error).message), /argocd\/huge is larger than/);
  const warn = logs.find(([, m]) => /larger/.test(m));
  t.match(warn?.[0], { namespace: 'argocd', name: 'huge' });
  noSecretIn(t, 'the warning', JSON.stringify(warn));
  t.equal((await store.getSecret('argocd', 'plain'))?.name, 'plain', 'others are kept');
});

t.test('paged lists are followed to the end', async (t) => {
  const api = await startFakeKubeApi();
  for (let i = 0; i < 7; i++) api.putSecret('argocd', `s${i}`, { i: String(i) });
  const { store } = await setup(t, { api, pageSize: 3, namespaces: ['argocd'] });
  t.equal(api.count({ verb: 'list', resource: 'secrets' }), 3);
  for (let i = 0; i < 7; i++) t.equal((await store.getSecret('argocd', `s${i}`))?.data.i?.toString(), String(i));
});

t.test('close stops every watch', async (t) => {
  const { store, api } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  await store.close();
  await waitFor('watches to end', () => api.watchCount === 0);
  api.resetRequests();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(api.count(), 0, 'no request after close');
});

// Memory follows what is served: Secrets are known by metadata, their data read at first use and held in a byte budget.

const KB = 1024;
const heldSize = (ns: string, name: string, data: Record<string, string>, type = 'Opaque') =>
  ns.length + name.length + type.length + Object.entries(data).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0);

t.test('2,000 large foreign Secrets beside one pull secret: metadata crosses the wire, the pull secret alone is held', async (t) => {
  const api = await startFakeKubeApi();
  const blob = 'h'.repeat(10 * KB);
  for (let i = 0; i < 2000; i++) api.putSecret('argocd', `sh.helm.release.v1.app.v${i}`, { release: blob }, 'helm.sh/release.v1');
  const pull = { creds: `bot:${SECRET}` };
  api.putSecret('argocd', 'pull', pull);
  const { store, logs } = await setup(t, { api, namespaces: ['argocd'] });
  await watchesUp(api, 2);

  const secretLists = api.requests.filter((r) => r.resource === 'secrets' && r.verb === 'list');
  t.equal(secretLists.length, 5, 'paged: 2,001 Secrets in pages of 500');
  t.ok(secretLists.every((r) => r.metadataOnly && r.query.get('limit') === '500'), 'every page metadata-only, with limit');
  t.ok(api.requests.filter((r) => r.resource === 'secrets' && r.verb === 'watch').every((r) => r.metadataOnly), 'the watch metadata-only');
  t.ok(api.requests.filter((r) => r.resource === 'serviceaccounts').every((r) => !r.metadataOnly), 'ServiceAccounts whole');
  const wire = api.bytesSent({ resource: 'secrets' });
  t.ok(wire < 2000 * 10 * KB / 20, `the Secrets' data did not cross the wire (${wire} bytes for 20 MB of data)`);
  t.same(store.memory(), { knownSecrets: 2001, heldSecrets: 0, heldBytes: 0 }, 'known by metadata, no data held after sync');

  api.resetRequests();
  t.equal((await store.getSecret('argocd', 'pull'))?.data.creds?.toString(), `bot:${SECRET}`);
  t.equal(api.count({ verb: 'get', resource: 'secrets', name: 'pull' }), 1, 'the first use is one GET');
  t.same(store.memory(), { knownSecrets: 2001, heldSecrets: 1, heldBytes: heldSize('argocd', 'pull', pull) }, 'the pull secret alone is held');
  t.equal(await store.getSecret('argocd', 'never-created'), undefined, 'a Secret the metadata does not know is not found');
  t.equal(api.count(), 1, '... without a request');
  noSecretIn(t, 'the logs', JSON.stringify(logs));
});

t.test('the first use of an unseen Secret is one GET, shared by 20 concurrent callers', async (t) => {
  const { store, api } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  api.resetRequests();
  api.setLatency(50);
  const got = await Promise.all(Array.from({ length: 20 }, () => store.getSecret('team-a', 'quay')));
  api.setLatency(0);
  t.ok(got.every((s) => s?.data.creds?.toString() === `robot:${SECRET}`), 'every caller got the Secret');
  t.equal(api.count({ verb: 'get' }), 1, 'one GET');
  t.equal(api.count(), 1, 'and nothing else');
  t.equal(store.memory().heldSecrets, 1);
});

t.test('a rotated served Secret: its data dropped, onChange fired, the next read one GET; deleted: nothing held', async (t) => {
  const { store, api, changes } = await setup(t, { api: await seeded() });
  await watchesUp(api);
  await store.getSecret('argocd', 'plain');
  api.resetRequests();
  api.putSecret('argocd', 'plain', { creds: 'bot:rotated' });
  await waitFor('the rotation', () => changes.length > 0);
  t.same(changes, [['secret', 'argocd', 'plain']]);
  t.equal(store.memory().heldSecrets, 0, 'the old data is dropped when the watch reports the new resourceVersion');
  t.equal((await store.getSecret('argocd', 'plain'))?.data.creds?.toString(), 'bot:rotated');
  t.equal((await store.getSecret('argocd', 'plain'))?.resourceVersion, api.get('secrets', 'argocd', 'plain')?.metadata.resourceVersion);
  t.equal(api.count({ verb: 'get' }), 1, 'one GET for the new version, then memory');

  api.putSecret('argocd', 'unread', { k: 'v' });
  await waitFor('the unread change', () => changes.length > 1);
  t.equal(api.count({ verb: 'get' }), 1, 'a change of a Secret nobody reads costs no request');

  api.delete('secrets', 'argocd', 'plain');
  await waitFor('the deletion', () => changes.length > 2);
  t.equal(store.memory().heldSecrets, 0);
  t.equal(await store.getSecret('argocd', 'plain'), undefined);
  t.equal(api.count({ verb: 'get' }), 1, 'a deleted Secret is not found without a request');
});

t.test('the byte budget evicts the least recently used Secret data', async (t) => {
  const api = await startFakeKubeApi();
  const data = { v: 'x'.repeat(1000) };
  for (let i = 0; i < 4; i++) api.putSecret('argocd', `s${i}`, data);
  const one = heldSize('argocd', 's0', data);
  const { store } = await setup(t, { api, namespaces: ['argocd'], maxCacheBytes: 3 * one + 10 });
  const read = async (i: number) => (await store.getSecret('argocd', `s${i}`))?.data.v?.length;
  const gets = (i: number) => api.count({ verb: 'get', name: `s${i}` });
  for (const i of [0, 1, 2, 0]) t.equal(await read(i), 1000);
  t.same(store.memory(), { knownSecrets: 4, heldSecrets: 3, heldBytes: 3 * one }, 'three fit');
  t.equal(gets(0), 1, 's0 read twice, fetched once');
  await read(3);
  t.same(store.memory(), { knownSecrets: 4, heldSecrets: 3, heldBytes: 3 * one }, 'the budget holds');
  await read(0);
  t.equal(gets(0), 1, 's0, recently used, was kept');
  await read(1);
  t.equal(gets(1), 2, 's1, least recently used, was evicted and read again');
  await read(2);
  t.equal(gets(2), 2, 'reading s1 evicted s2, the next least recently used');
});

t.test('a GET that fails: a coded error, no secret value, nothing held; answered again once the API is back', async (t) => {
  const { store, api, logs } = await setup(t, { api: await seeded() });
  api.forbid('get', 'secrets', 'argocd');
  const denied = await store.getSecret('argocd', 'plain').catch((e: Error) => e);
  t.match(denied, { code: 'KUBERNETES_FORBIDDEN', message: 'the service account may not get secrets in namespace argocd' });
  api.allow('get', 'secrets', 'argocd');
  api.unavailable();
  const down = await store.getSecret('argocd', 'plain').catch((e: Error) => e);
  t.match(down, { code: 'KUBERNETES_UNAVAILABLE', message: /answered 503 to get secrets in namespace argocd/ });
  t.equal(store.memory().heldSecrets, 0);
  api.up();
  t.equal((await store.getSecret('argocd', 'plain'))?.data.creds?.toString(), `bot:${SECRET}`);
  noSecretIn(t, 'the errors', `${String(denied)} ${String(down)}`);
  noSecretIn(t, 'the logs', JSON.stringify(logs));
});

t.test('a Secret over the size bound costs one GET, then is refused from memory until it changes', async (t) => {
  const api = await seeded();
  api.putSecret('argocd', 'huge', { blob: 'x'.repeat(2 * KB), creds: `bot:${SECRET}` });
  const { store, logs } = await setup(t, { api, maxSecretBytes: KB });
  api.resetRequests();
  for (let i = 0; i < 3; i++) await t.rejects(store.getSecret('argocd', 'huge'), { code: 'MALFORMED_CREDENTIALS' });
  t.equal(api.count({ verb: 'get' }), 1, 'read once');
  t.equal(store.memory().heldSecrets, 0, 'not held');
  noSecretIn(t, 'the logs', JSON.stringify(logs));
});

t.test('a continue token that expired mid-list (410) starts the list over from the first page', async (t) => {
  const api = await startFakeKubeApi();
  for (let i = 0; i < 7; i++) api.putSecret('argocd', `s${i}`, { i: String(i) });
  let compacted = false;
  api.beforeAnswer((r) => {
    if (!compacted && r.resource === 'secrets' && r.verb === 'list' && r.query.get('continue') !== null) {
      compacted = true;
      api.putSecret('argocd', 's7', { i: '7' });
      api.compact();
    }
  });
  const { store, changes } = await setup(t, { api, pageSize: 3, namespaces: ['argocd'] });
  const lists = api.requests.filter((r) => r.resource === 'secrets' && r.verb === 'list');
  t.same(lists.map((r) => r.query.get('continue') === null ? 'first' : 'next'), ['first', 'next', 'first', 'next', 'next'],
    'page 1, the expired page 2 (410), then pages 1-3 again');
  t.equal(store.status().synced, true);
  t.equal(store.memory().knownSecrets, 8, 'each Secret known once, the one added meanwhile too');
  t.same(changes, [], 'the first sync fires nothing');
  t.equal((await store.getSecret('argocd', 's6'))?.data.i?.toString(), '6');
});
