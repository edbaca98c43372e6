// End to end with a cloud reference: the real docker-registry in token mode whose token server
// accepts only the ECR token the loopback ECR fake hands out; skopeo pulls through
// docker-credential-credbroker from the real service, which got the token through the AWS SDK.
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HELPER_BIN, writeBinWrapper } from '../helpers/credbroker-stub.js';
import { localApp } from '../helpers/app.js';
import { jwt, startFakeAws } from '../helpers/fake-cloud.js';
import { startRegistry } from '../helpers/registry.js';
import { ALL_REGISTRY_TOOLS, requireTools } from '../helpers/tools.js';

const CALLER_TOKEN = 'e2e-cloud-caller-5e1f';
const WEB_IDENTITY = jwt({ sub: 'system:serviceaccount:argocd:credbroker', aud: 'sts.amazonaws.com' });

const home = mkdtempSync(join(tmpdir(), 'credbroker-aws-e2e-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
writeFileSync(join(home, 'token'), WEB_IDENTITY);
for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
Object.assign(process.env, {
  HOME: home,
  AWS_CONFIG_FILE: join(home, 'config'),
  AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
  AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/credbroker',
  AWS_WEB_IDENTITY_TOKEN_FILE: join(home, 'token'),
  AWS_EC2_METADATA_DISABLED: 'true'
});

t.test('skopeo lists tags of a token-auth registry that accepts only the ECR token', async (t) => {
  if (requireTools(t, ...ALL_REGISTRY_TOOLS) === undefined) return;
  const aws = await startFakeAws(t, 'e2e-ecr');
  aws.webIdentityTokens.add(WEB_IDENTITY);
  aws.lifetimeMs = 3600_000;
  process.env.AWS_ENDPOINT_URL_ECR = aws.url;
  process.env.AWS_ENDPOINT_URL_STS = aws.url;
  const ecrPassword = aws.passwordOf(1);
  const reg = await startRegistry({ auth: 'token', users: { AWS: ecrPassword } });
  t.teardown(reg.stop);
  await reg.push('demo/app', '1.0');

  const dir = await mkdtemp(join(tmpdir(), 'credbroker-e2e-cloud-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  const tokens = join(dir, 'tokens.yaml');
  const policy = join(dir, 'policy.yaml');
  await writeFile(tokens, `tokens:\n  - name: skopeo\n    sha256: ${createHash('sha256').update(CALLER_TOKEN).digest('hex')}\n`);
  await writeFile(policy, `rules:\n  - subjects: ["static:skopeo"]\n    actions: [resolve]\n    registries: ["${reg.host}"]\n`);
  const conf = `registries:\n  - name: ecr-mirror\n    prefix: ${reg.host}\n    api_url: ${reg.url}\n    insecure: true\n    credentials: ecr:region=eu-west-1\n`;
  const { app, logs } = await localApp(t, { conf, env: process.env, settingsEnv: { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  await writeBinWrapper(dir, 'docker-credential-credbroker', DOCKER_HELPER_BIN);
  const authfile = join(dir, 'auth.json');
  await writeFile(authfile, JSON.stringify({ credHelpers: { [reg.host]: 'credbroker' } }));
  reg.tokenRequests.length = 0;
  const r = await new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
    execFile('skopeo', ['list-tags', '--tls-verify=false', '--authfile', authfile, `docker://${reg.host}/demo/app`], {
      env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir, CREDBROKER_URL: url, CREDBROKER_TOKEN: CALLER_TOKEN },
      timeout: 60_000
    }, (err, stdout, stderr) => { resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }); });
  });
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { Tags: string[] }).Tags, ['1.0']);
  t.match(reg.tokenRequests, [{ method: 'GET', account: 'AWS', outcome: 'granted' }], 'the token server took the ECR token');
  t.equal(aws.calls.ecr, 1);
  t.equal(aws.lastEcr?.region, 'eu-west-1');

  // the kubelet is told to keep it no longer than the token lives
  const kubelet = await app.inject({
    method: 'POST',
    url: '/v1/kubelet/credential-provider',
    headers: { authorization: `Bearer ${CALLER_TOKEN}` },
    payload: { apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: `${reg.host}/demo/app:1.0` }
  });
  t.equal(kubelet.statusCode, 200, kubelet.body);
  const k = kubelet.json<{ cacheDuration: string, auth: Record<string, { username: string, password: string }> }>();
  t.same(Object.values(k.auth), [{ username: 'AWS', password: ecrPassword }]);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+)s$/.exec(k.cacheDuration);
  const seconds = m === null ? Infinity : Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3]);
  const left = ((aws.issued[0]?.expiresAt ?? 0) - Date.now()) / 1000;
  t.ok(seconds > 0 && seconds <= left, `cacheDuration ${k.cacheDuration} within the token's remaining ${Math.round(left)} s`);
  t.notOk(logs.join('').includes(ecrPassword), 'no ECR token in the service log');
});
