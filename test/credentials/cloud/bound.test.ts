// A provider that never answers does not hold a cache miss: every cloud fetch is bounded in
// time as a whole (here a GCE metadata server that accepts the token request and goes quiet).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudCredentials } from '../../../src/credentials/cloud/index.js';
import { createMetrics } from '../../../src/metrics.js';
import { startFakeMetadata } from '../../helpers/fake-cloud.js';

t.test('a metadata server that never answers: CLOUD_PROVIDER_UNAVAILABLE at the bound', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'credbroker-gcp-bound-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const metadata = await startFakeMetadata(t);
  Object.assign(process.env, { HOME: home, CLOUDSDK_CONFIG: join(home, 'gcloud'), GOOGLE_CLOUD_PROJECT: 'credbroker-test', GCE_METADATA_HOST: metadata.host });
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  metadata.mode = 'hang';
  const metrics = createMetrics({ defaultMetrics: false });
  const cloud = new CloudCredentials(process.env, metrics, 3000);
  const started = Date.now();
  await t.rejects(cloud.fetch({ type: 'gcp', options: {} }, 'gcr.io', 'https://gcr.io'), { code: 'CLOUD_PROVIDER_UNAVAILABLE', message: /did not come within 3 s/ });
  t.equal(metadata.tokenCalls, 1, 'the token was asked for');
  t.ok(Date.now() - started < 20_000, 'not held until some library timeout');
  t.match(await metrics.registry.metrics(), /credbroker_cloud_token_requests_total\{provider="gcp",outcome="CLOUD_PROVIDER_UNAVAILABLE"\} 1/);
  metadata.mode = 'ok';
  const ok = await cloud.fetch({ type: 'gcp', options: {} }, 'gcr.io', 'https://gcr.io');
  t.equal(ok.credential.username, 'oauth2accesstoken', 'the next fetch goes through');
  await cloud.close();
});
