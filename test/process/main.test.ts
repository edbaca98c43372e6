// The real process (src/main.ts): start-up checks, local mode on ./examples, readiness, shutdown.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { eventually, tmpDir } from '../helpers/app.js';
import { cleanEnv, listeningUrl, request, spawnService, type HttpAnswer, type Spawned } from '../helpers/process.js';

// each test starts real processes (a few seconds apiece on a busy machine), and the first one builds src/
t.setTimeout(300_000);

t.test('a bad setting stops the process at once with one stderr line naming it', async (t) => {
  const cases: Array<[Record<string, string>, string[], string]> = [
    [{ PORT: 'abc' }, [], 'PORT'],
    [{ KUBE_MODE: 'cluster' }, [], 'KUBE_MODE'],
    [{ LOG_LEVEL: 'loud' }, [], 'LOG_LEVEL'],
    [{ PORT: '8080' }, ['--port', '70000'], 'PORT'],
    [{}, ['--no-such-flag=1'], '--no-such-flag']
  ];
  const runs = await Promise.all(cases.map(async ([env, args]) => await spawnService(t, args, { env: cleanEnv(t, env) })));
  for (const [i, [, , setting]] of cases.entries()) {
    const p = runs[i] as Spawned;
    const { code } = await p.exited;
    t.not(code, 0, `${setting}: non-zero exit`);
    const lines = p.stderr().split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, `${setting}: exactly one stderr line`);
    t.match(lines[0], setting, `${setting}: the line names the setting`);
    t.notMatch(p.stdout(), /listening/, `${setting}: never listened`);
  }
});

t.test('a bad registries.conf at start stops the process naming the file and key', async (t) => {
  const dir = tmpDir(t);
  const conf = join(dir, 'registries.conf');
  writeFileSync(conf, 'registries:\n  - name: Broken\n    prefix: broken.example.com\n    bogus_key: 1\n');
  mkdirSync(join(dir, 'secrets'));
  const p = await spawnService(t, [], { env: cleanEnv(t, { PORT: '0', REGISTRIES_CONF_PATH: conf, LOCAL_SECRETS_DIR: join(dir, 'secrets') }) });
  const { code } = await p.exited;
  t.not(code, 0, 'non-zero exit');
  const output = p.stdout() + p.stderr();
  t.match(output, conf, 'names the file');
  t.match(output, 'bogus_key', 'names the key');
  t.notMatch(output, /listening on/, 'never listened');
});

t.test('npm start with no settings: local mode on ./examples, prints how to ask, answers', async (t) => {
  // PORT=0: the only setting, so that parallel runs never collide; the rest is the shipped default
  const p = await spawnService(t, [], { env: cleanEnv(t, { PORT: '0' }) });
  t.ok(await p.waitFor(/credbroker listening on http/), 'listening');
  t.ok(await p.waitFor(/curl -s '/), 'the curl hint is printed');
  const base = listeningUrl(p.stdout());
  if (base === undefined) { t.fail(`no listening line in: ${p.stdout()}${p.stderr()}`); return; }
  t.match(p.stdout(), `curl -s '${base}/v1/credentials?image=`, 'the hint names the real address');
  t.match(p.stdout(), /"kubeMode":"local"/, 'local mode');
  t.match(p.stdout(), /AUTH_MODE=none/, 'the unauthenticated mode is warned about');

  const res = await request(`${base}/v1/credentials?image=nginx`);
  t.equal(res.status, 200, 'nginx answers 200');
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(JSON.parse(res.body), {
    registry: { prefix: 'docker.io' },
    source: { ref: 'pullsecret:argocd/dockerhub', level: 'registry' },
    username: 'dockerhub-bot',
    password: 'example-dockerhub-password',
    tokenType: 'basic'
  }, 'the example Docker Hub credential');

  const hinted = /curl -s '([^']+)'/.exec(p.stdout())?.[1];
  t.ok(hinted !== undefined && (await request(hinted)).status === 200, `the hinted command works (${hinted ?? 'none'})`);

  const ready = await request(`${base}/readyz`);
  t.equal(ready.status, 200, '/readyz 200');
  t.match(JSON.parse(ready.body), {
    ready: true,
    checks: { config: { ok: true, detail: { lastReload: 'success' } }, secretStore: { ok: true }, shutdown: { ok: true } }
  }, 'with its checks');
  t.equal((await request(`${base}/healthz`)).status, 200, '/healthz 200');
  t.notMatch(p.stdout() + p.stderr(), 'example-dockerhub-password', 'the password is not logged');

  p.child.kill('SIGINT');
  const { code } = await p.exited;
  t.equal(code, 0, 'SIGINT: exit 0');
  t.match(p.stdout(), /"signal":"SIGINT"/, 'the signal is logged');
  t.match(p.stdout(), /"msg":"stopped"/, 'stopped cleanly');
});

async function attempt (url: string): Promise<HttpAnswer | Error> {
  try {
    return await request(url, { ms: 5000 });
  } catch (err) {
    return err as Error;
  }
}

