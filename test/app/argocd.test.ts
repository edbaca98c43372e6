import t, { type Test } from 'tap';
import { eventually } from '../helpers/app.js';
import { FakeArgocd } from '../helpers/fake-argocd.js';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { DOCKER_CONFIG_JSON, dockerConfigJson, explain, kubeApp, resolve } from '../helpers/kube-app.js';

const REGISTRY_PASS = 'registry-level-pass-1a1a';
const IMAGE_PASS = 'image-level-pass-2b2b';
const APP_PASS = 'app-wide-pass-3c3c';
const NEW_PASS = 'new-alias-pass-4d4d';
const ARGOCD_TOKEN = 'argocd-test-token';
const SECRET_VALUES = [REGISTRY_PASS, IMAGE_PASS, APP_PASS, NEW_PASS];

const A = 'argocd-image-updater.argoproj.io';
const ANNOTATIONS: Record<string, string> = {
  [`${A}/image-list`]: 'app=ghcr.io/org/app:~1.2, tools/cli=ghcr.io/org/cli, plain=ghcr.io/org/plain',
  [`${A}/app.pull-secret`]: 'pullsecret:argocd/app-pull',
  [`${A}/pull-secret`]: 'secret:argocd/app-wide#creds'
};

const CONF = `registries:
  - name: GitHub
    prefix: ghcr.io
    credentials: pullsecret:argocd/registry-pull
`;

