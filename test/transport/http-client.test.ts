// The shared HTTP client against real loopback servers: timeouts, the size cap, retries,
// TLS profiles (a private CA, insecure, client certificates), refused connections and line streams.
import t from 'tap';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AgentPool, TransportError, createAgent, openLineStream, profileKey, request, withRetry, type RequestOptions
} from '../../src/transport/http-client.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function serve (t: { teardown: (fn: () => unknown) => void }, handler: Handler, tls?: https.ServerOptions): Promise<{ url: string, sockets: Set<Socket> }> {
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('secureConnection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as AddressInfo;
  return { url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/`, sockets };
}

const baseOpts: RequestOptions = { headersTimeoutMs: 5000, bodyTimeoutMs: 5000, maxBytes: 1024 };
const base = baseOpts;

async function failure (p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TransportError) return err;
    throw err;
  }
  throw new Error('expected a TransportError');
}

/** A free port nobody listens on. */
async function closedPort (): Promise<number> {
  const s = http.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

// every request test runs on both engines: an undici Agent, and the one-off node:http connection (no Agent)
const engines: Array<[string, () => RequestOptions['dispatcher']]> = [
  ['undici Agent', () => createAgent()],
  ['no Agent (node:http)', () => undefined]
];

for (const [engine, dispatcherOf] of engines) {
t.test(`${engine}: an answer is read whole: status, headers and body, with the request body and headers sent`, async (t) => {
  const dispatcher = dispatcherOf();
  if (dispatcher !== undefined) t.teardown(async () => { await dispatcher.destroy(); });
  const base = { ...baseOpts, ...(dispatcher !== undefined ? { dispatcher } : {}) };
  let seen: { method?: string, type?: string, body?: string } = {};
  const { url } = await serve(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      seen = { method: req.method, type: req.headers['content-type'], body };
      res.writeHead(201, { 'x-answer': 'yes' });
      res.end('created');
    });
  });
  const res = await request(url, { ...base, method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  t.equal(res.status, 201);
  t.equal(res.headers['x-answer'], 'yes');
  t.equal(res.body.toString(), 'created');
  t.same(seen, { method: 'POST', type: 'text/plain', body: 'hello' });
});

t.test(`${engine}: timeouts: no headers, a stalled body, and a body that drips past the total`, async (t) => {
  const dispatcher = dispatcherOf();
  if (dispatcher !== undefined) t.teardown(async () => { await dispatcher.destroy(); });
  const base = { ...baseOpts, ...(dispatcher !== undefined ? { dispatcher } : {}) };
  const { url } = await serve(t, (req, res) => {
    if (req.url === '/silent') return; // never answers
    if (req.url === '/stall') {
      res.writeHead(200);
      res.write('part');
      return; // then nothing
    }
    res.writeHead(200);
    const drip = setInterval(() => { if (!res.destroyed) res.write('.'); }, 20);
    res.on('close', () => clearInterval(drip));
  });
  const headers = await failure(request(url + 'silent', { ...base, headersTimeoutMs: 100, totalTimeoutMs: 10_000 }));
  t.match(headers, { code: 'HTTP_TIMEOUT', detail: 'headers' });

  const body = await failure(request(url + 'stall', { ...base, bodyTimeoutMs: 100, totalTimeoutMs: 10_000 }));
  t.match(body, { code: 'HTTP_TIMEOUT', detail: 'body' });

  const total = await failure(request(url + 'drip', { ...base, bodyTimeoutMs: 1000, totalTimeoutMs: 200, maxBytes: 1_000_000 }));
  t.match(total, { code: 'HTTP_TIMEOUT', detail: 'total' });
  t.match(total.message, /did not answer within 200 ms/);
});

t.test(`${engine}: the size cap: a declared or streamed body over maxBytes is refused, not buffered`, async (t) => {
  const dispatcher = dispatcherOf();
  if (dispatcher !== undefined) t.teardown(async () => { await dispatcher.destroy(); });
  const base = { ...baseOpts, ...(dispatcher !== undefined ? { dispatcher } : {}) };
  let endlessClosed = false;
  const { url } = await serve(t, (req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': '2048' });
      res.end('x'.repeat(2048));
      return;
    }
    if (req.url === '/exact') {
      res.end('x'.repeat(1024));
      return;
    }
    // chunked and endless: only a client that stops reading ends it
    res.writeHead(200);
    const chunk = 'y'.repeat(512);
    const pump = (): void => { while (!res.destroyed && res.write(chunk)); };
    res.on('drain', pump);
    res.on('close', () => { endlessClosed = true; });
    pump();
  });
  const declared = await failure(request(url + 'declared', base));
  t.match(declared, { code: 'HTTP_RESPONSE_TOO_LARGE', status: 200 });
  t.match(declared.message, /larger than 1024 bytes/);

  t.equal((await request(url + 'exact', base)).body.length, 1024, 'exactly maxBytes is fine');

  const endless = await failure(request(url + 'endless', base));
  t.match(endless, { code: 'HTTP_RESPONSE_TOO_LARGE' });
  await t.resolves(async () => { while (!endlessClosed) await new Promise((resolve) => setTimeout(resolve, 10)); });
  t.ok(endlessClosed, 'the connection of the endless answer was dropped');
});

t.test(`${engine}: connection refused: a stable code and the system code as detail`, async (t) => {
  const dispatcher = dispatcherOf();
  if (dispatcher !== undefined) t.teardown(async () => { await dispatcher.destroy(); });
  const base = { ...baseOpts, ...(dispatcher !== undefined ? { dispatcher } : {}) };
  const port = await closedPort();
  const err = await failure(request(`http://127.0.0.1:${port}/`, base));
  t.match(err, { code: 'HTTP_CONNECTION_REFUSED', detail: 'ECONNREFUSED' });
  t.match(err.message, `http://127.0.0.1:${port} refused the connection`);
});

