import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { KubernetesSecretStore } from '../../src/kube/api-store.js';
import { createKubeConfig, kubeRequest, statusOf, toKubeError } from '../../src/kube/client.js';
import { createMetrics } from '../../src/metrics.js';
import { selfSignedCert, startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { requireTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/poll.js';

const SECRET = 'Zm9vYmFy-secret-value';

function tmp (tt: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


function failure (p: Promise<unknown>): Promise<Error> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: Error) => e);
}

function listSecrets (kc: KubeConfig, ns: string, metrics?: ReturnType<typeof createMetrics>, timeoutMs?: number) {
  const api = kc.makeApiClient(CoreV1Api);
  return kubeRequest({ verb: 'list', resource: 'secrets', namespace: ns },
    (o) => api.listNamespacedSecretWithHttpInfo({ namespace: ns }, o), { metrics, timeoutMs });
}

async function kubeconfigFor (tt: Test, api: FakeKubeApi, token?: string): Promise<KubeConfig> {
  const file = join(tmp(tt), 'config');
  api.writeKubeconfig(file, token);
  return createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: file, serviceAccountDir: '/nonexistent' });
}

async function counter (metrics: ReturnType<typeof createMetrics>, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'credbroker_kubernetes_requests_total');
  return (m?.values ?? []).filter((x) => Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l))
    .reduce((a, x) => a + x.value, 0);
}

t.test('in-cluster: CA and token from the ServiceAccount folder over HTTPS; a rotated token is used', async (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const cert = selfSignedCert();
  const api = await startFakeKubeApi({ tls: cert, tokens: ['token-one'] });
  t.teardown(() => api.close());
  api.putSecret('argocd', 'ghcr', { creds: `bot:${SECRET}` });
  const dir = tmp(t);
  writeFileSync(join(dir, 'token'), 'token-one\n');
  writeFileSync(join(dir, 'ca.crt'), cert.cert);
  writeFileSync(join(dir, 'namespace'), 'argocd');
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
  const kc = createKubeConfig({ kubeMode: 'in-cluster', serviceAccountDir: dir }, { env, tokenRefreshMs: 0 });
  t.equal(kc.getCurrentCluster()?.server, `https://127.0.0.1:${api.port}`);

  const list = await listSecrets(kc, 'argocd');
  t.equal(list.items.length, 1);
  t.equal(api.requests.at(-1)?.token, 'token-one', 'the token file is sent, without its newline');

  const metrics = createMetrics({ defaultMetrics: false });
  const store = new KubernetesSecretStore({ kubeConfig: kc, namespaces: ['argocd'], metrics, initialBackoffMs: 20, maxBackoffMs: 100 });
  t.teardown(() => store.close());
  await store.start();
  await waitFor('watches', () => api.watchCount === 2);

  // the kubelet rotates the projected token; the old one stops working
  writeFileSync(join(dir, 'token'), 'token-two');
  api.tokens.clear();
  api.tokens.add('token-two');
  api.resetRequests();
  await listSecrets(kc, 'argocd');
  t.equal(api.requests.at(-1)?.token, 'token-two', 'the next request carries the new token');
  api.dropWatches();
  await waitFor('watches back', () => api.watchCount === 2);
  const rewatches = api.requests.filter((r) => r.verb === 'watch');
  t.ok(rewatches.length >= 2 && rewatches.every((r) => r.token === 'token-two'), 'watches reconnect with the new token');
  api.putSecret('argocd', 'ghcr', { creds: 'bot:new' });
  let seen = '';
  store.onChange(() => { void store.getSecret('argocd', 'ghcr').then((s) => { seen = s?.data.creds?.toString() ?? ''; }); });
  await waitFor('the change through the new watch', () => seen === 'bot:new');
  t.equal(await counter(metrics, { code: '401' }), 0, 'no request was refused');
});

t.test('in-cluster: a token is re-read at most every tokenRefreshMs', async (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const cert = selfSignedCert();
  const api = await startFakeKubeApi({ tls: cert, tokens: ['a', 'b'] });
  t.teardown(() => api.close());
  const dir = tmp(t);
  writeFileSync(join(dir, 'token'), 'a');
  writeFileSync(join(dir, 'ca.crt'), cert.cert);
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
  const kc = createKubeConfig({ kubeMode: 'in-cluster', serviceAccountDir: dir }, { env, tokenRefreshMs: 60_000 });
  await listSecrets(kc, 'argocd');
  writeFileSync(join(dir, 'token'), 'b');
  await listSecrets(kc, 'argocd');
  t.same(api.requests.map((r) => r.token), ['a', 'a'], 'the file is not read on every request');
});

