// The sweep behind one rule of the service: "no secret value in any log line, error message, metric label,
// or response other than the credential response itself". Every source kind carries a
// distinctive secret; every error path and read-only endpoint is driven with the log at debug.
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { closedPort } from '../helpers/process.js';

const S = {
  authB64: 'leak-pw-authb64-a1f0',
  userPass: 'leak-pw-userpass-b2e1',
  identityToken: 'leak-identitytoken-c3d2',
  registryToken: 'leak-registrytoken-d4c3',
  brokenB64: 'leak-brokenb64-e5b4',
  b64NoColon: 'leak-b64nocolon-f6a5',
  brokenJson: 'leak-brokenjson-0795',
  brokenYaml: 'leak-brokenyaml-1886',
  badData: 'leak-baddata-2977',
  field: 'leak-pw-field-3a68',
  fieldNoColon: 'leak-fieldnocolon-4b59',
  fieldMulti: 'leak-fieldmulti-5c4a',
  fieldEmptyUser: 'leak-fieldemptyuser-6d3b',
  sa: 'leak-pw-serviceaccount-7e2c',
  env: 'leak-pw-env-8f1d',
  envNoColon: 'leak-envnocolon-900e',
  ext: 'leak-pw-ext-a1ff',
  extJson: 'leak-pw-extjson-b2ee',
  extFailOut: 'leak-extfail-stdout-c3dd',
  extFailErr: 'leak-extfail-stderr-d4cc',
  extGarbage: 'leak-extgarbage-e5bb',
  extShape: 'leak-extshape-f6aa',
  extBadJson: 'leak-extbadjson-0799',
  extLines: 'leak-extlines-1888',
  extTooMuch: 'leak-exttoomuch-2977',
  extTimeoutOut: 'leak-exttimeout-stdout-3a66',
  extTimeoutErr: 'leak-exttimeout-stderr-4b55',
  extEmptyUser: 'leak-extemptyuser-5c44',
  extControl: 'leak-extcontrol-6d33',
  bearer: 'leak-bearer-7e22',
  query: 'leak-query-8f11',
  query404: 'leak-query404-9000',
  argocdToken: 'leak-argocd-token-a0ff',
  callerToken: 'leak-caller-token-b1ee',
  badCallerToken: 'leak-bad-caller-token-c2dd',
  basic: 'leak-basic-header-d3cc'
};
// the base64 form of a docker config `auth` is as secret as the password it encodes
const AUTH_B64 = Buffer.from(`bot:${S.authB64}`).toString('base64');
const NO_COLON_B64 = Buffer.from(S.b64NoColon).toString('base64');
const SECRET_VALUES = [...Object.values(S), AUTH_B64, NO_COLON_B64];

function dockerConfig (ns: string, name: string, auths: Record<string, Record<string, string>>): string {
  return secretManifest(ns, name, { '.dockerconfigjson': JSON.stringify({ auths }) }, 'kubernetes.io/dockerconfigjson');
}

