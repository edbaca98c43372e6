// The cloud SDKs are imported only when an ecr:, gcp: or acr: reference is used: a service
// without one never loads them (start time and memory as before), one that uses ecr: loads
// the AWS SDK alone. Imports are traced by a module resolve hook in the service process.
import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/app.js';
import { ROOT, cleanEnv, closedPort, listeningUrl, request, spawnService } from '../helpers/process.js';

const HOOK = join(ROOT, 'test', 'fixtures', 'trace-cloud-imports.mjs');

async function service (t: Test, conf: string, env: Record<string, string> = {}) {
  const dir = tmpDir(t);
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'registries.conf'), conf);
  const p = await spawnService(t, [], {
    env: cleanEnv(t, { PORT: '0', REGISTRIES_CONF_PATH: join(dir, 'registries.conf'), LOCAL_SECRETS_DIR: join(dir, 'secrets'), NODE_OPTIONS: `--import=${HOOK}`, ...env })
  });
  t.ok(await p.waitFor(/credbroker listening on http/, 60_000), 'listening');
  const base = listeningUrl(p.stdout()) ?? '';
  const resolve = async (image: string) => await request(`${base}/v1/credentials/resolve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image }), ms: 30_000 });
  return { p, resolve };
}

t.test('local mode without cloud references loads no cloud SDK', async (t) => {
  const { p, resolve } = await service(t, 'registries:\n  - name: plain\n    prefix: registry.example.com\n    credentials: env:REG_CREDS\n', { REG_CREDS: 'user:lazy-pw-1' });
  const r = await resolve('registry.example.com/team/app:1');
  t.equal(r.status, 200, r.body);
  t.equal((await resolve('123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1')).status, 404, 'an ECR host without an ecr: reference is just a host');
  t.notMatch(p.stderr(), /cloud-sdk-import/);
});

t.test('positive control: an ecr: reference in use loads the AWS SDK and nothing else', async (t) => {
  const port = await closedPort();
  const { p, resolve } = await service(t, 'registries:\n  - name: ecr\n    prefix: mirror.example.com\n    credentials: ecr:region=eu-west-1\n', {
    AWS_ENDPOINT_URL_ECR: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'AKIDLAZYTEST', AWS_SECRET_ACCESS_KEY: 'lazy-secret-key', AWS_EC2_METADATA_DISABLED: 'true'
  });
  t.notMatch(p.stderr(), /cloud-sdk-import/, 'configured but not yet used: not loaded');
  const r = await resolve('mirror.example.com/team/app:1');
  t.equal(r.status, 503, r.body);
  t.match(JSON.parse(r.body), { code: 'CLOUD_PROVIDER_UNAVAILABLE' });
  t.match(p.stderr(), /cloud-sdk-import @aws-sdk\/client-ecr\n/);
  t.notMatch(p.stderr(), /cloud-sdk-import (google-auth-library|@azure)/);
  t.notMatch(p.stdout() + p.stderr() + r.body, /lazy-secret-key/);
});
