import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { dockerConfigSecret, eventually, localApp, secretManifest, tmpDir } from '../helpers/app.js';

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
    credsexpire: 1h
  - name: Team A
    prefix: ghcr.io/team-a
    credentials: pullsecret:argocd/team-a
  - name: Quay
    prefix: quay.io
    credentials: env:QUAY_CREDS
  - name: Internal
    prefix: registry.example.com:5000
    credentials: serviceaccount:argocd/puller
  - name: No creds
    prefix: plain.example.com
`;

const SECRETS = {
  'hub.json': dockerConfigSecret('argocd', 'hub', { 'https://index.docker.io/v1/': { username: 'hub-user', password: 'hub-pass-1' } }),
  'ghcr.json': secretManifest('argocd', 'ghcr', { creds: 'ghcr-user:ghcr:pass:with:colons' }),
  'team-a.json': dockerConfigSecret('argocd', 'team-a', {
    'ghcr.io': { username: 'any-user', password: 'any-pass' },
    'ghcr.io/team-a': { username: 'team-a-user', password: 'team-a-pass' }
  }),
  'puller.yaml': `apiVersion: v1
kind: ServiceAccount
metadata: { name: puller, namespace: argocd }
imagePullSecrets: [{ name: missing }, { name: internal }]
---
${dockerConfigSecret('argocd', 'internal', { 'registry.example.com:5000': { username: 'int-user', password: 'int-pass' } })}
`,
  'other-ns.json': dockerConfigSecret('elsewhere', 'hub', { 'docker.io': { username: 'x', password: 'elsewhere-pass' } })
};

async function resolve (app: import('fastify').FastifyInstance, body: Record<string, unknown>) {
  return await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: body });
}

t.test('every reference type resolves from registries.conf', async (t) => {
  const { app, logs } = await localApp(t, { conf: CONF, secrets: SECRETS, env: { QUAY_CREDS: 'quay-user:quay-pass' } });
  const cases: Array<[string, string, string, string, string]> = [
    ['nginx', 'docker.io/library/nginx', 'pullsecret:argocd/hub', 'hub-user', 'hub-pass-1'],
    ['index.docker.io/library/nginx:1.25', 'docker.io/library/nginx', 'pullsecret:argocd/hub', 'hub-user', 'hub-pass-1'],
    ['ghcr.io/org/app:1.2', 'ghcr.io/org/app', 'secret:argocd/ghcr#creds', 'ghcr-user', 'ghcr:pass:with:colons'],
    ['ghcr.io/team-a/app@sha256:' + 'a'.repeat(64), 'ghcr.io/team-a/app', 'pullsecret:argocd/team-a', 'team-a-user', 'team-a-pass'],
    ['ghcr.io/team-ab/app', 'ghcr.io/team-ab/app', 'secret:argocd/ghcr#creds', 'ghcr-user', 'ghcr:pass:with:colons'],
    ['quay.io/org/app', 'quay.io/org/app', 'env:QUAY_CREDS', 'quay-user', 'quay-pass'],
    ['registry.example.com:5000/a/b:tag', 'registry.example.com:5000/a/b', 'serviceaccount:argocd/puller', 'int-user', 'int-pass']
  ];
  for (const [image, normalized, ref, username, password] of cases) {
    const res = await resolve(app, { image });
    t.equal(res.statusCode, 200, `${image}: 200`);
    t.equal(res.headers['cache-control'], 'no-store', `${image}: no-store`);
    const body = res.json();
    t.equal(body.normalized, normalized, `${image}: normalized`);
    t.equal(body.source.ref, ref, `${image}: source`);
    t.equal(body.source.level, 'registry');
    t.equal(body.username, username, `${image}: username`);
    t.equal(body.password, password, `${image}: password`);
    t.equal(body.tokenType, 'basic');
  }
  const get = await app.inject({ method: 'GET', url: '/v1/credentials?image=ghcr.io/org/app' });
  t.equal(get.statusCode, 200);
  t.equal(get.json().cached, true, 'second ask is a cache hit');
  t.equal(get.headers['cache-control'], 'no-store');

  const audit = logs.filter((l) => l.includes('"audit":"credential"'));
  t.ok(audit.length >= cases.length, 'one audit line per issued credential');
  const line = JSON.parse(audit.find((l) => l.includes('quay.io')) as string);
  t.match(line, { image: 'quay.io/org/app', registry: 'quay.io', source: 'env:QUAY_CREDS', outcome: 'issued', cache: 'miss' });
  for (const [, , , , password] of cases) {
    t.notOk(logs.some((l) => l.includes(password)), `password ${password} never logged`);
  }
});

t.test('errors have the SPEC shape and stable codes, and no secret values', async (t) => {
  const dir = tmpDir(t);
  const failing = join(dir, 'fail.sh');
  writeFileSync(failing, '#!/bin/sh\necho "leaked-script-secret"\necho "leaked-stderr-secret" >&2\nexit 3\n');
  chmodSync(failing, 0o755);
  const conf = CONF + `  - name: Broken script
    prefix: script.example.com
    credentials: ext:${failing}
  - name: Missing secret
    prefix: missing.example.com
    credentials: secret:argocd/nope#creds
  - name: Missing field
    prefix: field.example.com
    credentials: secret:argocd/ghcr#other
  - name: Bad value
    prefix: bad.example.com
    credentials: secret:argocd/bad#creds
  - name: Unset env
    prefix: env.example.com
    credentials: env:NOT_SET_ANYWHERE
  - name: No match
    prefix: nomatch.example.com
    credentials: pullsecret:argocd/hub
