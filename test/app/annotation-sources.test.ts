// Application annotations may not widen what a caller can do: references read from them are
// pullsecret:/secret: only unless ANNOTATION_SOURCES=all (docs/configuration.md "Callers: authentication and policy").
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tmpDir } from '../helpers/app.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import { DOCKER_CONFIG_JSON, dockerConfigJson, explain, kubeApp, resolve } from '../helpers/kube-app.js';

const A = 'argocd-image-updater.argoproj.io';
const ENV_PASS = 'planted-env-pass-5e5e';
const SCRIPT_PASS = 'planted-script-pass-6f6f';
const PULL_PASS = 'planted-pull-pass-7a7a';

t.test('env:, ext: and other non-secret types from annotations are refused unless ANNOTATION_SOURCES=all', async (t) => {
  const dir = tmpDir(t, 'annotation-sources-');
  const marker = join(dir, 'ran');
  const script = join(dir, 'get-creds');
  writeFileSync(script, `#!/bin/sh\ntouch ${marker}\necho "script-user:${SCRIPT_PASS}"\n`);
  chmodSync(script, 0o755);

  const api = await startFakeKubeApi();
  t.teardown(() => api.close());
  api.putSecret('argocd', 'pull', dockerConfigJson({ 'ghcr.io': { username: 'pull-user', password: PULL_PASS } }), DOCKER_CONFIG_JSON);
  api.putApplication('argocd', 'envy', {
    [`${A}/image-list`]: 'app=ghcr.io/org/app',
    [`${A}/app.pull-secret`]: 'env:REGISTRY_CREDS'
  });
  api.putApplication('argocd', 'scripted', {
    [`${A}/image-list`]: 'app=ghcr.io/org/app',
    [`${A}/pull-secret`]: `ext:${script}`
  });
  api.putApplication('argocd', 'prefixed', {
    [`${A}/image-list`]: 'app=ghcr.io/org/app',
    [`${A}/app.pull-secret`]: `ghcr.io=ext:${script}`
  });
  api.putApplication('argocd', 'by-account', {
    [`${A}/image-list`]: 'app=ghcr.io/org/app',
    [`${A}/app.pull-secret`]: 'serviceaccount:argocd/default'
  });
  for (const cloud of ['ecr:region=us-east-1', 'gcp:', 'acr:']) {
    api.putApplication('argocd', `cloud-${cloud.slice(0, 3)}`, {
      [`${A}/image-list`]: 'app=ghcr.io/org/app',
      [`${A}/app.pull-secret`]: cloud
    });
  }
  api.putApplication('argocd', 'pulling', {
    [`${A}/image-list`]: 'app=ghcr.io/org/app',
    [`${A}/app.pull-secret`]: 'pullsecret:argocd/pull'
  });
  const env = { REGISTRY_CREDS: `env-user:${ENV_PASS}` };

  const { app, logs } = await kubeApp(t, { api, env });
  for (const [application, ref] of [
    ['envy', 'env:REGISTRY_CREDS'],
    ['scripted', `ext:${script}`],
    ['prefixed', `ext:${script}`],
    ['by-account', 'serviceaccount:argocd/default'],
    // the cloud types run with the service's own cloud identity
    ['cloud-ecr', 'ecr:region=us-east-1'],
    ['cloud-gcp', 'gcp:'],
    ['cloud-acr', 'acr:']
  ] as const) {
    const res = await resolve(app, { image: 'ghcr.io/org/app:1', application });
    t.equal(res.statusCode, 403, `${application}: 403`);
    t.match(res.json(), { code: 'ANNOTATION_SOURCE_NOT_ALLOWED', message: new RegExp(`application ${application} names ${ref.replace(/[/.]/g, '\\$&')}`) });
    const ex = (await explain(app, { image: 'ghcr.io/org/app:1', application })).json();
    t.match(ex.outcome, { ok: false, code: 'ANNOTATION_SOURCE_NOT_ALLOWED' }, `${application}: explain's outcome`);
    const step = (ex.steps as Array<{ ref?: string, taken: boolean, reason: string }>).find((s) => s.ref === ref && !s.taken);
    t.match(step?.reason, /references from Application annotations are refused.*ANNOTATION_SOURCES=all/, `${application}: explain says why`);
  }
  t.notOk(existsSync(marker), 'the script never ran');
  const ok = await resolve(app, { image: 'ghcr.io/org/app:1', application: 'pulling' });
  t.match(ok.json(), { source: { ref: 'pullsecret:argocd/pull', level: 'image' }, username: 'pull-user' }, 'pullsecret: from an annotation is served');
  for (const planted of [ENV_PASS, SCRIPT_PASS]) t.notOk(logs.some((l) => l.includes(planted)), 'no planted value logged');

  await t.test('ANNOTATION_SOURCES=all: as upstream', async (t) => {
    const { app } = await kubeApp(t, { api, env, settingsEnv: { ANNOTATION_SOURCES: 'all' } });
    const viaEnv = await resolve(app, { image: 'ghcr.io/org/app:1', application: 'envy' });
    t.match(viaEnv.json(), { source: { ref: 'env:REGISTRY_CREDS', level: 'image' }, username: 'env-user', password: ENV_PASS });
    const viaExt = await resolve(app, { image: 'ghcr.io/org/app:1', application: 'scripted' });
    t.match(viaExt.json(), { source: { type: 'ext', level: 'application' }, username: 'script-user', password: SCRIPT_PASS });
    t.ok(existsSync(marker), 'the script ran');
  });
});
