import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { openPolicyFile, parsePolicy, type Policy } from '../../src/policy/policy.js';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { openTokensFile, parseTokens, type StaticTokens } from '../../src/config/tokens.js';
import { KubernetesUnavailable, type CodedError } from '../../src/errors.js';
import authPlugin, { tokenExpiry, type TokenReviewer, type TokenReviewResult } from '../../src/http/auth.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { eventually } from '../helpers/poll.js';

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A JWT-shaped token (unsigned; only its exp is ever read, and only to bound the cache). */
function jwt (sub: string, expMs?: number): string {
  const claims: Record<string, unknown> = { sub, aud: ['credbroker'], nonce: Math.random().toString(36).slice(2) };
  if (expMs !== undefined) claims.exp = Math.floor(expMs / 1000);
  return `${b64url({ alg: 'RS256', kid: 'k' })}.${b64url(claims)}.c2lnbmF0dXJlLXNlY3JldA`;
}
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const BASE_NOW = Date.UTC(2026, 10, 23, 20, 0, 0);
const UPDATER = 'system:serviceaccount:argocd:argocd-image-updater';
const OTHER_SA = 'system:serviceaccount:default:someone';

const POLICY = `
rules:
  - subjects: ["system:serviceaccount:argocd:*"]
    actions: [resolve, registries]
    registries: ["ghcr.io/team-a", "*.dkr.ecr.*.amazonaws.com"]
    overrides: ["pullsecret:argocd/*"]
    applications: ["argocd/*"]
  - subjects: ["group:platform"]
    actions: [resolve]
    overrides: ["env:REGISTRY_CREDS", "ext:/app/auth/*.sh"]
`;

function settingsFor (over: Partial<Settings>): Settings {
  const base = loadSettings({ env: { KUBE_MODE: 'local', AUTH_MODE: 'none' }, serviceAccountDir: '/nonexistent', cwd: tmpdir() });
  return { ...base, rateLimitPerMinute: 0, ...over };
}

interface Built {
  app: FastifyInstance
  logs: string[]
  metrics: Metrics
}

interface BuildOptions {
  settings: Partial<Settings>
  reviewer?: TokenReviewer
  policy?: { current(): Policy }
  tokens?: { current(): StaticTokens }
  now?: () => number
}

async function build (t: Test, opts: BuildOptions): Promise<Built> {
  const logs: string[] = [];
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line); } } } });
  app.setErrorHandler((err: CodedError, _request, reply) => {
    const statusCode = typeof err.statusCode === 'number' ? err.statusCode : 500;
    void reply.status(statusCode).send({ statusCode, code: err.code, error: STATUS_CODES[statusCode], message: err.message });
  });
  const metrics = createMetrics({ defaultMetrics: false });
  await app.register(authPlugin, {
    settings: settingsFor(opts.settings),
    metrics,
    policy: opts.policy,
    ...(opts.reviewer === undefined ? {} : { tokenReviewer: opts.reviewer }),
    ...(opts.tokens === undefined ? {} : { tokens: opts.tokens }),
    ...(opts.now === undefined ? {} : { now: opts.now })
  });
  // the /v1 routes in their own context with the hook, as src/http/routes/v1.ts has them
  await app.register(async (v1) => {
    if (v1.authenticateCaller !== undefined) v1.addHook('onRequest', v1.authenticateCaller);
    v1.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ statusCode: 404, code: 'NOT_FOUND' }));
    v1.post('/credentials/resolve', async (request) => {
      const body = (request.body ?? {}) as { registry?: string, credentials?: string, application?: string, applicationNamespace?: string };
      v1.authorize(request, {
        action: 'resolve',
        ...(body.application === undefined ? {} : { application: { name: body.application, ...(body.applicationNamespace === undefined ? {} : { namespace: body.applicationNamespace }) } }),
        ...(body.registry === undefined ? {} : { registry: body.registry }),
        ...(body.credentials === undefined ? {} : { override: body.credentials })
      });
      return { caller: request.caller };
    });
    v1.get('/registries', async (request) => {
      v1.authorize(request, { action: 'registries' });
      return { caller: request.caller };
    });
  }, { prefix: '/v1' });
  app.get('/healthz', async (request) => ({ status: 'ok', caller: request.caller }));
  await app.ready();
  t.teardown(() => app.close());
  return { app, logs, metrics };
}