`;
  const { app, logs } = await localApp(t, {
    conf,
    secrets: { ...SECRETS, 'bad.json': secretManifest('argocd', 'bad', { creds: 'no-colon-leaked-value' }) }
  });
  const cases: Array<[unknown, number, string]> = [
    [{ image: 'UPPER/Case' }, 400, 'INVALID_IMAGE_REFERENCE'],
    [{ image: 'a'.repeat(300) + '/x' }, 400, 'INVALID_IMAGE_REFERENCE'],
    [{ image: 'ghcr.io/x', credentials: 'nonsense:foo' }, 400, 'INVALID_CREDENTIAL_SPEC'],
    [{ image: 'plain.example.com/x' }, 404, 'NO_CREDENTIALS_CONFIGURED'],
    [{ image: 'unconfigured.example.org/x' }, 404, 'NO_CREDENTIALS_CONFIGURED'],
    [{ image: 'script.example.com/x' }, 502, 'SCRIPT_FAILED'],
    [{ image: 'missing.example.com/x' }, 502, 'SECRET_NOT_FOUND'],
    [{ image: 'field.example.com/x' }, 502, 'SECRET_FIELD_MISSING'],
    [{ image: 'bad.example.com/x' }, 502, 'MALFORMED_CREDENTIALS'],
    [{ image: 'env.example.com/x' }, 502, 'ENV_NOT_SET'],
    [{ image: 'nomatch.example.com/x' }, 502, 'NO_MATCHING_AUTH_ENTRY'],
    [{ image: 'ghcr.io/x', credentials: 'pullsecret:elsewhere/hub' }, 403, 'NAMESPACE_NOT_ALLOWED'],
    [{ image: 'ghcr.io/x', credentials: 'env:QUAY_CREDS' }, 403, 'OVERRIDE_NOT_ALLOWED'],
    [{ image: 'ghcr.io/x', credentials: `ext:${failing}` }, 403, 'OVERRIDE_NOT_ALLOWED'],
    [{}, 400, 'INVALID_REQUEST'],
    [{ image: 'nginx', unknown: true }, 400, 'INVALID_REQUEST'],
    [{ image: 42 }, 400, 'INVALID_REQUEST']
  ];
  const bodies: string[] = [];
  for (const [payload, status, code] of cases) {
    const res = await resolve(app, payload as Record<string, unknown>);
    bodies.push(res.body);
    t.equal(res.statusCode, status, `${JSON.stringify(payload).slice(0, 60)} → ${status}`);
    const body = res.json();
    t.equal(body.code, code, `code ${code}`);
    t.equal(body.statusCode, status);
    t.type(body.error, 'string');
    t.type(body.message, 'string');
  }
  const notJson = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers: { 'content-type': 'application/json' }, payload: '{"image": ' });
  t.equal(notJson.statusCode, 400);
  t.equal(notJson.json().code, 'INVALID_REQUEST');
  const tooBig = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: 'x'.repeat(100_000) } });
  t.equal(tooBig.statusCode, 413);
  t.equal(tooBig.json().code, 'PAYLOAD_TOO_LARGE');
  const unknownRoute = await app.inject({ method: 'GET', url: '/v1/nothing?x=1' });
  t.equal(unknownRoute.json().code, 'NOT_FOUND');

  const metrics = (await app.inject('/metrics')).body;
  const everything = [...bodies, ...logs, metrics].join('\n');
  for (const secret of ['leaked-script-secret', 'leaked-stderr-secret', 'no-colon-leaked-value', 'hub-pass-1', 'elsewhere-pass', 'quay-pass']) {
    t.notOk(everything.includes(secret), `${secret} appears nowhere`);
  }
});

t.test('request overrides in AUTH_MODE=none', async (t) => {
  const { app } = await localApp(t, { conf: CONF, secrets: SECRETS });
  const ok = await resolve(app, { image: 'example.org/app', credentials: 'secret:argocd/ghcr#creds' });
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), { source: { level: 'request', ref: 'secret:argocd/ghcr#creds' }, username: 'ghcr-user' });
  const ps = await resolve(app, { image: 'ghcr.io/team-a/x', credentials: 'PullSecret:argocd/team-a' });
  t.equal(ps.statusCode, 200, 'type word is case-insensitive');
  t.match(ps.json(), { source: { type: 'pullsecret', ref: 'pullsecret:argocd/team-a', level: 'request' }, username: 'team-a-user', matchedKey: 'ghcr.io/team-a' });
});

t.test('explain shows every step and never a secret value', async (t) => {
  const { app } = await localApp(t, { conf: CONF, secrets: SECRETS });
  const res = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image: 'ghcr.io/team-a/app:1' } });
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.match(body, {
    image: { normalized: 'ghcr.io/team-a/app', registry: 'ghcr.io', repository: 'team-a/app', tag: '1' },
    endpoint: { prefix: 'ghcr.io/team-a', configured: true },
    source: { ref: 'pullsecret:argocd/team-a', level: 'registry' },
    match: { key: 'ghcr.io/team-a' },
    cache: { state: 'miss' },
    outcome: { ok: true }
  });
  t.same(body.steps.map((s: { level: string, taken: boolean }) => [s.level, s.taken]), [['request', false], ['application', false], ['registry', true]]);
  t.notOk(res.body.includes('team-a-pass'));
  const again = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image: 'ghcr.io/team-a/app:1' } });
  t.equal(again.json().cache.state, 'hit');
  const failing = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image: 'plain.example.com/x' } });
  t.equal(failing.statusCode, 200);
  t.match(failing.json(), { endpoint: { name: 'No creds' }, outcome: { ok: false, code: 'NO_CREDENTIALS_CONFIGURED' } });
  const inferred = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image: 'example.org:8443/a/b' } });
  t.match(inferred.json(), { endpoint: { apiUrl: 'https://example.org:8443', configured: false } });
});

t.test('a changed Secret is served within a second; a deleted one is gone', async (t) => {
  const { app, writeSecret, secretsDir } = await localApp(t, { conf: CONF, secrets: SECRETS });
  t.equal((await resolve(app, { image: 'nginx' })).json().password, 'hub-pass-1');
  t.equal((await resolve(app, { image: 'nginx' })).json().cached, true);
  const started = Date.now();
  writeSecret('hub.json', dockerConfigSecret('argocd', 'hub', { 'docker.io': { username: 'hub-user', password: 'hub-pass-2' } }));
  t.ok(await eventually(async () => (await resolve(app, { image: 'nginx' })).json().password === 'hub-pass-2'), 'new password served');
  t.comment(`served after ${Date.now() - started} ms`);
  const { rmSync } = await import('node:fs');
  rmSync(join(secretsDir, 'hub.json'));
  t.ok(await eventually(async () => (await resolve(app, { image: 'nginx' })).json().code === 'SECRET_NOT_FOUND'), 'deleted Secret → SECRET_NOT_FOUND');
});

t.test('registries.conf is reloaded; a bad edit keeps the last good configuration', async (t) => {
  const { app, writeConf, metrics, logs } = await localApp(t, { conf: CONF, secrets: SECRETS });
  t.equal((await resolve(app, { image: 'plain.example.com/x' })).statusCode, 404);
  writeConf(CONF.replace('  - name: No creds\n    prefix: plain.example.com\n', '  - name: No creds\n    prefix: plain.example.com\n    credentials: secret:argocd/ghcr#creds\n'));
  t.ok(await eventually(async () => (await resolve(app, { image: 'plain.example.com/x' })).statusCode === 200), 'new entry served');
  writeConf(CONF + '  - name: Broken\n    prefix: broken.example.com\n    bogus_key: 1\n');
  t.ok(await eventually(async () => (await metrics.configReloads.get()).values.some((v) => v.labels.result === 'failure' && v.value > 0)), 'failure counted');
  t.equal((await resolve(app, { image: 'plain.example.com/x' })).statusCode, 200, 'last good configuration kept');
  const ready = await app.inject('/readyz');
  t.equal(ready.statusCode, 200, 'still ready');
  t.match(ready.json(), { checks: { config: { detail: { lastReload: 'failure', error: /bogus_key/ } } } });
  t.ok(logs.some((l) => l.includes('reload failed')), 'reported in the log');
  const regs = await app.inject('/v1/registries');
  t.match(regs.json(), { lastReload: { result: 'failure' } });
});

t.test('refresh: true refetches, at most once a second per reference', async (t) => {
  const dir = tmpDir(t);
  const counter = join(dir, 'runs');
  const script = join(dir, 'creds.sh');
  writeFileSync(script, `#!/bin/sh\necho run >> ${counter}\necho "bot:pass-$(wc -l < ${counter} | tr -d ' ')"\n`);
  chmodSync(script, 0o755);
  const { app } = await localApp(t, { conf: `registries:\n  - name: S\n    prefix: s.example.com\n    credentials: ext:${script}\n` });
  const runs = () => readFileSync(counter, 'utf8').trim().split('\n').length;
  t.equal((await resolve(app, { image: 's.example.com/a' })).json().password, 'pass-1');
  t.equal((await resolve(app, { image: 's.example.com/b' })).json().cached, true, 'one fetch per reference at registry level');
  const r1 = await resolve(app, { image: 's.example.com/a', refresh: true });
  t.equal(r1.json().password, 'pass-1', 'refresh within a second of the fetch reuses it');
  t.equal(runs(), 1);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const r2 = await resolve(app, { image: 's.example.com/a', refresh: true });
  t.equal(r2.json().password, 'pass-2', 'refresh after a second refetches');
  t.equal(r2.json().cached, false);
  t.equal(runs(), 2);
});

