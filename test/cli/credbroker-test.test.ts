// `credbroker test <image>` as a user runs it (validate, help and unknown commands: credbroker.test.ts).
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { secretManifest, tmpDir } from '../helpers/app.js';
import { cleanEnv, closedPort, runCli } from '../helpers/process.js';

// each test starts real processes (a few seconds apiece on a busy machine), and the first one builds src/
t.setTimeout(300_000);

const PASSWORD = 'cli-test-password-93bd';

/** A local-mode setup: registries.conf with one entry for `prefix` at `apiUrl`, served by a secret field. */
function setup (t: Test, apiUrl: string): Record<string, string> {
  const dir = tmpDir(t);
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'bot.json'), secretManifest('argocd', 'bot', { creds: `bot:${PASSWORD}` }));
  const conf = join(dir, 'registries.conf');
  writeFileSync(conf, `registries:
  - name: Local test registry
    prefix: registry.test.example:5000
    api_url: ${apiUrl}
    credentials: secret:argocd/bot#creds
`);
  return cleanEnv(t, { KUBE_MODE: 'local', REGISTRIES_CONF_PATH: conf, LOCAL_SECRETS_DIR: secrets, LOG_LEVEL: 'silent' });
}

t.test('test <image>: a registry that cannot be reached is a clear failure, exit 1', async (t) => {
  const port = await closedPort();
  const env = setup(t, `http://127.0.0.1:${port}`);
  const r = await runCli(t, ['test', 'registry.test.example:5000/team/app:1.0'], { env });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stdout, /image:\s+registry\.test\.example:5000\/team\/app/);
  t.match(r.stdout, new RegExp(`registry:\\s+Local test registry \\(prefix registry\\.test\\.example:5000, http://127\\.0\\.0\\.1:${port}`), 'prints the registry');
  t.match(r.stdout, /source:\s+secret:argocd\/bot#creds \(registry level\)/, 'prints the source');
  t.match(r.stdout, /result:\s+REGISTRY_UNREACHABLE/, 'says the registry could not be reached');
  t.notMatch(r.stdout + r.stderr, PASSWORD, 'the password is never printed');
});

t.test('test <image>: a credential that cannot be resolved stops before the registry', async (t) => {
  const port = await closedPort();
  const env = setup(t, `http://127.0.0.1:${port}`);
  const r = await runCli(t, ['test', 'registry.test.example:5000/team/app', '--credentials', 'secret:argocd/missing#creds'], { env });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stdout, /source:\s+secret:argocd\/missing#creds \(request level\)/);
  t.match(r.stdout, /result:\s+SECRET_NOT_FOUND/);
  const bad = await runCli(t, ['test', 'Not A Reference'], { env });
  t.equal(bad.code, 2, 'an invalid image reference: exit 2');
  t.match(bad.stderr, /INVALID_IMAGE_REFERENCE/);
});

t.test('test <image>: a registry that accepts the credential lists tags, exit 0', async (t) => {
  const seen: string[] = [];
  const expected = 'Basic ' + Buffer.from(`bot:${PASSWORD}`).toString('base64');
  const server = http.createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization === expected ? 'auth' : 'anon'}`);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    if (req.url === '/v2/' || req.url === '/v2') { res.end('{}'); return; }
    if (req.url?.startsWith('/v2/team/app/tags/list') === true) { res.end(JSON.stringify({ name: 'team/app', tags: ['1.0', '1.1', 'latest'] })); return; }
    res.writeHead(404);
    res.end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const port = (server.address() as AddressInfo).port;
  const env = setup(t, `http://127.0.0.1:${port}`);
  const r = await runCli(t, ['test', 'registry.test.example:5000/team/app:1.0'], { env });
  t.equal(r.code, 0, `exit 0 (${r.stdout}${r.stderr})`);
  t.match(r.stdout, /source:\s+secret:argocd\/bot#creds/);
  t.match(r.stdout, /auth:\s+basic, authenticated/);
  t.match(r.stdout, /tags:\s+1\.0, 1\.1, latest/);
  t.match(r.stdout, /result:\s+ok/);
  t.ok(seen.some((s) => s.startsWith('GET /v2/team/app/tags/list') && s.endsWith('auth')), 'tags were listed with the credential');
  t.notMatch(r.stdout + r.stderr, PASSWORD, 'the password is never printed');
});
