// POST /v1/credentials/test and `credbroker test` against the real docker-registry:
// Basic (htpasswd) and Bearer (token server) auth, wrong credentials, and the one
// refetch after a 401 when the cached credential has been rotated at its source.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { dockerConfigSecret, localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { cleanEnv, runCli } from '../helpers/process.js';
import { startRegistry, type StartedRegistry } from '../helpers/registry.js';
import { ALL_REGISTRY_TOOLS, requireTools } from '../helpers/tools.js';

const PASSWORD = 'rt-pw-51d0c3';
const WRONG = 'rt-wrong-pw-8e2f';
const OLD = 'rt-old-pw-77aa01';

interface Teardown { teardown: (fn: () => unknown) => void }

async function registry (t: Teardown, auth: 'htpasswd' | 'token'): Promise<StartedRegistry> {
  const r = await startRegistry({ auth, users: { alice: PASSWORD } });
  t.teardown(r.stop);
  await r.push('demo/app', '1.0');
  return r;
}

function conf (reg: StartedRegistry, credentials: string, name = 'Local'): string {
  return `registries:
  - name: ${name}
    prefix: ${reg.host}
    api_url: ${reg.url}
    insecure: true
    credentials: ${credentials}
`;
}

async function testImage (app: FastifyInstance, image: string, credentials?: string) {
  return await app.inject({ method: 'POST', url: '/v1/credentials/test', payload: { image, ...(credentials !== undefined ? { credentials } : {}) } });
}

function noSecret (t: Teardown & { notOk: (v: unknown, m: string) => void }, text: string, what: string): void {
  for (const s of [PASSWORD, WRONG, OLD]) t.notOk(text.includes(s), `${what} holds no password`);
}

t.test('htpasswd registry: right and wrong credentials', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'htpasswd');
  const { app, logs } = await localApp(t, {
    conf: conf(reg, 'pullsecret:argocd/local'),
    secrets: {
      'local.json': dockerConfigSecret('argocd', 'local', { [reg.host]: { username: 'alice', password: PASSWORD } }),
      'wrong.json': secretManifest('argocd', 'wrong', { creds: `alice:${WRONG}` })
    }
  });

  const ok = await testImage(app, `${reg.host}/demo/app:1.0`);
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), {
    ok: true, image: `${reg.host}/demo/app`, registry: reg.host, apiUrl: reg.url,
    source: { type: 'pullsecret', ref: 'pullsecret:argocd/local', level: 'registry' },
    authScheme: 'basic', authenticated: true, tags: ['1.0'], retriedWithFreshCredentials: false
  });
  t.notOk('error' in ok.json());

  const missing = await testImage(app, `${reg.host}/demo/nothing`);
  t.match(missing.json(), { ok: false, authScheme: 'basic', error: { code: 'REGISTRY_REPOSITORY_NOT_FOUND' } }, 'an unknown repository');

  const wrong = await testImage(app, `${reg.host}/demo/app`, 'secret:argocd/wrong#creds');
  t.equal(wrong.statusCode, 200, 'a refused credential is a test result, not an HTTP error');
  t.match(wrong.json(), {
    ok: false, authScheme: 'basic', authenticated: false, tags: [],
    source: { ref: 'secret:argocd/wrong#creds', level: 'request' },
    // just fetched from its source: sending it again could not help
    retriedWithFreshCredentials: false,
    error: { code: 'REGISTRY_UNAUTHORIZED' }
  });
  noSecret(t, wrong.body, 'the answer');
  noSecret(t, logs.join(''), 'the log');
  t.ok(logs.some((l) => l.includes('"audit":"test"') && l.includes('"outcome":"REGISTRY_UNAUTHORIZED"')), 'the failed test is audited');
  t.ok(logs.some((l) => l.includes('"audit":"test"') && l.includes('"outcome":"ok"')), 'the good test is audited');
});

t.test('htpasswd registry without credentials: anonymous test fails with the challenge', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'htpasswd');
  const { app } = await localApp(t, { conf: `registries:\n  - name: Local\n    prefix: ${reg.host}\n    api_url: ${reg.url}\n` });
  const res = await testImage(app, `${reg.host}/demo/app`);
  t.equal(res.statusCode, 200);
  t.match(res.json(), { ok: false, source: null, authScheme: 'basic', authenticated: false, retriedWithFreshCredentials: false, error: { code: 'REGISTRY_UNAUTHORIZED', message: /requires authentication/ } });
});

