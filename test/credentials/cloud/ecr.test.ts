// ecr: references against a loopback ECR (JSON 1.1) and STS (query/XML) driven by the real
// AWS SDK v3 through its standard environment: web identity (IRSA), assumed roles, ECR Public.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localApp } from '../../helpers/app.js';
import { jwt, startFakeAws, type FakeAws } from '../../helpers/fake-cloud.js';

const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const SEED = 'planted-ecr-9f31';
const WEB_IDENTITY = jwt({ sub: 'system:serviceaccount:argocd:credbroker', aud: 'sts.amazonaws.com', exp: Math.floor(Date.now() / 1000) + 3600 });

const home = mkdtempSync(join(tmpdir(), 'credbroker-aws-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
writeFileSync(join(home, 'token'), WEB_IDENTITY);
// no ~/.aws profile may win over web identity (PEERS: profile precedence)
for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
Object.assign(process.env, {
  HOME: home,
  AWS_CONFIG_FILE: join(home, 'config'),
  AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
  AWS_REGION: 'us-west-2',
  AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/credbroker',
  AWS_WEB_IDENTITY_TOKEN_FILE: join(home, 'token'),
  AWS_EC2_METADATA_DISABLED: 'true'
});

interface Resolved { username: string, password: string, cached: boolean, stale: boolean, expiresAt: string, fetchedAt: string, source: { type: string } }
interface Explained { cloud?: { provider: string, identity: string, registry: string, region?: string, role?: string, expiresAt: string }, cache: { state: string, fetchedAt: string, freshUntil: string }, outcome: { ok: boolean, code?: string, message?: string } }

async function setup (t: Test, opts: { credentials?: string, prefix?: string, apiUrl?: string } = {}) {
  const aws = await startFakeAws(t, SEED);
  aws.webIdentityTokens.add(WEB_IDENTITY);
  process.env.AWS_ENDPOINT_URL_ECR = aws.url;
  process.env.AWS_ENDPOINT_URL_STS = aws.url;
  process.env.AWS_ENDPOINT_URL_ECR_PUBLIC = aws.url;
  const prefix = opts.prefix ?? HOST;
  const conf = `registries:\n  - name: cloud\n    prefix: ${prefix}\n    api_url: ${opts.apiUrl ?? `https://${prefix}`}\n    credentials: "${opts.credentials ?? 'ecr:'}"\n`;
  const local = await localApp(t, { conf, env: process.env });
  const resolve = async (image = `${prefix}/team/app:1.0`) => await local.app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image } });
  const explain = async (image = `${prefix}/team/app:1.0`) => (await local.app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image } })).json<Explained>();
  return { aws, ...local, resolve, explain };
}

const sleepUntil = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms - Date.now()))); };

function noSecrets (t: Test, aws: FakeAws, texts: string[]): void {
  const all = texts.join('\n');
  for (const { password } of aws.issued) t.notOk(all.includes(password), 'no ECR password in logs or errors');
  t.notOk(all.includes(WEB_IDENTITY), 'no web identity token');
  t.notOk(all.includes('planted-'), 'no provider response body');
}

t.test('web identity → STS → GetAuthorizationToken: user AWS, the token\'s own expiry, explain names provider and identity', async (t) => {
  const { aws, resolve, explain, logs, metrics } = await setup(t);
  const res = await resolve();
  t.equal(res.statusCode, 200, res.body);
  const r = res.json<Resolved>();
  t.equal(r.username, 'AWS');
  t.equal(r.password, aws.passwordOf(1));
  t.equal(r.source.type, 'ecr');
  t.equal(Math.abs(Date.parse(r.expiresAt) - (aws.issued[0]?.expiresAt ?? 0)) < 5, true, 'expiresAt is the token\'s');
  t.equal(aws.calls.assumeRoleWithWebIdentity, 1, 'the default chain used the web identity token');
  t.equal(aws.lastEcr?.region, 'eu-west-1', 'region from the registry host, not AWS_REGION');
  t.match(aws.lastEcr?.accessKeyId, /^ASIA/, 'signed with the credentials STS handed out');

  const x = await explain();
  t.same(x.cloud, { provider: 'ecr', identity: 'web-identity', registry: HOST, region: 'eu-west-1', expiresAt: r.expiresAt });
  t.equal(x.cache.state, 'hit');
  // a 12-hour token is refreshed 5 minutes before it expires
  t.equal(Date.parse(r.expiresAt) - Date.parse(x.cache.freshUntil), 5 * 60_000);
  t.equal(aws.calls.ecr, 1, 'explain served from the cache');
  const scrape = await metrics.registry.metrics();
  t.match(scrape, /credbroker_cloud_token_requests_total\{provider="ecr",outcome="ok"\} 1/);
  t.match(scrape, /credbroker_credential_requests_total\{outcome="ok",source_type="ecr"\} 1/);
  noSecrets(t, aws, logs);
});

t.test('50 concurrent misses make one GetAuthorizationToken call', async (t) => {
  const { aws, resolve } = await setup(t);
  const all = await Promise.all(Array.from({ length: 50 }, async () => await resolve()));
  t.same(new Set(all.map((r) => r.statusCode)), new Set([200]));
  t.same(new Set(all.map((r) => r.json<Resolved>().password)), new Set([aws.passwordOf(1)]));
  t.equal(aws.calls.ecr, 1);
  t.equal(aws.calls.assumeRoleWithWebIdentity, 1);
});

