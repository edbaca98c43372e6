// skopeo (a real docker credential helper consumer) lists tags of the real registry with the
// credentials docker-credential-credbroker fetches from the real service (static-token callers).
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HELPER_BIN, writeBinWrapper } from '../helpers/credbroker-stub.js';
import { dockerConfigSecret, localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { startRegistry, type StartedRegistry } from '../helpers/registry.js';
import { ALL_REGISTRY_TOOLS, requireTools } from '../helpers/tools.js';

const PASSWORD = 'e2e-pw-3c81f0';
const WRONG = 'e2e-wrong-pw-07';
const REFRESH = 'e2e-refresh-9d2b44';
const CALLER_TOKEN = 'e2e-caller-token-61aa';

interface Teardown { teardown: (fn: () => unknown) => void }

interface Service { url: string, logs: string[] }

interface ServiceOptions {
  /** registries.conf entries: registry under test → credentials reference (none: no entry) */
  entries: Array<{ reg: StartedRegistry, credentials?: string }>
  /** file name → Secret manifest */
  secrets?: Record<string, string>
  /** registry globs the caller may resolve; default every entry's host */
  allowed?: string[]
}

/**
 * The real credbroker in local mode: registries.conf naming the registries under test,
 * Secrets holding their credentials, AUTH_MODE=static with CALLER_TOKEN as `static:skopeo`,
 * and a policy letting that caller resolve them; listening on 127.0.0.1:0.
 */
async function startService (t: Teardown, opts: ServiceOptions): Promise<Service> {
  const dir = tmpDir(t, 'credbroker-e2e-service-');
  const tokens = join(dir, 'tokens.yaml');
  const policy = join(dir, 'policy.yaml');
  await writeFile(tokens, `tokens:\n  - name: skopeo\n    sha256: ${createHash('sha256').update(CALLER_TOKEN).digest('hex')}\n`);
  const allowed = opts.allowed ?? opts.entries.map((e) => e.reg.host);
  await writeFile(policy, `rules:\n  - subjects: ["static:skopeo"]\n    actions: [resolve]\n    registries: ${JSON.stringify(allowed)}\n`);
  const conf = opts.entries.length === 0
    ? 'registries: []\n'
    : 'registries:\n' + opts.entries.map((e, i) => [
      `  - name: registry-${i}`,
      `    prefix: ${e.reg.host}`,
      `    api_url: ${e.reg.url}`,
      '    insecure: true',
      ...(e.credentials !== undefined ? [`    credentials: ${e.credentials}`] : [])
    ].join('\n')).join('\n') + '\n';
  const { app, logs } = await localApp(t, {
    conf,
    secrets: opts.secrets ?? {},
    settingsEnv: { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs };
}

async function registry (t: Teardown, auth: 'none' | 'htpasswd' | 'token'): Promise<StartedRegistry> {
  const r = await startRegistry({ auth, users: { alice: PASSWORD }, refreshTokens: { [REFRESH]: 'alice' } });
  t.teardown(r.stop);
  await r.push('demo/app', '1.0');
  return r;
}

/** `skopeo list-tags` with an auth file whose credHelpers send `hosts` to docker-credential-credbroker. */
async function listTags (t: Teardown, service: Service, reg: StartedRegistry, hosts: string[], token = CALLER_TOKEN) {
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-e2e-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  await writeBinWrapper(dir, 'docker-credential-credbroker', DOCKER_HELPER_BIN);
  const authfile = join(dir, 'auth.json');
  await writeFile(authfile, JSON.stringify({ credHelpers: Object.fromEntries(hosts.map((h) => [h, 'credbroker'])) }));
  return await new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
    execFile('skopeo', ['list-tags', '--tls-verify=false', '--authfile', authfile, `docker://${reg.host}/demo/app`], {
      env: {
        PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: dir,
        CREDBROKER_URL: service.url,
        CREDBROKER_TOKEN: token
      },
      timeout: 60_000
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

function audits (service: Service): Array<Record<string, unknown>> {
  return service.logs.filter((l) => l.includes('"audit":"credential"')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('skopeo lists tags of an htpasswd registry with the credentials the helper fetches', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'htpasswd');
  const service = await startService(t, {
    entries: [{ reg, credentials: 'pullsecret:argocd/local' }],
    secrets: { 'local.json': dockerConfigSecret('argocd', 'local', { [reg.host]: { username: 'alice', password: PASSWORD } }) }
  });
  const r = await listTags(t, service, reg, [reg.host]);
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { Tags: string[] }).Tags, ['1.0']);
  t.match(audits(service), [{ caller: 'static:skopeo', image: reg.host, registry: reg.host, source: 'pullsecret:argocd/local', outcome: 'issued' }],
    'the service issued the credential for the registry host to the static caller');
  t.notOk(service.logs.join('').includes(PASSWORD), 'the service log holds no password');
});

t.test('no credentials for the host: skopeo goes on anonymously', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const basic = await registry(t, 'htpasswd');
  const open = await registry(t, 'none');
  // the caller may resolve both, but the service knows no credentials for either
  const service = await startService(t, { entries: [], allowed: [basic.host, open.host] });

  const refused = await listTags(t, service, basic, [basic.host]);
  t.not(refused.code, 0);
  t.match(refused.stderr, /authentication required/);

  const anonymous = await listTags(t, service, open, [open.host]);
  t.equal(anonymous.code, 0, anonymous.stderr);
  t.same((JSON.parse(anonymous.stdout) as { Tags: string[] }).Tags, ['1.0']);
  t.match(audits(service), [{ image: basic.host, outcome: 'NO_CREDENTIALS_CONFIGURED' }, { image: open.host, outcome: 'NO_CREDENTIALS_CONFIGURED' }]);
});

t.test('wrong credentials and service failures fail the pull and leak no secret', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'htpasswd');
  const wrong = await startService(t, {
    entries: [{ reg, credentials: 'secret:argocd/wrong#creds' }],
    secrets: { 'wrong.json': secretManifest('argocd', 'wrong', { creds: `alice:${WRONG}` }) }
  });
  const r = await listTags(t, wrong, reg, [reg.host]);
  t.not(r.code, 0);
  t.match(r.stderr, /unauthorized|authentication required/i);
  t.notMatch(r.stderr, WRONG);

  const broken = await startService(t, { entries: [{ reg, credentials: 'secret:argocd/registry-creds#creds' }] });
  const b = await listTags(t, broken, reg, [reg.host]);
  t.not(b.code, 0, 'a failing service is a hard error, not an anonymous pull');
  t.match(b.stderr, /credbroker answered 502 SECRET_NOT_FOUND/);
  t.notMatch(b.stderr, CALLER_TOKEN);

  const forbidden = await startService(t, {
    entries: [{ reg, credentials: 'secret:argocd/wrong#creds' }],
    secrets: { 'wrong.json': secretManifest('argocd', 'wrong', { creds: `alice:${WRONG}` }) },
    allowed: ['other.example.com']
  });
  const f = await listTags(t, forbidden, reg, [reg.host]);
  t.not(f.code, 0, 'a caller the policy refuses gets a hard error');
  t.match(f.stderr, /credbroker answered 403 FORBIDDEN/);

  const unknownCaller = await listTags(t, wrong, reg, [reg.host], 'not-the-caller-token');
  t.not(unknownCaller.code, 0);
  t.match(unknownCaller.stderr, /credbroker answered 401 UNAUTHENTICATED/);
  t.notMatch(unknownCaller.stderr, 'not-the-caller-token');
  for (const s of [wrong, broken, forbidden]) t.notOk(s.logs.join('').includes(WRONG), 'no password in the service log');
});

t.test('an identity token from the helper is exchanged at the token server (token auth)', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const reg = await registry(t, 'token');
  const service = await startService(t, {
    entries: [{ reg, credentials: 'pullsecret:argocd/identity' }],
    secrets: {
      'identity.json': secretManifest('argocd', 'identity', {
        '.dockerconfigjson': JSON.stringify({ auths: { [reg.host]: { identitytoken: REFRESH } } })
      }, 'kubernetes.io/dockerconfigjson')
    }
  });
  reg.tokenRequests.length = 0;
  const r = await listTags(t, service, reg, [reg.host]);
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { Tags: string[] }).Tags, ['1.0']);
  t.match(reg.tokenRequests, [{ method: 'POST', grantType: 'refresh_token', account: 'alice', outcome: 'granted' }]);
  t.notOk(service.logs.join('').includes(REFRESH), 'the service log holds no identity token');
});
