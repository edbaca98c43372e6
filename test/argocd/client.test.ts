import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ArgocdClient, argocdClientOptions, type ArgocdClientOptions } from '../../src/argocd/client.js';
import { loadSettings } from '../../src/config/settings.js';
import { isCodedError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import {
  APPLICATION_TEMPLATE, FakeArgocd, USERINFO_TEMPLATE, loadArgocdSwagger, validateSchema, validateSwaggerAnswer
} from '../helpers/fake-argocd.js';
import { requireTool } from '../helpers/tools.js';

const swagger = loadArgocdSwagger();
const TOKEN = 'argocd-token-s3cr3t-0001';
const OTHER_TOKEN = 'argocd-token-s3cr3t-0002';
const WRONG_TOKEN = 'argocd-token-wr0ng-0003';
const SECRETS = [TOKEN, OTHER_TOKEN, WRONG_TOKEN];

/** Every answer the fake sent must match the swagger document. */
function checkAnswers (t: Test, fake: FakeArgocd): void {
  t.ok(fake.answers.length > 0, 'the fake answered');
  for (const a of fake.answers) {
    t.same(validateSwaggerAnswer(swagger, a.template, a.method, a.status, a.body), [],
      `${a.status} answer of ${a.template} matches the swagger document`);
  }
}

function noSecretIn (t: Test, err: unknown): void {
  const text = `${String((err as Error).message)} ${String((err as Error).stack)} ${JSON.stringify(err)}`;
  for (const s of SECRETS) t.notOk(text.includes(s), 'no token in the error');
}

async function rejection (p: Promise<unknown>): Promise<Error & { code: string, statusCode: number }> {
  try {
    await p;
  } catch (err) {
    if (isCodedError(err)) return err as Error & { code: string, statusCode: number };
    throw err;
  }
  throw new Error('expected a rejection');
}

async function setup (t: Test, opts: Partial<ArgocdClientOptions> = {}) {
  const fake = await FakeArgocd.start({ tokens: [TOKEN] });
  const metrics = createMetrics({ defaultMetrics: false });
  const client = new ArgocdClient({ server: fake.address, plaintext: true, token: TOKEN, backoffMs: 1, metrics, ...opts });
  t.teardown(async () => {
    client.close();
    await fake.close();
  });
  return { fake, client, metrics };
}

async function counterValue (metrics: ReturnType<typeof createMetrics>, labels: Record<string, string>): Promise<number> {
  const m = await metrics.argocdRequests.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val))
    .reduce((sum, v) => sum + v.value, 0);
}

t.test('the swagger check itself', async (t) => {
  const userinfo = swagger.paths[USERINFO_TEMPLATE]?.get?.responses['200']?.schema;
  t.ok(userinfo, 'userinfo has a 200 schema');
  if (userinfo === undefined) return;
  t.same(validateSchema(swagger, userinfo, { loggedIn: true, username: 'x', groups: ['a'] }), []);
  t.match(validateSchema(swagger, userinfo, { loggedIn: 'yes' }), [/\$\.loggedIn: expected boolean, got string/]);
  t.match(validateSchema(swagger, userinfo, { logged_in: true }), [/unexpected property logged_in/]);
  t.match(validateSchema(swagger, userinfo, { groups: 'admins' }), [/\$\.groups: expected array/]);
  t.match(validateSchema(swagger, userinfo, { groups: [1] }), [/\$\.groups\[0\]: expected string/]);
  t.match(validateSchema(swagger, userinfo, []), [/expected object, got array/]);
  t.same(validateSchema(swagger, userinfo, { logged_in: true }, '$', { strict: false }), [], 'lenient mode allows extras');

  t.match(validateSwaggerAnswer(swagger, APPLICATION_TEMPLATE, 'GET', 200, { metadata: { annotations: { a: 1 } } }),
    [/\$\.metadata\.annotations\.a: expected string, got number/], '$ref and additionalProperties are followed');
  t.match(validateSwaggerAnswer(swagger, APPLICATION_TEMPLATE, 'GET', 200, { metadata: { creationTimestamp: 'yesterday' } }),
    [/not a date-time/]);
  t.match(validateSwaggerAnswer(swagger, APPLICATION_TEMPLATE, 'GET', 200, { metadata: { generation: 1.5 } }),
    [/expected integer/]);
  t.match(validateSwaggerAnswer(swagger, APPLICATION_TEMPLATE, 'GET', 403, { error: 'x', code: '7' }),
    [/\$\.code: expected integer/], 'errors are checked against runtimeError');
  t.same(validateSwaggerAnswer(swagger, APPLICATION_TEMPLATE, 'GET', 404, { error: 'x', code: 5, message: 'x', details: [] }), []);
  t.match(validateSwaggerAnswer(swagger, '/api/v1/nope', 'GET', 200, {}), [/not in the document/]);
  t.match(validateSchema(swagger, { $ref: '#/definitions/missing' }, {}), [/unresolvable/]);
});