t.test('in-cluster: the server certificate is checked against ca.crt', async (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const api = await startFakeKubeApi({ tls: selfSignedCert() });
  t.teardown(() => api.close());
  const dir = tmp(t);
  writeFileSync(join(dir, 'token'), 'fake-sa-token');
  writeFileSync(join(dir, 'ca.crt'), selfSignedCert().cert);
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
  const kc = createKubeConfig({ kubeMode: 'in-cluster', serviceAccountDir: dir }, { env });
  const err = await failure(listSecrets(kc, 'argocd'));
  t.match(err, { code: 'KUBERNETES_UNAVAILABLE', message: /did not answer .* to list secrets in namespace argocd/ });
  t.equal(api.count(), 0, 'no request reached the server');
});

t.test('in-cluster and kubeconfig settings problems are ConfigErrors naming the setting', async (t) => {
  const dir = tmp(t);
  t.throws(() => createKubeConfig({ kubeMode: 'in-cluster', serviceAccountDir: dir }, { env: {} }),
    { name: 'ConfigError', setting: 'KUBE_MODE', message: /KUBERNETES_SERVICE_HOST/ });
  t.throws(() => createKubeConfig({ kubeMode: 'in-cluster', serviceAccountDir: dir }, { env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' } }),
    { setting: 'KUBE_MODE', message: /token/ });
  t.throws(() => createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: join(dir, 'missing'), serviceAccountDir: dir }),
    { setting: 'KUBECONFIG', message: /no kubeconfig/ });
  const bad = join(dir, 'bad');
  writeFileSync(bad, `users:\n- name: x\n  user:\n    token: ${SECRET}\n  : : [\n`);
  const err = (() => { try { createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: bad, serviceAccountDir: dir }); } catch (e) { return e as Error; } })();
  t.match(err, { setting: 'KUBECONFIG', message: /is not a valid kubeconfig/ });
  t.notMatch(String(err?.message), SECRET, 'the file content is not quoted');
  const plain = join(dir, 'plain');
  writeFileSync(plain, 'clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n');
  t.throws(() => createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: plain, serviceAccountDir: dir }),
    { setting: 'KUBECONFIG', message: /insecure-skip-tls-verify/ });
  t.throws(() => createKubeConfig({ kubeMode: 'local', serviceAccountDir: dir }), { name: 'ConfigError', setting: 'KUBE_MODE' });
});

t.test('kubeconfig over plain http; requests counted by verb, resource and status', async (t) => {
  const api = await startFakeKubeApi();
  t.teardown(() => api.close());
  api.putSecret('argocd', 'x', { creds: `bot:${SECRET}` });
  const kc = await kubeconfigFor(t, api);
  const metrics = createMetrics({ defaultMetrics: false });
  const list = await listSecrets(kc, 'argocd', metrics);
  t.equal(list.items[0]?.metadata?.name, 'x');
  t.equal(api.requests[0]?.token, 'fake-sa-token');
  t.equal(await counter(metrics, { verb: 'list', resource: 'secrets', code: '200' }), 1);
});

