// The protocol routes: docker credential helper get/list and the kubelet credential provider.
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../src/config/duration.js';
import { KUBELET_PROVIDER_BIN, runBin } from '../helpers/credbroker-stub.js';
import { dockerConfigSecret, localApp, secretManifest, tmpDir } from '../helpers/app.js';

const NOT_FOUND = 'credentials not found in native keychain';
const KUBELET_API = 'credentialprovider.kubelet.k8s.io/v1';

const PW = {
  hub: 'hub-pw-5f1c2a',
  ghcr: 'ghcr:pw:7d3e91',
  teamA: 'team-a-pw-c0ffee',
  local: 'local-pw-ab12cd',
  refresh: 'refresh-tok-91be77',
  broken: 'broken-value-4455aa',
  ext: 'ext-pw-e0e0e0'
};

function conf (extScript: string): string {
  return `registries:
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
    credsexpire: 90s
  - name: Local
    prefix: 127.0.0.1:5055
    api_url: http://127.0.0.1:5055
    insecure: true
    credentials: pullsecret:argocd/local
  - name: Identity
    prefix: id.example.com
    credentials: pullsecret:argocd/identity
  - name: Broken
    prefix: broken.example.com
    credentials: secret:argocd/broken#creds
  - name: Scripted
    prefix: ecr.example.com
    credentials: ext:${extScript}
  - name: No creds
    prefix: plain.example.com
`;
}

const SECRETS = {
  'hub.json': dockerConfigSecret('argocd', 'hub', { 'https://index.docker.io/v1/': { username: 'hub-user', password: PW.hub } }),
  'ghcr.json': secretManifest('argocd', 'ghcr', { creds: `ghcr-user:${PW.ghcr}` }),
  'team-a.json': dockerConfigSecret('argocd', 'team-a', { 'ghcr.io/team-a': { username: 'team-a-user', password: PW.teamA } }),
  'local.json': dockerConfigSecret('argocd', 'local', { '127.0.0.1:5055': { username: 'local-user', password: PW.local } }),
  'identity.json': secretManifest('argocd', 'identity', {
    '.dockerconfigjson': JSON.stringify({ auths: { 'id.example.com': { identitytoken: PW.refresh } } })
  }, 'kubernetes.io/dockerconfigjson'),
  // no ':' separator: malformed, and the value must not be echoed anywhere
  'broken.json': secretManifest('argocd', 'broken', { creds: PW.broken })
};

async function setup (t: Test, settingsEnv: Record<string, string> = {}) {
  const dir = tmpDir(t, 'credbroker-helper-');
  const script = join(dir, 'ecr-login.sh');
  // an ECR-style token that says when it expires: two hours from now
  writeFileSync(script, `#!/bin/sh\nprintf '{"username":"AWS","password":"${PW.ext}","expiresAt":"%s"}\\n' "$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)"\n`);
  chmodSync(script, 0o755);
  return await localApp(t, { conf: conf(script), secrets: SECRETS, settingsEnv });
}

async function get (app: FastifyInstance, server: string) {
  return await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', headers: { 'content-type': 'text/plain' }, payload: server });
}

async function kubelet (app: FastifyInstance, body: unknown) {
  return await app.inject({ method: 'POST', url: '/v1/kubelet/credential-provider', payload: body as Record<string, unknown> });
}

function noSecretIn (t: Test, text: string, what: string): void {
  for (const v of Object.values(PW)) t.notOk(text.includes(v), `${what} holds no secret value`);
}