const SECRETS: Record<string, string> = {
  'authb64.json': dockerConfig('argocd', 'authb64', { 'authb64.example.com': { auth: AUTH_B64 } }),
  'userpass.json': dockerConfig('argocd', 'userpass', { 'https://userpass.example.com/v1/': { username: 'bot', password: S.userPass } }),
  'idtoken.json': dockerConfig('argocd', 'idtoken', { 'idtoken.example.com': { identitytoken: S.identityToken } }),
  'regtoken.json': dockerConfig('argocd', 'regtoken', { 'regtoken.example.com': { registrytoken: S.registryToken } }),
  'brokenb64.json': dockerConfig('argocd', 'brokenb64', { 'brokenb64.example.com': { auth: `${S.brokenB64}!!` } }),
  'nocolon.json': dockerConfig('argocd', 'nocolon', { 'nocolon.example.com': { auth: NO_COLON_B64 } }),
  'brokenjson.json': secretManifest('argocd', 'brokenjson', { '.dockerconfigjson': `{"auths": {"brokenjson.example.com": {"username": "bot", "password": "${S.brokenJson}"` }, 'kubernetes.io/dockerconfigjson'),
  'broken.yaml': `apiVersion: v1
kind: Secret
metadata: { name: brokenyaml, namespace: argocd
stringData:
  creds: "bot:${S.brokenYaml}
`,
  'baddata.json': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'baddata', namespace: 'argocd' }, data: { creds: `${S.badData}!!` } }),
  'fields.json': secretManifest('argocd', 'fields', {
    ok: `bot:${S.field}`,
    nocolon: S.fieldNoColon,
    multi: `bot:${S.fieldMulti}\nsecond-line`,
    emptyuser: `:${S.fieldEmptyUser}`
  }),
  'puller.yaml': `apiVersion: v1
kind: ServiceAccount
metadata: { name: puller, namespace: argocd }
imagePullSecrets: [{ name: missing }, { name: sa-pull }]
---
${dockerConfig('argocd', 'sa-pull', { 'sa.example.com': { username: 'bot', password: S.sa } })}
`
};

const SCRIPTS: Record<string, string> = {
  ok: `echo "bot:${S.ext}"`,
  json: `printf '{"Username":"bot","Secret":"${S.extJson}","expiresAt":"2999-01-01T00:00:00Z"}\\n'`,
  fail: `echo "bot:${S.extFailOut}"\necho "${S.extFailErr}" >&2\nexit 3`,
  garbage: `echo "garbage ${S.extGarbage} without a separator"`,
  shape: `printf '{"user":"bot","token":"${S.extShape}"}\\n'`,
  badjson: `printf '{"username":"bot","password":"${S.extBadJson}"\\n'`,
  lines: `printf 'bot:${S.extLines}\\nbot:${S.extLines}\\n'`,
  toomuch: `i=0\nwhile [ $i -lt 4000 ]; do echo "bot:${S.extTooMuch}"; i=$((i+1)); done`,
  timeout: `echo "bot:${S.extTimeoutOut}"\necho "${S.extTimeoutErr}" >&2\nexec sleep 30`,
  emptyuser: `echo ":${S.extEmptyUser}"`,
  control: `printf 'bot:${S.extControl}\\a\\n'`
};

/** An entry of registries.conf per case: prefix <name>.example.com, served by `credentials`. */
const SOURCES: Record<string, string> = {
  authb64: 'pullsecret:argocd/authb64',
  userpass: 'pullsecret:argocd/userpass',
  idtoken: 'pullsecret:argocd/idtoken',
  regtoken: 'pullsecret:argocd/regtoken',
  brokenb64: 'pullsecret:argocd/brokenb64',
  nocolon: 'pullsecret:argocd/nocolon',
  brokenjson: 'pullsecret:argocd/brokenjson',
  brokenyaml: 'secret:argocd/brokenyaml#creds',
  baddata: 'secret:argocd/baddata#creds',
  field: 'secret:argocd/fields#ok',
  fieldnocolon: 'secret:argocd/fields#nocolon',
  fieldmulti: 'secret:argocd/fields#multi',
  fieldemptyuser: 'secret:argocd/fields#emptyuser',
  sa: 'serviceaccount:argocd/puller',
  env: 'env:LEAK_ENV_OK',
  envnocolon: 'env:LEAK_ENV_NOCOLON'
};
const OK = new Set(['authb64', 'userpass', 'idtoken', 'regtoken', 'field', 'sa', 'env', 'ext-ok', 'ext-json']);
const FAILS: Record<string, string> = {
  brokenb64: 'MALFORMED_CREDENTIALS',
  nocolon: 'MALFORMED_CREDENTIALS',
  brokenjson: 'MALFORMED_CREDENTIALS',
  brokenyaml: 'SECRET_NOT_FOUND',
  baddata: 'SECRET_NOT_FOUND',
  fieldnocolon: 'MALFORMED_CREDENTIALS',
  fieldmulti: 'MALFORMED_CREDENTIALS',
  fieldemptyuser: 'MALFORMED_CREDENTIALS',
  envnocolon: 'MALFORMED_CREDENTIALS',
  'ext-fail': 'SCRIPT_FAILED',
  'ext-garbage': 'MALFORMED_CREDENTIALS',
  'ext-shape': 'MALFORMED_CREDENTIALS',
  'ext-badjson': 'MALFORMED_CREDENTIALS',
  'ext-lines': 'MALFORMED_CREDENTIALS',
  'ext-toomuch': 'SCRIPT_FAILED',
  'ext-timeout': 'SCRIPT_TIMEOUT',
  'ext-emptyuser': 'MALFORMED_CREDENTIALS',
  'ext-control': 'MALFORMED_CREDENTIALS'
};