t.test('errors: 403 names verb, resource and namespace; 401 and outages are unavailable; no body leaks', async (t) => {
  const api = await startFakeKubeApi();
  t.teardown(() => api.close());
  api.putSecret('team-b', 'x', { creds: `bot:${SECRET}` });
  const metrics = createMetrics({ defaultMetrics: false });
  const kc = await kubeconfigFor(t, api);

  api.forbid('list', 'secrets', 'team-b');
  const forbidden = await failure(listSecrets(kc, 'team-b', metrics));
  t.match(forbidden, { code: 'KUBERNETES_FORBIDDEN', statusCode: 502, message: 'the service account may not list secrets in namespace team-b' });
  t.equal(statusOf(forbidden), 403);
  t.equal(await counter(metrics, { verb: 'list', code: '403' }), 1);

  const wrong = await kubeconfigFor(t, api, 'expired-token');
  const unauth = await failure(listSecrets(wrong, 'argocd', metrics));
  t.match(unauth, { code: 'KUBERNETES_UNAVAILABLE', statusCode: 503, message: /401 Unauthorized.*list secrets in namespace argocd/ });
  t.notMatch(unauth.message, 'expired-token');

  api.setLatency(1000);
  const slow = await failure(listSecrets(kc, 'argocd', metrics, 100));
  t.match(slow, { code: 'KUBERNETES_UNAVAILABLE', message: /did not answer \(timed out\)/ });
  api.setLatency(0);

  api.down();
  const down = await failure(listSecrets(kc, 'argocd', metrics));
  t.match(down, { code: 'KUBERNETES_UNAVAILABLE', message: /did not answer \(E[A-Z]+|connection failed/ });
  t.equal(await counter(metrics, { verb: 'list', code: 'error' }), 2, 'failures without an answer count as error');

  for (const e of [forbidden, unauth, slow, down]) {
    t.notMatch(e.message, /Status|Failure|HTTP-Code|Body|Headers|User "/, 'no API text in ' + e.message);
    t.notMatch(e.message, SECRET);
  }
});

t.test('toKubeError never keeps an ApiException message or body', async (t) => {
  const body = { kind: 'Status', message: `oops ${SECRET}` };
  const e500 = toKubeError(new ApiException(500, 'Internal', body, { authorization: `Bearer ${SECRET}` }), { verb: 'get', resource: 'secrets', namespace: 'a' });
  t.match(e500, { code: 'KUBERNETES_UNAVAILABLE', message: 'the Kubernetes API answered 500 to get secrets in namespace a' });
  const e403 = toKubeError(new ApiException(403, 'Forbidden', body, {}), { verb: 'watch', resource: 'secrets' });
  t.equal(e403.message, 'the service account may not watch secrets cluster-wide');
  t.equal(statusOf(e403), 403);
  for (const e of [e500, e403]) {
    t.notMatch(e.message, SECRET);
    t.notMatch(JSON.stringify(e), SECRET);
  }
});

t.test('the fake speaks the wire format of client-node: custom resources, Watch, bookmarks, 410', async (t) => {
  const api = await startFakeKubeApi();
  t.teardown(() => api.close());
  const kc = await kubeconfigFor(t, api);
  api.putApplication('argocd', 'guestbook', { 'argocd-image-updater.argoproj.io/image-list': 'app=ghcr.io/org/app' });
  const custom = kc.makeApiClient(CustomObjectsApi);
  const list = await custom.listNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'argocd', plural: 'applications' }) as
    { kind: string, metadata: { resourceVersion: string }, items: Array<{ metadata: { name: string } }> };
  t.equal(list.kind, 'ApplicationList');
  t.same(list.items.map((i) => i.metadata.name), ['guestbook']);
  const one = await custom.getNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'argocd', plural: 'applications', name: 'guestbook' }) as
    { kind: string, metadata: { annotations: Record<string, string> } };
  t.equal(one.kind, 'Application');
  const missing = await custom.getNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'argocd', plural: 'applications', name: 'nope' })
    .catch((e: unknown) => e);
  t.ok(missing instanceof ApiException && missing.code === 404);

  const events: string[] = [];
  let ended = false;
  const watch = new Watch(kc);
  const ctl = await watch.watch('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications',
    { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true },
    (type, obj: { metadata?: { name?: string } }) => events.push(`${type} ${obj.metadata?.name ?? ''}`),
    () => { ended = true; });
  await waitFor('the watch', () => api.watchCount === 1);
  api.putApplication('argocd', 'guestbook', {});
  api.bookmark();
  api.delete('applications', 'argocd', 'guestbook');
  await waitFor('events', () => events.length === 3);
  t.same(events, ['MODIFIED guestbook', 'BOOKMARK ', 'DELETED guestbook']);
  ctl.abort();

  api.compact();
  const gone: Array<{ type: string, code?: number, reason?: string }> = [];
  await watch.watch('/apis/argoproj.io/v1alpha1/namespaces/argocd/applications',
    { resourceVersion: list.metadata.resourceVersion },
    (type, obj: { code?: number, reason?: string }) => gone.push({ type, code: obj.code, reason: obj.reason }),
    () => { ended = true; });
  await waitFor('the end of the expired watch', () => ended && gone.length === 1);
  t.same(gone, [{ type: 'ERROR', code: 410, reason: 'Expired' }]);
});