t.test('a fake answer that drifts from the document is caught', async (t) => {
  const { fake, client } = await setup(t);
  fake.setApplication({ name: 'web' });
  fake.applicationOverride = { metadata: { name: 'web', annotations: {} }, spec: { project: 7 } };
  await client.getApplication('web');
  const a = fake.answers.find((x) => x.template === APPLICATION_TEMPLATE);
  t.ok(a);
  if (a !== undefined) {
    t.match(validateSwaggerAnswer(swagger, a.template, a.method, a.status, a.body), [/\$\.spec\.project: expected string/]);
  }
});

t.test('reads an application with the bearer token', async (t) => {
  const { fake, client, metrics } = await setup(t);
  fake.setApplication({ name: 'web', annotations: { 'argocd-image-updater.argoproj.io/image-list': 'web=ghcr.io/org/web' } });
  fake.setApplication({ name: 'web', namespace: 'team-a', annotations: { team: 'a' } });
  const app = await client.getApplication('web');
  t.same(app?.metadata.annotations, { 'argocd-image-updater.argoproj.io/image-list': 'web=ghcr.io/org/web' });
  t.equal(app?.metadata.name, 'web');
  t.equal(app?.metadata.namespace, 'argocd');
  const other = await client.getApplication('web', 'team-a');
  t.same(other?.metadata.annotations, { team: 'a' });
  t.equal(fake.requests[1]?.query.get('appNamespace'), 'team-a', 'appNamespace is passed as a query parameter');
  t.equal(fake.requests[0]?.query.has('appNamespace'), false);
  t.equal(fake.requests[0]?.token, TOKEN);
  t.equal(await counterValue(metrics, { endpoint: 'application', code: '200' }), 2);
  const timed = (await metrics.argocdRequestDuration.get()).values.find((v) => v.metricName?.endsWith('_count') === true && v.labels.endpoint === 'application');
  t.equal(timed?.value, 2, 'both reads are timed in credbroker_argocd_request_duration_seconds');
  checkAnswers(t, fake);
});

t.test('an application that does not exist or is hidden is undefined', async (t) => {
  const { fake, client, metrics } = await setup(t);
  fake.setApplication({ name: 'secret-app' });
  fake.hidden.add('secret-app');
  t.equal(await client.getApplication('nope'), undefined, '403 PermissionDenied (no project named)');
  t.equal(await client.getApplication('secret-app'), undefined, 'hidden by RBAC');
  fake.missingStatus = 404;
  t.equal(await client.getApplication('nope'), undefined, '404 NotFound');
  t.equal(await counterValue(metrics, { endpoint: 'application', code: '403' }), 2);
  t.equal(await counterValue(metrics, { endpoint: 'application', code: '404' }), 1);
  t.equal(fake.count(APPLICATION_TEMPLATE), 3, 'not retried');
  checkAnswers(t, fake);
});