interface Capture { bodies: string[], add: (what: string, res: LightMyRequestResponse) => void }

/**
 * Keeps every response; from a 200 that carries a credential, only the credential's own
 * fields (username/password, Username/Secret, the kubelet's auth entries) are left out.
 */
function capture (t: Test): Capture {
  const bodies: string[] = [];
  return {
    bodies,
    add (what, res) {
      let body = res.body;
      if (res.statusCode === 200 && (res.headers['content-type'] ?? '').toString().includes('json')) {
        const v = JSON.parse(body) as Record<string, unknown>;
        if (typeof v.password === 'string') { delete v.password; delete v.username; }
        if (typeof v.Secret === 'string') { delete v.Secret; delete v.Username; }
        if (v.kind === 'CredentialProviderResponse' && typeof v.auth === 'object' && v.auth !== null) {
          for (const e of Object.values(v.auth as Record<string, Record<string, unknown>>)) { delete e.password; delete e.username; }
        }
        body = JSON.stringify(v);
      }
      bodies.push(`${what} → ${res.statusCode} ${JSON.stringify(res.headers)}\n${body}`);
      t.not(res.statusCode, 500, `${what}: no internal error`);
    }
  };
}

function assertNoSecret (t: Test, label: string, texts: string[]): void {
  const all = texts.join('\n');
  const found = SECRET_VALUES.filter((s) => all.includes(s));
  t.same(found, [], `${label}: no secret value appears`);
  for (const s of found) {
    const at = texts.find((x) => x.includes(s)) as string;
    const i = at.indexOf(s);
    t.comment(`${s} in ${label}: …${at.slice(Math.max(0, i - 300), i + 80)}…`);
  }
}

async function setup (t: Test, settingsEnv: Record<string, string> = {}) {
  const dir = tmpDir(t);
  const registryPort = await closedPort();
  const argocdPort = await closedPort();
  const entries = Object.entries(SOURCES).map(([name, ref]) => [name, ref] as [string, string]);
  for (const [name, body] of Object.entries(SCRIPTS)) {
    const path = join(dir, `${name}.sh`);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    entries.push([`ext-${name}`, `ext:${path}`]);
  }
  const conf = 'registries:\n' + entries.map(([name, ref]) => `  - name: ${name}
    prefix: ${name}.example.com
    api_url: http://127.0.0.1:${registryPort}
    credentials: ${ref}
`).join('');
  const app = await localApp(t, {
    conf,
    secrets: SECRETS,
    env: { LEAK_ENV_OK: `bot:${S.env}`, LEAK_ENV_NOCOLON: S.envNoColon },
    settingsEnv: {
      EXT_TIMEOUT: '1s',
      APPLICATIONS_API: 'argocd',
      ARGOCD_SERVER: `127.0.0.1:${argocdPort}`,
      ARGOCD_PLAINTEXT: 'true',
      ARGOCD_TOKEN: S.argocdToken,
      ...settingsEnv
    }
  });
  return { ...app, names: entries.map(([name]) => name), dir };
}

