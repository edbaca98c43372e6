import t, { type Test } from 'tap';
import { credentialFromAnnotations } from '../../src/argocd/annotations.js';
import { ApplicationCache, ArgocdApplications, MAX_APPLICATION_CACHE_TTL_MS } from '../../src/argocd/argocd-applications.js';
import { ArgocdClient } from '../../src/argocd/client.js';
import { KubeApplications } from '../../src/argocd/kube-applications.js';
import type { ApplicationSource } from '../../src/argocd/types.js';
import { isCodedError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { FakeArgocd, loadArgocdSwagger, validateSwaggerAnswer } from '../helpers/fake-argocd.js';
import { kubeConfigFor, startFakeKubeApi } from '../helpers/fake-kube-api.js';

const P = 'argocd-image-updater.argoproj.io';
const ARGOCD_TOKEN = 'argocd-app-t0ken-aaaa';
const KUBE_TOKEN = 'kube-app-t0ken-bbbb';
const WRONG = 'wr0ng-t0ken-cccc';
const SECRETS = [ARGOCD_TOKEN, KUBE_TOKEN, WRONG];
const swagger = loadArgocdSwagger();

const normalize = (ref: string): string => {
  const noTag = ref.replace(/@.*$/, '').replace(/:[^/]*$/, '');
  return noTag.includes('.') ? noTag : `docker.io/library/${noTag}`;
};

interface AppSpec { name: string, namespace: string, annotations: Record<string, string> }

/** One mode under test: a fake backend and an ApplicationSource reading it. */
interface Mode {
  name: 'argocd' | 'kubernetes'
  /** the namespace used when the caller names none */
  defaultNamespace: string
  setApp: (app: AppSpec) => void
  deleteApp: (namespace: string, name: string) => void
  count: () => number
  down: (how: 'unavailable' | 'reset' | 'up') => void
  source: (opts?: { token?: string, now?: () => number, cacheTtlMs?: number }) => ApplicationSource
}

async function argocdMode (t: Test): Promise<Mode> {
  const fake = await FakeArgocd.start({ tokens: [ARGOCD_TOKEN] });
  const sources: ApplicationSource[] = [];
  t.teardown(async () => {
    for (const s of sources) await s.close();
    for (const a of fake.answers) {
      const problems = validateSwaggerAnswer(swagger, a.template, a.method, a.status, a.body);
      if (problems.length > 0) t.fail(`fake answer of ${a.template} drifts from the swagger document: ${problems.join('; ')}`);
    }
    await fake.close();
  });
  return {
    name: 'argocd',
    defaultNamespace: 'argocd',
    setApp: (app) => fake.setApplication(app),
    deleteApp: (ns, name) => fake.deleteApplication(name, ns),
    count: () => fake.count('/api/v1/applications/{name}'),
    down: (how) => { fake.mode = how === 'unavailable' ? 'unavailable' : how === 'reset' ? 'reset' : 'up'; },
    source: (opts = {}) => {
      const client = new ArgocdClient({ server: fake.address, plaintext: true, token: opts.token ?? ARGOCD_TOKEN, backoffMs: 1 });
      const s = new ArgocdApplications(client, opts);
      sources.push(s);
      return s;
    }
  };
}

async function kubeMode (t: Test): Promise<Mode> {
  const fake = await startFakeKubeApi({ tokens: [KUBE_TOKEN] });
  const sources: ApplicationSource[] = [];
  t.teardown(async () => {
    for (const s of sources) await s.close();
    await fake.close();
  });
  return {
    name: 'kubernetes',
    defaultNamespace: 'argocd',
    setApp: (app) => { fake.putApplication(app.namespace, app.name, app.annotations); },
    deleteApp: (ns, name) => { fake.delete('applications', ns, name); },
    count: () => fake.count({ resource: 'applications', verb: 'get' }),
    down: (how) => { fake.up(); if (how === 'unavailable') fake.unavailable(); else if (how === 'reset') fake.down(); },
    source: (opts = {}) => {
      const sourceOpts: ConstructorParameters<typeof KubeApplications>[1] = { defaultNamespace: 'argocd' };
      if (opts.now !== undefined) sourceOpts.now = opts.now;
      if (opts.cacheTtlMs !== undefined) sourceOpts.cacheTtlMs = opts.cacheTtlMs;
      const s = new KubeApplications(kubeConfigFor(fake, opts.token ?? KUBE_TOKEN), sourceOpts);
      sources.push(s);
      return s;
    }
  };
}

async function rejection (p: Promise<unknown>): Promise<Error & { code: string, statusCode: number }> {
  try {
    await p;
  } catch (err) {
    if (isCodedError(err)) return err as Error & { code: string, statusCode: number };
    throw err;
  }
  throw new Error('expected a rejection');
}

function noSecretIn (t: Test, err: Error): void {
  const text = `${err.message} ${String(err.stack)} ${JSON.stringify(err)}`;
  for (const s of SECRETS) t.notOk(text.includes(s), 'no token in the error');
}

for (const makeMode of [argocdMode, kubeMode]) {
  t.test(`${makeMode === argocdMode ? 'argocd' : 'kubernetes'} mode`, async (t) => {
    await t.test('annotations drive the credential level', async (t) => {
      const mode = await makeMode(t);
      mode.setApp({
        name: 'shop',
        namespace: 'argocd',
        annotations: {
          [`${P}/image-list`]: 'web=ghcr.io/org/web:^1, argoproj/argocd=quay.io/argoproj/argocd, nginx',
          [`${P}/web.pull-secret`]: 'pullsecret:argocd/ghcr',
          [`${P}/argoproj_argocd.pull-secret`]: 'secret:argocd/quay#creds',
          [`${P}/pull-secret`]: 'pullsecret:argocd/wide'
        }
      });
      const source = mode.source();
      t.equal(source.api, mode.name);
      const app = await source.getApplication('shop');
      t.ok(app, 'found in the default namespace');
      if (app === undefined) return;
      t.equal(app.name, 'shop');
      t.equal(app.namespace, 'argocd');

      const alias = credentialFromAnnotations(app.annotations, 'ghcr.io/org/web:1.4.2', normalize);
      t.same([alias.spec, alias.level], ['pullsecret:argocd/ghcr', 'image'], 'alias pull-secret');
      const slash = credentialFromAnnotations(app.annotations, 'quay.io/argoproj/argocd:v2.9.0', normalize);
      t.same([slash.spec, slash.level], ['secret:argocd/quay#creds', 'image'], 'alias with / uses _');
      const wide = credentialFromAnnotations(app.annotations, 'nginx:1.27', normalize);
      t.same([wide.spec, wide.level], ['pullsecret:argocd/wide', 'application'], 'application-wide pull-secret');
      const none = credentialFromAnnotations(app.annotations, 'ghcr.io/org/other:1', normalize);
      t.equal(none.spec, undefined, 'an image not in the image-list falls through to the registry level');
    });

    await t.test('the namespace asked, else the default', async (t) => {
      const mode = await makeMode(t);
      mode.setApp({ name: 'api', namespace: 'team-a', annotations: { [`${P}/pull-secret`]: 'pullsecret:team-a/x' } });
      const source = mode.source();
      const app = await source.getApplication('api', 'team-a');
      t.equal(app?.namespace, 'team-a');
      t.same(app?.annotations, { [`${P}/pull-secret`]: 'pullsecret:team-a/x' });
      t.equal(await source.getApplication('api'), undefined, `not in ${mode.defaultNamespace}`);
    });

    await t.test('an unknown application is undefined', async (t) => {
      const mode = await makeMode(t);
      const source = mode.source();
      t.equal(await source.getApplication('nope'), undefined);
      t.equal(await source.getApplication('Not_A_Name'), undefined, 'a name that cannot exist is not asked for');
      t.equal(mode.count(), 1);
    });

    await t.test('a wrong token is an error naming no token', async (t) => {
      const mode = await makeMode(t);
      mode.setApp({ name: 'shop', namespace: 'argocd', annotations: {} });
      const err = await rejection(mode.source({ token: WRONG }).getApplication('shop'));
      if (mode.name === 'argocd') {
        t.equal(err.code, 'ARGOCD_UNAVAILABLE');
        t.match(err.message, /refused the token \(401\)/);
      } else {
        t.equal(err.code, 'KUBERNETES_FORBIDDEN');
        t.match(err.message, /get applications\.argoproj\.io in namespace argocd \(401\)/);
      }
      noSecretIn(t, err);
    });

    await t.test('the backend down is unavailable, and errors are not cached', async (t) => {
      const mode = await makeMode(t);
      mode.setApp({ name: 'shop', namespace: 'argocd', annotations: { a: 'b' } });
      const source = mode.source();
      for (const how of ['unavailable', 'reset'] as const) {
        mode.down(how);
        const err = await rejection(source.getApplication('shop'));
        t.equal(err.code, mode.name === 'argocd' ? 'ARGOCD_UNAVAILABLE' : 'KUBERNETES_UNAVAILABLE', how);
        t.equal(err.statusCode, 503);
        t.notMatch(err.message, /Body:|Headers:|HTTP-Code/, 'no upstream response in the message');
        noSecretIn(t, err);
      }
      mode.down('up');
      t.same((await source.getApplication('shop'))?.annotations, { a: 'b' }, 'recovers at once');
    });

    await t.test('an annotation change is seen once the brief cache expires', async (t) => {
      const mode = await makeMode(t);
      let now = 1_000_000;
      const source = mode.source({ now: () => now });
      const key = `${P}/pull-secret`;
      mode.setApp({ name: 'shop', namespace: 'argocd', annotations: { [key]: 'pullsecret:argocd/old' } });
      t.equal((await source.getApplication('shop'))?.annotations[key], 'pullsecret:argocd/old');
      mode.setApp({ name: 'shop', namespace: 'argocd', annotations: { [key]: 'pullsecret:argocd/new' } });
      t.equal((await source.getApplication('shop'))?.annotations[key], 'pullsecret:argocd/old', 'cached within the window');
      t.equal(mode.count(), 1);
      now += MAX_APPLICATION_CACHE_TTL_MS;
      t.equal((await source.getApplication('shop'))?.annotations[key], 'pullsecret:argocd/new', 'seen within five seconds');

      mode.deleteApp('argocd', 'shop');
      now += MAX_APPLICATION_CACHE_TTL_MS;
      t.equal(await source.getApplication('shop'), undefined, 'a deleted application disappears too');
    });

    await t.test('concurrent reads of one application share one request', async (t) => {
      const mode = await makeMode(t);
      mode.setApp({ name: 'shop', namespace: 'argocd', annotations: { a: 'b' } });
      const source = mode.source();
      const results = await Promise.all(Array.from({ length: 10 }, async () => await source.getApplication('shop')));
      t.ok(results.every((r) => r?.annotations.a === 'b'));
      t.equal(mode.count(), 1);
    });

    await t.test('status', async (t) => {
      const mode = await makeMode(t);
      const good = await mode.source().status();
      t.equal(good.api, mode.name);
      t.equal(good.ok, true);
      t.equal(good.detail.canGetApplications, true);
      const bad = await mode.source({ token: WRONG }).status();
      t.equal(bad.ok, false);
      noSecretIn(t, new Error(JSON.stringify(bad)));
      if (mode.name === 'argocd') {
        t.match(good.detail, { authenticated: true, username: 'credbroker', version: 'v3.1.0+fake', server: /^127\.0\.0\.1:\d+$/ });
        t.match(bad.detail, { authenticated: false, canGetApplications: false, error: /refused the token \(401\)/ });
      } else {
        t.match(good.detail, { namespace: 'argocd', resource: 'applications.argoproj.io' });
        t.match(bad.detail, { canGetApplications: false, error: /answered 401/ });
      }
    });
  });
}

t.test('kubernetes mode: 403 names verb, resource and namespace; a missing CRD is not "not found"', async (t) => {
  const fake = await startFakeKubeApi();
  const metrics = createMetrics({ defaultMetrics: false });
  const source = new KubeApplications(kubeConfigFor(fake), { defaultNamespace: 'argocd', metrics });
  t.teardown(async () => { await source.close(); await fake.close(); });
  fake.forbid('get', 'applications', 'team-b');
  const err = await rejection(source.getApplication('web', 'team-b'));
  t.equal(err.code, 'KUBERNETES_FORBIDDEN');
  t.equal(err.statusCode, 502);
  t.equal(err.message, 'the Kubernetes API refused get applications.argoproj.io in namespace team-b (403)');
  t.notMatch(err.message, /system:serviceaccount/, 'the API message is not forwarded');
  const status = await new KubeApplications(kubeConfigFor(fake), { defaultNamespace: 'team-b' }).status();
  t.match(status, { api: 'kubernetes', ok: false, detail: { canGetApplications: false, namespace: 'team-b' } });

  fake.disable('applications');
  const err2 = await rejection(source.getApplication('web'));
  t.equal(err2.code, 'KUBERNETES_UNAVAILABLE');
  t.match(err2.message, /CRD/);

  const counted = (await metrics.kubernetesRequests.get()).values;
  t.ok(counted.some((v) => v.labels.code === '403' && v.labels.verb === 'get' && v.labels.resource === 'applications'));
});

t.test('kubernetes mode: a hanging API times out', async (t) => {
  const fake = await startFakeKubeApi();
  const source = new KubeApplications(kubeConfigFor(fake), { defaultNamespace: 'argocd', timeoutMs: 100 });
  t.teardown(async () => { await source.close(); await fake.close(); });
  fake.hang();
  const err = await rejection(source.getApplication('web'));
  t.equal(err.code, 'KUBERNETES_UNAVAILABLE');
  t.equal(err.message, 'cannot reach the Kubernetes API to get applications.argoproj.io in namespace argocd: no answer within 100 ms');
});

t.test('the application cache is bounded and never longer than five seconds', async (t) => {
  let now = 0;
  const cache = new ApplicationCache<number>({ ttlMs: 60_000, maxEntries: 2, now: () => now });
  let loads = 0;
  const load = async (): Promise<number> => ++loads;
  await cache.get('a', load);
  now += MAX_APPLICATION_CACHE_TTL_MS;
  t.equal(await cache.get('a', load), 2, 'a longer TTL is capped at five seconds');
  await cache.get('b', load);
  await cache.get('c', load);
  t.equal(await cache.get('a', load), 5, 'the oldest entry was dropped to stay within maxEntries');

  let failures = 0;
  const failing = async (): Promise<number> => { failures++; throw new Error('down'); };
  await t.rejects(cache.get('x', failing));
  await t.rejects(cache.get('x', failing));
  t.equal(failures, 2, 'errors are not cached');
});
