import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { createKubeConfig } from '../../src/kube/client.js';
import { canI, kubeAuthStatus, selfSubjectReview, tokenReview } from '../../src/kube/reviews.js';
import { createMetrics } from '../../src/metrics.js';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';

const CALLER_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.caller-token-value.sig';

async function setup (tt: Test, token?: string): Promise<{ api: FakeKubeApi, kc: KubeConfig }> {
  const api = await startFakeKubeApi({ tokens: token === undefined ? undefined : [token] });
  const dir = mkdtempSync(join(tmpdir(), 'reviews-'));
  tt.teardown(async () => { await api.close(); rmSync(dir, { recursive: true, force: true }); });
  api.writeKubeconfig(join(dir, 'config'), token);
  return { api, kc: createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: join(dir, 'config'), serviceAccountDir: dir }) };
}

t.test('selfSubjectReview: who the service is', async (t) => {
  const { api, kc } = await setup(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const id = await selfSubjectReview(kc, { metrics });
  t.same(id, { username: api.identity.username, uid: api.identity.uid, groups: api.identity.groups, source: 'selfsubjectreview' });
  t.equal(api.count({ method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews' }), 1);
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'credbroker_kubernetes_requests_total');
  t.match(m?.values, [{ labels: { verb: 'create', resource: 'selfsubjectreviews', code: '201' }, value: 1 }]);
});

t.test('selfSubjectReview: an API without it falls back to the token subject, else unknown', async (t) => {
  const payload = Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:argocd:credbroker', aud: ['x'] })).toString('base64url');
  const jwt = `eyJhbGciOiJSUzI1NiJ9.${payload}.signature`;
  const { api, kc } = await setup(t, jwt);
  api.disable('selfsubjectreviews');
  t.same(await selfSubjectReview(kc), { username: 'system:serviceaccount:argocd:credbroker', groups: [], source: 'token' });

  const other = await setup(t, 'opaque-token');
  other.api.disable('selfsubjectreviews');
  t.same(await selfSubjectReview(other.kc), { groups: [], source: 'unknown' });
});

t.test('canI asks SelfSubjectAccessReview', async (t) => {
  const { api, kc } = await setup(t);
  api.forbid('list', 'secrets', 'team-b');
  t.equal(await canI(kc, { verb: 'list', resource: 'secrets', namespace: 'team-a' }), true);
  t.equal(await canI(kc, { verb: 'list', resource: 'secrets', namespace: 'team-b' }), false);
  t.equal(await canI(kc, { verb: 'get', resource: 'secrets', namespace: 'team-b' }), true);
  api.forbid('watch', 'secrets', undefined);
  t.equal(await canI(kc, { verb: 'watch', resource: 'secrets' }), false, 'cluster-wide');
  t.equal(await canI(kc, { verb: 'watch', resource: 'secrets', namespace: 'x' }), true);
});

t.test('tokenReview: authenticated callers with audiences; refusals; the token never in an error', async (t) => {
  const { api, kc } = await setup(t);
  api.setTokenReview(CALLER_TOKEN, {
    authenticated: true,
    user: { username: 'system:serviceaccount:ci:builder', uid: 'u-1', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'] },
    audiences: ['credbroker']
  });
  const ok = await tokenReview(kc, CALLER_TOKEN, ['credbroker']);
  t.same(ok, {
    authenticated: true,
    user: { username: 'system:serviceaccount:ci:builder', uid: 'u-1', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'] },
    audiences: ['credbroker']
  });
  const sent = api.requests.at(-1);
  t.equal(sent?.token, 'fake-sa-token', 'the review is made with the service\'s own token');

  const wrongAudience = await tokenReview(kc, CALLER_TOKEN, ['something-else']);
  t.equal(wrongAudience.authenticated, false);
  t.equal(wrongAudience.user, undefined);
  t.match(wrongAudience.error, /audiences/);

  const unknown = await tokenReview(kc, 'unknown-caller-token', ['credbroker']);
  t.equal(unknown.authenticated, false);
  t.type(unknown.error, 'string');
  t.notMatch(unknown.error ?? '', 'unknown-caller-token');

  api.setTokenReview('echoed-token', { authenticated: false, error: 'token echoed-token has expired' });
  const echoed = await tokenReview(kc, 'echoed-token', ['credbroker']);
  t.equal(echoed.error, 'token [token] has expired', 'a token quoted by the API is removed');

  api.forbid('create', 'tokenreviews', undefined);
  const refused = await tokenReview(kc, CALLER_TOKEN, ['credbroker']).catch((e: Error) => e);
  t.match(refused, { code: 'KUBERNETES_FORBIDDEN', message: 'the service account may not create tokenreviews cluster-wide' });
  t.notMatch(String((refused as Error).message), CALLER_TOKEN);

  api.down();
  const down = await tokenReview(kc, CALLER_TOKEN, ['credbroker']).catch((e: Error) => e);
  t.match(down, { code: 'KUBERNETES_UNAVAILABLE' });
  t.notMatch(String((down as Error).message), CALLER_TOKEN);
  t.notMatch(JSON.stringify(down), CALLER_TOKEN);
});

t.test('kubeAuthStatus: identity and Secret access per namespace', async (t) => {
  const { api, kc } = await setup(t);
  api.forbid('list', 'secrets', 'team-b');
  api.forbid('watch', 'secrets', 'team-b');
  const st = await kubeAuthStatus(kc, { kubeMode: 'kubeconfig', podNamespace: 'argocd', secretNamespaces: ['argocd', 'team-b'] });
  t.same(st, {
    mode: 'kubeconfig',
    namespace: 'argocd',
    identity: { username: api.identity.username, uid: api.identity.uid, groups: api.identity.groups, source: 'selfsubjectreview' },
    namespaces: {
      argocd: { get: true, list: true, watch: true },
      'team-b': { get: true, list: false, watch: false }
    }
  });

  const wide = await kubeAuthStatus(kc, { kubeMode: 'kubeconfig', podNamespace: 'argocd', secretNamespaces: '*' });
  t.same(Object.keys(wide.namespaces), ['*']);
  t.same(wide.namespaces['*'], { get: true, list: true, watch: true });

  api.down();
  const down = await kubeAuthStatus(kc, { kubeMode: 'kubeconfig', podNamespace: 'argocd', secretNamespaces: ['argocd'] });
  t.match(down.identity, { source: 'unknown', error: /did not answer/ });
  t.match(down.namespaces.argocd, { get: false, list: false, watch: false, error: /did not answer/ });
});
