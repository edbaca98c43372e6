// The kubelet credential provider's answers as the kubelet uses them: cache key type and auth
// keys never broader than what matched, cacheDuration within the credential's life, strict v1.
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import type { RegistriesConfig, RegistryEntry } from '../../src/registry/registries-conf.js';
import { goDuration, kubeletCacheDurationMs, kubeletScope, pathScopedHosts, type KubeletSource } from '../../src/http/kubelet.js';
import { findEndpoint } from '../../src/registry/endpoints.js';
import { parseImageReference } from '../../src/registry/image-ref.js';
import { dockerConfigSecret, localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { KUBELET_API, SimulatedKubelet, decodeStrict, parseGoDuration, type CredentialProviderResponse } from '../helpers/kubelet.js';

const PW = {
  org: 'org-pw-1f2e3d',
  teamC: 'team-c-pw-4a5b6c',
  q: 'quay-q-pw-778899',
  env: 'env-pw-aa11bb',
  ext: 'ext-pw-cc22dd',
  glob: 'glob-pw-ee33ff'
};

function entry (prefix: string, extra: Partial<RegistryEntry> = {}): RegistryEntry {
  return { name: prefix, prefix, default: false, insecure: false, limit: 20, ...extra } as unknown as RegistryEntry;
}

t.test('kubeletScope: Registry only when every image of the host gets the same answer', async (t) => {
  const conf = (entries: RegistryEntry[]): RegistriesConfig => ({ source: 'test', registries: entries });
  const secret: KubeletSource = { type: 'secret', level: 'registry' };
  const cases: Array<{ name: string, image: string, entries: RegistryEntry[], source?: KubeletSource, allowed?: boolean, want: 'Image' | 'Registry', key: string }> = [
    { name: 'a Secret field for a host-only prefix', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: secret, want: 'Registry', key: 'ghcr.io' },
    { name: 'env: at the registry level', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: { type: 'env', level: 'registry' }, want: 'Registry', key: 'ghcr.io' },
    { name: 'ext: at the registry level', image: 'ecr.example.com/a/b', entries: [entry('ecr.example.com')], source: { type: 'ext', level: 'registry' }, want: 'Registry', key: 'ecr.example.com' },
    { name: 'nothing configured on the host', image: 'quay.io/org/app', entries: [entry('ghcr.io/team-a')], want: 'Registry', key: 'quay.io' },
    { name: 'a port is part of the host', image: 'reg.example.com:5000/a/b', entries: [entry('reg.example.com/team')], source: undefined, want: 'Registry', key: 'reg.example.com:5000' },
    { name: 'a narrower prefix on the host exists', image: 'ghcr.io/org/app', entries: [entry('ghcr.io'), entry('ghcr.io/team-c')], source: secret, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'the matched prefix has a path', image: 'ghcr.io/team-c/app', entries: [entry('ghcr.io'), entry('ghcr.io/team-c')], source: secret, want: 'Image', key: 'ghcr.io/team-c/app' },
    { name: 'only a path-scoped prefix, image outside it', image: 'ghcr.io/other/app', entries: [entry('ghcr.io/team-c')], want: 'Image', key: 'ghcr.io/other/app' },
    { name: 'a pull secret (path-scoped and glob keys are matched per image)', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: { type: 'pullsecret', level: 'registry' }, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'a ServiceAccount\'s pull secrets', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: { type: 'serviceaccount', level: 'registry' }, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'request-level credentials', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: { type: 'secret', level: 'request' }, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'an Application annotation', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: { type: 'env', level: 'application' }, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'an image-level annotation', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: { type: 'secret', level: 'image' }, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'the policy allows only some paths', image: 'ghcr.io/org/app', entries: [entry('ghcr.io')], source: secret, allowed: false, want: 'Image', key: 'ghcr.io/org/app' },
    { name: 'no registry in the image (first segment is a namespace)', image: 'library/nginx', entries: [entry('docker.io')], source: secret, want: 'Image', key: 'docker.io/library/nginx' },
    { name: 'Docker Hub named explicitly', image: 'docker.io/library/nginx', entries: [entry('docker.io')], source: secret, want: 'Registry', key: 'docker.io' },
    { name: 'Docker Hub alias index.docker.io', image: 'index.docker.io/library/nginx', entries: [entry('docker.io')], source: secret, want: 'Registry', key: 'docker.io' },
    { name: 'Docker Hub with a path-scoped prefix under an alias', image: 'docker.io/library/nginx', entries: [entry('docker.io'), entry('registry-1.docker.io/team')], source: secret, want: 'Image', key: 'docker.io/library/nginx' },
    {
      name: 'registries.conf credentials for a path (<registry>=<spec>)',
      image: 'ghcr.io/team-c/app',
      entries: [entry('ghcr.io', { credentials: 'ghcr.io/team-c=secret:argocd/x#creds'})],
      source: secret,
      want: 'Image',
      key: 'ghcr.io/team-c/app'
    },
    {
      name: 'registries.conf credentials for the host (<registry>=<spec>)',
      image: 'ghcr.io/team-c/app',
      entries: [entry('ghcr.io', { credentials: 'ghcr.io=secret:argocd/x#creds'})],
      source: secret,
      want: 'Registry',
      key: 'ghcr.io'
    }
  ];
  for (const c of cases) {
    const config = conf(c.entries);
    const image = parseImageReference(c.image);
    const scope = kubeletScope({ image, endpoint: findEndpoint(config, image), pathScopedHosts: pathScopedHosts(config), source: c.source, callerAllowedOnHost: c.allowed ?? true });
    t.equal(scope.cacheKeyType, c.want, `${c.name}: ${c.want}`);
    t.equal(scope.authKey, c.key, `${c.name}: auth key ${c.key}`);
    t.equal(scope.reason === '', c.want === 'Registry', `${c.name}: a reason exactly when keyed by image`);
  }
});

t.test('pathScopedHosts is computed once per loaded configuration', async (t) => {
  const config: RegistriesConfig = { source: 'test', registries: [entry('ghcr.io'), entry('ghcr.io/team-c'), entry('quay.io')] };
  const first = pathScopedHosts(config);
  t.same([...first], ['ghcr.io']);
  t.equal(pathScopedHosts(config), first, 'the same set for the same configuration object');
});

t.test('kubeletCacheDurationMs: half the remaining life, counted from the fetch, never below zero', async (t) => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const min = 60_000;
  const cases: Array<[string, Parameters<typeof kubeletCacheDurationMs>[0], number]> = [
    ['no expiry, no credsexpire: the fallback', { nowMs: now, fetchedAtMs: now, expiresAtMs: null, credsExpireMs: undefined, fallbackMs: 5 * min }, 5 * min],
    ['credsexpire 1h fetched now', { nowMs: now, fetchedAtMs: now, expiresAtMs: null, credsExpireMs: 60 * min, fallbackMs: 5 * min }, 30 * min],
    ['credsexpire 1h fetched 40 minutes ago', { nowMs: now, fetchedAtMs: now - 40 * min, expiresAtMs: null, credsExpireMs: 60 * min, fallbackMs: 5 * min }, 10 * min],
    ['credsexpire passed (a stale entry)', { nowMs: now, fetchedAtMs: now - 2 * 60 * min, expiresAtMs: null, credsExpireMs: 60 * min, fallbackMs: 5 * min }, 0],
    ['expiresAt in 12h (ECR)', { nowMs: now, fetchedAtMs: now, expiresAtMs: now + 12 * 60 * min, credsExpireMs: undefined, fallbackMs: 5 * min }, 6 * 60 * min],
    ['expiresAt earlier than credsexpire', { nowMs: now, fetchedAtMs: now - min, expiresAtMs: now + 10 * min, credsExpireMs: 60 * min, fallbackMs: 5 * min }, 5 * min],
    ['credsexpire earlier than expiresAt', { nowMs: now, fetchedAtMs: now - 50 * min, expiresAtMs: now + 12 * 60 * min, credsExpireMs: 60 * min, fallbackMs: 5 * min }, 5 * min],
    ['expiresAt in the past', { nowMs: now, fetchedAtMs: now - min, expiresAtMs: now - 1000, credsExpireMs: undefined, fallbackMs: 5 * min }, 0]
  ];
  for (const [name, input, want] of cases) t.equal(kubeletCacheDurationMs(input), want, name);
  t.equal(goDuration(90_000), '1m30s');
  t.equal(goDuration(6 * 3_600_000), '6h0m0s');
  t.equal(goDuration(999), '0s', 'under a second: 0s, which the kubelet does not cache');
  t.equal(goDuration(-5), '0s');
});