async function drive (app: FastifyInstance, c: Capture, names: string[], headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const outcomes: Record<string, string> = {};
  const post = async (url: string, payload: unknown, extra: Record<string, string> = {}) =>
    await app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers: { ...headers, ...extra } });
  const get = async (url: string) => await app.inject({ method: 'GET', url, headers });
  for (const name of names) {
    const image = `${name}.example.com/team/app:1.0`;
    const r = await post('/v1/credentials/resolve', { image });
    outcomes[name] = r.statusCode === 200 ? 'ok' : String(r.json().code);
    c.add(`resolve ${name}`, r);
    c.add(`resolve again ${name}`, await post('/v1/credentials/resolve', { image }));
    c.add(`refresh ${name}`, await post('/v1/credentials/resolve', { image, refresh: true }));
    c.add(`GET ${name}`, await get(`/v1/credentials?image=${encodeURIComponent(image)}`));
    c.add(`explain ${name}`, await post('/v1/credentials/explain', { image }));
    c.add(`test ${name}`, await post('/v1/credentials/test', { image }));
    c.add(`helper ${name}`, await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', headers: { ...headers, 'content-type': 'text/plain' }, payload: `${name}.example.com` }));
    c.add(`kubelet ${name}`, await post('/v1/kubelet/credential-provider', { apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image }));
  }
  c.add('override', await post('/v1/credentials/resolve', { image: 'other.example.com/app', credentials: 'pullsecret:argocd/authb64' }));
  c.add('application', await post('/v1/credentials/resolve', { image: 'authb64.example.com/app', application: 'myapp' }));
  c.add('application explain', await post('/v1/credentials/explain', { image: 'authb64.example.com/app', application: 'myapp' }));
  c.add('helper list', await get('/v1/docker-credential-helper/list'));
  c.add('query secret', await get(`/v1/credentials?image=authb64.example.com/app&x=${S.query}`));
  c.add('query secret 404', await get(`/v1/nothing?token=${S.query404}`));
  c.add('query secret openapi', await get(`/openapi.json?token=${S.query404}`));
  c.add('validate', await post('/v1/credential-specs/validate', { spec: 'pullsecret:argocd/authb64' }));
  c.add('validate bad', await post('/v1/credential-specs/validate', { spec: 'nonsense:argocd/authb64' }));
  c.add('registries', await get('/v1/registries'));
  c.add('auth status', await get('/v1/auth/status'));
  c.add('invalidate', await post('/v1/cache/invalidate', {}));
  c.add('healthz', await get('/healthz'));
  c.add('readyz', await get('/readyz'));
  c.add('openapi', await get('/openapi.json'));
  c.add('metrics', await get('/metrics'));
  return outcomes;
}

