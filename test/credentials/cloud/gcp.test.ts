// gcp: references against a loopback GCE metadata server (Metadata-Flavor: Google), driven by
// the real google-auth-library through GCE_METADATA_HOST (GKE Workload Identity's path).
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localApp } from '../../helpers/app.js';
import { startFakeMetadata, type FakeMetadata } from '../../helpers/fake-cloud.js';

const HOST = 'europe-west1-docker.pkg.dev';
const SEED = 'planted-gcp-51c0';

const home = mkdtempSync(join(tmpdir(), 'credbroker-gcp-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
process.env.HOME = home; // no gcloud well-known file
process.env.CLOUDSDK_CONFIG = join(home, 'gcloud');
// without a project the library asks an installed gcloud CLI for one (seconds per GoogleAuth)
process.env.GOOGLE_CLOUD_PROJECT = 'credbroker-test';

interface Resolved { username: string, password: string, cached: boolean, stale: boolean, expiresAt: string }

// gcp-metadata remembers per process whether it is on Google Cloud: one metadata server per file
let metadata: FakeMetadata;
t.before(async () => {
  metadata = await startFakeMetadata(t, SEED);
  process.env.GCE_METADATA_HOST = metadata.host;
});

async function setup (t: Test, prefix = HOST) {
  metadata.mode = 'ok';
  metadata.lifetimeSec = 3599;
  const conf = `registries:\n  - name: gar\n    prefix: ${prefix}\n    api_url: https://${prefix}\n    credentials: "gcp:"\n`;
  const local = await localApp(t, { conf, env: process.env });
  const resolve = async (image = `${prefix}/project/repo/app:1`) => await local.app.inject({ method: 'POST', url: '/v1/credentials/resolve', payload: { image } });
  const explain = async (image = `${prefix}/project/repo/app:1`) => (await local.app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: { image } })).json<{ cloud?: Record<string, unknown>, cache: { fetchedAt: string, freshUntil: string }, outcome: { ok: boolean, code?: string } }>();
  return { ...local, resolve, explain };
}

t.test('an access token from the metadata server: user oauth2accesstoken, its expiry, the Metadata-Flavor header', async (t) => {
  const { resolve, explain, logs } = await setup(t);
  const before = metadata.tokenCalls;
  const res = await resolve();
  t.equal(res.statusCode, 200, res.body);
  const r = res.json<Resolved>();
  t.equal(r.username, 'oauth2accesstoken');
  t.equal(r.password, metadata.issued.at(-1));
  t.equal(metadata.tokenCalls, before + 1);
  t.equal(metadata.unflavoured, 0, 'every request carried Metadata-Flavor: Google');
  const lifetime = Date.parse(r.expiresAt) - Date.now();
  t.ok(lifetime > 3500_000 && lifetime <= 3599_000, 'expires_in honoured');
  t.match(await explain(), { cloud: { provider: 'gcp', identity: 'metadata-server', registry: HOST, expiresAt: r.expiresAt } });
  t.notOk(logs.join('').includes(r.password), 'no access token in the log');
});

t.test('gcr.io hosts and 50 concurrent misses: one token request', async (t) => {
  const { resolve } = await setup(t, 'eu.gcr.io');
  const before = metadata.tokenCalls;
  const all = await Promise.all(Array.from({ length: 50 }, async () => await resolve()));
  t.same(new Set(all.map((r) => r.statusCode)), new Set([200]));
  t.equal(metadata.tokenCalls, before + 1);
});

t.test('refreshed early: a token asked again once 10% of its life is left', async (t) => {
  const { resolve, explain } = await setup(t);
  metadata.lifetimeSec = 3;
  const first = (await resolve()).json<Resolved>();
  const x = await explain();
  const calls = metadata.tokenCalls;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(x.cache.freshUntil) + 20 - Date.now())));
  t.ok(Date.now() < Date.parse(first.expiresAt));
  const second = (await resolve()).json<Resolved>();
  t.equal(metadata.tokenCalls, calls + 1);
  t.not(second.password, first.password);
});

t.test('a denied identity: CLOUD_ACCESS_DENIED naming the role binding, no body', async (t) => {
  const { resolve, logs } = await setup(t);
  metadata.mode = 'deny';
  const res = await resolve();
  t.equal(res.statusCode, 502, res.body);
  t.match(res.json(), { code: 'CLOUD_ACCESS_DENIED', message: /roles\/iam\.workloadIdentityUser/ });
  t.notOk([...logs, res.body].join('').includes('planted-'), 'no metadata server body');
});

t.test('an outage with a cached token: served stale while it lasts', async (t) => {
  const { resolve } = await setup(t);
  metadata.lifetimeSec = 3;
  const first = (await resolve()).json<Resolved>();
  metadata.mode = 'down';
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(first.expiresAt) - 200 - Date.now())));
  const stale = await resolve();
  t.equal(stale.statusCode, 200, stale.body);
  t.match(stale.json(), { stale: true, password: first.password });
});