// k8s.io/kubernetes pkg/credentialprovider/plugin Test_Provide and Test_ProvideParallel, run on
// the simulated kubelet: the simulation must behave as upstream's tests say the kubelet does
t.test('the simulated kubelet passes the upstream plugin provider cases', async (t) => {
  const user = { username: 'user', password: 'password' };
  const cases: Array<[string, 'Image' | 'Registry' | 'Global', string, string]> = [
    ['exact image match, with Registry cache key', 'Registry', 'test.registry.io', 'test.registry.io/foo/bar'],
    ['exact image match, with Image cache key', 'Image', 'test.registry.io/foo/bar', 'test.registry.io/foo/bar'],
    ['exact image match, with Global cache key', 'Global', 'test.registry.io', 'test.registry.io'],
    ['wild card image match, with Registry cache key', 'Registry', '*.registry.io:8080', 'test.registry.io:8080/foo'],
    ['wild card image match, with Image cache key', 'Image', '*.*.registry.io', 'foo.bar.registry.io/foo/bar'],
    ['wild card image match, with Global cache key', 'Global', '*.registry.io', 'test.registry.io']
  ];
  for (const [name, cacheKeyType, key, image] of cases) {
    const k = new SimulatedKubelet(async () => ({ apiVersion: KUBELET_API, kind: 'CredentialProviderResponse', cacheKeyType, auth: { [key]: user } }));
    t.same(await k.provide(image), { [key]: user }, name);
    t.same(await k.credentialsFor(image), [user], `${name}: the keyring matches the key`);
  }
  const parallel = new SimulatedKubelet(async () => ({ apiVersion: KUBELET_API, kind: 'CredentialProviderResponse', cacheKeyType: 'Registry', cacheDuration: '1m0s', auth: { 'test.registry.io': user } }));
  for (const repo of ['a1b2c', 'd3e4f', 'g5h6i']) t.same(await parallel.provide(`test1.registry.io/${repo}`), { 'test.registry.io': user });
  t.equal(parallel.calls, 1, 'a Registry-keyed answer serves every image of the registry');
  t.equal(parseGoDuration('1h30m'), 90 * 60_000);
  t.throws(() => parseGoDuration('5 minutes'));
});