async function seededApi (): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  api.putSecret('argocd', 'registry-pull', dockerConfigJson({ 'ghcr.io': { username: 'registry-user', password: REGISTRY_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('argocd', 'app-pull', dockerConfigJson({ 'ghcr.io/org': { username: 'image-user', password: IMAGE_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('argocd', 'new-pull', dockerConfigJson({ 'ghcr.io': { username: 'new-user', password: NEW_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('argocd', 'app-wide', { creds: `app-user:${APP_PASS}` });
  return api;
}

function noSecretsLogged (t: Test, logs: string[], tokens: string[] = []): void {
  for (const v of [...SECRET_VALUES, ...tokens]) t.notOk(logs.some((l) => l.includes(v)), `${v} never logged`);
}

/** The resolution rules, the same whichever API the Applications come from. */
async function checkResolution (t: Test, app: import('fastify').FastifyInstance): Promise<void> {
  const alias = await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo' });
  t.equal(alias.statusCode, 200, 'alias level');
  t.match(alias.json(), {
    source: { type: 'pullsecret', ref: 'pullsecret:argocd/app-pull', level: 'image' },
    username: 'image-user',
    password: IMAGE_PASS,
    matchedKey: 'ghcr.io/org'
  });

  const wide = await resolve(app, { image: 'ghcr.io/org/cli:2', application: 'demo' });
  t.equal(wide.statusCode, 200, 'application-wide level');
  t.match(wide.json(), { source: { type: 'secret', ref: 'secret:argocd/app-wide#creds', level: 'application' }, username: 'app-user', password: APP_PASS });

  const unlisted = await resolve(app, { image: 'ghcr.io/org/unlisted:1', application: 'demo' });
  t.equal(unlisted.statusCode, 200, 'an image not in the image-list falls through');
  t.match(unlisted.json(), { source: { ref: 'pullsecret:argocd/registry-pull', level: 'registry' }, password: REGISTRY_PASS });

  const noApp = await resolve(app, { image: 'ghcr.io/org/app:1.2.3' });
  t.match(noApp.json(), { source: { level: 'registry' }, password: REGISTRY_PASS }, 'without an application, the registry level');

  const missing = await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'no-such-app' });
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { code: 'APPLICATION_NOT_FOUND', message: /no-such-app/ });

  const requestWins = await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo', credentials: 'pullsecret:argocd/new-pull' });
  t.match(requestWins.json(), { source: { level: 'request' }, username: 'new-user' }, 'the request override still comes first');

  const ex = await explain(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo' });
  t.equal(ex.statusCode, 200);
  const body = ex.json();
  t.notOk(ex.body.includes(IMAGE_PASS), 'explain shows no secret value');
  t.match(body, { source: { level: 'image', ref: 'pullsecret:argocd/app-pull' }, match: { key: 'ghcr.io/org' }, outcome: { ok: true } });
  const steps = body.steps as Array<{ level: string, taken: boolean, reason: string }>;
  t.match(steps[0], { level: 'request', taken: false });
  t.ok(steps.some((s) => s.level === 'image' && s.taken && /image-list/.test(s.reason) && /app=ghcr.io\/org\/app/.test(s.reason)), 'the image-list step');
  t.ok(steps.some((s) => s.level === 'image' && s.taken && /app\.pull-secret/.test(s.reason)), 'the alias pull-secret step');
  t.ok(steps.some((s) => s.level === 'application' && !s.taken && /image-level pull secret wins/.test(s.reason)), 'the application step, skipped');

  const exWide = (await explain(app, { image: 'ghcr.io/org/cli', application: 'demo' })).json();
  const wideSteps = exWide.steps as Array<{ level: string, taken: boolean, reason: string }>;
  t.ok(wideSteps.some((s) => s.level === 'image' && !s.taken && /tools_cli\.pull-secret/.test(s.reason)), 'an alias with "/" is looked up with "_"');
  t.ok(wideSteps.some((s) => s.level === 'application' && s.taken && /pull-secret/.test(s.reason)));

  const exUnlisted = (await explain(app, { image: 'ghcr.io/org/unlisted', application: 'demo' })).json();
  t.match(exUnlisted, { source: { level: 'registry' } });
  t.ok((exUnlisted.steps as Array<{ level: string, taken: boolean, reason: string }>).some((s) => !s.taken && /falls through to the registry level/.test(s.reason)));

  const exMissing = (await explain(app, { image: 'ghcr.io/org/app', application: 'no-such-app' })).json();
  t.match(exMissing.outcome, { ok: false, code: 'APPLICATION_NOT_FOUND' });
}

t.test('APPLICATIONS_API=kubernetes: Application custom resources', async (t) => {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  api.putApplication('argocd', 'demo', ANNOTATIONS, { project: 'default' });
  api.putApplication('team-apps', 'other', { [`${A}/image-list`]: 'ghcr.io/org/app', [`${A}/pull-secret`]: 'pullsecret:argocd/new-pull' });
  const { app, logs } = await kubeApp(t, { api, conf: CONF });

  await checkResolution(t, app);

  const elsewhere = await resolve(app, { image: 'ghcr.io/org/app', application: 'other', applicationNamespace: 'team-apps' });
  t.match(elsewhere.json(), { source: { level: 'application' }, username: 'new-user' }, 'an Application in another namespace');
  t.ok(api.count({ resource: 'applications', namespace: 'team-apps', name: 'other', verb: 'get' }) >= 1, 'read with a get in that namespace');

  // an annotation change takes effect within five seconds
  api.putApplication('argocd', 'demo', { ...ANNOTATIONS, [`${A}/app.pull-secret`]: 'pullsecret:argocd/new-pull' }, { project: 'default' });
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo' })).json().username === 'new-user', 7000),
    'the changed alias pull-secret is used');
  api.putApplication('argocd', 'demo', { [`${A}/image-list`]: 'ghcr.io/org/app' }, { project: 'default' });
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo' })).json().source?.level === 'registry', 7000),
    'removed annotations fall through to the registry level');

  const status = await app.inject({ method: 'GET', url: '/v1/auth/status' });
  t.equal(status.statusCode, 200);
  t.match(status.json().applications, { api: 'kubernetes', ok: true, detail: { canGetApplications: true, namespace: 'argocd' } });

  api.forbid('get', 'applications', 'argocd');
  const refused = await app.inject({ method: 'GET', url: '/v1/auth/status' });
  t.match(refused.json().applications, { api: 'kubernetes', ok: false, detail: { canGetApplications: false } });
  const forbidden = await resolve(app, { image: 'ghcr.io/org/app', application: 'fresh-name' });
  t.equal(forbidden.statusCode, 502, 'reading Applications refused by the API');
  t.equal(forbidden.json().code, 'KUBERNETES_FORBIDDEN');
  t.match(forbidden.json().message, /get applications\.argoproj\.io in namespace argocd/);
  api.allow('get', 'applications', 'argocd');

  noSecretsLogged(t, logs, ['fake-sa-token']);
});

async function argocdSetup (t: Test, opts: { token?: string } = {}) {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const argocd = await FakeArgocd.start();
  t.teardown(async () => await argocd.close());
  argocd.setApplication({ name: 'demo', annotations: ANNOTATIONS });
  const built = await kubeApp(t, {
    api,
    conf: CONF,
    settingsEnv: {
      APPLICATIONS_API: 'argocd',
      ARGOCD_SERVER: argocd.address,
      ARGOCD_PLAINTEXT: 'true',
      ARGOCD_TOKEN: opts.token ?? ARGOCD_TOKEN
    }
  });
  return { ...built, api, argocd };
}

t.test('APPLICATIONS_API=argocd: the Argo CD REST API', async (t) => {
  const { app, api, argocd, logs } = await argocdSetup(t);

  await checkResolution(t, app);
  t.ok(argocd.count('/api/v1/applications/{name}') >= 1, 'Applications were read from Argo CD');
  t.equal(api.count({ resource: 'applications' }), 0, 'and not from the Kubernetes API');
  t.ok(argocd.requests.every((r) => r.token === ARGOCD_TOKEN), 'with the configured token');

  // an annotation change takes effect within five seconds
  argocd.setApplication({ name: 'demo', annotations: { ...ANNOTATIONS, [`${A}/app.pull-secret`]: 'pullsecret:argocd/new-pull' } });
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo' })).json().username === 'new-user', 7000),
    'the changed alias pull-secret is used');

  const status = await app.inject({ method: 'GET', url: '/v1/auth/status' });
  t.equal(status.statusCode, 200);
  t.match(status.json().applications, {
    api: 'argocd',
    ok: true,
    detail: { server: argocd.address, authenticated: true, username: 'credbroker', canGetApplications: true, version: 'v3.1.0+fake' }
  });
  t.notOk(status.body.includes(ARGOCD_TOKEN), 'the status never shows the token');

  argocd.canGetApplications = false;
  const cannot = await app.inject({ method: 'GET', url: '/v1/auth/status' });
  t.match(cannot.json().applications, { ok: false, detail: { authenticated: true, canGetApplications: false } });
  argocd.canGetApplications = true;

  // Argo CD down: unavailable answers, then dropped connections
  for (const mode of ['unavailable', 'reset'] as const) {
    argocd.mode = mode;
    const down = await resolve(app, { image: 'ghcr.io/org/app', application: `not-cached-${mode}` });
    t.equal(down.statusCode, 503, `${mode}: 503`);
    t.equal(down.json().code, 'ARGOCD_UNAVAILABLE', `${mode}: ARGOCD_UNAVAILABLE`);
    t.match(down.json().message, new RegExp(argocd.address.replace(/\./g, '\\.')), `${mode}: names the server`);
    const ex = (await explain(app, { image: 'ghcr.io/org/app', application: `not-cached-${mode}` })).json();
    t.match(ex.outcome, { ok: false, code: 'ARGOCD_UNAVAILABLE' }, `${mode}: explain says so`);
    const st = (await app.inject({ method: 'GET', url: '/v1/auth/status' })).json();
    t.match(st.applications, { api: 'argocd', ok: false, detail: { authenticated: false, error: String } }, `${mode}: status says so`);
  }
  argocd.mode = 'up';
  t.ok(await eventually(async () => (await resolve(app, { image: 'ghcr.io/org/app:1.2.3', application: 'demo' })).statusCode === 200),
    'served again once Argo CD is back');

  noSecretsLogged(t, logs, [ARGOCD_TOKEN, 'fake-sa-token']);
});

t.test('APPLICATIONS_API=argocd with a token Argo CD refuses', async (t) => {
  const { app, logs } = await argocdSetup(t, { token: 'revoked-argocd-token-7e7e' });
  const res = await resolve(app, { image: 'ghcr.io/org/app', application: 'demo' });
  t.equal(res.statusCode, 503, 'a refused token is not mistaken for a missing Application');
  t.match(res.json(), { code: 'ARGOCD_UNAVAILABLE', message: /refused the token \(401\)/ });
  t.notOk(res.body.includes('revoked-argocd-token-7e7e'));
  const status = (await app.inject({ method: 'GET', url: '/v1/auth/status' })).json();
  t.match(status.applications, { api: 'argocd', ok: false, detail: { authenticated: false, canGetApplications: false } });
  t.notOk(JSON.stringify(status).includes('revoked-argocd-token-7e7e'));
  noSecretsLogged(t, logs, ['revoked-argocd-token-7e7e']);
});