t.test(`${engine}: a caller signal cancels with HTTP_ABORTED`, async (t) => {
  const { url } = await serve(t, () => {});
  const dispatcher = dispatcherOf();
  if (dispatcher !== undefined) t.teardown(async () => { await dispatcher.destroy(); });
  const ac = new AbortController();
  const p = request(url, { ...base, ...(dispatcher !== undefined ? { dispatcher } : {}), signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  t.match(await failure(p), { code: 'HTTP_ABORTED' });
});
}

t.test('retry: attempts are counted, backoff doubles, and only retryable outcomes are retried', async (t) => {
  const slept: number[] = [];
  const sleep = async (ms: number): Promise<void> => { slept.push(ms); };

  let attempts = 0;
  const unreachable = new TransportError('HTTP_UNREACHABLE', 'down', 'ECONNRESET');
  await t.rejects(withRetry(async () => { attempts++; throw unreachable; }, { retries: 3, backoffMs: 10, sleep }), unreachable);
  t.equal(attempts, 4, 'the first attempt and 3 retries');
  t.same(slept, [10, 20, 40]);

  attempts = 0;
  slept.length = 0;
  const big = new TransportError('HTTP_RESPONSE_TOO_LARGE', 'big', '1024');
  await t.rejects(withRetry(async () => { attempts++; throw big; }, { retries: 3, backoffMs: 10, sleep }), big);
  t.equal(attempts, 1, 'a size overrun is not retried');

  attempts = 0;
  await t.rejects(withRetry(async () => { attempts++; throw new Error('a bug'); }, { retries: 3, backoffMs: 10, sleep }), /a bug/);
  t.equal(attempts, 1, 'an error that is not the transport\'s is not retried');

  // against a server: 503 twice, then 200; the caller retries on 5xx
  let served = 0;
  const { url } = await serve(t, (_req, res) => {
    served++;
    res.writeHead(served <= 2 ? 503 : 200);
    res.end(String(served));
  });
  slept.length = 0;
  const res = await withRetry(async () => await request(url, base), {
    retries: 5, backoffMs: 1, sleep, retryOn: (o) => 'value' in o && o.value.status >= 500
  });
  t.equal(res.status, 200);
  t.equal(served, 3, 'stops at the first good answer');
  t.same(slept, [1, 2]);

  served = -10; // always 503 from here
  const last = await withRetry(async () => await request(url, base), {
    retries: 2, backoffMs: 1, sleep, retryOn: (o) => 'value' in o && o.value.status >= 500
  });
  t.equal(last.status, 503, 'when retries are spent the last answer is returned');
  t.equal(served, -7, 'three attempts');

  // a refused connection is retried
  const port = await closedPort();
  attempts = 0;
  await t.rejects(withRetry(async () => { attempts++; return await request(`http://127.0.0.1:${port}/`, base); }, { retries: 2, backoffMs: 1, sleep }),
    { code: 'HTTP_CONNECTION_REFUSED' });
  t.equal(attempts, 3);
});

t.test('TLS: a private CA, insecure, client certificates', async (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-transport-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-subj', '/CN=credbroker test CA', '-days', '2']);
  await run('openssl', ['req', '-x509', ...ec, '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-keyout', f('server.key'), '-out', f('server.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2']);
  await run('openssl', ['req', '-x509', ...ec, '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-keyout', f('client.key'), '-out', f('client.pem'),
    '-subj', '/CN=credbroker', '-addext', 'extendedKeyUsage=clientAuth', '-days', '2']);
  const [ca, serverKey, serverCert, clientKey, clientCert] = await Promise.all(
    ['ca.pem', 'server.key', 'server.pem', 'client.key', 'client.pem'].map(async (n) => await readFile(f(n), 'utf8'))) as [string, string, string, string, string];

  const { url } = await serve(t, (req, res) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
    res.end(peer?.subject?.CN ?? 'anonymous');
  }, { key: serverKey, cert: serverCert, ca, requestCert: true, rejectUnauthorized: false });

  const pool = new AgentPool();
  t.teardown(async () => { await pool.close(); });
  const get = async (profile: Parameters<AgentPool['get']>[0]): Promise<string> =>
    (await request(url, { ...base, dispatcher: pool.get(profile) })).body.toString();

  const unverified = await failure(get({}));
  t.match(unverified, { code: 'HTTP_TLS_ERROR' });
  t.match(unverified.detail, /CERT|ISSUER|SIGNED/, 'the TLS code is the detail');
  t.equal(await get({ extraCa: [ca] }), 'anonymous', 'a CA besides the system roots');
  t.equal(await get({ ca: [ca] }), 'anonymous', 'a CA instead of the system roots');
  t.equal(await get({ insecure: true }), 'anonymous', 'insecure skips verification');
  t.equal(await get({ ca: [ca], cert: clientCert, key: clientKey }), 'credbroker', 'the client certificate is presented');
  t.equal(pool.size, 5, 'one Agent per profile');

  // without an Agent the server is verified against the system roots only
  t.match(await failure(request(url, base)), { code: 'HTTP_TLS_ERROR' });
});

t.test('AgentPool: one Agent per profile, the oldest closed beyond max, none after close', async (t) => {
  const pool = new AgentPool({ max: 2 });
  const a = pool.get({ insecure: true });
  t.equal(pool.get({ insecure: true }), a, 'same profile, same Agent');
  t.not(pool.get({ extraCa: ['-----BEGIN CERTIFICATE-----'] }), a);
  t.not(profileKey({ cert: 'a', key: 'b' }), profileKey({ cert: 'ab' }), 'fields do not run into each other');
  pool.get({ servername: 'x' });
  t.equal(pool.size, 2, 'bounded');
  t.not(pool.get({ insecure: true }), a, 'the evicted profile gets a new Agent');
  await pool.close();
  t.equal(pool.size, 0);
  t.throws(() => pool.get({}), { code: 'HTTP_ABORTED' });
  await createAgent().close();
});

t.test('line stream: lines across chunks, ends when the response closes', async (t) => {
  const { url } = await serve(t, (req, res) => {
    if (req.url === '/forbidden') {
      res.writeHead(403);
      res.end('{"kind":"Status"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"type":"ADDED","n":1}\n{"type":"MOD');
    setTimeout(() => {
      res.write('IFIED","n":2}\n\n{"type":"DE');
      setTimeout(() => { res.end('LETED","n":3}\n'); }, 20);
    }, 20);
  });
  const s = await openLineStream(url, { headersTimeoutMs: 1000, idleTimeoutMs: 1000, maxLineBytes: 1024 });
  t.equal(s.status, 200);
  const got: unknown[] = [];
  for await (const line of s.lines) got.push(JSON.parse(line));
  t.same(got, [{ type: 'ADDED', n: 1 }, { type: 'MODIFIED', n: 2 }, { type: 'DELETED', n: 3 }]);

  const refused = await openLineStream(url + 'forbidden', { headersTimeoutMs: 1000, idleTimeoutMs: 1000, maxLineBytes: 1024 });
  t.equal(refused.status, 403);
  refused.close();
});

t.test('line stream failures: connection lost, stalled, a line too long, stopped by the caller', async (t) => {
  const { url } = await serve(t, (req, res) => {
    res.writeHead(200);
    res.write('{"a":1}\n');
    if (req.url === '/cut') setTimeout(() => res.socket?.destroy(), 20);
    if (req.url === '/long') res.write('z'.repeat(4096));
    // /idle and /stop: nothing more
  });
  const opts = { headersTimeoutMs: 1000, idleTimeoutMs: 5000, maxLineBytes: 1024 };
  const drain = async (s: Awaited<ReturnType<typeof openLineStream>>): Promise<{ lines: string[], error?: TransportError }> => {
    const lines: string[] = [];
    try {
      for await (const l of s.lines) lines.push(l);
    } catch (err) {
      if (err instanceof TransportError) return { lines, error: err };
      throw err;
    }
    return { lines };
  };

  const cut = await drain(await openLineStream(url + 'cut', opts));
  t.same(cut.lines, ['{"a":1}']);
  t.match(cut.error, { code: 'HTTP_UNREACHABLE', detail: 'connection lost' }, 'a cut connection is not a clean end');

  const idle = await drain(await openLineStream(url + 'idle', { ...opts, idleTimeoutMs: 100 }));
  t.match(idle.error, { code: 'HTTP_TIMEOUT', detail: 'body' });

  const long = await drain(await openLineStream(url + 'long', opts));
  t.match(long.error, { code: 'HTTP_RESPONSE_TOO_LARGE' });

  const ac = new AbortController();
  const stopping = await openLineStream(url + 'stop', { ...opts, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  const stopped = await drain(stopping);
  t.same(stopped.lines, ['{"a":1}']);
  t.match(stopped.error, { code: 'HTTP_ABORTED' });

  const port = await closedPort();
  t.match(await failure(openLineStream(`http://127.0.0.1:${port}/`, opts)), { code: 'HTTP_CONNECTION_REFUSED' });
});