function conf (script: string): string {
  return `registries:
  - name: GitHub
    prefix: ghcr.io
    credentials: pullsecret:argocd/ghcr
  - name: Quay team
    prefix: quay.io/team-q
    credentials: secret:argocd/quay#creds
  - name: Env
    prefix: env.example.com
    credentials: env:KUBELET_TEST_CREDS
    credsexpire: 10m
  - name: Scripted
    prefix: ecr.example.com
    credentials: ext:${script}
  - name: Globbed
    prefix: a.glob.example.com
    credentials: pullsecret:argocd/glob
`;
}

const SECRETS = {
  // the pull secret: one key for the host, one for a team's path
  'ghcr.json': dockerConfigSecret('argocd', 'ghcr', {
    'ghcr.io': { username: 'org-user', password: PW.org },
    'ghcr.io/team-c': { username: 'team-c-user', password: PW.teamC }
  }),
  'quay.json': secretManifest('argocd', 'quay', { creds: `q-user:${PW.q}` }),
  'glob.json': dockerConfigSecret('argocd', 'glob', { '*.glob.example.com/team': { username: 'glob-user', password: PW.glob } })
};

async function setup (t: Test, settingsEnv: Record<string, string> = {}) {
  const dir = tmpDir(t, 'credbroker-kubelet-');
  const script = join(dir, 'ecr-login.sh');
  writeFileSync(script, `#!/bin/sh\nprintf '{"username":"AWS","password":"${PW.ext}","expiresAt":"%s"}\\n' "$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)"\n`);
  chmodSync(script, 0o755);
  return await localApp(t, { conf: conf(script), secrets: SECRETS, settingsEnv, env: { KUBELET_TEST_CREDS: `env-user:${PW.env}` } });
}

async function ask (app: FastifyInstance, image: string, headers: Record<string, string> = {}): Promise<CredentialProviderResponse> {
  const res = await app.inject({ method: 'POST', url: '/v1/kubelet/credential-provider', headers, payload: { apiVersion: KUBELET_API, kind: 'CredentialProviderRequest', image } });
  if (res.statusCode !== 200) throw new Error(`${image}: ${res.statusCode} ${res.body}`);
  return decodeStrict(res.body);
}

// what each image must be pulled with, whatever the kubelet asked before (null: anonymously)
const WANT: Array<[string, string | null]> = [
  ['ghcr.io/team-c/app', 'team-c-user'],
  ['ghcr.io/org/app', 'org-user'],
  ['ghcr.io/team-c/tools/cli', 'team-c-user'],
  ['ghcr.io/other/app', 'org-user'],
  ['quay.io/team-q/app', 'q-user'],
  ['quay.io/other/app', null],
  ['env.example.com/a/app', 'env-user'],
  ['env.example.com/b/app', 'env-user'],
  ['ecr.example.com/team/app', 'AWS'],
  ['a.glob.example.com/team/app', 'glob-user'],
  ['a.glob.example.com/other/app', null],
  ['docker.io/library/nginx', null]
];

