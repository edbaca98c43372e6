import t from 'tap';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createMetrics } from '../../src/metrics.js';
import { limiterFor, parseWwwAuthenticate, testRegistry, type RegistryTestResult } from '../../src/registry/client.js';
import { startRegistry, type StartedRegistry } from '../helpers/registry.js';
import { REGISTRY_TOOLS, requireTools } from '../helpers/tools.js';

const run = promisify(execFile);
const PASSWORD = 'pw-alice-0d9f3c';
const WRONG = 'pw-wrong-71aa2e';
const REFRESH = 'refresh-token-5be03a';

const basic = (password = PASSWORD) => ({ username: 'alice', password, tokenType: 'basic' as const });
const endpoint = (apiUrl: string, more: Partial<Parameters<typeof testRegistry>[0]> = {}) => ({ apiUrl, insecure: false, limit: 0, ...more });

/** The secrets that appear anywhere in a result (its error message above all). */
function leaked (r: RegistryTestResult, ...secrets: string[]): string[] {
  const text = JSON.stringify(r);
  return secrets.filter((s) => text.includes(s));
}

async function registry (t: { teardown: (fn: () => unknown) => void }, auth: 'none' | 'htpasswd' | 'token'): Promise<StartedRegistry> {
  const r = await startRegistry({ auth, users: { alice: PASSWORD }, refreshTokens: { [REFRESH]: 'alice' } });
  t.teardown(r.stop);
  await r.push('demo/app', '1.0');
  return r;
}

