// The docker CLI (client only, no engine) as a credential helper consumer: `credHelpers` in
// DOCKER_CONFIG/config.json sends the registry to docker-credential-credbroker, which asks the service.
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DOCKER_HELPER_BIN, writeBinWrapper } from '../helpers/credbroker-stub.js';
import { dockerConfigSecret, localApp, tmpDir } from '../helpers/app.js';
import { startRegistry, type StartedRegistry } from '../helpers/registry.js';
import { REGISTRY_TOOLS, requireTools } from '../helpers/tools.js';

const PASSWORD = 'docker-cli-pw-4b1e9a';
const WRONG = 'docker-cli-wrong-pw-2c';
const CALLER_TOKEN = 'docker-cli-caller-7f3d';

interface Teardown { teardown: (fn: () => unknown) => void }

async function service (t: Teardown, reg: StartedRegistry, password: string): Promise<{ url: string, logs: string[] }> {
  const dir = tmpDir(t, 'credbroker-docker-service-');
  const tokens = join(dir, 'tokens.yaml');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(tokens, `tokens:\n  - name: docker\n    sha256: ${createHash('sha256').update(CALLER_TOKEN).digest('hex')}\n`);
  writeFileSync(policy, `rules:\n  - subjects: ["static:docker"]\n    actions: [resolve]\n    registries: ["${reg.host}"]\n`);
  const { app, logs } = await localApp(t, {
    conf: `registries:\n  - name: Local\n    prefix: ${reg.host}\n    api_url: ${reg.url}\n    insecure: true\n    credentials: pullsecret:argocd/local\n`,
    secrets: { 'local.json': dockerConfigSecret('argocd', 'local', { [reg.host]: { username: 'alice', password } }) },
    settingsEnv: { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens, AUTH_POLICY_PATH: policy }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs };
}

async function manifestInspect (t: Teardown, url: string, reg: StartedRegistry) {
  const dir = tmpDir(t, 'credbroker-docker-');
  const bin = join(dir, 'bin');
  const config = join(dir, 'docker');
  mkdirSync(bin);
  mkdirSync(config);
  await writeBinWrapper(bin, 'docker-credential-credbroker', DOCKER_HELPER_BIN);
  writeFileSync(join(config, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'credbroker' } }));
  return await new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
    execFile('docker', ['manifest', 'inspect', '--insecure', `${reg.host}/demo/app:1.0`], {
      env: {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: dir,
        DOCKER_CONFIG: config,
        CREDBROKER_URL: url,
        CREDBROKER_TOKEN: CALLER_TOKEN
      },
      timeout: 60_000
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

t.test('docker manifest inspect uses the credentials docker-credential-credbroker fetches', async (t) => {
  if (requireTools(t, 'docker', ...REGISTRY_TOOLS.htpasswd) === undefined) return;
  const reg = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD } });
  t.teardown(reg.stop);
  await reg.push('demo/app', '1.0');

  const good = await service(t, reg, PASSWORD);
  const ok = await manifestInspect(t, good.url, reg);
  t.equal(ok.code, 0, ok.stderr);
  const manifest = JSON.parse(ok.stdout) as { schemaVersion?: number, layers?: unknown[] };
  t.equal(manifest.schemaVersion, 2, 'the manifest of demo/app:1.0');
  t.equal(manifest.layers?.length, 1);
  t.ok(good.logs.some((l) => l.includes('"audit":"credential"') && l.includes('"caller":"static:docker"') && l.includes('"outcome":"issued"')),
    'the docker CLI went through the helper to the service');

  const wrong = await service(t, reg, WRONG);
  const refused = await manifestInspect(t, wrong.url, reg);
  t.not(refused.code, 0, 'wrong credentials fail');
  // docker manifest inspect reports the registry's 401 as "no such manifest"
  t.match(refused.stderr, /unauthorized|authentication required|no such manifest/i);
  t.ok(wrong.logs.some((l) => l.includes('"audit":"credential"') && l.includes('"outcome":"issued"')), 'the wrong credential came from the service');
  t.notMatch(refused.stderr + refused.stdout, WRONG);
});
