import t from 'tap';
import { eventually } from '../helpers/app.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import { DOCKER_CONFIG_JSON, dockerConfigJson, kubeApp, resolve } from '../helpers/kube-app.js';

const HUB_PASS = 'hub-pass-0f9e1d';
const GHCR_PASS = 'ghcr:pass-with:colons-77aa';
const INT_PASS = 'int-pass-3c2b1a';
const TEAM_B_PASS = 'team-b-pass-9d8c7b';
const CHANGED_PASS = 'changed-pass-5e4f3a';

const CONF = `registries:
  - name: Docker Hub
    prefix: docker.io
    api_url: https://registry-1.docker.io
    defaultns: library
    default: true
    credentials: pullsecret:argocd/hub
  - name: GitHub
    prefix: ghcr.io
    credentials: secret:argocd/ghcr#creds
  - name: Internal
    prefix: registry.example.com:5000
    credentials: serviceaccount:argocd/puller
  - name: Team B
    prefix: quay.io/team-b
    credentials: pullsecret:team-b/pull
  - name: Elsewhere
    prefix: elsewhere.example.com
    credentials: pullsecret:team-c/pull
`;

async function seededApi () {
  const api = await startFakeKubeApi();
  api.putSecret('argocd', 'hub', dockerConfigJson({ 'https://index.docker.io/v1/': { username: 'hub-user', password: HUB_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('argocd', 'ghcr', { creds: `ghcr-user:${GHCR_PASS}` });
  api.putSecret('argocd', 'internal', dockerConfigJson({ 'registry.example.com:5000': { username: 'int-user', password: INT_PASS } }), DOCKER_CONFIG_JSON);
  api.putServiceAccount('argocd', 'puller', ['missing', 'internal']);
  api.putSecret('team-b', 'pull', dockerConfigJson({ 'quay.io': { username: 'team-b-user', password: TEAM_B_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('team-c', 'pull', dockerConfigJson({ 'elsewhere.example.com': { username: 'c', password: 'team-c-pass' } }), DOCKER_CONFIG_JSON);
  return api;
}

t.test('pullsecret, secret and serviceaccount references resolve from the Kubernetes API', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const { app, logs } = await kubeApp(t, { api, conf: CONF });
  const cases: Array<[string, string, string, string]> = [
    ['nginx:1.25', 'pullsecret:argocd/hub', 'hub-user', HUB_PASS],
    ['ghcr.io/org/app:1.2', 'secret:argocd/ghcr#creds', 'ghcr-user', GHCR_PASS],
    ['registry.example.com:5000/a/b', 'serviceaccount:argocd/puller', 'int-user', INT_PASS]
  ];
  for (const [image, ref, username, password] of cases) {
    const res = await resolve(app, { image });
    t.equal(res.statusCode, 200, `${image}: 200`);
    const body = res.json();
    t.match(body, { source: { ref, level: 'registry' }, username, password, cached: false, stale: false }, image);
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const again = await resolve(app, { image: 'nginx:1.25' });
  t.equal(again.json().cached, true, 'the second ask is a cache hit');

  // a Secret that does not exist in an allowed namespace
  const conf2 = await resolve(app, { image: 'ghcr.io/x/y', credentials: 'secret:argocd/nope#creds' });
  t.equal(conf2.statusCode, 502);
  t.equal(conf2.json().code, 'SECRET_NOT_FOUND');

  for (const [, , , password] of cases) t.notOk(logs.some((l) => l.includes(password)), 'no secret value in the log');
  t.notOk(logs.some((l) => l.includes('fake-sa-token')), "the service's own token is not logged");
});

t.test('a changed Secret is served within a second; a deleted one is SECRET_NOT_FOUND', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const { app } = await kubeApp(t, { api, conf: CONF });
  t.equal((await resolve(app, { image: 'ghcr.io/org/app' })).json().password, GHCR_PASS);
  t.equal((await resolve(app, { image: 'nginx' })).json().password, HUB_PASS);

  api.putSecret('argocd', 'ghcr', { creds: `ghcr-user:${CHANGED_PASS}` });
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app' })).json().password === CHANGED_PASS),
    'the new value is served');
  const after = (await resolve(app, { image: 'ghcr.io/org/app' })).json();
  t.equal(after.cached, true, 'and cached again');
  t.equal(after.username, 'ghcr-user');

  api.putSecret('argocd', 'hub', dockerConfigJson({ 'docker.io': { username: 'hub-user-2', password: CHANGED_PASS } }), DOCKER_CONFIG_JSON);
  t.ok(await eventually(async () => (await resolve(app, { image: 'nginx' })).json().username === 'hub-user-2'), 'a changed pull secret too');

  api.delete('secrets', 'argocd', 'ghcr');
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app' })).statusCode === 502), 'the deletion is seen');
  const gone = await resolve(app, { image: 'ghcr.io/org/app' });
  t.match(gone.json(), { statusCode: 502, code: 'SECRET_NOT_FOUND', message: /argocd\/ghcr/ });

  // a ServiceAccount's pull secret changing invalidates the serviceaccount: reference
  t.equal((await resolve(app, { image: 'registry.example.com:5000/a/b' })).json().password, INT_PASS);
  api.putSecret('argocd', 'missing', dockerConfigJson({ 'registry.example.com:5000': { username: 'first', password: CHANGED_PASS } }), DOCKER_CONFIG_JSON);
  t.ok(await eventually(async () => (await resolve(app, { image: 'registry.example.com:5000/a/b' })).json().username === 'first'),
    'an imagePullSecret that appears is used in order');
});

t.test('1,000 resolves in steady state make no API request', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const { app } = await kubeApp(t, { api, conf: CONF });
  for (const image of ['nginx', 'ghcr.io/org/app', 'registry.example.com:5000/a/b']) {
    t.equal((await resolve(app, { image })).statusCode, 200);
  }
  api.resetRequests();
  const images = ['nginx', 'ghcr.io/org/app', 'registry.example.com:5000/a/b', 'ghcr.io/org/other'];
  let ok = 0;
  for (let i = 0; i < 1000; i++) {
    const res = await resolve(app, { image: images[i % images.length] as string });
    if (res.statusCode === 200) ok++;
  }
  t.equal(ok, 1000, 'every resolve answered');
  t.equal(api.count(), 0, 'the fake API saw no request');
  t.same(api.requests.map((r) => `${r.verb} ${r.resource ?? r.path}`), []);
});

t.test('API outage: cached credentials are served stale until CACHE_MAX_STALE, then 503', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const { app, logs } = await kubeApp(t, { api, conf: CONF, settingsEnv: { CACHE_MAX_STALE: '2s' } });
  const first = await resolve(app, { image: 'ghcr.io/org/app' });
  t.match(first.json(), { password: GHCR_PASS, stale: false });

  api.down();
  api.dropWatches();
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app' })).json().stale === true), 'marked stale once the watch is lost');
  const stale = await resolve(app, { image: 'ghcr.io/org/app' });
  t.equal(stale.statusCode, 200);
  t.match(stale.json(), { username: 'ghcr-user', password: GHCR_PASS, cached: true, stale: true });

  const uncached = await resolve(app, { image: 'nginx' });
  t.equal(uncached.statusCode, 503, 'a reference not cached yet is not served during the outage');
  t.equal(uncached.json().code, 'KUBERNETES_UNAVAILABLE');

  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app' })).statusCode === 503, 10_000),
    'past CACHE_MAX_STALE the cached credentials are refused');
  const tooStale = await resolve(app, { image: 'ghcr.io/org/app' });
  t.match(tooStale.json(), { statusCode: 503, code: 'KUBERNETES_UNAVAILABLE', message: /CACHE_MAX_STALE/ });
  t.notOk(tooStale.body.includes(GHCR_PASS));
  const refreshed = await resolve(app, { image: 'ghcr.io/org/app', refresh: true });
  t.equal(refreshed.statusCode, 503, 'refresh: true does not get around CACHE_MAX_STALE');
  t.equal(refreshed.json().code, 'KUBERNETES_UNAVAILABLE');

  api.up();
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app' })).statusCode === 200, 60_000),
    'served again once the API is back');
  t.match((await resolve(app, { image: 'ghcr.io/org/app' })).json(), { password: GHCR_PASS, stale: false });
  t.notOk(logs.some((l) => l.includes(GHCR_PASS) || l.includes(HUB_PASS)), 'no secret value in the log');
});

t.test('403 on a namespace: KUBERNETES_FORBIDDEN, reported by /readyz and /v1/auth/status, still ready', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  api.forbid('list', 'secrets', 'team-b');
  const { app, logs } = await kubeApp(t, { api, conf: CONF, settingsEnv: { SECRET_NAMESPACES: 'argocd,team-b' } });

  t.ok(await eventually(async () => (await resolve(app, { image: 'quay.io/team-b/app' })).json().code === 'KUBERNETES_FORBIDDEN'));
  const res = await resolve(app, { image: 'quay.io/team-b/app' });
  t.equal(res.statusCode, 502);
  t.match(res.json().message, /list/, 'names the verb');
  t.match(res.json().message, /secrets/, 'names the resource');
  t.match(res.json().message, /team-b/, 'names the namespace');
  t.notOk(res.body.includes(TEAM_B_PASS));

  t.equal((await resolve(app, { image: 'ghcr.io/org/app' })).statusCode, 200, 'the other namespace still works');

  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200, 'a forbidden namespace does not make the service unready');
  const store = ready.json().checks.secretStore;
  t.equal(store.ok, true);
  t.match(store.detail.namespaces['team-b'], { forbidden: true, error: /team-b/ });
  t.match(store.detail.namespaces.argocd, { synced: true });

  const status = await app.inject({ method: 'GET', url: '/v1/auth/status' });
  t.equal(status.statusCode, 200);
  const k = status.json().kubernetes;
  t.match(k.identity, { username: api.identity.username, source: 'selfsubjectreview' });
  t.same(k.namespaces.argocd, { get: true, list: true, watch: true });
  t.same(k.namespaces['team-b'], { get: true, list: false, watch: true });
  t.notOk(logs.some((l) => l.includes(TEAM_B_PASS)));
});