t.test('AUTH_MODE=none: every source kind, every error path, every endpoint', async (t) => {
  const { app, logs, names } = await setup(t);
  const c = capture(t);
  const outcomes = await drive(app, c, names, { authorization: `Bearer ${S.bearer}` });

  for (const name of names) t.equal(outcomes[name], OK.has(name) ? 'ok' : FAILS[name], `${name}: ${OK.has(name) ? 'resolves' : 'fails'}`);
  // the secrets did flow: the sweep below could fail
  const served = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: 'authb64.example.com/a' } });
  t.equal(served.json().password, S.authB64, 'the credential response carries the password');
  t.equal((await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: 'idtoken.example.com/a' } })).json().tokenType, 'identitytoken');
  t.ok(logs.length > 100, `the debug log was captured (${logs.length} lines)`);
  t.ok(logs.some((l) => l.includes('"level":20')), 'including debug lines');

  assertNoSecret(t, 'responses', c.bodies);
  assertNoSecret(t, 'log lines', logs);
  assertNoSecret(t, 'metrics', [(await app.inject('/metrics')).body]);

  t.test('the audit line of an issued credential', async (t) => {
    const audit = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'credential');
    t.ok(audit.length >= names.length, 'one audit line per credential asked for');
    const issued = audit.filter((l) => l.image === 'authb64.example.com/team/app:1.0' && l.outcome === 'issued');
    t.match(issued[0], {
      caller: 'anonymous',
      image: 'authb64.example.com/team/app:1.0',
      registry: 'authb64.example.com',
      source: 'pullsecret:argocd/authb64',
      cache: 'miss',
      outcome: 'issued'
    }, 'first: a miss, with caller, image, registry, source');
    t.ok(issued.some((l) => l.cache === 'hit'), 'then a hit');
    const refused = audit.find((l) => l.image === 'brokenb64.example.com/team/app:1.0');
    t.match(refused, { caller: 'anonymous', outcome: 'MALFORMED_CREDENTIALS' }, 'a refusal names the error code as outcome');
    const timedOut = audit.find((l) => l.image === 'ext-timeout.example.com/team/app:1.0');
    t.match(timedOut, { outcome: 'SCRIPT_TIMEOUT' });
  });
});

t.test('AUTH_MODE=static: caller tokens never appear; the audit names the caller', async (t) => {
  const dir = tmpDir(t);
  const tokens = join(dir, 'tokens.yaml');
  writeFileSync(tokens, `tokens:\n  - name: ci\n    sha256: ${createHash('sha256').update(S.callerToken).digest('hex')}\n`);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, `rules:
  - subjects: ["static:ci"]
    actions: [resolve, explain, test, validate, registries, status, invalidate]
    overrides: ["pullsecret:argocd/*"]
`);
  const { app, logs, names } = await setup(t, { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy });
  const c = capture(t);
  const outcomes = await drive(app, c, names.filter((n) => ['authb64', 'idtoken', 'field', 'ext-fail', 'brokenb64', 'env'].includes(n)), { authorization: `Bearer ${S.callerToken}` });
  t.equal(outcomes.authb64, 'ok', 'the caller is served');
  t.equal(outcomes['ext-fail'], 'SCRIPT_FAILED');

  for (const authorization of [`Bearer ${S.badCallerToken}`, `Basic ${S.basic}`, `bearer ${S.badCallerToken}`, S.bearer]) {
    const res = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers: { authorization }, payload: { image: 'authb64.example.com/app' } });
    t.equal(res.statusCode, 401, `${authorization.split(' ')[0] as string}…: 401`);
    t.equal(res.json().code, 'UNAUTHENTICATED');
    c.add('bad token', res);
  }
  const noToken = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: 'authb64.example.com/app' } });
  t.equal(noToken.statusCode, 401);
  c.add('no token', noToken);

  assertNoSecret(t, 'responses', c.bodies);
  assertNoSecret(t, 'log lines', logs);

  const audit = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.audit === 'credential' && l.outcome === 'issued');
  t.match(audit, { caller: 'static:ci', registry: /\.example\.com$/, source: /^[a-z]+:/, cache: /^(miss|hit)$/, outcome: 'issued' }, 'the audit line names the static caller');
});

// An image reference with credentials typed into it by mistake (`user:pass@host/x`) is refused,
// and the caller sees its own input echoed; but the log must not keep the password.
t.test('an image reference carrying user:password is never logged whole', async (t) => {
  const { app, logs } = await localApp(t, {});
  const typed = 'leak-typed-into-image-e4bb';
  for (const res of [
    await app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image: `bot:${typed}@ghcr.io/org/app` } }),
    await app.inject({ method: 'GET', url: `/v1/credentials?image=${encodeURIComponent(`bot:${typed}@ghcr.io/org/app`)}` })
  ]) t.equal(res.json().code, 'INVALID_IMAGE_REFERENCE');
  t.notOk(logs.some((l) => l.includes(typed)), 'no log line holds the typed password');
});
