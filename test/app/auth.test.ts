import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { eventually } from '../helpers/app.js';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { DOCKER_CONFIG_JSON, dockerConfigJson, kubeApp, resolve } from '../helpers/kube-app.js';

const UPDATER = 'system:serviceaccount:argocd:argocd-image-updater';
const STRANGER = 'system:serviceaccount:default:someone';
const PLATFORM = 'system:serviceaccount:platform:deployer';

// bearer tokens: JWT-shaped, each unique; none may appear in any log line
const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
function jwt (sub: string, tag: string): string {
  return `${b64url({ alg: 'RS256', kid: 'k' })}.${b64url({ sub, aud: ['credbroker'], tag })}.c2lnLSR7dGFnfS1zZWNyZXQ`;
}
const UPDATER_TOKEN = jwt(UPDATER, 'updater-9f8e7d');
const STRANGER_TOKEN = jwt(STRANGER, 'stranger-6c5b4a');
const PLATFORM_TOKEN = jwt(PLATFORM, 'platform-3a2b1c');
const EXPIRED_TOKEN = jwt(UPDATER, 'expired-1a2b3c');
const WRONG_AUD_TOKEN = jwt(UPDATER, 'wrongaud-4d5e6f');
const UNKNOWN_TOKEN = jwt(UPDATER, 'unknown-7a8b9c');
const ALL_TOKENS = [UPDATER_TOKEN, STRANGER_TOKEN, PLATFORM_TOKEN, EXPIRED_TOKEN, WRONG_AUD_TOKEN, UNKNOWN_TOKEN];

const GHCR_PASS = 'ghcr-pass-e1d2c3';
const OVERRIDE_PASS = 'override-pass-b4a5f6';
const QUAY_PASS = 'quay-pass-0a9b8c';
const ENV_PASS = 'env-pass-7d6e5f';
const SECRET_VALUES = [GHCR_PASS, OVERRIDE_PASS, QUAY_PASS, ENV_PASS];

const CONF = `registries:
  - name: GitHub
    prefix: ghcr.io
    credentials: pullsecret:argocd/ghcr
  - name: Quay
    prefix: quay.io
    credentials: secret:argocd/quay#creds
`;

const POLICY = `rules:
  - subjects: ["system:serviceaccount:argocd:*"]
    actions: [resolve, explain, status]
    registries: ["ghcr.io"]
    overrides: ["pullsecret:argocd/*"]
  - subjects: ["group:platform-team"]
    actions: [resolve]
    overrides: ["*", "env:REG_CREDS"]
`;