t.test('a reference outside SECRET_NAMESPACES is refused without asking the API', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const { app } = await kubeApp(t, { api, conf: CONF, settingsEnv: { SECRET_NAMESPACES: 'argocd,team-b' } });
  api.resetRequests();
  const viaConf = await resolve(app, { image: 'elsewhere.example.com/app' });
  t.equal(viaConf.statusCode, 403);
  t.match(viaConf.json(), { code: 'NAMESPACE_NOT_ALLOWED', message: /team-c/ });
  for (const credentials of ['pullsecret:team-c/pull', 'secret:team-c/pull#x', 'serviceaccount:team-c/default']) {
    const res = await resolve(app, { image: 'ghcr.io/org/app', credentials });
    t.equal(res.statusCode, 403, credentials);
    t.equal(res.json().code, 'NAMESPACE_NOT_ALLOWED', credentials);
  }
  t.equal(api.count({ namespace: 'team-c' }), 0, 'the fake saw no request for team-c');
  t.equal(api.requests.filter((r) => r.path.includes('team-c')).length, 0);
});

t.test('/readyz is 503 before the first sync and 200 after', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  api.down();
  const { app } = await kubeApp(t, { api, conf: CONF, waitReady: false });
  const before = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(before.statusCode, 503);
  t.match(before.json(), { ready: false, checks: { secretStore: { ok: false }, config: { ok: true } } });
  const early = await resolve(app, { image: 'ghcr.io/org/app' });
  t.equal(early.statusCode, 503, 'no credentials before the first sync');
  t.equal(early.json().code, 'KUBERNETES_UNAVAILABLE');

  t.ok(await eventually(async () => {
    const detail = (await app.inject({ method: 'GET', url: '/readyz' })).json().checks.secretStore.detail;
    return typeof detail.namespaces?.argocd?.error === 'string';
  }), 'the failed list is reported');
  const failing = (await app.inject({ method: 'GET', url: '/readyz' })).json();
  t.match(failing.checks.secretStore.detail.namespaces.argocd, { synced: false, error: /list secrets in namespace argocd/ });
  api.up();
  t.ok(await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 30_000), 'ready once synced');
  t.match((await app.inject({ method: 'GET', url: '/readyz' })).json(), { ready: true, checks: { secretStore: { ok: true, detail: { synced: true } } } });
  t.equal((await resolve(app, { image: 'ghcr.io/org/app' })).json().password, GHCR_PASS);
});

