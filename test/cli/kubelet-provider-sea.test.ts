// The shipped kubelet plugin, dist/bin/credbroker-kubelet-provider (npm run build:kubelet-provider):
// copied alone to a directory and run with no node on PATH, as the kubelet runs it on a node.
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { dockerConfigSecret, localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { ROOT } from '../helpers/credbroker-stub.js';
import { KUBELET_API, decodeStrict, parseGoDuration } from '../helpers/kubelet.js';
import { inCI } from '../helpers/tools.js';

const BIN = join(ROOT, 'dist', 'bin', 'credbroker-kubelet-provider');
const SOURCES = ['src/cli/kubelet-provider.ts', 'src/cli/service-client.ts', 'src/config/duration.ts', 'scripts/build-kubelet-provider.mjs'];
const PW = { team: 'sea-team-pw-31f0a2', host: 'sea-host-pw-9bc4de' };

/** why the executable cannot be had here, or undefined when it is built and current */
function unavailable (): string | undefined {
  const stale = !existsSync(BIN) || SOURCES.some((f) => statSync(join(ROOT, f)).mtimeMs > statSync(BIN).mtimeMs);
  if (!stale) return undefined;
  if (process.platform !== 'linux') return `the kubelet provider executable is built on Linux only (this is ${process.platform})`;
  const require = createRequire(import.meta.url);
  for (const pkg of ['esbuild', 'postject']) {
    try { require.resolve(pkg); } catch { return `${pkg} is not installed: run npm ci`; }
  }
  const built = spawnSync('npm', ['run', '--silent', 'build:kubelet-provider'], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  if (built.status !== 0) return `npm run build:kubelet-provider failed: ${(built.stderr || built.stdout).trim().split('\n').pop() ?? ''}`;
  return undefined;
}

async function run (bin: string, cwd: string, env: NodeJS.ProcessEnv, stdin: string): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const child = execFile(bin, [], { cwd, env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

const why = unavailable();
if (why !== undefined) {
  if (inCI()) t.fail(why);
  else t.test('kubelet provider executable', { skip: why }, async () => {});
} else {
  t.test('the executable answers a CredentialProviderRequest with nothing else on the node', async (t) => {
    const { app } = await localApp(t, {
      conf: 'registries:\n  - name: GitHub\n    prefix: ghcr.io\n    credentials: pullsecret:argocd/ghcr\n  - name: Env\n    prefix: env.example.com\n    credentials: secret:argocd/host#creds\n    credsexpire: 1h\n',
      secrets: {
        'ghcr.json': dockerConfigSecret('argocd', 'ghcr', { 'ghcr.io/team-c': { username: 'team-c-user', password: PW.team } }),
        'host.json': secretManifest('argocd', 'host', { creds: `host-user:${PW.host}` })
      }
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    // the file alone in a directory, run from there, with a PATH that has no node
    const node = tmpDir(t, 'credbroker-node-');
    const binDir = join(node, 'etc', 'kubernetes', 'image-credential-provider');
    const emptyPath = join(node, 'empty-path');
    mkdirSync(binDir, { recursive: true });
    mkdirSync(emptyPath);
    const bin = join(binDir, 'credbroker-kubelet-provider');
    copyFileSync(BIN, bin);
    t.ok(statSync(bin).size > 1_000_000, 'one self-contained file');
    const env = { PATH: emptyPath, CREDBROKER_URL: url };
    const which = spawnSync('/bin/sh', ['-c', 'command -v node'], { env, encoding: 'utf8' });
    t.ok(which.status !== 0 && which.stdout === '', 'no node on the PATH the plugin gets');

    const request = (image: string): string => JSON.stringify({
      apiVersion: KUBELET_API,
      kind: 'CredentialProviderRequest',
      image,
      serviceAccountAnnotations: {}
    });
    const team = await run(bin, node, env, request('ghcr.io/team-c/app'));
    t.equal(team.code, 0, team.stderr);
    t.equal(team.stderr, '', 'nothing on stderr (no experimental warning)');
    t.same(decodeStrict(team.stdout), {
      apiVersion: KUBELET_API,
      kind: 'CredentialProviderResponse',
      cacheKeyType: 'Image',
      cacheDuration: '5m0s',
      auth: { 'ghcr.io/team-c/app': { username: 'team-c-user', password: PW.team } }
    }, 'a path-scoped pull secret key: keyed by image');

    const host = await run(bin, node, env, request('env.example.com/a/b'));
    t.equal(host.code, 0, host.stderr);
    const hostBody = decodeStrict(host.stdout);
    t.equal(hostBody.cacheKeyType, 'Registry');
    t.same(hostBody.auth, { 'env.example.com': { username: 'host-user', password: PW.host } });
    const ms = parseGoDuration(hostBody.cacheDuration as string);
    t.ok(ms <= 30 * 60_000 && ms > 29 * 60_000, `credsexpire 1h: about 30m (${hostBody.cacheDuration as string})`);

    const bad = await run(bin, node, env, '{"kind":"Pod"}');
    t.equal(bad.code, 1);
    t.equal(bad.stdout, '', 'nothing on stdout for the kubelet to parse');
    t.match(bad.stderr, /^credbroker-kubelet-provider: stdin is not a CredentialProviderRequest/);

    const down = await run(bin, node, { PATH: emptyPath, CREDBROKER_URL: 'http://127.0.0.1:9' }, request('ghcr.io/team-c/app'));
    t.equal(down.code, 1);
    t.match(down.stderr, /cannot reach credbroker at http:\/\/127\.0\.0\.1:9/);
  });
}
