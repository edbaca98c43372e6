// A live /metrics scrape after traffic that touches every credbroker_ family reachable in local
// mode, checked by the real `promtool check metrics` and against the metrics of docs/operations.md (names, labels, bounded values).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { createMetrics } from '../../src/metrics.js';
import { dockerConfigSecret, eventually, localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { kubeConfigFor, startFakeKubeApi } from '../helpers/fake-kube-api.js';
import { requireTool } from '../helpers/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** prom-client 15's default gauges named `_total`, which promtool rejects: left out of the scrape */
const PROM_CLIENT_LINT = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

// Every image, Secret, caller and application name holds MARK, so one search finds any of them in the scrape.
const MARK = 'zqx';
const SECRET_VALUES = {
  pull: 'pullsecret-value-Q7x9-never-shown',
  field: 'fieldsecret-value-K2m4-never-shown',
  env: 'envsecret-value-P5r8-never-shown',
  ext: 'extsecret-value-W3n6-never-shown',
  sa: 'sasecret-value-H8v1-never-shown',
  extLeak: 'extfail-stdout-value-never-shown',
  token: 'bearer-token-value-J4c7-never-shown',
  deniedToken: 'bearer-token-value-D9d2-never-shown'
};

/** The metrics of docs/operations.md: every family and the labels it must carry */
const SPEC_METRICS: Array<[string, 'counter' | 'gauge' | 'histogram', string[]]> = [
  ['credbroker_credential_requests_total', 'counter', ['outcome', 'source_type']],
  ['credbroker_cache_hits_total', 'counter', ['level']],
  ['credbroker_cache_misses_total', 'counter', ['level']],
  ['credbroker_cache_entries', 'gauge', []],
  ['credbroker_credential_fetch_duration_seconds', 'histogram', ['source_type']],
  ['credbroker_ext_script_runs_total', 'counter', ['outcome']],
  ['credbroker_kubernetes_requests_total', 'counter', ['verb', 'resource', 'code']],
  ['credbroker_config_reloads_total', 'counter', ['result']],
  ['credbroker_http_request_duration_seconds', 'histogram', ['method', 'route', 'status_code']],
  ['credbroker_build_info', 'gauge', ['version', 'node_version']],
  ['credbroker_kubernetes_request_duration_seconds', 'histogram', ['verb', 'resource']],
  ['credbroker_registry_request_duration_seconds', 'histogram', ['kind']],
  ['credbroker_secret_store_synced', 'gauge', []],
  ['credbroker_secret_store_disconnected_namespaces', 'gauge', []]
];

interface Sample { name: string, labels: Record<string, string>, value: number }

function parseScrape (text: string): { samples: Sample[], types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] as string, type[2] as string);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value (samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function promtoolCheck (promtool: string, scrape: string): { status: number | null, lines: string[] } {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: scrape, encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, lines: `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean) };
}

/** A registry v2 API on loopback: Basic auth, one repository, one tag. */
async function fakeRegistry (t: { teardown (fn: () => unknown): void }, user: string, pass: string): Promise<string> {
  const expected = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
    res.end(url.pathname === '/v2/' ? '{}' : JSON.stringify({ name: `${MARK}-repo/app`, tags: ['1.0'] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

t.test('a live scrape passes promtool and matches the README', async (t) => {
  const dir = tmpDir(t);
  const extScript = join(dir, `${MARK}-creds.sh`);
  writeFileSync(extScript, `#!/bin/sh\necho '{"username":"ext-user","password":"${SECRET_VALUES.ext}"}'\n`);
  const failScript = join(dir, `${MARK}-fail.sh`);
  writeFileSync(failScript, `#!/bin/sh\necho "${SECRET_VALUES.extLeak}"\nexit 4\n`);
  const slowScript = join(dir, `${MARK}-slow.sh`);
  writeFileSync(slowScript, '#!/bin/sh\nsleep 5\necho "late:late"\n');
  for (const s of [extScript, failScript, slowScript]) chmodSync(s, 0o755);
  const tokensFile = join(dir, 'tokens.yaml');
  writeFileSync(tokensFile, `tokens:\n  - { name: ${MARK}caller, sha256: ${sha256(SECRET_VALUES.token)} }\n  - { name: ${MARK}denied, sha256: ${sha256(SECRET_VALUES.deniedToken)} }\n`);
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, `rules:
  - subjects: ["static:${MARK}caller"]
    actions: [resolve, explain, test, validate, registries, status, invalidate]
    overrides: ["pullsecret:argocd/*", "secret:argocd/*"]
    applications: ["argocd/*"]
`);

  const registry = await fakeRegistry(t, 'field-user', SECRET_VALUES.field);
  const kube = await startFakeKubeApi();
  t.teardown(async () => await kube.close());
  kube.putApplication('argocd', `${MARK}-application`, {
    'argocd-image-updater.argoproj.io/image-list': `${MARK}alias=pull.example.com/${MARK}-app-image, ${MARK}other=pull.example.com/${MARK}-other-image`,
    [`argocd-image-updater.argoproj.io/${MARK}alias.pull-secret`]: `secret:argocd/${MARK}-field-secret#creds`,
    'argocd-image-updater.argoproj.io/pull-secret': `pullsecret:argocd/${MARK}-pull-secret`
  });

  const conf = `registries:
  - name: Pull
    prefix: pull.example.com
    credentials: pullsecret:argocd/${MARK}-pull-secret
  - name: Field
    prefix: field.example.com
    credentials: secret:argocd/${MARK}-field-secret#creds
  - name: Env
    prefix: env.example.com
    credentials: env:${MARK.toUpperCase()}_CREDS
  - name: Ext
    prefix: ext.example.com
    credentials: ext:${extScript}
  - name: Ext failing
    prefix: extfail.example.com
    credentials: ext:${failScript}
  - name: Ext slow
    prefix: extslow.example.com
    credentials: ext:${slowScript}
  - name: ServiceAccount
    prefix: sa.example.com
    credentials: serviceaccount:argocd/${MARK}-sa
  - name: Missing
    prefix: missing.example.com
    credentials: secret:argocd/${MARK}-missing-secret#creds
  - name: Nothing
    prefix: none.example.com
  - name: Loopback
    prefix: ${registry}
    api_url: http://${registry}
    credentials: secret:argocd/${MARK}-field-secret#creds
`;
  const secrets = {
    'pull.json': dockerConfigSecret('argocd', `${MARK}-pull-secret`, { 'pull.example.com': { username: 'pull-user', password: SECRET_VALUES.pull } }),
    'field.json': secretManifest('argocd', `${MARK}-field-secret`, { creds: `field-user:${SECRET_VALUES.field}` }),
    'sa.yaml': `apiVersion: v1
kind: ServiceAccount
metadata: { name: ${MARK}-sa, namespace: argocd }
imagePullSecrets: [{ name: ${MARK}-sa-pull }]
---
${dockerConfigSecret('argocd', `${MARK}-sa-pull`, { 'sa.example.com': { username: 'sa-user', password: SECRET_VALUES.sa } })}
`
  };
  const metrics = createMetrics();
  const { app, writeConf } = await localApp(t, {
    conf,
    secrets,
    env: { [`${MARK.toUpperCase()}_CREDS`]: `env-user:${SECRET_VALUES.env}` },
    settingsEnv: { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokensFile, AUTH_POLICY_PATH: policyFile, EXT_TIMEOUT: '300ms' },
    build: { metrics, kubeConfig: kubeConfigFor(kube) }
  });

  const auth = { authorization: `Bearer ${SECRET_VALUES.token}` };
  const post = async (url: string, payload: unknown, headers: Record<string, string> = auth) =>
    await app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers });
  const resolve = async (body: Record<string, unknown>) => await post('/v1/credentials/resolve', body);
  const scrape = async (a: FastifyInstance = app): Promise<string> => {
    const res = await a.inject('/metrics');
    t.equal(res.statusCode, 200, 'scrape answers');
    return res.body;
  };

  await t.test('registry-level cache hits and misses, ok and error outcomes, for a known sequence', async (t) => {
    // a secret: reference serves every image of its registry from one entry, and so does a
    // pull secret (one keyring entry, matched per repository when it is read)
    const sequence: Array<[string, boolean]> = [
      [`field.example.com/${MARK}-image-one:1.0`, false],
      [`field.example.com/${MARK}-image-two:2.0`, true],
      [`field.example.com/${MARK}-image-one`, true],
      [`pull.example.com/${MARK}-image-one:1.0`, false],
      [`pull.example.com/${MARK}-image-one:1.1`, true],
      [`pull.example.com/${MARK}-image-two`, true]
    ];
    for (const [image, cached] of sequence) {
      const res = await app.inject({ url: `/v1/credentials?image=${encodeURIComponent(image)}`, headers: auth });
      t.equal(res.statusCode, 200, `${image}: 200`);
      t.equal(res.json().cached, cached, `${image}: ${cached ? 'hit' : 'miss'}`);
    }
    const missing = await resolve({ image: `missing.example.com/${MARK}-image-three` });
    t.equal(missing.json().code, 'SECRET_NOT_FOUND');
    const { samples } = parseScrape(await scrape());
    t.equal(value(samples, 'credbroker_cache_misses_total', { level: 'registry' }), 3, 'misses: two fetches and the missing Secret');
    t.equal(value(samples, 'credbroker_cache_hits_total', { level: 'registry' }), 4, 'hits: the four later asks');
    t.equal(value(samples, 'credbroker_credential_requests_total', { outcome: 'ok', source_type: 'pullsecret' }), 3);
    t.equal(value(samples, 'credbroker_credential_requests_total', { outcome: 'ok', source_type: 'secret' }), 3);
    t.equal(value(samples, 'credbroker_credential_requests_total', { outcome: 'SECRET_NOT_FOUND', source_type: 'secret' }), 1);
    t.equal(value(samples, 'credbroker_credential_fetch_duration_seconds_count', { source_type: 'pullsecret' }), 1, 'one pullsecret fetch timed');
    t.equal(value(samples, 'credbroker_credential_fetch_duration_seconds_count', { source_type: 'secret' }), 2, 'two secret fetches timed (one failed)');
    t.equal(value(samples, 'credbroker_cache_entries', {}), 2, 'two entries cached');
  });

  await t.test('traffic over every source type, level, error and route', async (t) => {
    const ok = [
      { image: `field.example.com/${MARK}-image` },
      { image: `env.example.com/${MARK}-image` },
      { image: `ext.example.com/${MARK}-image` },
      { image: `ext.example.com/${MARK}-image`, refresh: true },
      { image: `sa.example.com/${MARK}-image` },
      { image: `pull.example.com/${MARK}-image`, credentials: `secret:argocd/${MARK}-field-secret#creds` },
      { image: `pull.example.com/${MARK}-app-image:1.0`, application: `${MARK}-application` },
      { image: `pull.example.com/${MARK}-other-image`, application: `${MARK}-application` }
    ];
    for (const body of ok) {
      const res = await resolve(body);
      t.equal(res.statusCode, 200, `${JSON.stringify(body)} → 200`);
    }
    const errors: Array<[Record<string, unknown>, string]> = [
      [{ image: `extfail.example.com/${MARK}-image` }, 'SCRIPT_FAILED'],
      [{ image: `extslow.example.com/${MARK}-image` }, 'SCRIPT_TIMEOUT'],
      [{ image: `none.example.com/${MARK}-image` }, 'NO_CREDENTIALS_CONFIGURED'],
      [{ image: `pull.example.com/${MARK}-image`, application: `${MARK}-no-such-application` }, 'APPLICATION_NOT_FOUND'],
      [{ image: `${MARK.toUpperCase()}/Bad` }, 'INVALID_IMAGE_REFERENCE'],
      [{ image: `pull.example.com/${MARK}-image`, credentials: `env:${MARK.toUpperCase()}_CREDS` }, 'OVERRIDE_NOT_ALLOWED']
    ];
    for (const [body, code] of errors) t.equal((await resolve(body)).json().code, code, code);

    t.equal((await post('/v1/credentials/explain', { image: `pull.example.com/${MARK}-image` })).statusCode, 200, 'explain');
    t.equal((await post('/v1/credential-specs/validate', { spec: `secret:argocd/${MARK}-field-secret#creds` })).statusCode, 200, 'validate');
    const tested = await post('/v1/credentials/test', { image: `${registry}/${MARK}-repo/app` });
    t.match(tested.json(), { ok: true, authScheme: 'basic', tags: ['1.0'] }, 'registry test');
    t.equal((await app.inject({ url: '/v1/registries', headers: auth })).statusCode, 200, 'registries');
    t.equal((await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', payload: 'pull.example.com', headers: { ...auth, 'content-type': 'text/plain' } })).statusCode, 200, 'helper');
    const kubelet = await post('/v1/kubelet/credential-provider', { apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: `pull.example.com/${MARK}-kubelet-image` });
    t.equal(kubelet.statusCode, 200, 'kubelet provider');
    t.equal((await post('/v1/cache/invalidate', {})).statusCode, 200, 'invalidate');
    t.equal((await app.inject(`/v1/credentials?image=pull.example.com/${MARK}-anonymous`)).statusCode, 401, 'no token');
    t.equal((await app.inject({ url: `/v1/credentials?image=pull.example.com/${MARK}-denied`, headers: { authorization: `Bearer ${SECRET_VALUES.deniedToken}` } })).statusCode, 403, 'denied caller');
    t.equal((await app.inject(`/${MARK}-no-such-route/x?image=${MARK}`)).statusCode, 404, 'unknown route');
    t.equal((await app.inject('/healthz')).statusCode, 200);
    t.equal((await app.inject('/readyz')).statusCode, 200);
  });

  await t.test('a good and a bad registries.conf reload are counted', async (t) => {
    writeConf(conf + '  - name: Added\n    prefix: added.example.com\n');
    t.ok(await eventually(async () => (await metrics.configReloads.get()).values.some((v) => v.labels.result === 'success')), 'success counted');
    writeConf(conf + '  - name: Broken\n    prefix: broken.example.com\n    bogus_key: 1\n');
    t.ok(await eventually(async () => (await metrics.configReloads.get()).values.some((v) => v.labels.result === 'failure')), 'failure counted');
  });

  const text = await scrape();
  const { samples, types } = parseScrape(text);

  t.test('promtool check metrics exits 0 on the whole scrape', async (t) => {
    const promtool = requireTool(t, 'promtool');
    if (promtool === undefined) return;
    const bad = promtoolCheck(promtool, '# HELP credbroker_bad_total x\n# TYPE credbroker_bad_total gauge\ncredbroker_bad_total 1\n');
    t.not(bad.status, 0, 'promtool does fail a gauge named _total (the check can fail)');
    t.ok(bad.lines.some((l) => l.startsWith('credbroker_bad_total')), 'and names it');

    const { status, lines } = promtoolCheck(promtool, text);
    t.same(lines, [], 'no lint line');
    t.equal(status, 0, 'promtool exits 0');
  });

  t.test('prom-client\'s gauges named _total are left out; their per-type gauges stay', async (t) => {
    for (const name of PROM_CLIENT_LINT) {
      t.notOk(types.has(name), `${name} is not exposed`);
      t.ok(types.has(name.replace(/_total$/, '')), `${name.replace(/_total$/, '')} is`);
    }
  });

  t.test('build info: one series, value 1, the package and Node versions', async (t) => {
    const info = samples.filter((s) => s.name === 'credbroker_build_info');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    t.same(info.map((s) => [s.labels, s.value]), [[{ version: pkg.version, node_version: process.versions.node }, 1]]);
  });

  t.test('the secret store gauges read the store\'s status', async (t) => {
    t.equal(value(samples, 'credbroker_secret_store_synced', {}), 1, 'the local store is synced');
    t.equal(value(samples, 'credbroker_secret_store_disconnected_namespaces', {}), 0, 'and has no watch down');
  });

  t.test('Kubernetes and registry calls are timed by the same labels they are counted by', async (t) => {
    const count = (name: string, labels: Record<string, string>) => value(samples, name, labels) ?? 0;
    const timed = count('credbroker_kubernetes_request_duration_seconds_count', { verb: 'get', resource: 'applications' });
    const counted = samples.filter((s) => s.name === 'credbroker_kubernetes_requests_total' && s.labels.verb === 'get' && s.labels.resource === 'applications')
      .reduce((n, s) => n + s.value, 0);
    t.ok(timed > 0, 'Application reads are timed');
    t.equal(timed, counted, 'every counted Application read is timed once');
    for (const kind of ['ping', 'tags']) {
      const n = samples.filter((s) => s.name === 'credbroker_registry_requests_total' && s.labels.kind === kind).reduce((a, s) => a + s.value, 0);
      t.ok(n > 0, `${kind} requests were made`);
      t.equal(count('credbroker_registry_request_duration_seconds_count', { kind }), n, `every ${kind} request is timed once`);
    }
    t.equal(count('credbroker_registry_request_duration_seconds_bucket', { kind: 'ping', le: '+Inf' }), count('credbroker_registry_request_duration_seconds_count', { kind: 'ping' }), 'buckets are cumulative');
  });

  t.test('default process metrics are exported', async (t) => {
    t.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'process metrics');
    t.ok(samples.some((s) => s.name === 'nodejs_heap_size_total_bytes'), 'Node metrics');
  });

  t.test('every documented family is present with its type and labels', async (t) => {
    for (const [name, type, labels] of SPEC_METRICS) {
      t.equal(types.get(name), type, `${name} is a ${type}`);
      const series = samples.filter((s) => s.name === (type === 'histogram' ? `${name}_count` : name));
      t.ok(series.length > 0, `${name} has samples`);
      for (const s of series) {
        t.same(Object.keys(s.labels).filter((l) => labels.includes(l)).sort(), [...labels].sort(), `${name} carries ${labels.join(', ') || 'no labels'}`);
      }
    }
    for (const name of [
      'credbroker_kubernetes_watch_restarts_total', 'credbroker_argocd_requests_total', 'credbroker_registry_requests_total',
      'credbroker_config_last_reload_successful', 'credbroker_auth_decisions_total'
    ]) t.ok(types.has(name), `${name} is declared`);
  });

  t.test('the traffic shows up under bounded label values', async (t) => {
    const has = (name: string, labels: Record<string, string>) => t.ok((value(samples, name, labels) ?? 0) > 0, `${name}${JSON.stringify(labels)}`);
    for (const type of ['pullsecret', 'secret', 'env', 'ext', 'serviceaccount']) {
      has('credbroker_credential_requests_total', { outcome: 'ok', source_type: type });
      has('credbroker_credential_fetch_duration_seconds_count', { source_type: type });
    }
    for (const [outcome, type] of [['SCRIPT_FAILED', 'ext'], ['SCRIPT_TIMEOUT', 'ext'], ['NO_CREDENTIALS_CONFIGURED', 'none'], ['SECRET_NOT_FOUND', 'secret']]) {
      has('credbroker_credential_requests_total', { outcome: outcome as string, source_type: type as string });
    }
    for (const level of ['registry', 'request', 'image', 'application']) has('credbroker_cache_misses_total', { level });
    for (const outcome of ['ok', 'failed', 'timeout']) has('credbroker_ext_script_runs_total', { outcome });
    has('credbroker_kubernetes_requests_total', { verb: 'get', resource: 'applications', code: '200' });
    has('credbroker_kubernetes_requests_total', { verb: 'get', resource: 'applications', code: '404' });
    has('credbroker_config_reloads_total', { file: 'registries', result: 'success' });
    has('credbroker_config_reloads_total', { file: 'registries', result: 'failure' });
    t.equal(value(samples, 'credbroker_config_last_reload_successful', { file: 'registries' }), 0, 'the last reload failed');
    has('credbroker_registry_requests_total', { kind: 'ping', code: '401' });
    has('credbroker_registry_requests_total', { kind: 'tags', code: '200' });
    for (const result of ['allowed', 'denied', 'unauthenticated']) has('credbroker_auth_decisions_total', { result });

    const allowed: Record<string, RegExp> = {
      outcome: /^(ok|failed|timeout|malformed|[A-Z][A-Z_]+)$/,
      source_type: /^(pullsecret|secret|env|ext|serviceaccount|none)$/,
      level: /^(request|image|application|registry)$/,
      verb: /^(get|list|watch|create)$/,
      resource: /^[a-z]+$/,
      code: /^(\d{3}|error)$/,
      kind: /^(ping|token|tags)$/,
      file: /^(registries|policy|tokens)$/,
      result: /^(success|failure|allowed|denied|unauthenticated|rate_limited)$/,
      method: /^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS)$/,
      route: /^(\/[a-zA-Z0-9/_.:*-]*|unmatched)$/,
      status_code: /^\d{3}$/,
      le: /^([0-9.e+-]+|\+Inf)$/,
      endpoint: /^[a-z_-]+$/,
      reason: /^[a-z_]+$/,
      version: /^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/,
      node_version: /^\d+\.\d+\.\d+$/
    };
    for (const s of samples.filter((s) => s.name.startsWith('credbroker_'))) {
      for (const [label, v] of Object.entries(s.labels)) {
        const re = allowed[label];
        if (re === undefined) t.fail(`${s.name} has an unexpected label ${label}`);
        else if (!re.test(v)) t.fail(`${s.name}{${label}="${v}"} is not a bounded value`);
      }
    }
    const routes = new Set(samples.filter((s) => s.name === 'credbroker_http_request_duration_seconds_count').map((s) => s.labels.route));
    for (const r of ['/v1/credentials', '/v1/credentials/resolve', '/v1/credentials/explain', '/v1/credential-specs/validate', '/metrics']) {
      t.ok(routes.has(r), `route template ${r}`);
    }
    t.notOk([...routes].some((r) => r === undefined || r.includes('?') || r.includes('image=')), 'no raw URL with a query string');
    t.ok(samples.some((s) => s.name === 'credbroker_http_request_duration_seconds_count' && s.labels.route === '/v1/credentials' && s.labels.status_code === '401'), 'status codes are labels');
  });

  t.test('no image, Secret, caller or application name and no secret value in the scrape', async (t) => {
    t.notOk(text.toLowerCase().includes(MARK), `no name holding "${MARK}" appears`);
    for (const [what, secret] of Object.entries(SECRET_VALUES)) t.notOk(text.includes(secret), `${what} value not in the scrape`);
    t.notOk(text.includes('example.com'), 'no registry host appears either');
  });
});