t.test('410 Gone: the store re-lists and serves the right values', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const { app } = await kubeApp(t, { api, conf: CONF });
  t.equal((await resolve(app, { image: 'ghcr.io/org/app' })).json().password, GHCR_PASS);
  t.equal((await resolve(app, { image: 'nginx' })).json().password, HUB_PASS);

  // changes the watch cannot see, then history forgotten: resuming the watch gets 410
  api.down();
  api.putSecret('argocd', 'ghcr', { creds: `ghcr-user:${CHANGED_PASS}` });
  api.delete('secrets', 'argocd', 'hub');
  api.compact();
  api.resetRequests();
  api.up();

  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app' })).json().password === CHANGED_PASS, 30_000),
    'the changed value is served after the re-list');
  t.equal((await resolve(app, { image: 'nginx' })).json().code, 'SECRET_NOT_FOUND', 'the vanished one is gone');
  t.ok(api.count({ verb: 'list', resource: 'secrets', namespace: 'argocd' }) >= 1, 'the store listed again');
  api.putSecret('argocd', 'hub', dockerConfigJson({ 'docker.io': { username: 'back', password: HUB_PASS } }), DOCKER_CONFIG_JSON);
  t.ok(await eventually(async () => (await resolve(app, { image: 'nginx' })).json().username === 'back'), 'and watches again afterwards');
});
