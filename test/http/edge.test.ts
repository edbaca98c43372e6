// The HTTP edge over a real socket: every answer Node's parser or Fastify gives on its own
// has the one error shape with a stable code and an x-request-id; overload sheds with 503.
import net from 'node:net';
import t, { type Test } from 'tap';
import { localApp, type LocalApp } from '../helpers/app.js';

interface RawAnswer { status: number, headers: Record<string, string>, body: string, closed: boolean }

/** Writes `data` on a fresh connection and reads one answer (until the body is complete or the socket closes). */
// waitForClose: the answer is taken when the server closes the connection (bounded by the
// 10 s timer, after which `closed` is false), instead of 50 ms after the body is complete
async function rawRequest (port: number, data: string | Buffer, waitForClose = false): Promise<RawAnswer> {
  return await new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let closed = false;
    const done = (): void => {
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) { reject(new Error(`no answer: ${JSON.stringify(text)}`)); return; }
      const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4), closed });
    };
    const timer = setTimeout(() => { sock.destroy(); done(); }, 10_000);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
      if (!waitForClose && end !== -1 && len !== undefined && buf.length >= end + 4 + Number(len)) {
        // give a closing server a moment to close, so that `closed` tells whether it did
        setTimeout(() => { clearTimeout(timer); sock.destroy(); done(); }, 50);
      }
    });
    sock.on('end', () => { closed = true; });
    sock.on('close', () => { closed = true; clearTimeout(timer); done(); });
    sock.on('error', () => undefined);
    sock.write(data);
  });
}