async function seededApi (): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  api.putSecret('argocd', 'ghcr', dockerConfigJson({ 'ghcr.io': { username: 'ghcr-user', password: GHCR_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('argocd', 'override', dockerConfigJson({ 'ghcr.io': { username: 'override-user', password: OVERRIDE_PASS } }), DOCKER_CONFIG_JSON);
  api.putSecret('argocd', 'quay', { creds: `quay-user:${QUAY_PASS}` });
  const sa = (username: string, groups: string[] = []) => ({ username, uid: 'u-' + username.length, groups: ['system:serviceaccounts', 'system:authenticated', ...groups] });
  api.setTokenReview(UPDATER_TOKEN, { authenticated: true, user: sa(UPDATER), audiences: ['credbroker'] });
  api.setTokenReview(STRANGER_TOKEN, { authenticated: true, user: sa(STRANGER), audiences: ['credbroker'] });
  api.setTokenReview(PLATFORM_TOKEN, { authenticated: true, user: sa(PLATFORM, ['platform-team']), audiences: ['credbroker'] });
  api.setTokenReview(EXPIRED_TOKEN, { authenticated: false, error: '[invalid bearer token, service account token has expired]' });
  api.setTokenReview(WRONG_AUD_TOKEN, { authenticated: true, user: sa(UPDATER), audiences: ['https://kubernetes.default.svc'] });
  return api;
}

async function setup (t: Test, over: { policy?: string } = {}) {
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const built = await kubeApp(t, {
    api,
    conf: CONF,
    policy: over.policy ?? POLICY,
    settingsEnv: { AUTH_MODE: 'kubernetes', AUTH_AUDIENCES: 'credbroker' },
    env: { REG_CREDS: `env-user:${ENV_PASS}`, OTHER_CREDS: `other-user:${ENV_PASS}` }
  });
  return { ...built, api };
}

function assertNothingLeaked (t: Test, logs: string[], extra: string[] = []): void {
  t.ok(logs.length > 0, 'log lines were captured');
  for (const token of [...ALL_TOKENS, 'fake-sa-token', ...extra]) {
    t.notOk(logs.some((l) => l.includes(token)), `token …${token.slice(-12)} never logged`);
  }
  for (const value of SECRET_VALUES) t.notOk(logs.some((l) => l.includes(value)), `secret value ${value} never logged`);
}

t.test('AUTH_MODE=kubernetes: who may ask, checked with TokenReview', async (t) => {
  const { app, api, logs } = await setup(t);
  const img = { image: 'ghcr.io/org/app:1.0' };

  const unauth: Array<[string, Record<string, string>]> = [
    // missing and malformed headers are the caller-auth plugin's (test/http/auth.test.ts); here the API's answers
    ['expired', { authorization: `Bearer ${EXPIRED_TOKEN}` }],
    ['wrong audience', { authorization: `Bearer ${WRONG_AUD_TOKEN}` }],
    ['unknown', { authorization: `Bearer ${UNKNOWN_TOKEN}` }]
  ];
  for (const [what, headers] of unauth) {
    const res = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: img, headers });
    t.equal(res.statusCode, 401, `${what}: 401`);
    t.equal(res.json().code, 'UNAUTHENTICATED', `${what}: UNAUTHENTICATED`);
    t.match(res.headers['www-authenticate'], /^Bearer realm=/, `${what}: challenge`);
    t.notOk(res.body.includes(GHCR_PASS));
    for (const token of ALL_TOKENS) t.notOk(res.body.includes(token), `${what}: no token echoed`);
  }
  t.equal(api.count({ resource: 'tokenreviews' }), 3, 'one TokenReview per token');

  const stranger = await resolve(app, img, STRANGER_TOKEN);
  t.equal(stranger.statusCode, 403, 'a ServiceAccount the policy does not name');
  t.equal(stranger.json().code, 'FORBIDDEN');
  t.match(stranger.json().message, /someone/);

  const ok = await resolve(app, img, UPDATER_TOKEN);
  t.equal(ok.statusCode, 200, 'allowed caller, allowed registry');
  t.match(ok.json(), { username: 'ghcr-user', password: GHCR_PASS, source: { ref: 'pullsecret:argocd/ghcr', level: 'registry' } });

  const other = await resolve(app, { image: 'quay.io/org/app' }, UPDATER_TOKEN);
  t.equal(other.statusCode, 403, 'same caller, other registry');
  t.equal(other.json().code, 'FORBIDDEN');
  t.notOk(other.body.includes(QUAY_PASS));

  const explain = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: img, headers: { authorization: `Bearer ${UPDATER_TOKEN}` } });
  t.equal(explain.statusCode, 200, 'explain is allowed by the rule');
  t.notOk(explain.body.includes(GHCR_PASS), 'explain shows no secret value');
  const invalidate = await app.inject({ method: 'POST', url: '/v1/cache/invalidate', payload: {}, headers: { authorization: `Bearer ${UPDATER_TOKEN}` } });
  t.equal(invalidate.statusCode, 403, 'an action the rule does not list');

  const status = await app.inject({ method: 'GET', url: '/v1/auth/status', headers: { authorization: `Bearer ${UPDATER_TOKEN}` } });
  t.equal(status.statusCode, 200);
  t.match(status.json(), { authMode: 'kubernetes', caller: { name: UPDATER, groups: ['system:serviceaccounts', 'system:authenticated'] } });

  // open endpoints need no token
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);

  const audit = logs.filter((l) => l.includes('"audit":"credential"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(audit.some((a) => a.caller === UPDATER && a.outcome === 'issued' && a.source === 'pullsecret:argocd/ghcr' && a.registry === 'ghcr.io'),
    'the audit line of the issued credential names the caller');
  t.ok(audit.some((a) => a.caller === STRANGER && a.outcome === 'FORBIDDEN'), 'the refusal is audited with the caller too');
  assertNothingLeaked(t, logs);
});

