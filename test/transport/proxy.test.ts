// Proxies: NO_PROXY and the proxy choice against Go's golang.org/x/net/http/httpproxy test
// tables (proxy_test.go), then the transport through Debian's real tinyproxy, whose own log
// says which CONNECTs it served.
import t from 'tap';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentPool, TransportError, createAgent, profileKey, request, type RequestOptions } from '../../src/transport/http-client.js';
import { loadSettings } from '../../src/config/settings.js';
import { NoProxy, ProxyRule, parseProxyUrl, redactProxyUrl } from '../../src/transport/proxy.js';
import { issue, makeCa } from '../helpers/pki.js';
import { startProxy } from '../helpers/proxy.js';
import { requireTools } from '../helpers/tools.js';

// Go's UseProxyTests with its noProxy list, each host on port 80. Go never proxies loopback
// addresses whatever NO_PROXY says; credbroker leaves that to NO_PROXY (the chart lists them),
// so those four rows differ: see src/transport/proxy.ts.
const GO_NO_PROXY = 'foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64';
const USE_PROXY: Array<[string, boolean, string?]> = [
  ['localhost', true, 'Go: false (never proxies localhost)'],
  ['127.0.0.1', true, 'Go: false'],
  ['127.0.0.2', true, 'Go: false'],
  ['[::1]', true, 'Go: false'],
  ['[::2]', true],
  ['192.168.1.1', false],
  ['192.168.1.2', true],
  ['192.168.1.3', false],
  ['192.168.1.4', true],
  ['10.0.0.2', false],
  ['[2001:db8::52:0:1]', false],
  ['[2001:db8::52:0:2]', true],
  ['[2001:db8::52:0:3]', false],
  ['[2002:db8:a::123]', false],
  ['[fe80::424b:c8be:1643:a1b6]', true],
  ['barbaz.net', true],
  ['www.barbaz.net', false],
  ['foobar.com', false],
  ['www.foobar.com', false],
  ['foofoobar.com', true],
  ['baz.com', true],
  ['localhost.net', true],
  ['local.localhost', true],
  ['barbarbaz.net', true],
  ['wildcard.io', true],
  ['nested.wildcard.io', false],
  ['awildcard.io', true]
];

t.test('NO_PROXY: Go\'s table of hosts, domains, .suffix, *.suffix, IPs, host:port, CIDRs and IPv6', async (t) => {
  const list = new NoProxy(GO_NO_PROXY);
  for (const [host, proxied, note] of USE_PROXY) {
    t.equal(!list.matches(new URL(`http://${host}:80/`)), proxied, `${host}${note !== undefined ? ` (${note})` : ''}`);
  }
  const all = new NoProxy('*');
  for (const [host] of USE_PROXY) t.ok(all.matches(new URL(`http://${host}:80/`)), `* matches ${host}`);
  t.notOk(new NoProxy(':1').matches(new URL('http://example.com/')), 'an entry without a host is ignored (no throw)');
  t.notOk(new NoProxy('10.0.0.0/99, 1.2.3.4/x').matches(new URL('http://10.0.0.1/')), 'malformed CIDRs are ignored');
  t.ok(new NoProxy(' EXAMPLE.com ').matches(new URL('https://Example.COM/')), 'case and spaces do not matter');
  t.ok(new NoProxy('127.0.0.0/8,::1').matches(new URL('http://127.0.0.5:5000/')), 'loopback listed by CIDR');
  t.ok(new NoProxy('::1').matches(new URL('http://[::1]:5000/')), 'IPv6 loopback listed');
  t.ok(new NoProxy('[::ffff:0:1]:443').matches(new URL('https://[::ffff:0:0001]/')), 'IPv6 compared as addresses, the https default port');
  t.notOk(new NoProxy('registry.corp:5000').matches(new URL('https://registry.corp/')), 'a port in NO_PROXY must match (443 here)');
  t.ok(new NoProxy('registry.corp:443').matches(new URL('https://registry.corp/')), 'the scheme\'s default port');
});