t.test('a short-lived token is refreshed early: 10% of its life before it expires', async (t) => {
  const { aws, resolve, explain } = await setup(t);
  aws.lifetimeMs = 3000;
  const first = (await resolve()).json<Resolved>();
  const x = await explain();
  const lifetime = Date.parse(first.expiresAt) - Date.parse(x.cache.fetchedAt);
  t.ok(Math.abs(Date.parse(first.expiresAt) - lifetime * 0.1 - Date.parse(x.cache.freshUntil)) <= 2, 'fresh until 10% of the life before expiry');
  t.equal((await resolve()).json<Resolved>().cached, true);
  t.equal(aws.calls.ecr, 1);
  await sleepUntil(Date.parse(x.cache.freshUntil) + 20);
  t.ok(Date.now() < Date.parse(first.expiresAt), 'still before the old token expires');
  const second = (await resolve()).json<Resolved>();
  t.equal(aws.calls.ecr, 2, 'refetched before expiry');
  t.equal(second.cached, false);
  t.equal(second.password, aws.passwordOf(2));
});

t.test('a denied identity: CLOUD_ACCESS_DENIED naming the IAM action, no provider body, no secret', async (t) => {
  const { aws, resolve, explain, logs } = await setup(t);
  aws.mode = 'deny';
  const res = await resolve();
  t.equal(res.statusCode, 502);
  const e = res.json<{ code: string, message: string }>();
  t.equal(e.code, 'CLOUD_ACCESS_DENIED');
  t.match(e.message, /ecr:GetAuthorizationToken/);
  const x = await explain();
  t.match(x.outcome, { ok: false, code: 'CLOUD_ACCESS_DENIED' });
  noSecrets(t, aws, [...logs, res.body, JSON.stringify(x)]);
});

t.test('STS says yes, ECR refuses (AccessDeniedException): denied too', async (t) => {
  const { aws, resolve, logs } = await setup(t);
  aws.mode = 'deny-ecr';
  const res = await resolve();
  t.equal(aws.calls.assumeRoleWithWebIdentity, 1);
  t.equal(res.statusCode, 502);
  t.match(res.json(), { code: 'CLOUD_ACCESS_DENIED', message: /AccessDeniedException.*ecr:GetAuthorizationToken/ });
  noSecrets(t, aws, [...logs, res.body]);
});

t.test('one token per registry host: every repository of the host shares it', async (t) => {
  const { aws, resolve } = await setup(t);
  t.equal((await resolve()).statusCode, 200);
  const res = await resolve(`${HOST}/other/app:1`);
  t.equal(res.statusCode, 200);
  t.equal(res.json<Resolved>().cached, true);
  t.equal(aws.calls.ecr, 1);
});

t.test('provider outage with a cached token: stale served until the token itself expires', async (t) => {
  const { aws, resolve, logs, metrics } = await setup(t);
  aws.lifetimeMs = 3000;
  const first = (await resolve()).json<Resolved>();
  aws.mode = 'down';
  await sleepUntil(Date.parse(first.expiresAt) - 250);
  const stale = await resolve();
  t.equal(stale.statusCode, 200, stale.body);
  t.match(stale.json<Resolved>(), { stale: true, password: aws.passwordOf(1) });
  await sleepUntil(Date.parse(first.expiresAt) + 20);
  const gone = await resolve();
  t.equal(gone.statusCode, 503, 'an expired token is not served');
  t.equal(gone.json<{ code: string }>().code, 'CLOUD_PROVIDER_UNAVAILABLE');
  t.match(await metrics.registry.metrics(), /credbroker_cloud_token_requests_total\{provider="ecr",outcome="CLOUD_PROVIDER_UNAVAILABLE"\} [1-9]/);
  noSecrets(t, aws, [...logs, gone.body]);
});

t.test('role=: the web identity assumes the cross-account role, one client per region and role', async (t) => {
  const role = 'arn:aws:iam::210987654321:role/pull';
  const { aws, resolve, explain } = await setup(t, { credentials: `ecr:role=${role}` });
  t.equal((await resolve()).statusCode, 200);
  t.same(aws.roles, [role]);
  t.match(await explain(), { cloud: { identity: 'web-identity+assume-role', role } });
});

t.test('a host that is not ECR (a proxy): region from the options', async (t) => {
  const { aws, resolve, explain } = await setup(t, { credentials: 'ecr:region=ap-south-1', prefix: 'mirror.example.com' });
  t.equal((await resolve()).statusCode, 200);
  t.equal(aws.lastEcr?.region, 'ap-south-1');
  t.match(await explain(), { cloud: { region: 'ap-south-1', registry: 'mirror.example.com' } });
});

t.test('ECR Public: the ecr-public API in us-east-1', async (t) => {
  const { aws, resolve } = await setup(t, { prefix: 'public.ecr.aws' });
  const r = await resolve('public.ecr.aws/team/app:1');
  t.equal(r.statusCode, 200, r.body);
  t.equal(r.json<Resolved>().password, aws.passwordOf(1));
  t.equal(aws.calls.ecrPublic, 1);
  t.equal(aws.lastEcr?.region, 'us-east-1');
});

t.test('no AWS identity at all: CLOUD_IDENTITY_MISSING saying how to give one', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => { Object.assign(process.env, saved); });
  delete process.env.AWS_ROLE_ARN;
  delete process.env.AWS_WEB_IDENTITY_TOKEN_FILE;
  const { resolve } = await setup(t);
  const res = await resolve();
  t.equal(res.statusCode, 502, res.body);
  t.match(res.json(), { code: 'CLOUD_IDENTITY_MISSING', message: /eks\.amazonaws\.com\/role-arn/ });
});