t.test('request overrides by reference type', async (t) => {
  const { app, logs } = await setup(t);
  const ask = async (token: string, credentials: string) => await resolve(app, { image: 'ghcr.io/org/app', credentials }, token);

  const glob = await ask(UPDATER_TOKEN, 'pullsecret:argocd/override');
  t.equal(glob.statusCode, 200, 'a pullsecret allowed by the glob');
  t.match(glob.json(), { username: 'override-user', password: OVERRIDE_PASS, source: { level: 'request', ref: 'pullsecret:argocd/override' } });
  // the type word's case and references a rule does not name: the plugin's (test/http/auth.test.ts)

  // the group rule allows "*" (never env:/ext:) and names one variable explicitly
  const named = await ask(PLATFORM_TOKEN, 'env:REG_CREDS');
  t.equal(named.statusCode, 200, 'an env: reference the policy names');
  t.match(named.json(), { username: 'env-user', password: ENV_PASS, source: { type: 'env', level: 'request' } });
  for (const credentials of ['env:OTHER_CREDS', 'ext:/bin/true']) {
    const res = await ask(PLATFORM_TOKEN, credentials);
    t.equal(res.statusCode, 403, `${credentials}: "*" does not cover it`);
    t.equal(res.json().code, 'OVERRIDE_NOT_ALLOWED');
  }
  const star = await ask(PLATFORM_TOKEN, 'secret:argocd/quay#creds');
  t.equal(star.statusCode, 200, '"*" covers a secret: reference');
  t.equal(star.json().password, QUAY_PASS);

  const notAllowedNs = await ask(PLATFORM_TOKEN, 'pullsecret:kube-system/x');
  t.equal(notAllowedNs.statusCode, 403, 'SECRET_NAMESPACES bounds every caller');
  t.equal(notAllowedNs.json().code, 'NAMESPACE_NOT_ALLOWED');

  const pasted = await ask(PLATFORM_TOKEN, `someuser:${ENV_PASS}`);
  t.equal(pasted.statusCode, 400, 'a pasted user:password is not a reference');
  // src/credentials/reference.ts quotes the whole spec in its messages (a committed unit test pins that text)
  t.notOk(pasted.body.includes(ENV_PASS), 'and is not echoed');
  assertNothingLeaked(t, logs);
});

// how often a token is reviewed (memo, single flight, exp): test/http/auth.test.ts
t.test('a caller costs one TokenReview, made with the service\'s own token, and nothing else', async (t) => {
  const { app, api, logs } = await setup(t);
  api.resetRequests();
  t.equal((await resolve(app, { image: 'ghcr.io/org/app' }, UPDATER_TOKEN)).statusCode, 200);
  t.equal(api.count({ resource: 'tokenreviews' }), 1, 'one TokenReview at the fake');
  t.equal(api.count({ verb: 'get', resource: 'secrets' }), 1, 'the pull secret read once, at its first use');
  t.equal(api.count(), 2, 'and no other request');
  const review = api.requests.find((r) => r.resource === 'tokenreviews');
  t.equal(review?.token, 'fake-sa-token', "the review is made with the service's own token");
  assertNothingLeaked(t, logs);
});