t.test('the proxy for a URL: Go\'s proxyForURL table', async (t) => {
  const cases: Array<[{ httpProxy?: string, httpsProxy?: string, noProxy?: string }, string, string | undefined]> = [
    [{ httpProxy: '127.0.0.1:8080' }, 'http://example.com', 'http://127.0.0.1:8080'],
    [{ httpProxy: 'cache.corp.example.com:1234' }, 'http://example.com', 'http://cache.corp.example.com:1234'],
    [{ httpProxy: 'cache.corp.example.com' }, 'http://example.com', 'http://cache.corp.example.com'],
    [{ httpProxy: 'localhost' }, 'http://example.com', 'http://localhost'],
    [{ httpProxy: 'https://cache.corp.example.com' }, 'http://example.com', 'https://cache.corp.example.com'],
    [{ httpProxy: 'http://127.0.0.1:8080' }, 'http://example.com', 'http://127.0.0.1:8080'],
    [{ httpProxy: 'https://127.0.0.1:8080' }, 'http://example.com', 'https://127.0.0.1:8080'],
    [{ httpProxy: 'socks5://127.0.0.1' }, 'http://example.com', 'socks5://127.0.0.1'],
    [{ httpProxy: 'http.proxy.tld', httpsProxy: 'secure.proxy.tld' }, 'http://insecure.tld/', 'http://http.proxy.tld'],
    [{ httpProxy: 'http.proxy.tld', httpsProxy: 'secure.proxy.tld' }, 'https://secure.tld/', 'http://secure.proxy.tld'],
    [{ httpProxy: 'http.proxy.tld', httpsProxy: 'https://secure.proxy.tld' }, 'https://secure.tld/', 'https://secure.proxy.tld'],
    [{ httpProxy: 'http.proxy.tld' }, 'https://secure.tld/', undefined],
    [{}, 'http://example.com', undefined],
    [{ noProxy: 'example.com', httpProxy: 'proxy' }, 'http://example.com/', undefined],
    [{ noProxy: '.example.com', httpProxy: 'proxy' }, 'http://example.com/', 'http://proxy'],
    [{ noProxy: 'ample.com', httpProxy: 'proxy' }, 'http://example.com/', 'http://proxy'],
    [{ noProxy: 'example.com', httpProxy: 'proxy' }, 'http://foo.example.com/', undefined],
    [{ noProxy: '.foo.com', httpProxy: 'proxy' }, 'http://example.com/', 'http://proxy'],
    [{ noProxy: '.示例.com', httpProxy: 'proxy' }, 'http://www.示例.com', undefined],
    [{ noProxy: 'xn--fsq092h.com', httpProxy: 'proxy' }, 'http://www.示例.com', undefined],
    [{ noProxy: '示例.com', httpProxy: 'proxy' }, 'http://www.xn--fsq092h.com', undefined]
  ];
  for (const [env, url, want] of cases) {
    t.equal(new ProxyRule(env).proxyFor(new URL(url)), want, `${JSON.stringify(env)} ${url}`);
  }
  t.throws(() => new ProxyRule({ httpsProxy: 'ftp://u:secret@proxy' }), /HTTPS_PROXY: must be an http/, 'an unknown scheme is refused (Go keeps it; undici cannot use it)');
  t.throws(() => parseProxyUrl('http://u:secret@proxy:3128/path'), { message: 'http://proxy:3128: a proxy address has no path, query or fragment' }, 'the message has no credentials');
});

t.test('the environment: either case, upper case first, empty is unset', async (t) => {
  const proxyOf = (env: Record<string, string>): unknown => loadSettings({ env: { KUBE_MODE: 'local', ...env }, cwd: tmpdir() }).proxy;
  t.same(proxyOf({ HTTPS_PROXY: 'a', https_proxy: 'b', http_proxy: 'c', no_proxy: 'd', NO_PROXY: '' }),
    { httpsProxy: 'a', httpProxy: 'c', noProxy: 'd' });
  t.same(proxyOf({}), {});
  t.same(loadSettings({ env: { KUBE_MODE: 'local' }, argv: ['--https-proxy', 'http://p:3128'], cwd: tmpdir() }).proxy, { httpsProxy: 'http://p:3128' }, 'the flag too');
  t.equal(redactProxyUrl('http://user:s3cret@proxy.corp:3128'), 'http://proxy.corp:3128');
  t.not(profileKey({ proxy: { httpsProxy: 'http://p:1' } }), profileKey({ proxy: { httpsProxy: 'http://p:1', noProxy: 'x' } }), 'NO_PROXY is part of the profile');
  t.not(profileKey({ proxy: { httpsProxy: 'http://p:1' } }), profileKey({}), 'a proxy is part of the profile');
});

const base: RequestOptions = { headersTimeoutMs: 5000, bodyTimeoutMs: 5000, maxBytes: 4096 };

async function serve (t: { teardown: (fn: () => unknown) => void }, server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => { server.closeAllConnections(); server.close(); });
  return (server.address() as AddressInfo).port;
}

async function failure (p: Promise<unknown>): Promise<TransportError> {
  try { await p; } catch (err) { if (err instanceof TransportError) return err; throw err; }
  throw new Error('expected a TransportError');
}