/** A TokenReview stub: known tokens, call count, exp honoured against the given clock. */
function stubReviewer (known: Map<string, { username: string, groups?: string[], audiences?: string[] }>, now: () => number = Date.now) {
  const calls: string[] = [];
  const reviewer: TokenReviewer = async (token, audiences) => {
    calls.push(token);
    await new Promise((resolve) => setImmediate(resolve));
    const entry = known.get(token);
    const exp = tokenExpiry(token);
    if (entry === undefined || (exp !== undefined && exp <= now())) {
      return { authenticated: false, error: 'token lookup failed' };
    }
    const tokenAud = entry.audiences ?? ['credbroker'];
    const common = audiences.filter((a) => tokenAud.includes(a));
    const result: TokenReviewResult = { authenticated: true, user: { username: entry.username, groups: entry.groups ?? [] }, audiences: common };
    return result;
  };
  return { reviewer, calls };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('AUTH_MODE=kubernetes: authentication and authorization', async (t) => {
  const updaterToken = jwt(UPDATER);
  const otherToken = jwt(OTHER_SA);
  const wrongAudToken = jwt(UPDATER);
  const aliceToken = jwt('alice');
  const bobToken = jwt('bob');
  const expiredToken = jwt(UPDATER, Date.now() - 60_000);
  const unknownToken = jwt('nobody');
  const known = new Map([
    [updaterToken, { username: UPDATER, groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd'] }],
    [otherToken, { username: OTHER_SA }],
    [wrongAudToken, { username: UPDATER, audiences: ['https://kubernetes.default.svc'] }],
    [expiredToken, { username: UPDATER }],
    [aliceToken, { username: 'alice', groups: ['platform'] }],
    [bobToken, { username: 'bob', groups: ['developers'] }]
  ]);
  const { reviewer, calls } = stubReviewer(known);
  const { app, logs, metrics } = await build(t, {
    settings: { authMode: 'kubernetes', authAudiences: ['credbroker'] },
    reviewer,
    policy: { current: () => parsePolicy(POLICY) }
  });
  const resolve = (headers: Record<string, string>, body: Record<string, string> = { registry: 'ghcr.io/team-a/app' }) =>
    app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers, payload: body });

  const unauth: Array<[string, Record<string, string>]> = [
    ['missing', {}],
    ['malformed scheme', { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['bad characters', { authorization: 'Bearer a b"c' }],
    ['two tokens', { authorization: `Bearer ${updaterToken} ${otherToken}` }],
    ['expired', bearer(expiredToken)],
    ['unknown', bearer(unknownToken)],
    ['wrong audience', bearer(wrongAudToken)],
    ['a user no rule names', bearer(bobToken)]
  ];
  for (const [what, headers] of unauth) {
    const res = await resolve(headers);
    t.equal(res.statusCode, 401, what);
    t.equal(res.json().code, 'UNAUTHENTICATED', what);
    t.match(res.headers['www-authenticate'], /^Bearer realm="credbroker"/, what);
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode']);
  }
  t.same(calls.sort(), [expiredToken, unknownToken, wrongAudToken, bobToken].sort(), 'one review per well-formed token; none for missing or malformed');
  t.match((await resolve(bearer(wrongAudToken))).json().message, /audience/);

  let res = await resolve(bearer(updaterToken));
  t.equal(res.statusCode, 200, 'allowed caller, allowed registry');
  t.same(res.json().caller, { name: UPDATER, groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd'], kind: 'serviceaccount' });
  t.equal((await resolve(bearer(updaterToken), { registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com/app' })).statusCode, 200);

  res = await resolve(bearer(updaterToken), { registry: 'docker.io/library/nginx' });
  t.equal(res.statusCode, 403, 'same caller, other registry');
  t.equal(res.json().code, 'FORBIDDEN');
  t.equal((await resolve(bearer(updaterToken), { registry: 'ghcr.io/team-b/app' })).statusCode, 403);

  res = await resolve(bearer(otherToken));
  t.equal(res.statusCode, 403, 'known caller outside the policy');
  t.equal(res.json().code, 'FORBIDDEN');
  t.match(res.json().message, /no policy rule names caller system:serviceaccount:default:someone/);

  res = await resolve(bearer(aliceToken), { registry: 'docker.io/library/nginx' });
  t.equal(res.statusCode, 200, 'a user the policy names through a group');
  t.equal(res.json().caller.kind, 'user');

  t.equal((await app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(updaterToken) })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/v1/registries' })).statusCode, 401);
  t.equal((await app.inject({ method: 'GET', url: '/v1/nothing-here' })).statusCode, 401, 'unknown /v1 paths need a token too');
  t.equal((await app.inject({ method: 'GET', url: '/%761/registries' })).statusCode, 401, 'an encoded path routed to /v1 needs a token');

  res = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(res.statusCode, 200, '/healthz stays open');
  t.equal(res.json().caller, null);

  await t.test('overrides by reference type', async (t) => {
    const withCreds = (token: string, credentials: string, registry = 'ghcr.io/team-a/app') => resolve(bearer(token), { registry, credentials });
    t.equal((await withCreds(updaterToken, 'pullsecret:argocd/ghcr')).statusCode, 200, 'pullsecret allowed by glob');
    t.equal((await withCreds(updaterToken, 'PULLSECRET:argocd/ghcr')).statusCode, 200);
    let r = await withCreds(updaterToken, 'pullsecret:kube-system/ghcr');
    t.equal(r.statusCode, 403);
    t.equal(r.json().code, 'OVERRIDE_NOT_ALLOWED');
    t.match(r.json().message, /pullsecret:kube-system\/ghcr/);
    for (const ref of ['env:REGISTRY_CREDS', 'ext:/app/auth/ecr.sh', 'secret:argocd/x#creds', 'serviceaccount:argocd/default']) {
      r = await withCreds(updaterToken, ref);
      t.equal(r.json().code, 'OVERRIDE_NOT_ALLOWED', `${ref} refused when not named`);
    }
    t.equal((await withCreds(aliceToken, 'env:REGISTRY_CREDS')).statusCode, 200, 'env: allowed where named');
    t.equal((await withCreds(aliceToken, 'ext:/app/auth/ecr.sh')).statusCode, 200, 'ext: allowed where named');
    t.equal((await withCreds(aliceToken, 'env:HOME')).json().code, 'OVERRIDE_NOT_ALLOWED');
    t.equal((await withCreds(aliceToken, 'ext:/bin/sh')).json().code, 'OVERRIDE_NOT_ALLOWED');
    r = await withCreds(updaterToken, 'bot:s3cr3t-pass', 'ghcr.io/team-a/app');
    t.equal(r.json().code, 'OVERRIDE_NOT_ALLOWED');
    t.notMatch(r.body, /s3cr3t-pass/, 'a pasted user:password is not echoed');
    r = await withCreds(otherToken, 'pullsecret:argocd/ghcr');
    t.equal(r.json().code, 'FORBIDDEN', 'a caller denied anyway gets FORBIDDEN');
  });

  await t.test('applications a caller may name', async (t) => {
    const named = (token: string, application: string, applicationNamespace?: string) =>
      resolve(bearer(token), { registry: 'ghcr.io/team-a/app', application, ...(applicationNamespace === undefined ? {} : { applicationNamespace }) });
    t.equal((await named(updaterToken, 'guestbook')).statusCode, 200, 'argocd/guestbook: granted, the namespace defaults to the service\'s own');
    t.equal((await named(updaterToken, 'guestbook', 'argocd')).statusCode, 200);
    const r = await named(updaterToken, 'guestbook', 'team-b');
    t.equal(r.statusCode, 403);
    t.match(r.json(), { code: 'FORBIDDEN', message: /to name application team-b\/guestbook/ });
    t.equal((await named(updaterToken, 'x', 'argocd/y')).statusCode, 403, 'a / in the namespace matches no glob');
    t.equal((await named(aliceToken, 'guestbook')).statusCode, 403, 'a rule without applications grants none');
    const line = logs.map((l) => JSON.parse(l) as Record<string, any>).find((l) => l.msg === 'request denied by policy' && l.auth?.application === 'team-b/guestbook');
    t.match(line, { level: 40, auth: { caller: UPDATER, action: 'resolve', registry: 'ghcr.io/team-a/app', application: 'team-b/guestbook', rule: 0, reason: /name application/ } },
      'the denial names caller, action, target application, rule and reason');
  });

  const text = await metrics.registry.metrics();
  t.match(text, /credbroker_auth_decisions_total\{result="allowed"\} [1-9]/);
  t.match(text, /credbroker_auth_decisions_total\{result="denied"\} [1-9]/);
  t.match(text, /credbroker_auth_decisions_total\{result="unauthenticated"\} [1-9]/);

  const all = logs.join('');
  const denial = logs.map((l) => JSON.parse(l) as Record<string, any>).find((l) => l.msg === 'request denied by policy' && l.auth?.registry === 'docker.io/library/nginx');
  t.match(denial, { level: 40, auth: { caller: UPDATER, action: 'resolve', registry: 'docker.io/library/nginx', rule: 0, reason: /registry/ } },
    'a denial is logged with caller, action, registry, rule and reason');
  for (const token of known.keys()) {
    t.notOk(all.includes(token), 'no token in the logs');
    t.notOk(all.includes(token.split('.')[2] as string), 'not even its signature');
  }
  t.notOk(all.includes(unknownToken));
  t.notOk(all.includes('s3cr3t-pass'));
});

t.test('TokenReview results are cached by token hash, single-flight, bounded by exp', async (t) => {
  let now = BASE_NOW;
  const clock = () => now;
  const plain = jwt(UPDATER);
  const shortLived = jwt(UPDATER, BASE_NOW + 30_000);
  const concurrent = jwt(UPDATER);
  const opaque = 'opaque-not-a-jwt-token-1234567890';
  const unknown = jwt('nobody');
  const known = new Map([
    [plain, { username: UPDATER }], [shortLived, { username: UPDATER }],
    [concurrent, { username: UPDATER }], [opaque, { username: UPDATER }]
  ]);
  const { reviewer, calls } = stubReviewer(known, clock);
  const { app } = await build(t, {
    settings: { authMode: 'kubernetes', authAudiences: ['credbroker'] },
    reviewer,
    policy: { current: () => parsePolicy(POLICY) },
    now: clock
  });
  const get = (token: string) => app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(token) });
  const count = (token: string) => calls.filter((c) => c === token).length;

  for (let i = 0; i < 100; i++) t.equal((await get(plain)).statusCode, 200);
  t.equal(count(plain), 1, '100 requests with one token, one review');

  const answers = await Promise.all(Array.from({ length: 20 }, () => get(concurrent)));
  t.same(answers.map((r) => r.statusCode), Array(20).fill(200));
  t.equal(count(concurrent), 1, 'concurrent first requests share one review');

  t.equal((await get(shortLived)).statusCode, 200);
  now = BASE_NOW + 20_000;
  t.equal((await get(shortLived)).statusCode, 200);
  t.equal(count(shortLived), 1, 'cached while the token lives');
  now = BASE_NOW + 31_000;
  t.equal((await get(shortLived)).statusCode, 401, 'not served from the cache past exp');
  t.equal(count(shortLived), 2);
  t.equal((await get(shortLived)).statusCode, 401);
  t.equal(count(shortLived), 2, 'an expired token is not reviewed on every request');

  now = BASE_NOW;
  t.equal((await get(opaque)).statusCode, 200);
  now = BASE_NOW + 4 * 60_000;
  t.equal((await get(opaque)).statusCode, 200);
  t.equal(count(opaque), 1, 'a token without exp is cached for a while');
  now = BASE_NOW + 6 * 60_000;
  t.equal((await get(opaque)).statusCode, 200);
  t.equal(count(opaque), 2, 'but not for more than five minutes');

  t.equal((await get(unknown)).statusCode, 401);
  t.equal((await get(unknown)).statusCode, 401);
  t.equal(count(unknown), 1, 'failures are cached briefly');
  now += 11_000;
  t.equal((await get(unknown)).statusCode, 401);
  t.equal(count(unknown), 2, 'and reviewed again after that');
});

t.test('a failing TokenReview is 503 and never carries the token', async (t) => {
  const token = jwt(UPDATER);
  const errors: Error[] = [
    new Error(`ApiException: {"spec":{"token":"${token}"}}`),
    new KubernetesUnavailable(`could not review ${token}`),
    new KubernetesUnavailable('the API did not answer')
  ];
  let i = 0;
  const { app, logs } = await build(t, {
    settings: { authMode: 'kubernetes' },
    reviewer: async () => { throw errors[i++] as Error; },
    policy: undefined
  });
  for (let n = 0; n < errors.length; n++) {
    const res = await app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(token) });
    t.equal(res.statusCode, 503);
    t.equal(res.json().code, 'KUBERNETES_UNAVAILABLE');
    t.notOk(res.body.includes(token), 'not in the response');
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(token) })).statusCode, 503);
  t.notOk(logs.join('').includes(token), 'not in the logs');
});

t.test('policy defaults and reloads', async (t) => {
  const token = jwt(UPDATER);
  const { reviewer } = stubReviewer(new Map([[token, { username: UPDATER }]]));

  await t.test('without a policy file: validate, registries and status only', async (t) => {
    const { app } = await build(t, { settings: { authMode: 'kubernetes' }, reviewer, policy: undefined });
    t.equal((await app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(token) })).statusCode, 200);
    const res = await app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers: bearer(token), payload: { registry: 'ghcr.io/a' } });
    t.equal(res.statusCode, 403);
    t.equal(res.json().code, 'FORBIDDEN');
  });
  // a policy file edit and a bad edit: test/app/auth.test.ts, through AUTH_POLICY_PATH
});

