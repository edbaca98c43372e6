// What the service writes to its log, as an operator reads it: JSON lines with one numeric
// `level`, one line per request at the default level, denial lines that say who was refused
// what and why, 500s with the error, and no secret value anywhere.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { createLogger, prettyWanted } from '../../src/logger.js';
import type { SecretStore } from '../../src/kube/secret-store.js';
import { dockerConfigSecret, eventually, localApp, tmpDir, type LocalApp } from '../helpers/app.js';
import { buildOnce, cleanEnv, closedPort, ROOT } from '../helpers/process.js';
import { requireTool } from '../helpers/tools.js';

type Line = Record<string, unknown>;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const S = {
  token: 'leak-static-token-5f1e',
  badToken: 'leak-bad-token-6a2d',
  basic: 'leak-basic-7b3c',
  password: 'leak-dockerconfig-password-8c4b',
  imagePassword: 'leak-image-password-9d5a',
  query: 'leak-query-ae69'
};

const CONF = `registries:
  - name: GitHub
    prefix: ghcr.io
    credentials: pullsecret:argocd/ghcr
  - name: Quay
    prefix: quay.io
    credentials: pullsecret:argocd/ghcr
`;
const POLICY = `rules:
  - subjects: ["static:ci"]
    actions: [resolve, explain, registries, status]
    registries: ["ghcr.io"]
`;

function parseAll (t: Test, logs: string[]): Line[] {
  const lines = logs.join('').split('\n').filter((l) => l !== '');
  return lines.map((l) => {
    let j: Line = {};
    try { j = JSON.parse(l) as Line; } catch { t.fail(`not JSON: ${l}`); }
    return j;
  });
}

/** The denial fields, wherever the line puts them (top level or under `auth`). */
const fieldsOf = (l: Line): Line => ({ ...l, ...(typeof l.auth === 'object' && l.auth !== null ? l.auth as Line : {}) });

async function staticApp (t: Test, settingsEnv: Record<string, string> = {}): Promise<LocalApp> {
  const dir = tmpDir(t);
  const tokens = join(dir, 'tokens.yaml');
  writeFileSync(tokens, `tokens:\n  - name: ci\n    sha256: ${sha(S.token)}\n`);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, POLICY);
  return await localApp(t, {
    conf: CONF,
    secrets: { 'ghcr.json': dockerConfigSecret('argocd', 'ghcr', { 'ghcr.io': { username: 'bot', password: S.password } }) },
    settingsEnv: { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy, ...settingsEnv }
  });
}

t.test('denial lines carry caller, action, registry, rule and reason; no secret is logged', async (t) => {
  const { app, logs } = await staticApp(t, { RATE_LIMIT_PER_MINUTE: '3' });
  const auth = { authorization: `Bearer ${S.token}` };

  const denied = await app.inject({ url: '/v1/credentials?image=quay.io/team/app', headers: auth });
  t.equal(denied.statusCode, 403, 'quay.io is not granted');
  const unauth = await app.inject({ url: `/v1/credentials?image=ghcr.io/x&q=${S.query}`, headers: { authorization: `Bearer ${S.badToken}` } });
  t.equal(unauth.statusCode, 401);
  const basic = await app.inject({ url: '/v1/registries', headers: { authorization: `Basic ${Buffer.from(`u:${S.basic}`).toString('base64')}` } });
  t.equal(basic.statusCode, 401);
  const pasted = await app.inject({ url: `/v1/credentials?image=${encodeURIComponent(`bot:${S.imagePassword}@ghcr.io/x`)}`, headers: auth });
  t.ok(pasted.statusCode >= 400, 'credentials pasted into the image are refused');
  let limited = await app.inject({ url: '/v1/registries', headers: auth });
  for (let i = 0; i < 5 && limited.statusCode !== 429; i++) limited = await app.inject({ url: '/v1/registries', headers: auth });
  t.equal(limited.statusCode, 429, 'the caller is rate limited');

  const lines = parseAll(t, logs);
  const deny = lines.find((l) => l.msg === 'request denied by policy');
  t.ok(deny, 'a denial line');
  if (deny !== undefined) {
    t.match(fieldsOf(deny), { level: 40, caller: 'static:ci', action: 'resolve', registry: 'quay.io/team/app', reason: String }, 'names caller, action, registry and reason');
    t.ok('rule' in fieldsOf(deny) || /no policy rule/.test(String(fieldsOf(deny).reason)), 'names the rule, or says no rule applies');
    t.notMatch(JSON.stringify(deny), '[redacted]', 'nothing of it is redacted');
  }
  const notAuth = lines.filter((l) => l.msg === 'caller not authenticated').map(fieldsOf);
  t.equal(notAuth.length, 2, 'two unauthenticated lines');
  for (const l of notAuth) {
    t.match(l, { mode: 'static', reason: String }, 'the mode and the reason');
    t.notMatch(JSON.stringify(l), '[redacted]', 'nothing of it is redacted');
  }
  // as denial lines do, they name what was asked: the action and the route (never the query)
  t.match(notAuth[0], { action: 'resolve', route: 'GET /v1/credentials' }, 'the action and route of the refused resolve');
  t.match(notAuth[1], { action: 'registries', route: 'GET /v1/registries' }, 'the action and route of the refused listing');
  const rl = lines.find((l) => l.msg === 'caller rate limited');
  t.ok(rl, 'a rate-limited line');
  if (rl !== undefined) t.match(fieldsOf(rl), { caller: 'static:ci', retryAfter: Number });
  // the refusal and the denial line share the request's id
  t.ok(typeof deny?.reqId === 'string' && lines.some((l) => l.audit === 'credential' && l.reqId === deny.reqId), 'the audit line has the same reqId');

  const text = logs.join('');
  for (const [name, value] of Object.entries(S)) t.notMatch(text, value, `${name} is never logged`);
});