t.test('through the real tinyproxy: CONNECT in its log, NO_PROXY direct, 407 and a closed proxy are HTTP_PROXY_FAILED', async (t) => {
  if (requireTools(t, 'tinyproxy', 'openssl') === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-proxy-test-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  const ca = await makeCa(dir, 'proxy-test-ca');
  const cert = await issue(dir, ca, 'server', 'server');
  const httpsPort = await serve(t, https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) => { res.end('tls ok'); }));
  const httpPort = await serve(t, http.createServer((_req, res) => { res.end('plain ok'); }));

  const open = await startProxy();
  t.teardown(open.stop);
  const pool = new AgentPool();
  t.teardown(async () => { await pool.close(); });

  const env = { httpsProxy: open.url, httpProxy: open.url };
  const via = pool.get({ extraCa: [ca.cert], proxy: env });
  t.equal((await request(`https://127.0.0.1:${httpsPort}/`, { ...base, dispatcher: via })).body.toString(), 'tls ok', 'https through the tunnel, the target verified with its CA');
  t.equal((await request(`http://127.0.0.1:${httpPort}/`, { ...base, dispatcher: via })).body.toString(), 'plain ok', 'plain http through the proxy');
  t.same(await open.requests(), [`127.0.0.1:${httpsPort}`, `127.0.0.1:${httpPort}`], 'tinyproxy saw both CONNECTs (loopback is not skipped by itself)');

  const direct = pool.get({ extraCa: [ca.cert], proxy: { ...env, noProxy: `127.0.0.1:${httpsPort}` } });
  t.equal((await request(`https://127.0.0.1:${httpsPort}/`, { ...base, dispatcher: direct })).body.toString(), 'tls ok');
  t.equal((await request(`http://127.0.0.1:${httpPort}/`, { ...base, dispatcher: direct })).body.toString(), 'plain ok');
  t.same((await open.requests()).slice(2), [`127.0.0.1:${httpPort}`], 'the NO_PROXY host went direct: only the other one is in the log');

  const secret = 'pr0xy-s3cret';
  const authed = await startProxy({ user: 'alice', password: secret });
  t.teardown(authed.stop);
  const withCreds = pool.get({ extraCa: [ca.cert], proxy: { httpsProxy: authed.url } });
  t.equal((await request(`https://127.0.0.1:${httpsPort}/`, { ...base, dispatcher: withCreds })).body.toString(), 'tls ok', 'BasicAuth from the URL\'s user info');
  t.same(await authed.requests(), [`127.0.0.1:${httpsPort}`]);

  const noCreds = await failure(request(`https://127.0.0.1:${httpsPort}/`, { ...base, dispatcher: pool.get({ extraCa: [ca.cert], proxy: { httpsProxy: `http://${authed.host}` } }) }));
  t.match(noCreds, { code: 'HTTP_PROXY_FAILED', status: 407, message: `proxy ${authed.host} requires authentication (407)` });
  const wrong = await failure(request(`https://127.0.0.1:${httpsPort}/`, { ...base, dispatcher: pool.get({ extraCa: [ca.cert], proxyUrl: `http://alice:wrong-${secret}@${authed.host}` }) }));
  t.match(wrong, { code: 'HTTP_PROXY_FAILED', message: new RegExp(`^proxy ${authed.host} refused its credentials \\(40[17]\\)$`) }, 'tinyproxy answers wrong credentials with 401');
  t.notMatch(wrong.message, secret, 'no credentials in the message');

  const closed = http.createServer();
  const closedPort = await serve(t, closed);
  closed.close();
  await once(closed, 'close');
  const down = await failure(request(`https://127.0.0.1:${httpsPort}/`, { ...base, dispatcher: pool.get({ proxy: { httpsProxy: `http://bob:${secret}@127.0.0.1:${closedPort}` } }) }));
  t.match(down, { code: 'HTTP_PROXY_FAILED', message: `cannot connect through proxy 127.0.0.1:${closedPort} (ECONNREFUSED)` });
  t.notMatch(down.message, secret);

  const unreachable = await failure(request(`https://127.0.0.1:${closedPort}/`, { ...base, dispatcher: via }));
  t.match(unreachable, { code: 'HTTP_PROXY_FAILED', message: new RegExp(`^proxy 127\\.0\\.0\\.1:\\d+ answered 5\\d\\d to CONNECT 127\\.0\\.0\\.1:${closedPort}$`) }, 'a target the proxy cannot reach');

  await createAgent({ proxy: {} }).close();
});