t.test('a wrong or missing token is refused clearly, without the token', async (t) => {
  const { fake, client } = await setup(t, { token: WRONG_TOKEN });
  fake.setApplication({ name: 'web' });
  const err = await rejection(client.getApplication('web'));
  t.equal(err.code, 'ARGOCD_UNAVAILABLE');
  t.equal(err.statusCode, 503);
  t.match(err.message, /refused the token \(401\)/);
  noSecretIn(t, err);
  t.equal(fake.count(APPLICATION_TEMPLATE), 1, 'a 401 is not retried');

  const info = await client.userInfo();
  t.equal(info.loggedIn, false, 'userinfo answers loggedIn false for a bad token');
  noSecretIn(t, await rejection(client.canI('applications', 'get', '*')));

  const anonymous = new ArgocdClient({ server: fake.address, plaintext: true, backoffMs: 1 });
  t.teardown(() => anonymous.close());
  const err2 = await rejection(anonymous.getApplication('web'));
  t.match(err2.message, /no token is configured/);
  t.equal(fake.requests.at(-1)?.token, undefined, 'no Authorization header without a token');
  checkAnswers(t, fake);
});

t.test('userinfo, can-i and version', async (t) => {
  const { fake, client } = await setup(t);
  const info = await client.userInfo();
  t.same(info, { loggedIn: true, username: 'credbroker', iss: 'argocd', groups: [] });
  t.equal(await client.canI('applications', 'get', '*'), true);
  t.equal(fake.requests.at(-1)?.path, '/api/v1/account/can-i/applications/get/*');
  fake.canGetApplications = false;
  t.equal(await client.canI('applications', 'get', '*'), false);
  t.same(await client.version(), { version: 'v3.1.0+fake', platform: 'linux/amd64' });
  checkAnswers(t, fake);
});

t.test('Argo CD answering 503 is retried twice, then unavailable', async (t) => {
  const { fake, client, metrics } = await setup(t);
  fake.mode = 'unavailable';
  const err = await rejection(client.getApplication('web'));
  t.equal(err.code, 'ARGOCD_UNAVAILABLE');
  t.match(err.message, /answered application with HTTP 503 \(gRPC code 14\)/);
  t.equal(fake.count(APPLICATION_TEMPLATE), 3, 'one request and two retries');
  t.equal(await counterValue(metrics, { endpoint: 'application', code: '503' }), 3);
  noSecretIn(t, err);
  checkAnswers(t, fake);

  fake.mode = 'up';
  fake.setApplication({ name: 'web' });
  t.ok(await client.getApplication('web'), 'recovers when Argo CD is back');
});

t.test('dropped connections and a closed port are unavailable', async (t) => {
  const { fake, client, metrics } = await setup(t);
  fake.mode = 'reset';
  const err = await rejection(client.getApplication('web'));
  t.equal(err.code, 'ARGOCD_UNAVAILABLE');
  t.match(err.message, /cannot reach Argo CD at 127\.0\.0\.1:\d+ \(application\)/);
  t.equal(fake.count(APPLICATION_TEMPLATE), 3);
  t.equal(await counterValue(metrics, { endpoint: 'application', code: 'error' }), 3);
  noSecretIn(t, err);

  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const down = new ArgocdClient({ server: `127.0.0.1:${port}`, plaintext: true, token: TOKEN, backoffMs: 1 });
  t.teardown(() => down.close());
  const err2 = await rejection(down.userInfo());
  t.match(err2.message, /ECONNREFUSED/);
  noSecretIn(t, err2);
});

t.test('a slow Argo CD times out', async (t) => {
  const { fake, client, metrics } = await setup(t, { timeoutMs: 100, retries: 1 });
  fake.mode = 'slow';
  fake.slowMs = 5000;
  const err = await rejection(client.version());
  t.equal(err.code, 'ARGOCD_UNAVAILABLE');
  t.match(err.message, /no answer within 100 ms/);
  t.equal(fake.count(), 2, 'retried once as configured');
  t.equal(await counterValue(metrics, { endpoint: 'version', code: 'timeout' }), 2);
  t.equal((await metrics.argocdRequestDuration.get()).values.find((v) => v.metricName?.endsWith('_count') === true && v.labels.endpoint === 'version')?.value, 2, 'timed-out attempts are timed too');
});