/** A loopback server answering with `handler`; http or https with the given key and cert. */
async function stubServer (
  t: { teardown: (fn: () => unknown) => void },
  handler: http.RequestListener,
  tlsOpts?: { key: string, cert: string }
): Promise<string> {
  const server = tlsOpts !== undefined ? https.createServer(tlsOpts, handler) : http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return `${tlsOpts !== undefined ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('WWW-Authenticate parsing', async (t) => {
  const table: Array<[string, Array<{ scheme: string, params: Record<string, string> }>]> = [
    ['', []],
    ['Basic realm="basic-realm"', [{ scheme: 'basic', params: { realm: 'basic-realm' } }]],
    ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } }]],
    ['Bearer realm="https://t/token",scope="repository:a/b:pull,push"',
      [{ scheme: 'bearer', params: { realm: 'https://t/token', scope: 'repository:a/b:pull,push' } }]],
    ['Bearer realm="https://t/token", service="a \\"quoted\\" \\\\ svc"',
      [{ scheme: 'bearer', params: { realm: 'https://t/token', service: 'a "quoted" \\ svc' } }]],
    ['Basic realm="r1", Bearer realm="https://t/token",service="s"',
      [{ scheme: 'basic', params: { realm: 'r1' } }, { scheme: 'bearer', params: { realm: 'https://t/token', service: 's' } }]],
    ['BEARER Realm="x" , Service = "y"', [{ scheme: 'bearer', params: { realm: 'x', service: 'y' } }]],
    ['Bearer realm=https://t/token,service=reg', [{ scheme: 'bearer', params: { realm: 'https://t/token', service: 'reg' } }]],
    ['Negotiate, Basic realm="r"', [{ scheme: 'negotiate', params: {} }, { scheme: 'basic', params: { realm: 'r' } }]]
  ];
  for (const [header, want] of table) t.same(parseWwwAuthenticate(header), want, header);
});

t.test('Basic auth against the real registry (htpasswd)', async (t) => {
  if (requireTools(t, ...REGISTRY_TOOLS.htpasswd) === undefined) return;
  const reg = await registry(t, 'htpasswd');
  const metrics = createMetrics({ defaultMetrics: false });

  const ok = await testRegistry(endpoint(reg.url), 'demo/app', basic(), { metrics });
  t.match(ok, { ok: true, authScheme: 'basic', authenticated: true, status: 200, tags: ['1.0'] });
  t.type(ok.durationMs, 'number');
  const counted = await metrics.registry.getSingleMetricAsString('credbroker_registry_requests_total');
  t.match(counted, 'credbroker_registry_requests_total{kind="ping",code="401"} 1');
  t.match(counted, 'credbroker_registry_requests_total{kind="tags",code="200"} 1');

  const wrong = await testRegistry(endpoint(reg.url), 'demo/app', basic(WRONG));
  t.match(wrong, { ok: false, authScheme: 'basic', authenticated: false, status: 401, tags: [], error: { code: 'REGISTRY_UNAUTHORIZED' } });
  t.match(wrong.error?.message, /refused the credential for demo\/app \(401\)/);
  t.same(leaked(wrong, WRONG, PASSWORD), [], 'no secret in the result');

  const missing = await testRegistry(endpoint(reg.url), 'demo/app');
  t.match(missing, { ok: false, authScheme: 'basic', authenticated: false, status: 401, error: { code: 'REGISTRY_UNAUTHORIZED' } });
  t.match(missing.error?.message, /requires authentication/);

  const unknown = await testRegistry(endpoint(reg.url), 'demo/nothing', basic());
  t.match(unknown, { ok: false, authenticated: true, status: 404, error: { code: 'REGISTRY_REPOSITORY_NOT_FOUND' } });
});

t.test('token auth against the real registry and a token server', async (t) => {
  if (requireTools(t, ...REGISTRY_TOOLS.token) === undefined) return;
  const reg = await registry(t, 'token');
  reg.tokenRequests.length = 0;

  const ok = await testRegistry(endpoint(reg.url), 'demo/app', basic());
  t.match(ok, { ok: true, authScheme: 'bearer', authenticated: true, status: 200, tags: ['1.0'] });
  t.match(reg.tokenRequests.at(-1), { method: 'GET', account: 'alice', scope: 'repository:demo/app:pull', outcome: 'granted' });

  const wrong = await testRegistry(endpoint(reg.url), 'demo/app', basic(WRONG));
  t.match(wrong, { ok: false, authScheme: 'bearer', authenticated: false, status: 401, error: { code: 'REGISTRY_UNAUTHORIZED' } });
  t.same(leaked(wrong, WRONG, PASSWORD), [], 'no secret in the result');

  const anonymous = await testRegistry(endpoint(reg.url), 'demo/app');
  t.match(anonymous, { ok: false, authScheme: 'bearer', authenticated: false, status: 401, error: { code: 'REGISTRY_UNAUTHORIZED' } });
  t.match(reg.tokenRequests.at(-1), { method: 'GET', outcome: 'anonymous' });

  const identity = await testRegistry(endpoint(reg.url), 'demo/app', { username: '<token>', password: REFRESH, tokenType: 'identitytoken' });
  t.match(identity, { ok: true, authScheme: 'bearer', authenticated: true, tags: ['1.0'] });
  t.match(reg.tokenRequests.at(-1), { method: 'POST', grantType: 'refresh_token', account: 'alice', scope: 'repository:demo/app:pull', outcome: 'granted' });

  const badIdentity = await testRegistry(endpoint(reg.url), 'demo/app', { username: '<token>', password: 'refresh-wrong-88', tokenType: 'identitytoken' });
  t.match(badIdentity, { ok: false, error: { code: 'REGISTRY_UNAUTHORIZED' } });
  t.same(leaked(badIdentity, 'refresh-wrong-88'), [], 'no secret in the result');

  // a registry token is sent as the Bearer token without asking the token server
  const u = new URL(reg.tokenRealm ?? '');
  u.searchParams.set('service', 'credbroker-test-registry');
  u.searchParams.set('scope', 'repository:demo/app:pull');
  const res = await fetch(u, { headers: { authorization: 'Basic ' + Buffer.from(`alice:${PASSWORD}`).toString('base64') } });
  const { token } = await res.json() as { token: string };
  const before = reg.tokenRequests.length;
  const direct = await testRegistry(endpoint(reg.url), 'demo/app', { username: '', password: token, tokenType: 'registrytoken' });
  t.match(direct, { ok: true, authScheme: 'bearer', authenticated: true, tags: ['1.0'] });
  t.equal(reg.tokenRequests.length, before, 'the token server was not asked');

  const forged = await testRegistry(endpoint(reg.url), 'demo/app', { username: '', password: token.slice(0, -4) + 'AAAA', tokenType: 'registrytoken' });
  t.match(forged, { ok: false, status: 401, error: { code: 'REGISTRY_UNAUTHORIZED' } });
});

t.test('at most 10 tags are listed', async (t) => {
  if (requireTools(t, ...REGISTRY_TOOLS.none) === undefined) return;
  const reg = await startRegistry({ auth: 'none' });
  t.teardown(reg.stop);
  for (let i = 0; i < 12; i++) await reg.push('demo/many', `v${i}`);
  const r = await testRegistry(endpoint(reg.url), 'demo/many');
  t.match(r, { ok: true, authScheme: 'none', authenticated: false });
  t.equal(r.tags.length, 10);
});

t.test('a Bearer challenge on the tag list after an open ping', async (t) => {
  let realmCalls = 0;
  const url = await stubServer(t, (req, res) => {
    if (req.url === '/v2/') { res.end('{}'); return; }
    if (req.url?.startsWith('/token')) {
      realmCalls++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: 'tok-1' }));
      return;
    }
    if (req.headers.authorization === 'Bearer tok-1') { res.end(JSON.stringify({ name: 'a/b', tags: ['x', 'y'] })); return; }
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host ?? ''}/token",service="s"` });
    res.end();
  });
  const r = await testRegistry(endpoint(url), 'a/b', basic());
  t.match(r, { ok: true, authScheme: 'bearer', authenticated: true, tags: ['x', 'y'] });
  t.equal(realmCalls, 1);
});

t.test('rate limit: one token bucket per registry API URL and limit (the bucket itself: rate-limiter.test.ts)', async (t) => {
  t.equal(limiterFor('https://r.example/', 5), limiterFor('https://r.example', 5), 'one bucket per API URL');
  t.not(limiterFor('https://r.example', 5), limiterFor('https://r.example', 6), 'a new limit gets a new bucket');
});