t.test('token registry: Bearer challenge with right and wrong credentials', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'token');
  const { app, logs } = await localApp(t, {
    conf: conf(reg, 'secret:argocd/local#creds'),
    secrets: {
      'local.json': secretManifest('argocd', 'local', { creds: `alice:${PASSWORD}` }),
      'wrong.json': secretManifest('argocd', 'wrong', { creds: `alice:${WRONG}` })
    }
  });
  reg.tokenRequests.length = 0;
  const ok = await testImage(app, `${reg.host}/demo/app`);
  t.match(ok.json(), { ok: true, authScheme: 'bearer', authenticated: true, tags: ['1.0'], retriedWithFreshCredentials: false });
  t.match(reg.tokenRequests, [{ method: 'GET', account: 'alice', scope: 'repository:demo/app:pull', outcome: 'granted' }], 'a token was fetched for the pull scope');

  const wrong = await testImage(app, `${reg.host}/demo/app`, 'secret:argocd/wrong#creds');
  t.match(wrong.json(), { ok: false, authScheme: 'bearer', authenticated: false, tags: [], error: { code: 'REGISTRY_UNAUTHORIZED' } });
  t.ok(reg.tokenRequests.some((r) => r.outcome === 'refused'), 'the token server refused the wrong password');
  noSecret(t, wrong.body, 'the answer');
  noSecret(t, logs.join(''), 'the log');
});

t.test('a cached credential rotated at its source: one refetch after the 401', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  // An ext: script is the source whose change nothing watches (an ECR-style login):
  // the cache holds the old password until the registry refuses it.
  const reg = await registry(t, 'htpasswd');
  const dir = tmpDir(t, 'credbroker-rotate-');
  const credsFile = join(dir, 'current');
  const script = join(dir, 'login.sh');
  writeFileSync(script, `#!/bin/sh\nexec cat ${credsFile}\n`);
  chmodSync(script, 0o755);
  writeFileSync(credsFile, `alice:${OLD}\n`);
  const { app, logs } = await localApp(t, { conf: conf(reg, `ext:${script}`) });

  const first = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: `${reg.host}/demo/app` } });
  t.equal(first.statusCode, 200);
  t.equal(first.json().password, OLD, 'the old password is cached');

  writeFileSync(credsFile, `alice:${PASSWORD}\n`);
  const cached = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: `${reg.host}/demo/app` } });
  t.match(cached.json(), { cached: true, password: OLD }, 'the cache still serves the old password');

  // a refresh refetches at most once a second per reference
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const res = await testImage(app, `${reg.host}/demo/app`);
  t.equal(res.statusCode, 200);
  t.match(res.json(), { ok: true, authScheme: 'basic', authenticated: true, tags: ['1.0'], retriedWithFreshCredentials: true });

  const after = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: `${reg.host}/demo/app` } });
  t.match(after.json(), { cached: true, password: PASSWORD }, 'the fresh credential replaced the cached one');
  noSecret(t, res.body, 'the answer');
  noSecret(t, logs.join(''), 'the log');

  // still wrong after the refetch: reported once, no loop
  writeFileSync(credsFile, `alice:${WRONG}\n`);
  await app.inject({ method: 'POST', url: '/v1/cache/invalidate', payload: {} });
  const wrongFirst = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: `${reg.host}/demo/app` } });
  t.equal(wrongFirst.json().password, WRONG);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const wrong = await testImage(app, `${reg.host}/demo/app`);
  t.match(wrong.json(), { ok: false, retriedWithFreshCredentials: true, error: { code: 'REGISTRY_UNAUTHORIZED' } });
});

t.test('credbroker test <image>: the CLI against the registry', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'htpasswd');
  const dir = tmpDir(t, 'credbroker-cli-test-');
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'local.json'), dockerConfigSecret('argocd', 'local', { [reg.host]: { username: 'alice', password: PASSWORD } }));
  writeFileSync(join(secrets, 'wrong.json'), dockerConfigSecret('argocd', 'wrong', { [reg.host]: { username: 'alice', password: WRONG } }));
  const confPath = join(dir, 'registries.conf');
  writeFileSync(confPath, conf(reg, 'pullsecret:argocd/local'));
  const env = cleanEnv(t, { KUBE_MODE: 'local', LOCAL_SECRETS_DIR: secrets, REGISTRIES_CONF_PATH: confPath, POD_NAMESPACE: 'argocd' });

  const ok = await runCli(t, ['test', `${reg.host}/demo/app:1.0`], { env });
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^source:\s+pullsecret:argocd\/local \(registry level\), docker config key 127\.0\.0\.1:\d+$/m);
  t.match(ok.stdout, /^auth:\s+basic, authenticated$/m);
  t.match(ok.stdout, /^tags:\s+1\.0$/m);
  t.match(ok.stdout, /^result:\s+ok /m);

  const wrong = await runCli(t, ['test', `${reg.host}/demo/app:1.0`, '--credentials', 'pullsecret:argocd/wrong'], { env });
  t.equal(wrong.code, 1, 'refused credentials exit 1');
  t.match(wrong.stdout, /^result:\s+REGISTRY_UNAUTHORIZED: /m);
  noSecret(t, wrong.stdout + wrong.stderr, 'the CLI output');

  const bad = await runCli(t, ['test', 'Not//Valid'], { env });
  t.equal(bad.code, 2, 'a bad image reference exits 2');
  t.match(bad.stderr, /INVALID_IMAGE_REFERENCE/);
});