t.test('answers are bounded in size and must be JSON', async (t) => {
  const { fake, client } = await setup(t, { maxResponseBytes: 2048 });
  fake.setApplication({ name: 'big', annotations: { filler: 'x'.repeat(4096) } });
  const err = await rejection(client.getApplication('big'));
  t.match(err.message, /larger than 2048 bytes/);
  t.equal(fake.count(APPLICATION_TEMPLATE), 1, 'not retried');

  fake.setApplication({ name: 'odd' });
  fake.applicationOverride = [];
  const err2 = await rejection(client.getApplication('odd'));
  t.match(err2.message, /without metadata/);
});

t.test('the token file is re-read when it changes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-argocd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  writeFileSync(file, `${TOKEN}\n`);

  await t.test('the next request after the recheck interval carries the new token', async (t) => {
    const { fake, client } = await setup(t, { token: undefined, tokenFile: file, tokenRecheckMs: 0 });
    t.ok(await client.userInfo().then((i) => i.loggedIn));
    t.equal(fake.requests.at(-1)?.token, TOKEN);
    writeFileSync(file, `${OTHER_TOKEN}\n`);
    fake.setTokens([OTHER_TOKEN]);
    await client.canI('applications', 'get', '*');
    t.equal(fake.requests.at(-1)?.token, OTHER_TOKEN);
    t.equal(fake.count(), 2, 'no request with the old token');
    writeFileSync(file, TOKEN);
    fake.setTokens([TOKEN]);
  });

  await t.test('a 401 makes the client re-read the file at once', async (t) => {
    const { fake, client } = await setup(t, { token: undefined, tokenFile: file, tokenRecheckMs: 60_000 });
    fake.setApplication({ name: 'web' });
    t.ok(await client.getApplication('web'));
    writeFileSync(file, OTHER_TOKEN);
    fake.setTokens([OTHER_TOKEN]);
    t.ok(await client.getApplication('web'), 'succeeds with the rotated token');
    t.same(fake.requests.map((r) => r.token), [TOKEN, TOKEN, OTHER_TOKEN]);
    checkAnswers(t, fake);
  });

  await t.test('a missing token file is reported by path, never by content', async (t) => {
    const { client } = await setup(t, { token: undefined, tokenFile: join(dir, 'missing') });
    const err = await rejection(client.userInfo());
    t.match(err.message, /cannot read the Argo CD token file .*missing: ENOENT/);
  });
});

t.test('settings map onto client options', async (t) => {
  const settings = loadSettings({
    env: {
      ARGOCD_SERVER: 'argocd.example.com:8443', ARGOCD_TOKEN: TOKEN, ARGOCD_INSECURE: 'true', KUBE_MODE: 'local', POD_NAMESPACE: 'argocd'
    },
    serviceAccountDir: '/nonexistent'
  });
  const opts = argocdClientOptions(settings);
  t.match(opts, { server: 'argocd.example.com:8443', token: TOKEN, insecure: true, plaintext: false });
  t.equal(new ArgocdClient(opts).baseUrl, 'https://argocd.example.com:8443');
});

t.test('https: verified by default, with ARGOCD_CA_FILE or skipped with ARGOCD_INSECURE', async (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-argocd-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=fake-argocd',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  const fake = await FakeArgocd.start({ tokens: [TOKEN], tls });
  t.teardown(() => fake.close());

  const strict = new ArgocdClient({ server: fake.address, token: TOKEN, retries: 0 });
  const withCa = new ArgocdClient({ server: fake.address, token: TOKEN, caFile: join(dir, 'cert.pem') });
  const insecure = new ArgocdClient({ server: fake.address, token: TOKEN, insecure: true });
  t.teardown(() => { strict.close(); withCa.close(); insecure.close(); });

  const err = await rejection(strict.userInfo());
  t.match(err.message, /cannot reach Argo CD .*(SELF_SIGNED|CERT)/);
  noSecretIn(t, err);
  t.equal((await withCa.userInfo()).loggedIn, true, 'the CA file is trusted');
  t.equal((await insecure.userInfo()).loggedIn, true, 'verification skipped');
  checkAnswers(t, fake);
});