t.test('AUTH_MODE=static with a reloaded token file', async (t) => {
  const ciToken = 'ci-static-token-4b8e2f0a9c7d';
  const opsToken = 'ops-static-token-1d3f5a7c9e0b';
  const dir = mkdtempSync(join(tmpdir(), 'auth-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'tokens.yaml');
  writeFileSync(path, `tokens:\n  - name: ci\n    sha256: ${sha(ciToken)}\n`);
  const tokens = openTokensFile(path, { intervalMs: 20, debounceMs: 10 });
  t.teardown(() => tokens.close());
  const policy = parsePolicy('rules:\n  - subjects: ["static:*"]\n    actions: [resolve]\n');
  const { app, logs } = await build(t, { settings: { authMode: 'static' }, tokens, policy: { current: () => policy } });
  const resolve = (token: string) => app.inject({ method: 'POST', url: '/v1/credentials/resolve', headers: bearer(token), payload: {} });

  let res = await resolve(ciToken);
  t.equal(res.statusCode, 200);
  t.same(res.json().caller, { name: 'static:ci', groups: [], kind: 'static' });
  res = await resolve(opsToken);
  t.equal(res.statusCode, 401);
  t.equal(res.headers['www-authenticate'], 'Bearer realm="credbroker", error="invalid_token"');
  t.equal((await resolve(sha(ciToken))).statusCode, 401, 'the digest is not a token');

  writeFileSync(path, `tokens:\n  - name: ops\n    sha256: ${sha(opsToken)}\n`);
  await eventually(async () => (await resolve(opsToken)).statusCode === 200);
  t.equal((await resolve(opsToken)).json().caller.name, 'static:ops', 'a token added to the file is accepted');
  t.equal((await resolve(ciToken)).statusCode, 401, 'a token removed from the file is refused');

  writeFileSync(path, 'tokens:\n  - name: ops\n');
  await eventually(() => tokens.lastResult()?.result === 'failure');
  t.equal((await resolve(opsToken)).statusCode, 200, 'a bad edit keeps the last good tokens');

  const all = logs.join('');
  for (const tok of [ciToken, opsToken]) t.notOk(all.includes(tok), 'no token in the logs');
});

t.test('AUTH_MODE=none: anonymous callers, default overrides', async (t) => {
  const { app } = await build(t, { settings: { authMode: 'none', secretNamespaces: ['argocd'] }, policy: undefined });
  const resolve = (credentials?: string) =>
    app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: credentials === undefined ? {} : { credentials } });
  let res = await resolve();
  t.equal(res.statusCode, 200);
  t.same(res.json().caller, { name: 'anonymous', groups: [], kind: 'anonymous' });
  t.equal((await resolve('pullsecret:argocd/ghcr')).statusCode, 200);
  t.equal((await resolve('secret:argocd/ghcr#creds')).statusCode, 200);
  res = await resolve('pullsecret:kube-system/ghcr');
  t.equal(res.json().code, 'OVERRIDE_NOT_ALLOWED', 'outside SECRET_NAMESPACES');
  t.equal((await resolve('env:HOME')).json().code, 'OVERRIDE_NOT_ALLOWED');
  t.equal((await resolve('ext:/bin/id')).json().code, 'OVERRIDE_NOT_ALLOWED');
});