/** One keep-alive connection: a request, then (after its answer) a follow-up; the raw bytes answered. */
async function keepAlive (host: string, port: number, first: string, follow: string, whileBusy: () => Promise<void>): Promise<string> {
  const sock = net.connect(port, host);
  let raw = '';
  let followed = false;
  sock.setEncoding('utf8');
  const closed = new Promise((resolve) => { sock.on('close', resolve); sock.on('error', resolve); });
  sock.on('data', (d: string) => {
    raw += d;
    if (!followed && /\r\n\r\n\{.*\}$/s.test(raw)) {
      followed = true;
      sock.write(`GET ${follow} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    }
  });
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.write(`GET ${first} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  await whileBusy();
  const timer = setTimeout(() => sock.destroy(), 15_000);
  await closed;
  clearTimeout(timer);
  return raw;
}

t.test('SIGTERM: the in-flight request completes, new ones are refused, exit 0', async (t) => {
  const dir = tmpDir(t);
  const marker = join(dir, 'started');
  const script = join(dir, 'slow.sh');
  writeFileSync(script, `#!/bin/sh\ntouch '${marker}'\nsleep 1\necho "slow-user:slow-pass-7d1e"\n`);
  chmodSync(script, 0o755);
  const conf = join(dir, 'registries.conf');
  writeFileSync(conf, `registries:\n  - name: Slow\n    prefix: slow.example.com\n    credentials: ext:${script}\n`);
  mkdirSync(join(dir, 'secrets'));
  const p = await spawnService(t, ['--host', '127.0.0.1'], {
    env: cleanEnv(t, { PORT: '0', REGISTRIES_CONF_PATH: conf, LOCAL_SECRETS_DIR: join(dir, 'secrets'), SHUTDOWN_DELAY: '8s' })
  });
  t.ok(await p.waitFor(/credbroker listening on http/), 'listening');
  const base = listeningUrl(p.stdout()) as string;

  const inFlight = request(`${base}/v1/credentials?image=slow.example.com/app`);
  t.ok(await eventually(() => existsSync(marker), 10_000), 'the slow request is in flight');
  p.child.kill('SIGTERM');
  t.ok(await p.waitFor(/shutting down/), 'shutdown begins');

  const late = await attempt(`${base}/readyz`);
  if (late instanceof Error) {
    t.match(late, { code: /ECONNREFUSED|ECONNRESET/ }, 'a new connection is refused');
  } else {
    t.equal(late.status, 503, 'a new request gets 503');
  }

  const res = await inFlight;
  t.equal(res.status, 200, 'the in-flight request completes');
  t.match(JSON.parse(res.body), { username: 'slow-user', password: 'slow-pass-7d1e' });
  const { code } = await p.exited;
  t.equal(code, 0, 'exit 0 within SHUTDOWN_DELAY');
  t.match(p.stdout(), /"signal":"SIGTERM"/);
  t.match(p.stdout(), /"msg":"stopped"/);
  t.notMatch(p.stdout() + p.stderr(), /killed by timeout/);
});

t.test('SIGTERM: a keep-alive connection busy at shutdown is answered, then closed', async (t) => {
  const dir = tmpDir(t);
  const marker = join(dir, 'started');
  const script = join(dir, 'slow.sh');
  writeFileSync(script, `#!/bin/sh\ntouch '${marker}'\nsleep 1\necho "slow-user:slow-pass-7d1e"\n`);
  chmodSync(script, 0o755);
  const conf = join(dir, 'registries.conf');
  writeFileSync(conf, `registries:\n  - name: Slow\n    prefix: slow.example.com\n    credentials: ext:${script}\n`);
  mkdirSync(join(dir, 'secrets'));
  const p = await spawnService(t, [], {
    env: cleanEnv(t, { HOST: '127.0.0.1', PORT: '0', REGISTRIES_CONF_PATH: conf, LOCAL_SECRETS_DIR: join(dir, 'secrets'), SHUTDOWN_DELAY: '8s' })
  });
  t.ok(await p.waitFor(/credbroker listening on http/), 'listening');
  const url = new URL(listeningUrl(p.stdout()) as string);
  const raw = await keepAlive(url.hostname, Number(url.port), '/v1/credentials?image=slow.example.com/app', '/readyz', async () => {
    t.ok(await eventually(() => existsSync(marker), 10_000), 'the slow request is in flight');
    p.child.kill('SIGTERM');
  });
  const statuses = [...raw.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
  t.equal(statuses[0], '200', 'the in-flight request completes');
  // the follow-up on the same connection is answered 503, or the connection is closed first
  t.ok(statuses.length === 1 || statuses[1] === '503', `the follow-up is not served (${statuses.join(',')})`);
  t.equal((await p.exited).code, 0, 'exit 0: the connection did not hold the shutdown to SHUTDOWN_DELAY');
  t.notMatch(p.stdout() + p.stderr(), /killed by timeout/);
});

t.test('a process warning (a library notice, a deprecation) is a JSON log line, not plain stderr text', async (t) => {
  // a preloaded module emits a warning while the service runs (as the AWS SDK does on Node 20
  // when an ecr: reference first loads it); SIGUSR2 says when
  const emit = join(tmpDir(t), 'emit-warning.mjs');
  writeFileSync(emit, 'process.on("SIGUSR2", () => process.emitWarning("planted notice: upgrade node", "NodeVersionSupportWarning"));\n');
  const p = await spawnService(t, [], { env: cleanEnv(t, { PORT: '0', NODE_OPTIONS: `--import=${emit}` }) });
  t.ok(await p.waitFor(/credbroker listening on http/), 'listening');
  p.child.kill('SIGUSR2');
  t.ok(await p.waitFor(/planted notice/), 'the warning is reported');
  const line = p.stdout().split('\n').find((l) => l.includes('planted notice'));
  if (line === undefined) { t.fail(`not on stdout: ${p.stderr()}`); return; }
  const parsed = JSON.parse(line) as { level: number, msg: string, warning: { name: string, message: string } };
  t.equal(parsed.level, 40, 'at warn level');
  t.equal(parsed.msg, 'process warning');
  t.same(parsed.warning, { name: 'NodeVersionSupportWarning', message: 'planted notice: upgrade node' });
  t.notMatch(p.stderr(), /planted notice/, 'nothing on stderr');
  p.child.kill('SIGTERM');
  await p.exited;
});