t.test('50 concurrent misses share one fetch', async (t) => {
  const dir = tmpDir(t);
  const counter = join(dir, 'runs');
  const script = join(dir, 'slow.sh');
  writeFileSync(script, `#!/bin/sh\necho run >> ${counter}\nsleep 0.3\necho "bot:slow-pass"\n`);
  chmodSync(script, 0o755);
  const { app, metrics } = await localApp(t, { conf: `registries:\n  - name: S\n    prefix: s.example.com\n    credentials: ext:${script}\n` });
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => await resolve(app, { image: `s.example.com/app-${i}` })));
  t.ok(results.every((r) => r.statusCode === 200 && r.json().password === 'slow-pass'), 'all 50 answered');
  t.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 1, 'the script ran once');
  const runs = await metrics.extRuns.get();
  t.equal(runs.values.find((v) => v.labels.outcome === 'ok')?.value, 1, 'metric counts one run');
});

t.test('validate, registries and cache invalidation', async (t) => {
  const { app } = await localApp(t, { conf: CONF, secrets: SECRETS });
  const v = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'Secret:argocd/x#creds' } });
  t.equal(v.statusCode, 200);
  t.match(v.json(), { valid: true, canonical: 'secret:argocd/x#creds', reference: { type: 'secret', namespace: 'argocd', name: 'x', field: 'creds' } });
  const bad = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'secret:argocd/x' } });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, 'INVALID_CREDENTIAL_SPEC');
  // the registries.conf form is what a user checks before writing it there: accepted, prefix reported
  const pre = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'ghcr.io/team-a=env:X' } });
  t.equal(pre.statusCode, 200);
  t.same(pre.json(), { valid: true, prefix: 'ghcr.io/team-a', canonical: 'env:X', reference: { type: 'env', variable: 'X' } });
  const flagged = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'localhost:5000=pullsecret:argocd/x', registryPrefix: true } });
  t.match(flagged.json(), { prefix: 'localhost:5000', canonical: 'pullsecret:argocd/x' });
  const plain = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'ext:/opt/get=creds.sh' } });
  t.same(plain.json().reference, { type: 'ext', path: '/opt/get=creds.sh' }, 'an "=" in an ext path is no prefix');
  t.equal(plain.json().prefix, undefined);
  const dotted = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'ext:/opt/h/../get-creds' } });
  t.equal(dotted.statusCode, 400);
  t.equal(dotted.json().code, 'INVALID_CREDENTIAL_SPEC');

  await resolve(app, { image: 'nginx' });
  await resolve(app, { image: 'ghcr.io/org/a' });
  const regs = await app.inject('/v1/registries');
  t.equal(regs.statusCode, 200);
  const list = regs.json().registries as Array<{ prefix: string, credentials?: string, cache: { entries: number }, credsexpire?: string }>;
  t.match(list.find((r) => r.prefix === 'ghcr.io'), { credentials: 'secret:argocd/ghcr#creds', credsexpire: '3600s', cache: { entries: 1 } });
  t.notOk(regs.body.includes('ghcr:pass'), 'no credential values');
  const one = await app.inject({ method: 'POST', url: '/v1/cache/invalidate', payload: { registry: 'ghcr.io' } });
  t.same(one.json(), { invalidated: 1 });
  t.equal((await resolve(app, { image: 'ghcr.io/org/a' })).json().cached, false);
  const all = await app.inject({ method: 'POST', url: '/v1/cache/invalidate', payload: {} });
  t.equal(all.json().invalidated, 2);
});