t.test('through the kubelet\'s cache, every image gets its own credential, in any order', async (t) => {
  const { app } = await setup(t);
  const orders = [WANT, [...WANT].reverse(), [...WANT.filter((_, i) => i % 2 === 1), ...WANT.filter((_, i) => i % 2 === 0)]];
  for (const [n, order] of orders.entries()) {
    const kubelet = new SimulatedKubelet(async (image) => await ask(app, image));
    for (const [image, user] of order) {
      const creds = await kubelet.credentialsFor(image);
      t.equal(creds[0]?.username ?? null, user, `order ${n}: ${image} → ${user ?? 'anonymous'}`);
    }
  }
});

t.test('the answers: keys carry the matched path, Registry where it is safe, durations within the life', async (t) => {
  const { app, logs } = await setup(t);
  const teamC = await ask(app, 'ghcr.io/team-c/app');
  t.same(teamC, {
    apiVersion: KUBELET_API,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Image',
    cacheDuration: '5m0s',
    auth: { 'ghcr.io/team-c/app': { username: 'team-c-user', password: PW.teamC } }
  }, 'a path-scoped docker-config key: keyed by image, auth key with the path');
  const org = await ask(app, 'ghcr.io/org/app:1.2');
  t.equal(org.cacheKeyType, 'Image', 'the host key of a pull secret that also has a path key is not cached for the host');
  t.same(Object.keys(org.auth ?? {}), ['ghcr.io/org/app']);

  const q = await ask(app, 'quay.io/team-q/app');
  t.equal(q.cacheKeyType, 'Image', 'a path-scoped registries.conf prefix');
  t.same(q.auth, { 'quay.io/team-q/app': { username: 'q-user', password: PW.q } });
  const qOther = await ask(app, 'quay.io/other/app');
  t.same(qOther, { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse', cacheKeyType: 'Image', cacheDuration: '1m0s', auth: {} },
    'an empty answer on a host with a path-scoped prefix is not cached for the host either');

  const env = await ask(app, 'env.example.com/a/app');
  t.equal(env.cacheKeyType, 'Registry', 'one credential for the whole host: the kubelet may keep it for the host');
  t.same(env.auth, { 'env.example.com': { username: 'env-user', password: PW.env } });
  const envMs = parseGoDuration(env.cacheDuration as string);
  t.ok(envMs <= 5 * 60_000 && envMs >= 5 * 60_000 - 3000, `credsexpire 10m: half of it (${env.cacheDuration as string})`);

  const ecr = await ask(app, 'ecr.example.com/team/app');
  t.equal(ecr.cacheKeyType, 'Registry');
  const ecrMs = parseGoDuration(ecr.cacheDuration as string);
  t.ok(ecrMs <= 3_600_000 && ecrMs > 3_600_000 - 90_000, `expiresAt in 2h: about 1h (${ecr.cacheDuration as string})`);

  const none = await ask(app, 'registry.example.org/a/b');
  t.same(none, { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse', cacheKeyType: 'Registry', cacheDuration: '1m0s', auth: {} },
    'nothing configured for the host: an empty answer for the host');

  t.ok(logs.some((l) => l.includes('keyed by image') && l.includes('path-scoped prefix on quay.io')), 'the debug line says why an answer is keyed by image');
  for (const v of Object.values(PW)) {
    t.notOk(logs.join('').includes(v), 'no secret value in the log');
  }
});

t.test('a caller allowed on some paths of a host gets answers keyed by image', async (t) => {
  const dir = tmpDir(t, 'credbroker-kubelet-auth-');
  const tokens = join(dir, 'tokens.yaml');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(tokens, `tokens:\n  - name: node\n    sha256: ${createHash('sha256').update('kubelet-node-token').digest('hex')}\n`);
  writeFileSync(policy, 'rules:\n  - subjects: ["static:node"]\n    actions: [resolve]\n    registries: ["env.example.com/a", "ecr.example.com"]\n');
  const { app, logs } = await setup(t, { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy });
  const auth = { authorization: 'Bearer kubelet-node-token' };
  const a = await ask(app, 'env.example.com/a/app', auth);
  t.equal(a.cacheKeyType, 'Image', 'env.example.com/b is denied to this caller: not cached for the host');
  t.same(Object.keys(a.auth ?? {}), ['env.example.com/a/app']);
  const ecr = await ask(app, 'ecr.example.com/x/y', auth);
  t.equal(ecr.cacheKeyType, 'Registry', 'allowed on the whole host');
  t.notOk(logs.some((l) => l.includes('request denied by policy')), 'the scope check writes no denial line');
  const denied = await app.inject({ method: 'POST', url: '/v1/kubelet/credential-provider', headers: auth, payload: { apiVersion: KUBELET_API, kind: 'CredentialProviderRequest', image: 'env.example.com/b/app' } });
  t.equal(denied.statusCode, 403);
});
