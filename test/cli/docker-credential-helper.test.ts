import t from 'tap';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HELPER_BIN, NOT_FOUND, ROOT, runBin, startCredbrokerStub } from '../helpers/credbroker-stub.js';

const SECRET = 's3cret-helper-pw-7f1c';
const TOKEN = 'caller-token-9a7e2b';
const HOST = '127.0.0.1:5055';

async function stub (t: { teardown: (fn: () => unknown) => void }, opts: Partial<Parameters<typeof startCredbrokerStub>[0]> = {}) {
  const s = await startCredbrokerStub({ credentials: { [HOST]: { username: 'alice', secret: SECRET } }, token: TOKEN, ...opts });
  t.teardown(s.close);
  return s;
}

const helper = async (args: string[], stdin: string, env: NodeJS.ProcessEnv) => await runBin(DOCKER_HELPER_BIN, args, { stdin, env });

t.test('get prints the credentials the service answers, sending the caller token', async (t) => {
  const s = await stub(t);
  const r = await helper(['get'], HOST, { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { ServerURL: HOST, Username: 'alice', Secret: SECRET });
  t.equal(s.requests.length, 1);
  t.equal(s.requests[0]?.method, 'POST');
  t.equal(s.requests[0]?.path, '/v1/docker-credential-helper/get');
  t.equal(s.requests[0]?.body, HOST);
  t.equal(s.requests[0]?.authorization, `Bearer ${TOKEN}`);
});

t.test('get reads the token from CREDBROKER_TOKEN_FILE', async (t) => {
  const s = await stub(t);
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-helper-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  const r = await helper(['get'], `${HOST}\n`, { CREDBROKER_URL: s.url, CREDBROKER_TOKEN_FILE: join(dir, 'token') });
  t.equal(r.code, 0, r.stderr);
  t.equal((JSON.parse(r.stdout) as { Secret: string }).Secret, SECRET);
  t.equal(s.requests[0]?.body, HOST, 'the trailing newline is not sent');

  const missing = await helper(['get'], HOST, { CREDBROKER_URL: s.url, CREDBROKER_TOKEN_FILE: join(dir, 'nope') });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read CREDBROKER_TOKEN_FILE/);
});

t.test('get for a server without credentials prints the protocol text and exits 1', async (t) => {
  const s = await stub(t);
  const r = await helper(['get'], 'ghcr.io', { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(r.code, 1);
  t.equal(r.stdout, `${NOT_FOUND}\n`);
});

t.test('get errors: one line on stderr, exit 1, no secret, not the not-found text', async (t) => {
  const s = await stub(t);
  const wrongToken = await helper(['get'], HOST, { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: 'wrong-token-5d1' });
  t.equal(wrongToken.code, 1);
  t.match(wrongToken.stderr, /^docker-credential-credbroker: credbroker answered 401 UNAUTHENTICATED: .+\n$/);
  t.notMatch(wrongToken.stderr + wrongToken.stdout, 'wrong-token-5d1');
  t.notMatch(wrongToken.stdout, NOT_FOUND, 'skopeo must not go on anonymously');

  const failing = await stub(t, { fail: { status: 502, code: 'SECRET_NOT_FOUND', message: 'secret argocd/ghcr not found' } });
  const r = await helper(['get'], HOST, { CREDBROKER_URL: failing.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(r.code, 1);
  t.match(r.stderr, 'credbroker answered 502 SECRET_NOT_FOUND: secret argocd/ghcr not found');
  t.notMatch(r.stderr + r.stdout, SECRET);
  t.notMatch(r.stderr + r.stdout, TOKEN);

  const empty = await helper(['get'], '  \n', { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(empty.code, 1);
  t.match(empty.stderr, /expected a registry server URL/);

  const badUrl = await helper(['get'], HOST, { CREDBROKER_URL: 'ftp://x', CREDBROKER_TOKEN: TOKEN });
  t.equal(badUrl.code, 1);
  t.match(badUrl.stderr, /CREDBROKER_URL must be an http or https URL/);
});

t.test('an unreachable or silent service is a clear error', async (t) => {
  const closed = await startCredbrokerStub({ credentials: {} });
  await closed.close();
  const r = await helper(['get'], HOST, { CREDBROKER_URL: closed.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(r.code, 1);
  t.match(r.stderr, `cannot reach credbroker at ${closed.url}: ECONNREFUSED`);
  t.notMatch(r.stderr, TOKEN);

  const silent = http.createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => { silent.closeAllConnections(); silent.close(); });
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const slow = await helper(['get'], HOST, { CREDBROKER_URL: url, CREDBROKER_TIMEOUT: '300ms' });
  t.equal(slow.code, 1);
  t.match(slow.stderr, /did not answer within 300 ms/);
});

t.test('store and erase are refused: credbroker is read-only', async (t) => {
  const s = await stub(t);
  for (const action of ['store', 'erase']) {
    const input = action === 'store' ? JSON.stringify({ ServerURL: HOST, Username: 'bob', Secret: SECRET }) : HOST;
    const r = await helper([action], input, { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN });
    t.equal(r.code, 1, action);
    t.match(r.stderr, `credbroker is read-only: ${action} is not supported`);
    t.notMatch(r.stderr + r.stdout, SECRET);
  }
  t.equal(s.requests.length, 0, 'nothing was sent to the service');
});

t.test('version prints the package version; unknown actions print usage', async (t) => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await helper(['version'], '', {});
  t.equal(r.code, 0);
  t.equal(r.stdout, `docker-credential-credbroker (credbroker) ${pkg.version}\n`);
  const u = await helper(['frobnicate'], '', {});
  t.equal(u.code, 1);
  t.match(u.stderr, /usage: docker-credential-credbroker <get\|list\|version>/);
});

t.test('list prints server → username, or {} when the service has no list route', async (t) => {
  const withList = await stub(t, { list: true });
  const r = await helper(['list'], '', { CREDBROKER_URL: withList.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { [HOST]: 'alice' });
  t.notMatch(r.stdout, SECRET);

  const without = await stub(t);
  const e = await helper(['list'], '', { CREDBROKER_URL: without.url, CREDBROKER_TOKEN: TOKEN });
  t.equal(e.code, 0, e.stderr);
  t.equal(e.stdout, '{}\n');
});