// A name that is an Object.prototype member (constructor, toString, __proto__, …) is a name
// like any other: looked up as an own property, it is simply not there.
t.test('Object.prototype member names are not found, never a 500', async (t) => {
  const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', '__defineGetter__'];
  const envNames = names.filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
  const conf = 'registries:\n' + [
    ...envNames.map((n, i) => `  - { name: env-${i}, prefix: env${i}.example.com, credentials: "env:${n}" }`),
    ...names.filter((n) => /^[-._a-zA-Z0-9]+$/.test(n)).map((n, i) => `  - { name: field-${i}, prefix: field${i}.example.com, credentials: "secret:argocd/ghcr#${n}" }`)
  ].join('\n') + '\n';
  const { app, logs } = await localApp(t, { conf, secrets: SECRETS, env: { PLANTED: 'planted-user:planted-pass' } });
  for (let i = 0; i < envNames.length; i++) {
    const r = await resolve(app, { image: `env${i}.example.com/app` });
    t.equal(r.statusCode, 502, `env:${envNames[i]}`);
    t.equal(r.json().code, 'ENV_NOT_SET', `env:${envNames[i]}`);
  }
  const fields = names.filter((n) => /^[-._a-zA-Z0-9]+$/.test(n));
  for (let i = 0; i < fields.length; i++) {
    const r = await resolve(app, { image: `field${i}.example.com/app` });
    t.equal(r.statusCode, 502, `secret:argocd/ghcr#${fields[i]}`);
    t.equal(r.json().code, 'SECRET_FIELD_MISSING', `secret:argocd/ghcr#${fields[i]}`);
  }
  t.notOk(logs.join('').includes('planted-pass'), 'no value of the environment in any log line');
  t.notOk(logs.join('').includes('ghcr:pass'), 'no Secret value in any log line');
});
