// skopeo (a real docker credential helper consumer) lists tags of the real registry with the
// credentials docker-credential-credbroker fetches from the service.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HELPER_BIN, startCredbrokerStub, writeBinWrapper, type StubCredential, type StubRequest } from '../helpers/credbroker-stub.js';
import { startRegistry, type StartedRegistry } from '../helpers/registry.js';

const PASSWORD = 'e2e-pw-3c81f0';
const REFRESH = 'e2e-refresh-9d2b44';
const CALLER_TOKEN = 'e2e-caller-token-61aa';

interface Teardown { teardown: (fn: () => unknown) => void }

interface Service { url: string, requests: StubRequest[] }

/**
 * The credbroker the helper asks. For now a stub of POST /v1/docker-credential-helper/get;
 * to run against the real service, build it here with buildApp() (registries.conf naming these
 * hosts, local Secrets holding the credentials, AUTH_MODE=static with CALLER_TOKEN), listen on
 * 127.0.0.1:0 and return its URL; `requests` may then be an empty array.
 */
async function startService (t: Teardown, credentials: Record<string, StubCredential>, fail?: { status: number, code: string, message: string }): Promise<Service> {
  const stub = await startCredbrokerStub({ credentials, token: CALLER_TOKEN, ...(fail !== undefined ? { fail } : {}) });
  t.teardown(stub.close);
  return stub;
}

async function registry (t: Teardown, auth: 'none' | 'htpasswd' | 'token'): Promise<StartedRegistry> {
  const r = await startRegistry({ auth, users: { alice: PASSWORD }, refreshTokens: { [REFRESH]: 'alice' } });
  t.teardown(r.stop);
  await r.push('demo/app', '1.0');
  return r;
}

/** `skopeo list-tags` with an auth file whose credHelpers send `hosts` to docker-credential-credbroker. */
async function listTags (t: Teardown, service: Service, reg: StartedRegistry, hosts: string[]) {
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
        CREDBROKER_TOKEN: CALLER_TOKEN
      },
      timeout: 60_000
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

t.test('skopeo lists tags of an htpasswd registry with the credentials the helper fetches', async (t) => {
  const reg = await registry(t, 'htpasswd');
  const service = await startService(t, { [reg.host]: { username: 'alice', secret: PASSWORD } });
  const r = await listTags(t, service, reg, [reg.host]);
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { Tags: string[] }).Tags, ['1.0']);
  t.ok(service.requests.some((q) => q.path === '/v1/docker-credential-helper/get' && q.body === reg.host),
    'the helper asked the service for the registry host');
});

t.test('no credentials for the host: skopeo goes on anonymously', async (t) => {
  const basic = await registry(t, 'htpasswd');
  const open = await registry(t, 'none');
  const service = await startService(t, { 'other.example:5000': { username: 'alice', secret: PASSWORD } });

  const refused = await listTags(t, service, basic, [basic.host]);
  t.not(refused.code, 0);
  t.match(refused.stderr, /authentication required/);

  const anonymous = await listTags(t, service, open, [open.host]);
  t.equal(anonymous.code, 0, anonymous.stderr);
  t.same((JSON.parse(anonymous.stdout) as { Tags: string[] }).Tags, ['1.0']);
});

t.test('wrong credentials and service failures fail the pull and leak no secret', async (t) => {
  const reg = await registry(t, 'htpasswd');
  const wrong = await startService(t, { [reg.host]: { username: 'alice', secret: 'e2e-wrong-pw-07' } });
  const r = await listTags(t, wrong, reg, [reg.host]);
  t.not(r.code, 0);
  t.match(r.stderr, /unauthorized|authentication required/i);
  t.notMatch(r.stderr, 'e2e-wrong-pw-07');

  const broken = await startService(t, {}, { status: 502, code: 'SECRET_NOT_FOUND', message: 'secret argocd/registry-creds not found' });
  const b = await listTags(t, broken, reg, [reg.host]);
  t.not(b.code, 0, 'a failing service is a hard error, not an anonymous pull');
  t.match(b.stderr, /credbroker answered 502 SECRET_NOT_FOUND/);
  t.notMatch(b.stderr, CALLER_TOKEN);
});

t.test('an identity token from the helper is exchanged at the token server (token auth)', async (t) => {
  const reg = await registry(t, 'token');
  const service = await startService(t, { [reg.host]: { username: '<token>', secret: REFRESH } });
  reg.tokenRequests.length = 0;
  const r = await listTags(t, service, reg, [reg.host]);
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { Tags: string[] }).Tags, ['1.0']);
  t.match(reg.tokenRequests, [{ method: 'POST', grantType: 'refresh_token', account: 'alice', outcome: 'granted' }]);
});