t.test('AUTH_MODE=none with RATE_LIMIT_PER_MINUTE=0 adds no request hook at all', async (t) => {
  const hooks = (app: FastifyInstance) => app.printRoutes({ includeHooks: true, commonPrefix: false });
  const off = await build(t, { settings: { authMode: 'none', rateLimitPerMinute: 0 }, policy: undefined });
  t.notMatch(hooks(off.app), /onRequest/, 'no onRequest hook on any route');
  const res = await off.app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: {} });
  t.same(res.json().caller, { name: 'anonymous', groups: [], kind: 'anonymous' }, 'the caller is still anonymous');
  t.equal(res.headers['ratelimit-limit'], undefined);
  const limited = await build(t, { settings: { authMode: 'none', rateLimitPerMinute: 5 }, policy: undefined });
  t.match(hooks(limited.app), /onRequest/, 'with a limit, one hook for it');
  t.equal((await limited.app.inject({ method: 'GET', url: '/v1/registries' })).headers['ratelimit-limit'], '5');
  const { reviewer } = stubReviewer(new Map());
  const kube = await build(t, { settings: { authMode: 'kubernetes', rateLimitPerMinute: 0 }, reviewer, policy: undefined });
  t.match(hooks(kube.app), /onRequest/, 'other modes authenticate in a hook');
});