t.test('the limit applies to the requests of a registry test', async (t) => {
  let count = 0;
  const url = await stubServer(t, (req, res) => {
    count++;
    res.end(req.url === '/v2/' ? '{}' : JSON.stringify({ tags: ['a'] }));
  });
  let now = 0;
  const slept: number[] = [];
  limiterFor(url, 1, { now: () => now, sleep: async (ms) => { slept.push(ms); now += ms; } });
  const r = await testRegistry(endpoint(url, { limit: 1 }), 'a/b');
  t.equal(r.ok, true);
  t.equal(count, 2, 'ping and tag list');
  t.equal(slept.length, 1, 'at 1 request/s the tag list waited for the bucket');
});

t.test('TLS: self-signed https verifies with caData or caFile, fails without, passes insecure', async (t) => {
  if (requireTools(t, 'openssl') === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-tls-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2']);
  const key = await readFile(join(dir, 'key.pem'), 'utf8');
  const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
  const url = await stubServer(t, (req, res) => {
    res.end(req.url === '/v2/' ? '{}' : JSON.stringify({ name: 'a/b', tags: ['1'] }));
  }, { key, cert });

  t.match(await testRegistry(endpoint(url, { caData: cert }), 'a/b'), { ok: true, tags: ['1'] });
  t.match(await testRegistry(endpoint(url, { caFile: join(dir, 'cert.pem') }), 'a/b'), { ok: true });
  t.match(await testRegistry(endpoint(url, { insecure: true }), 'a/b'), { ok: true });
  const unverified = await testRegistry(endpoint(url), 'a/b', basic());
  t.match(unverified, { ok: false, error: { code: 'REGISTRY_TLS_ERROR', message: /TLS verification of https:\/\/127\.0\.0\.1:\d+ failed/ } });
  t.same(leaked(unverified, PASSWORD), [], 'no secret in the result');
  t.match(await testRegistry(endpoint(url, { caFile: join(dir, 'missing.pem') }), 'a/b'), { ok: false, error: { code: 'REGISTRY_CONFIG_ERROR' } });
  t.match(await testRegistry(endpoint(url.replace('https:', 'http:')), 'a/b'), { ok: false });

  // the realm of an https registry must not take credentials over plain http to another host
  const challenging = await stubServer(t, (req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://token.example.invalid/token",service="s"' });
    res.end();
  }, { key, cert });
  const refused = await testRegistry(endpoint(challenging, { caData: cert }), 'a/b', basic());
  t.match(refused, { ok: false, authScheme: 'bearer', error: { code: 'REGISTRY_TOKEN_FAILED', message: /plain http/ } });
});

t.test('network failures, timeouts and oversized answers are clear errors without secrets', async (t) => {
  const closed = http.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await once(closed, 'close');
  const refused = await testRegistry(endpoint(`http://127.0.0.1:${port}`), 'a/b', basic());
  t.match(refused, { ok: false, error: { code: 'REGISTRY_UNREACHABLE', message: `cannot reach registry at http://127.0.0.1:${port}: ECONNREFUSED` } });
  t.same(leaked(refused, PASSWORD), [], 'no secret in the result');

  const silent = await stubServer(t, () => {});
  const slow = await testRegistry(endpoint(silent), 'a/b', basic(), { timeoutMs: 200 });
  t.match(slow, { ok: false, error: { code: 'REGISTRY_TIMEOUT', message: /did not answer within 200 ms/ } });

  const huge = await stubServer(t, (req, res) => {
    if (req.url === '/v2/') { res.end('{}'); return; }
    res.end(JSON.stringify({ tags: Array.from({ length: 200_000 }, (_, i) => `tag-${i}`) }));
  });
  t.match(await testRegistry(endpoint(huge), 'a/b'), { ok: false, error: { code: 'REGISTRY_BAD_RESPONSE', message: /larger than/ } });

  const notRegistry = await stubServer(t, (req, res) => { res.writeHead(404); res.end('<html>'); });
  t.match(await testRegistry(endpoint(notRegistry), 'a/b'), { ok: false, status: 404, error: { code: 'REGISTRY_BAD_RESPONSE', message: /GET \/v2\// } });

  // a token server that echoes what it got must not leak it through our messages
  const echo = await stubServer(t, (req, res) => {
    if (req.url?.startsWith('/token')) { res.writeHead(500); res.end(String(req.headers.authorization)); return; }
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host ?? ''}/token"` });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: String(req.headers.authorization) }] }));
  });
  const echoed = await testRegistry(endpoint(echo), 'a/b', basic());
  t.match(echoed, { ok: false, error: { code: 'REGISTRY_TOKEN_FAILED', message: /answered 500/ } });
  t.same(leaked(echoed, PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64')), [], 'no secret in the result');

  t.match(await testRegistry(endpoint('ftp://x'), 'a/b'), { ok: false, error: { code: 'REGISTRY_CONFIG_ERROR' } });
  t.match(await testRegistry(endpoint('http://127.0.0.1:1'), 'Bad Repo'), { ok: false, error: { code: 'REGISTRY_CONFIG_ERROR' } });
});