t.test('the Kubernetes API down is 503, not 401, and never shows the token', async (t) => {
  const { app, api, logs } = await setup(t);
  const FRESH_TOKEN = jwt(UPDATER, 'fresh-5e4d3c');
  api.down();
  const down = await resolve(app, { image: 'ghcr.io/org/app' }, FRESH_TOKEN);
  api.up();
  t.equal(down.statusCode, 503);
  t.equal(down.json().code, 'KUBERNETES_UNAVAILABLE');
  t.notOk(down.body.includes(FRESH_TOKEN), 'not in the response');
  assertNothingLeaked(t, logs, [FRESH_TOKEN]);
});

t.test('the policy file is reloaded; a bad edit keeps the last good one', async (t) => {
  const { app, logs, writePolicy } = await setup(t);
  t.equal((await resolve(app, { image: 'quay.io/org/app' }, UPDATER_TOKEN)).statusCode, 403);
  t.equal((await resolve(app, { image: 'ghcr.io/org/app' }, UPDATER_TOKEN)).statusCode, 200);

  writePolicy(POLICY.replace('registries: ["ghcr.io"]', 'registries: ["ghcr.io", "quay.io"]'));
  t.ok(await eventually(async () => (await resolve(app, { image: 'quay.io/org/app' }, UPDATER_TOKEN)).statusCode === 200, 10_000),
    'the edit takes effect');
  t.equal((await resolve(app, { image: 'quay.io/org/app' }, UPDATER_TOKEN)).json().password, QUAY_PASS);

  writePolicy('rules:\n  - subjects: ["system:serviceaccount:argocd:*"]\n    actions: [resolve, fly]\n');
  t.ok(await eventually(() => logs.some((l) => l.includes('reload failed')), 10_000), 'the bad edit is reported');
  const failure = logs.find((l) => l.includes('reload failed')) as string;
  t.match(JSON.parse(failure), { file: 'policy', setting: 'AUTH_POLICY_PATH', error: /fly/ });
  t.equal((await resolve(app, { image: 'quay.io/org/app' }, UPDATER_TOKEN)).statusCode, 200, 'the last good policy stays in force');
  t.equal((await resolve(app, { image: 'ghcr.io/org/app' }, STRANGER_TOKEN)).statusCode, 403);
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /credbroker_config_reloads_total\{[^}]*file="policy"[^}]*result="failure"[^}]*\} [1-9]/);
  assertNothingLeaked(t, logs);
});