t.test('every line is JSON with exactly one numeric level, across a broad set of requests', async (t) => {
  const { app, logs } = await staticApp(t);
  const auth = { authorization: `Bearer ${S.token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const requests = [
    app.inject({ url: '/v1/credentials?image=ghcr.io/team/app', headers: auth }),
    app.inject({ url: '/v1/credentials?image=ghcr.io/team/app', headers: auth }),
    app.inject({ url: '/v1/credentials?image=quay.io/team/app', headers: auth }),
    app.inject({ url: '/v1/credentials?image=NOT//valid', headers: auth }),
    app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers: json, payload: { image: 'ghcr.io/a/b' } }),
    app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers: json, payload: '{"image"' }),
    app.inject({ method: 'POST', url: '/v1/credentials/explain', headers: json, payload: { image: 'ghcr.io/a/b' } }),
    app.inject({ method: 'POST', url: '/v1/credential-specs/validate', headers: json, payload: { spec: 'pullsecret:argocd/ghcr' } }),
    app.inject({ url: '/v1/registries', headers: auth }),
    app.inject({ url: '/v1/auth/status', headers: auth }),
    app.inject({ url: '/v1/registries' }),
    app.inject({ url: '/healthz' }),
    app.inject({ url: '/readyz' }),
    app.inject({ url: '/metrics' }),
    app.inject({ url: '/openapi.json' }),
    app.inject({ url: '/nope' }),
    app.inject({ method: 'DELETE', url: '/v1/registries', headers: auth })
  ];
  await Promise.all(requests);
  const raw = logs.join('').split('\n').filter((l) => l !== '');
  t.ok(raw.length > 15, `${raw.length} lines`);
  for (const l of raw) {
    t.equal((l.match(/"level":/g) ?? []).length, 1, `one level key: ${l.slice(0, 120)}`);
    t.type((JSON.parse(l) as Line).level, 'number', 'numeric');
    t.type((JSON.parse(l) as Line).time, 'number', 'epoch-ms time');
  }
  const audit = parseAll(t, logs).filter((l) => l.audit === 'credential' && l.outcome === 'issued');
  t.ok(audit.length >= 2, 'audit lines');
  for (const a of audit) t.match(a, { level: 30, sourceLevel: 'registry', caller: 'static:ci', registry: 'ghcr.io' }, 'the resolution level is sourceLevel');
});

t.test('one line per request at the default level; probes and scrapes only at debug', async (t) => {
  const sinkLines: string[] = [];
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { sinkLines.push(chunk.toString('utf8')); cb(); } });
  const { app } = await localApp(t, {
    conf: CONF,
    secrets: { 'ghcr.json': dockerConfigSecret('argocd', 'ghcr', { 'ghcr.io': { username: 'bot', password: S.password } }) },
    build: { logger: createLogger('info', sink) }
  });
  sinkLines.length = 0;
  const count = async (url: string): Promise<Line[]> => {
    const res = await app.inject({ url });
    const id = String(res.headers['x-request-id']);
    return parseAll(t, sinkLines).filter((l) => l.reqId === id);
  };
  const hit = await count('/v1/credentials?image=ghcr.io/team/app');
  t.equal(hit.length, 1, 'a credential request: one line');
  t.match(hit[0], { audit: 'credential', outcome: 'issued' }, 'the audit line');
  t.equal((await count('/v1/credentials?image=ghcr.io/team/app')).length, 1, 'a cached one: one line');
  const refused = await count('/v1/credentials?image=unknown.example.com/x');
  t.equal(refused.length, 1, 'a refused credential request: one line');
  t.match(refused[0], { audit: 'credential', outcome: 'NO_CREDENTIALS_CONFIGURED' });
  const other = await count('/v1/registries');
  t.equal(other.length, 1, 'another route: one line');
  t.match(other[0], { level: 30, msg: 'request completed', req: { method: 'GET', url: '/v1/registries' }, res: { statusCode: 200 }, responseTime: Number });
  t.equal((await count('/no/such?secret=x')).length, 1, 'a 404: one line');
  const tested = await app.inject({ method: 'POST', url: '/v1/credentials/test', payload: { image: `127.0.0.1:${await closedPort()}/x` } });
  t.equal(tested.statusCode, 200, 'a registry test answers');
  const testLines = parseAll(t, sinkLines).filter((l) => l.reqId === tested.headers['x-request-id']);
  t.equal(testLines.length, 1, 'a registry test: one line');
  t.match(testLines[0], { audit: 'test', outcome: String }, 'its audit line');
  for (const probe of ['/healthz', '/readyz', '/metrics']) t.equal((await count(probe)).length, 0, `${probe}: nothing at info`);

  // the same probes at debug: one debug line each
  const { app: debugApp, logs } = await localApp(t, {});
  const res = await debugApp.inject({ url: '/healthz' });
  const lines = parseAll(t, logs).filter((l) => l.reqId === res.headers['x-request-id']);
  t.equal(lines.length, 1, '/healthz at debug: one line');
  t.match(lines[0], { level: 20, req: { url: '/healthz' }, res: { statusCode: 200 } });
});

t.test('a 500 logs the error with its type, message and stack', async (t) => {
  const store: SecretStore = {
    start: async () => undefined,
    getSecret: async () => { throw new TypeError('planted internal failure'); },
    getServiceAccount: async () => undefined,
    onChange: () => () => undefined,
    status: () => ({ kind: 'local', synced: true, namespaces: {} }),
    close: async () => undefined
  };
  const { app, logs } = await localApp(t, { conf: CONF, build: { store } });
  const res = await app.inject({ url: '/v1/credentials?image=ghcr.io/team/app' });
  t.equal(res.statusCode, 500);
  t.match(res.json(), { code: 'INTERNAL', message: /see the service log/ });
  t.notMatch(res.body, 'planted internal failure', 'the answer does not carry the internal message');
  const line = parseAll(t, logs).find((l) => l.msg === 'unexpected error');
  t.ok(line, 'an error line');
  t.match(line, { level: 50, reqId: res.headers['x-request-id'], err: { type: 'TypeError', message: 'planted internal failure', stack: /TypeError: planted internal failure\n\s+at / } });
});

t.test('pretty output only when asked for and installed; never a crash', async (t) => {
  const missing = (): string => { throw Object.assign(new Error("Cannot find module 'pino-pretty'"), { code: 'MODULE_NOT_FOUND' }); };
  const found = (): string => '/x/pino-pretty/index.js';
  t.same(prettyWanted({ pretty: 'auto', isTTY: true, resolve: missing }), { pretty: false, missing: false }, 'a terminal without pino-pretty: JSON');
  t.same(prettyWanted({ pretty: 'auto', isTTY: true, resolve: found }), { pretty: true, missing: false }, 'a terminal with pino-pretty: pretty');
  t.same(prettyWanted({ pretty: 'auto', isTTY: false, resolve: found }), { pretty: false, missing: false }, 'not a terminal: JSON');
  t.same(prettyWanted({ pretty: 'true', isTTY: false, resolve: missing }), { pretty: false, missing: true }, 'asked for but missing: JSON and a warning');
  t.same(prettyWanted({ pretty: 'false', isTTY: true, resolve: found }), { pretty: false, missing: false }, 'turned off');
});

// script(1) from util-linux gives the process a terminal
t.test('a production install (no pino-pretty) started on a terminal runs and logs JSON', async (t) => {
  if (requireTool(t, 'script') === undefined) return;
  t.setTimeout(240_000);
  // the compiled service next to a node_modules that has every package but pino-pretty
  const dir = tmpDir(t);
  cpSync(await buildOnce(), join(dir, 'dist'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  mkdirSync(join(dir, 'node_modules'));
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === 'pino-pretty' || name === '.bin' || name === '.cache') continue;
    symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name));
  }
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'registries.conf'), 'registries: []\n');
  const env = cleanEnv(t, { PORT: '0', HOST: '127.0.0.1', REGISTRIES_CONF_PATH: join(dir, 'registries.conf'), LOCAL_SECRETS_DIR: join(dir, 'secrets') });
  // script(1) gives the process a terminal; a Ctrl-C typed into that terminal stops it
  const run = async (extra: Record<string, string>): Promise<string> => {
    const child = spawn('script', ['-qec', `exec ${process.execPath} dist/main.js`, '/dev/null'],
      { cwd: dir, env: { ...env, ...extra }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise((resolve) => child.on('close', resolve));
    t.ok(await eventually(() => /listening on http|exited/.test(out), 60_000), 'started');
    child.stdin.write('\x03');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    return out;
  };
  const auto = await run({});
  t.notMatch(auto, /pino-pretty|Cannot find module|unable to determine transport/, 'no complaint about pino-pretty');
  t.match(auto, /\{"level":30,"time":\d+,"service":"credbroker".*"msg":"credbroker listening on http/, 'JSON lines, listening');
  t.match(auto, /"msg":"stopped"/, 'stopped cleanly on SIGINT');
  const asked = await run({ LOG_PRETTY: 'true' });
  t.match(asked, /LOG_PRETTY=true but pino-pretty is not installed/, 'LOG_PRETTY=true without it: a warning');
  t.match(asked, /"msg":"credbroker listening on http/, 'and it runs');
});