t.test('docker-credential-helper get: server URLs as docker, skopeo and podman send them', async (t) => {
  const { app } = await setup(t);
  const cases: Array<[string, string, string]> = [
    ['https://index.docker.io/v1/', 'hub-user', PW.hub],
    ['docker.io', 'hub-user', PW.hub],
    ['index.docker.io', 'hub-user', PW.hub],
    ['ghcr.io', 'ghcr-user', PW.ghcr],
    ['https://ghcr.io', 'ghcr-user', PW.ghcr],
    ['127.0.0.1:5055', 'local-user', PW.local],
    ['http://127.0.0.1:5055/v2/', 'local-user', PW.local],
    ['ghcr.io/team-a', 'team-a-user', PW.teamA],
    ['ghcr.io/team-a/app', 'team-a-user', PW.teamA],
    ['ghcr.io/team-ab', 'ghcr-user', PW.ghcr]
  ];
  for (const [server, username, secret] of cases) {
    const res = await get(app, server);
    t.equal(res.statusCode, 200, `${server}: 200`);
    t.equal(res.headers['cache-control'], 'no-store', `${server}: no-store`);
    t.same(res.json(), { ServerURL: server, Username: username, Secret: secret }, server);
  }
  const trailing = await get(app, 'ghcr.io\n');
  t.equal(trailing.statusCode, 200, 'a trailing newline is tolerated');
  t.equal(trailing.json().ServerURL, 'ghcr.io');
});

t.test('docker-credential-helper get: identity tokens and the not-found answer', async (t) => {
  const { app } = await setup(t);
  const id = await get(app, 'id.example.com');
  t.equal(id.statusCode, 200);
  t.same(id.json(), { ServerURL: 'id.example.com', Username: '<token>', Secret: PW.refresh }, 'an identity token is Username "<token>"');

  for (const server of ['quay.io', 'plain.example.com', '127.0.0.1:5056', 'ghcr.io.evil.example']) {
    const res = await get(app, server);
    t.equal(res.statusCode, 404, `${server}: 404`);
    t.equal(res.body, NOT_FOUND, `${server}: the protocol's exact text`);
    t.match(res.headers['content-type'], /^text\/plain/);
  }
});

t.test('docker-credential-helper get: bad bodies and failing sources', async (t) => {
  const { app, logs } = await setup(t);
  for (const body of ['', '   ', 'https://', 'a b', 'ghcr.io\nquay.io', 'x'.repeat(2000)]) {
    const res = await get(app, body);
    t.equal(res.statusCode, 400, `${JSON.stringify(body.slice(0, 20))}: 400`);
    t.equal(res.json().code, 'INVALID_REQUEST');
  }
  const json = await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', payload: { server: 'ghcr.io' } });
  t.equal(json.statusCode, 400, 'a JSON object is not a server URL');

  const broken = await get(app, 'broken.example.com');
  t.equal(broken.statusCode, 502, 'a failing source is an error, not "not found"');
  t.equal(broken.json().code, 'MALFORMED_CREDENTIALS');
  noSecretIn(t, broken.body, 'the error');
  noSecretIn(t, logs.join(''), 'the log');
});