t.test('AUTH_MODE=static with a tokens file', async (t) => {
  const CI_TOKEN = 'ci-static-token-5f4e3d2c1b';
  const OTHER_TOKEN = 'other-static-token-9a8b7c';
  const api = await seededApi();
  t.teardown(async () => await api.close());
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const { app, logs } = await kubeApp(t, {
    api,
    conf: CONF,
    tokensFile: `tokens:\n  - name: ci\n    sha256: ${sha(CI_TOKEN)}\n  - name: other\n    sha256: ${sha(OTHER_TOKEN)}\n`,
    policy: 'rules:\n  - subjects: ["static:ci"]\n    actions: [resolve, status]\n    registries: ["ghcr.io"]\n',
    settingsEnv: { AUTH_MODE: 'static' }
  });
  api.resetRequests();
  const ok = await resolve(app, { image: 'ghcr.io/org/app' }, CI_TOKEN);
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().password, GHCR_PASS);
  const status = await app.inject({ method: 'GET', url: '/v1/auth/status', headers: { authorization: `Bearer ${CI_TOKEN}` } });
  t.match(status.json(), { authMode: 'static', caller: { name: 'static:ci' } });

  // unknown and missing tokens, and a reloaded tokens file: test/http/auth.test.ts
  const other = await resolve(app, { image: 'ghcr.io/org/app' }, OTHER_TOKEN);
  t.equal(other.statusCode, 403, 'a known token the policy does not name');
  t.equal(other.json().code, 'FORBIDDEN');
  const quay = await resolve(app, { image: 'quay.io/org/app' }, CI_TOKEN);
  t.equal(quay.statusCode, 403, 'a registry the rule does not name');
  t.equal(api.count({ resource: 'tokenreviews' }), 0, 'static mode asks the API nothing about callers');

  const audit = logs.filter((l) => l.includes('"audit":"credential"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(audit.some((a) => a.caller === 'static:ci' && a.outcome === 'issued'), 'the audit line names static:ci');
  assertNothingLeaked(t, logs, [CI_TOKEN, OTHER_TOKEN]);
});

t.test('an Application is named only where a rule grants it (kubernetes and static modes)', async (t) => {
  const A = 'argocd-image-updater.argoproj.io';
  const CI_TOKEN = 'ci-static-token-app-7e6d5c';
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const policy = `rules:
  - subjects: ["system:serviceaccount:argocd:*", "static:ci"]
    actions: [resolve, explain]
    registries: ["ghcr.io"]
    applications: ["argocd/*"]
  - subjects: ["group:platform-team"]
    actions: [resolve]
`;
  for (const mode of ['kubernetes', 'static'] as const) {
    await t.test(mode, async (t) => {
      const api = await seededApi();
      t.teardown(async () => await api.close());
      for (const [ns, name] of [['argocd', 'demo'], ['team-b', 'demo']]) {
        api.putApplication(ns as string, name as string, { [`${A}/image-list`]: 'app=ghcr.io/org/app', [`${A}/app.pull-secret`]: 'pullsecret:argocd/override' });
      }
      const { app, logs } = await kubeApp(t, {
        api,
        conf: CONF,
        policy,
        settingsEnv: { AUTH_MODE: mode, AUTH_AUDIENCES: 'credbroker', SECRET_NAMESPACES: 'argocd,team-b' },
        ...(mode === 'static' ? { tokensFile: `tokens:\n  - name: ci\n    sha256: ${sha(CI_TOKEN)}\n` } : {})
      });
      const caller = mode === 'kubernetes' ? UPDATER : 'static:ci';
      const token = mode === 'kubernetes' ? UPDATER_TOKEN : CI_TOKEN;
      const image = 'ghcr.io/org/app:1';

      const granted = await resolve(app, { image, application: 'demo' }, token);
      t.match(granted.json(), { source: { ref: 'pullsecret:argocd/override', level: 'image' }, password: OVERRIDE_PASS },
        'argocd/demo: the rule grants argocd/*; without applicationNamespace the service\'s own namespace');
      api.resetRequests();
      const refused = await resolve(app, { image, application: 'demo', applicationNamespace: 'team-b' }, token);
      t.equal(refused.statusCode, 403);
      t.match(refused.json(), { code: 'FORBIDDEN', message: new RegExp(`${caller} to name application team-b/demo`) });
      t.notOk(refused.body.includes(OVERRIDE_PASS));
      t.equal(api.count({ resource: 'applications' }), 0, 'the refused Application is never read');
      const explained = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image, application: 'demo', applicationNamespace: 'team-b' }, headers: { authorization: `Bearer ${token}` } });
      t.equal(explained.json().code, 'FORBIDDEN', 'explain is refused the same way');
      t.equal((await resolve(app, { image }, token)).statusCode, 200, 'the same request without an application');
      // the denial log line and a rule without applications: test/http/auth.test.ts
      assertNothingLeaked(t, logs, [CI_TOKEN]);
    });
  }

  await t.test('none mode: unchanged', async (t) => {
    const api = await seededApi();
    t.teardown(async () => await api.close());
    api.putApplication('team-b', 'demo', { [`${A}/image-list`]: 'app=ghcr.io/org/app', [`${A}/app.pull-secret`]: 'pullsecret:argocd/override' });
    const { app } = await kubeApp(t, { api, conf: CONF, settingsEnv: { SECRET_NAMESPACES: 'argocd,team-b' } });
    const res = await resolve(app, { image: 'ghcr.io/org/app:1', application: 'demo', applicationNamespace: 'team-b' });
    t.match(res.json(), { source: { level: 'image' }, password: OVERRIDE_PASS });
  });
});