async function listening (t: Test, opts: Parameters<typeof localApp>[1] = {}): Promise<LocalApp & { port: number }> {
  const local = await localApp(t, opts);
  await local.app.listen({ host: '127.0.0.1', port: 0 });
  const address = local.app.server.address();
  return { ...local, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

function assertShape (t: Test, res: RawAnswer, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: status ${status}`);
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON`);
  let body: unknown;
  try { body = JSON.parse(res.body); } catch { t.fail(`${what}: body is not JSON: ${res.body}`); return; }
  t.same(Object.keys(body as object).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: the error shape`);
  t.match(body, { statusCode: status, code, error: String, message: String }, `${what}: code ${code}`);
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${what}: an x-request-id`);
}

t.test("every answer of the parser and of Fastify has the error shape and a code", async (t) => {
  const { port, logs } = await listening(t);
  const big = 'a'.repeat(20 * 1024);
  const cases: Array<[string, string | Buffer, number, string]> = [
    ['malformed request line', 'GARBAGE\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['not HTTP at all', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['20 KB header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ['Content-Length with Transfer-Encoding',
      'POST /v1/credentials/resolve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['bad chunk size',
      'POST /v1/credentials/resolve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['unsupported media type',
      'POST /v1/credentials/resolve HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: 7\r\nConnection: close\r\n\r\n<x></x>', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['body over 64 KiB',
      `POST /v1/credentials/resolve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${70 * 1024}\r\nConnection: close\r\n\r\n{"image":"${'a'.repeat(70 * 1024 - 12)}"}`, 413, 'PAYLOAD_TOO_LARGE'],
    ['invalid JSON', 'POST /v1/credentials/resolve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"ima', 400, 'INVALID_REQUEST'],
    ['unknown route', 'GET /no/such/route?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'NOT_FOUND'],
    ['unknown method', 'BREW /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, 'MALFORMED_REQUEST']
  ];
  for (const [what, data, status, code] of cases) {
    const res = await rawRequest(port, data);
    assertShape(t, res, status, code, what);
    t.notMatch(res.body, /FST_|HPE_/, `${what}: no framework code leaks into the answer`);
  }
  // the parser's refusals are logged, once each, with their id
  const parserLines = logs.filter((l) => l.includes('request refused by the HTTP parser')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(parserLines.length >= 5, 'the parser refusals are logged');
  for (const l of parserLines) t.match(l, { level: 30, reqId: String, code: String, res: { statusCode: Number } });
});

t.test('while shutting down, a request on an open connection gets 503 SHUTTING_DOWN and the connection closes', async (t) => {
  const { app, port } = await listening(t);
  app.closing = true; // what the process sets on SIGTERM, before app.close()
  const res = await rawRequest(port, 'GET /v1/registries HTTP/1.1\r\nHost: x\r\n\r\n', true);
  assertShape(t, res, 503, 'SHUTTING_DOWN', 'closing');
  t.equal(res.headers.connection, 'close', 'Connection: close');
  t.ok(res.closed, 'the server closed the connection');
  const ready = await rawRequest(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n', true);
  t.equal(ready.status, 503, '/readyz answers 503 for itself');
  t.match(JSON.parse(ready.body), { ready: false, checks: { shutdown: { ok: false } } }, 'with its shutdown check');
  t.equal(ready.headers.connection, 'close', 'and closes the connection');
});

t.test('x-request-id: honoured when plain and short, generated otherwise, echoed on every answer and logged', async (t) => {
  const { app, port, logs } = await listening(t);
  const given = await app.inject({ url: '/v1/registries', headers: { 'x-request-id': 'trace-42.a:b' } });
  t.equal(given.headers['x-request-id'], 'trace-42.a:b', 'a plain id is echoed');
  t.ok(logs.some((l) => { const j = JSON.parse(l); return j.reqId === 'trace-42.a:b' && j.msg === 'request completed'; }), 'and is the reqId of the request line');

  const seen = new Set<string>();
  for (const bad of ['x'.repeat(129), 'has space', 'quote"', 'é-unicode', '']) {
    const res = await app.inject({ url: '/healthz', headers: { 'x-request-id': bad } });
    const id = String(res.headers['x-request-id']);
    t.match(id, /^[0-9a-f-]{36}$/, `${JSON.stringify(bad.slice(0, 10))}: replaced by a generated id`);
    seen.add(id);
  }
  t.equal(seen.size, 5, 'generated ids differ');
  t.ok(logs.every((l) => !l.includes('x'.repeat(129))), 'the refused id is not logged');

  for (const [what, req] of [
    ['200', 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['404', 'GET /nope HTTP/1.1\r\nHost: x\r\nx-request-id: id-404\r\nConnection: close\r\n\r\n'],
    ['400', 'GET /v1/credentials HTTP/1.1\r\nHost: x\r\nx-request-id: id-400\r\nConnection: close\r\n\r\n']
  ] as const) {
    const res = await rawRequest(port, req);
    t.ok(res.headers['x-request-id'] !== undefined, `${what}: x-request-id on the answer`);
    if (what !== '200') t.equal(res.headers['x-request-id'], `id-${what}`, `${what}: the caller's id`);
  }
});

t.test('beyond saturation: 503 OVERLOADED with Retry-After while the event loop lags; probes still answer; then back to normal', async (t) => {
  const { app } = await localApp(t, { settingsEnv: { OVERLOAD_MAX_EVENT_LOOP_DELAY: '30ms' } });
  // keep the loop busy in 100 ms slices for several sampling windows (150 ms here): every
  // window then sees delays far above 30 ms
  const until = Date.now() + 800;
  while (Date.now() < until) {
    const end = Date.now() + 100;
    while (Date.now() < end) { /* busy */ }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const [shed, health, ready] = await Promise.all([
    app.inject({ url: '/v1/registries' }),
    app.inject({ url: '/healthz' }),
    app.inject({ url: '/readyz' })
  ]);
  t.equal(shed.statusCode, 503, 'shed');
  t.same(Object.keys(shed.json()).sort(), ['code', 'error', 'message', 'statusCode'], 'the error shape');
  t.match(shed.json(), { statusCode: 503, code: 'OVERLOADED', error: 'Service Unavailable' });
  t.match(shed.headers['retry-after'], /^\d+$/, 'Retry-After in seconds');
  t.ok(shed.headers['x-request-id'] !== undefined, 'x-request-id');
  t.equal(health.statusCode, 200, '/healthz is not shed (liveness must not restart a busy pod)');
  t.equal(ready.statusCode, 200, '/readyz is not shed');

  // idle again: the next sampling windows see no delay
  let after = await app.inject({ url: '/v1/registries' });
  for (let i = 0; i < 40 && after.statusCode === 503; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    after = await app.inject({ url: '/v1/registries' });
  }
  t.equal(after.statusCode, 200, 'answers again once the loop is idle');
});

t.test('OVERLOAD_MAX_EVENT_LOOP_DELAY=0 turns shedding off', async (t) => {
  const { app } = await localApp(t, { settingsEnv: { OVERLOAD_MAX_EVENT_LOOP_DELAY: '0' } });
  const until = Date.now() + 400;
  while (Date.now() < until) {
    const end = Date.now() + 100;
    while (Date.now() < end) { /* busy */ }
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal((await app.inject({ url: '/v1/registries' })).statusCode, 200);
});