t.test('docker-credential-helper list and audit lines', async (t) => {
  const { app, logs } = await setup(t);
  const res = await app.inject({ method: 'GET', url: '/v1/docker-credential-helper/list' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), {
    'docker.io': 'hub-user',
    'ghcr.io': 'ghcr-user',
    'ghcr.io/team-a': 'team-a-user',
    '127.0.0.1:5055': 'local-user',
    'id.example.com': '<token>',
    'ecr.example.com': 'AWS'
  }, 'every configured registry whose source works, with its user name only');
  noSecretIn(t, res.body, 'the list');

  await get(app, 'ghcr.io');
  const audit = logs.filter((l) => l.includes('"audit":"credential"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(audit.some((a) => a.image === 'ghcr.io' && a.registry === 'ghcr.io' && a.source === 'secret:argocd/ghcr#creds' && a.outcome === 'issued'),
    'the get wrote an audit line with registry and source');
  await get(app, 'quay.io');
  t.ok(logs.some((l) => l.includes('"audit":"credential"') && l.includes('"image":"quay.io"') && l.includes('NO_CREDENTIALS_CONFIGURED')),
    'a refusal is audited too');
  noSecretIn(t, logs.join(''), 'the log');
});

t.test('kubelet credential provider: response shape, cache key and duration', async (t) => {
  const { app, logs } = await setup(t);
  const req = (image: string) => ({ apiVersion: KUBELET_API, kind: 'CredentialProviderRequest', image });

  const ghcr = await kubelet(app, req('ghcr.io/org/app:1.2'));
  t.equal(ghcr.statusCode, 200);
  t.equal(ghcr.headers['cache-control'], 'no-store');
  const { cacheDuration: ghcrDuration, ...ghcrRest } = ghcr.json();
  t.same(ghcrRest, {
    apiVersion: KUBELET_API,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Image',
    auth: { 'ghcr.io/org/app': { username: 'ghcr-user', password: PW.ghcr } }
  }, 'ghcr.io/team-a is configured too: keyed by image');
  t.match(ghcrDuration, /^(30m0s|29m5\ds)$/, 'credsexpire 1h: half of it, as a Go duration');

  const hub = await kubelet(app, req('docker.io/library/nginx'));
  t.equal(hub.statusCode, 200);
  const hubBody = hub.json();
  t.equal(hubBody.cacheKeyType, 'Image', 'a pull secret is matched per image');
  t.same(hubBody.auth, { 'docker.io/library/nginx': { username: 'hub-user', password: PW.hub } });
  t.equal(hubBody.cacheDuration, '5m0s', 'no credsexpire nor expiry: a short default, so Secret changes reach the kubelet');

  const token = await kubelet(app, req('id.example.com/app:1'));
  t.equal(token.statusCode, 200);
  t.same(token.json().auth, {}, 'an identity token is not handed to the kubelet, which takes username/password only');
  t.notOk(token.body.includes(PW.refresh));

  const team = await kubelet(app, req('ghcr.io/team-a/app@sha256:' + 'b'.repeat(64)));
  t.equal(team.statusCode, 200);
  const { cacheDuration: teamDuration, ...teamRest } = team.json();
  t.match(teamDuration, /^4[45]s$/, 'credsexpire 90s: half of it');
  t.same(teamRest, {
    apiVersion: KUBELET_API,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Image',
    auth: { 'ghcr.io/team-a/app': { username: 'team-a-user', password: PW.teamA } }
  }, 'a path-scoped prefix is cached per image, never for the whole host');

  const local = await kubelet(app, req('127.0.0.1:5055/demo/app:1.0'));
  t.same(local.json().auth, { '127.0.0.1:5055/demo/app': { username: 'local-user', password: PW.local } }, 'host:port key with the image path');

  const ecr = await kubelet(app, req('ecr.example.com/team/app:2'));
  t.equal(ecr.statusCode, 200);
  const ecrBody = ecr.json();
  t.same(ecrBody.auth, { 'ecr.example.com': { username: 'AWS', password: PW.ext } });
  t.match(ecrBody.cacheDuration, /^(\d+h)?\d+m\d+s$/, 'a Go duration string');
  const ms = parseDuration(ecrBody.cacheDuration as string);
  t.ok(ms > 58 * 60_000 && ms <= 3_600_000, `half the life the script's expiresAt gives (${ecrBody.cacheDuration as string})`);
  t.equal(ecrBody.cacheKeyType, 'Registry', 'one script credential for a host without path-scoped prefixes');

  const none = await kubelet(app, req('quay.io/org/app'));
  t.equal(none.statusCode, 200, 'nothing configured: the kubelet pulls anonymously');
  t.same(none.json(), { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse', cacheKeyType: 'Registry', cacheDuration: '1m0s', auth: {} });

  t.ok(logs.some((l) => l.includes('"audit":"credential"') && l.includes('"image":"ghcr.io/org/app:1.2"') && l.includes('"outcome":"issued"')),
    'issued kubelet credentials are audited');

  const broken = await kubelet(app, req('broken.example.com/a/b'));
  t.equal(broken.statusCode, 502);
  t.equal(broken.json().code, 'MALFORMED_CREDENTIALS');
  noSecretIn(t, broken.body, 'the error');
  noSecretIn(t, logs.join(''), 'the log');
});

t.test('kubelet credential provider: bad requests are 400', async (t) => {
  const { app } = await setup(t);
  const bad: Array<[string, unknown]> = [
    ['v1beta1', { apiVersion: 'credentialprovider.kubelet.k8s.io/v1beta1', kind: 'CredentialProviderRequest', image: 'ghcr.io/a/b' }],
    ['wrong kind', { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse', image: 'ghcr.io/a/b' }],
    ['no image', { apiVersion: KUBELET_API, kind: 'CredentialProviderRequest' }],
    ['empty image', { apiVersion: KUBELET_API, kind: 'CredentialProviderRequest', image: '' }]
  ];
  for (const [what, body] of bad) {
    const res = await kubelet(app, body);
    t.equal(res.statusCode, 400, `${what}: 400`);
    t.equal(res.json().code, 'INVALID_REQUEST', what);
  }
  const invalid = await kubelet(app, { apiVersion: KUBELET_API, kind: 'CredentialProviderRequest', image: 'Not A Valid//Ref' });
  t.equal(invalid.statusCode, 400);
  t.equal(invalid.json().code, 'INVALID_IMAGE_REFERENCE');
});

t.test('static callers need a policy allowing resolve on the registry', async (t) => {
  const dir = tmpDir(t, 'credbroker-helper-auth-');
  const tokens = join(dir, 'tokens.yaml');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(tokens, `tokens:\n  - name: puller\n    sha256: ${createHash('sha256').update('helper-caller-token').digest('hex')}\n`);
  writeFileSync(policy, 'rules:\n  - subjects: ["static:puller"]\n    actions: [resolve]\n    registries: ["ghcr.io"]\n');
  const { app, logs } = await setup(t, { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy });
  const auth = { authorization: 'Bearer helper-caller-token', 'content-type': 'text/plain' };

  const anon = await get(app, 'ghcr.io');
  t.equal(anon.statusCode, 401);
  t.equal(anon.json().code, 'UNAUTHENTICATED');

  const ok = await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', headers: auth, payload: 'ghcr.io' });
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().Secret, PW.ghcr);
  t.ok(logs.some((l) => l.includes('"audit":"credential"') && l.includes('"caller":"static:puller"')), 'the audit line names the caller');

  const denied = await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', headers: auth, payload: 'docker.io' });
  t.equal(denied.statusCode, 403);
  t.equal(denied.json().code, 'FORBIDDEN');

  const list = await app.inject({ method: 'GET', url: '/v1/docker-credential-helper/list', headers: { authorization: 'Bearer helper-caller-token' } });
  t.equal(list.statusCode, 200);
  t.same(list.json(), { 'ghcr.io': 'ghcr-user', 'ghcr.io/team-a': 'team-a-user' }, 'list names only the registries the caller may use (ghcr.io covers ghcr.io/team-a)');
});

t.test('the kubelet provider bin against the service', async (t) => {
  const { app } = await setup(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const run = async (image: string) => await runBin(KUBELET_PROVIDER_BIN, [], {
    env: { CREDBROKER_URL: url },
    stdin: JSON.stringify({ apiVersion: KUBELET_API, kind: 'CredentialProviderRequest', image })
  });

  const ok = await run('ghcr.io/org/app:1.2');
  t.equal(ok.code, 0, ok.stderr);
  t.same(JSON.parse(ok.stdout).auth, { 'ghcr.io/org/app': { username: 'ghcr-user', password: PW.ghcr } });

  const none = await run('quay.io/org/app');
  t.equal(none.code, 0, 'nothing configured is an answer, not a failure');
  t.same(JSON.parse(none.stdout).auth, {});

  const broken = await run('broken.example.com/a/b');
  t.equal(broken.code, 1);
  t.match(broken.stderr, /credbroker answered 502 MALFORMED_CREDENTIALS/);
  t.equal(broken.stdout, '', 'the kubelet reads nothing on stdout');
  noSecretIn(t, broken.stderr, 'the error');
});