t.test('rate limit per caller', async (t) => {
  let now = BASE_NOW;
  const clock = () => now;
  const a = jwt(UPDATER);
  const b = jwt('system:serviceaccount:argocd:other');
  const { reviewer } = stubReviewer(new Map([[a, { username: UPDATER }], [b, { username: 'system:serviceaccount:argocd:other' }]]), clock);
  const { app, metrics } = await build(t, {
    settings: { authMode: 'kubernetes', rateLimitPerMinute: 3 },
    reviewer,
    policy: undefined,
    now: clock
  });
  const get = (token: string, remoteAddress = '10.0.0.1') => app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(token), remoteAddress });
  const first = await get(a);
  t.equal(first.statusCode, 200);
  t.match(first.headers, { 'ratelimit-limit': '3', 'ratelimit-remaining': '2', 'ratelimit-reset': /^\d+$/ }, 'the standard RateLimit-* headers');
  t.equal((await get(a, '10.0.0.2')).headers['ratelimit-remaining'], '1', 'keyed by caller, not by address');
  t.equal((await get(a, '10.0.0.3')).statusCode, 200);
  const res = await get(a);
  t.equal(res.statusCode, 429);
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], 'the one error shape');
  t.match(res.json(), { statusCode: 429, code: 'RATE_LIMITED', message: /more than 3 requests per minute/ });
  const retry = Number(res.headers['retry-after']);
  t.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${String(res.headers['retry-after'])} is whole seconds within the minute`);
  t.equal(res.headers['ratelimit-remaining'], '0');
  t.equal((await get(b)).statusCode, 200, 'another caller has its own budget');
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'only /v1 is limited');
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).headers['ratelimit-limit'], undefined, 'and only /v1 carries the headers');
  t.match(await metrics.registry.metrics(), /credbroker_auth_decisions_total\{result="rate_limited"\} 1/);

  await t.test('failed authentications are limited per client address, before any TokenReview', async (t) => {
    const { reviewer, calls } = stubReviewer(new Map([[a, { username: UPDATER }]]), clock);
    const { app } = await build(t, { settings: { authMode: 'kubernetes', rateLimitPerMinute: 3 }, reviewer, policy: undefined, now: clock });
    const bad = (i: number, remoteAddress = '10.9.9.9') =>
      app.inject({ method: 'GET', url: '/v1/registries', headers: bearer(jwt(`system:serviceaccount:x:random-${i}`)), remoteAddress });
    for (let i = 0; i < 3; i++) t.equal((await bad(i)).statusCode, 401);
    const before = calls.length;
    const blocked = await bad(99);
    t.equal(blocked.statusCode, 429, 'the fourth failure in a minute is refused');
    t.ok(Number(blocked.headers['retry-after']) >= 1);
    t.equal(calls.length, before, 'no TokenReview for a blocked address');
    t.equal((await bad(100, '10.9.9.8')).statusCode, 401, 'another address is not blocked');
  });

  await t.test('none mode limits by client address', async (t) => {
    const { app } = await build(t, { settings: { authMode: 'none', rateLimitPerMinute: 2 }, policy: undefined, now: clock });
    const from = (remoteAddress: string) => app.inject({ method: 'GET', url: '/v1/registries', remoteAddress });
    t.equal((await from('10.0.0.1')).statusCode, 200);
    t.equal((await from('10.0.0.1')).statusCode, 200);
    t.equal((await from('10.0.0.1')).statusCode, 429);
    t.equal((await from('10.0.0.2')).statusCode, 200);
  });
});

t.test('tokenExpiry reads exp without verifying', async (t) => {
  t.equal(tokenExpiry(jwt('x', 1_700_000_000_000)), 1_700_000_000_000);
  t.equal(tokenExpiry(jwt('x')), undefined);
  t.equal(tokenExpiry('not-a-jwt'), undefined);
  t.equal(tokenExpiry('a.!!!.c'), undefined);
});

t.test('static mode without a token file and kubernetes mode without a reviewer refuse to start', async (t) => {
  for (const authMode of ['static', 'kubernetes'] as const) {
    const app = Fastify();
    t.teardown(() => app.close());
    await t.rejects(async () => { await app.register(authPlugin, { settings: settingsFor({ authMode }), policy: undefined }); }, new RegExp(`AUTH_MODE=${authMode}`));
  }
  t.ok(parseTokens('tokens: []\n'));
});
