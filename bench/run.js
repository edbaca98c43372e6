// npm run bench: the built service (dist/main.js) in local mode as a child process, loaded by
// autocannon in this process; every scenario is reported as a ratio to GET /healthz in the same run.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results.json');
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const NS = 'argocd';

function secretManifest (name, stringData, type = 'Opaque') {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, type, stringData });
}

/** registries.conf with one pullsecret:, one secret: and one ext: registry, and their sources */
function writeFixture (dir) {
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets);
  const script = join(dir, 'ext-creds.sh');
  writeFileSync(script, '#!/bin/sh\necho "ext-user:bench-ext-pass"\n');
  chmodSync(script, 0o755);
  writeFileSync(join(secrets, 'pull.json'), secretManifest('bench-pull', {
    '.dockerconfigjson': JSON.stringify({ auths: { 'pull.example.com': { username: 'pull-user', password: 'bench-pull-pass' } } })
  }, 'kubernetes.io/dockerconfigjson'));
  writeFileSync(join(secrets, 'field.json'), secretManifest('bench-field', { creds: 'field-user:bench-field-pass' }));
  const conf = join(dir, 'registries.conf');
  writeFileSync(conf, `registries:
  - name: Pull secret
    prefix: pull.example.com
    credentials: pullsecret:${NS}/bench-pull
  - name: Secret field
    prefix: field.example.com
    credentials: secret:${NS}/bench-field#creds
  - name: Script
    prefix: ext.example.com
    credentials: ext:${script}
`);
  return { conf, secrets };
}

async function freePort () {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady (base, child, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.status === 200) return;
    } catch {}
    if (Date.now() > until) throw new Error(`the service was not ready within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stop (child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function counters (base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const sum = (name) => text.split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { hits: sum('credbroker_cache_hits_total'), misses: sum('credbroker_cache_misses_total') };
}

const json = { 'content-type': 'application/json' };

function scenarios () {
  let n = 0;
  const resolveMiss = {
    method: 'POST',
    path: '/v1/credentials/resolve',
    headers: json,
    // a new repository each time: a docker config is matched per repository, so each is a cache miss
    setupRequest: (req) => { req.body = JSON.stringify({ image: `pull.example.com/bench/app-${n++}:1.0`, refresh: true }); return req; }
  };
  const invalidate = { method: 'POST', path: '/v1/cache/invalidate', headers: json, body: JSON.stringify({ registry: 'pull.example.com' }) };
  return [
    {
      name: 'healthz',
      description: 'GET /healthz: the framework floor (routing, hooks, JSON reply)',
      requests: [{ method: 'GET', path: '/healthz' }]
    },
    {
      name: 'resolve-hit',
      description: 'GET /v1/credentials?image=pull.example.com/team/app:1.0: one configured image, served from the cache',
      requests: [{ method: 'GET', path: '/v1/credentials?image=pull.example.com/team/app:1.0' }]
    },
    {
      name: 'resolve-miss',
      description: 'POST /v1/credentials/resolve {refresh: true} for a new repository of the pullsecret: registry each time ' +
        '(Secret read from the local store, docker config parsed and keyring-matched, entry stored), ' +
        'with 1 in 50 requests a POST /v1/cache/invalidate of that registry; the miss share is measured from the service\'s own cache metrics',
      requests: [...Array.from({ length: 49 }, () => resolveMiss), invalidate]
    },
    {
      name: 'explain',
      description: 'POST /v1/credentials/explain for the configured image (every resolution step, cache state; cached credential)',
      requests: [{ method: 'POST', path: '/v1/credentials/explain', headers: json, body: JSON.stringify({ image: 'pull.example.com/team/app:1.0' }) }]
    }
  ];
}

async function cannon (base, requests, duration) {
  return await autocannon({ url: base, connections: CONNECTIONS, duration, requests });
}

function row (cells, widths) {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

async function main () {
  const dir = mkdtempSync(join(os.tmpdir(), 'credbroker-bench-'));
  let child;
  const kill = () => { if (child !== undefined && child.exitCode === null) child.kill('SIGKILL'); };
  process.on('exit', kill);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { kill(); rmSync(dir, { recursive: true, force: true }); process.exit(130); });
  try {
    const { conf, secrets } = writeFixture(dir);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        HOST: '127.0.0.1',
        PORT: String(port),
        KUBE_MODE: 'local',
        AUTH_MODE: 'none',
        POD_NAMESPACE: NS,
        REGISTRIES_CONF_PATH: conf,
        LOCAL_SECRETS_DIR: secrets,
        RATE_LIMIT_PER_MINUTE: '0',
        LOG_LEVEL: 'warn',
        SHUTDOWN_DELAY: '2s'
      },
      stdio: ['ignore', 'ignore', 'pipe']
    });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr = (stderr + c.toString('utf8')).slice(-4000); });
    await waitReady(base, child);

    for (const [image, code] of [['pull.example.com/team/app:1.0', 200], ['field.example.com/team/app', 200], ['ext.example.com/team/app', 200]]) {
      const res = await fetch(`${base}/v1/credentials?image=${encodeURIComponent(image)}`);
      if (res.status !== code) throw new Error(`smoke check: ${image} answered ${res.status}`);
    }
    process.stdout.write(`credbroker ${base} (pid ${child.pid}); ${CONNECTIONS} connections, ${DURATION} s per scenario\n`);
    await cannon(base, [{ method: 'GET', path: '/healthz' }, { method: 'GET', path: '/v1/credentials?image=pull.example.com/team/app:1.0' }], 2);

    const results = [];
    for (const s of scenarios()) {
      const before = await counters(base);
      const r = await cannon(base, s.requests, DURATION);
      const after = await counters(base);
      const hits = after.hits - before.hits;
      const misses = after.misses - before.misses;
      results.push({
        name: s.name,
        description: s.description,
        requests: r.requests.total,
        requestsPerSecond: Math.round(r.requests.average),
        latencyMs: { p50: r.latency.p50, p99: r.latency.p99, average: Math.round(r.latency.average * 100) / 100, max: r.latency.max },
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        cache: hits + misses > 0 ? { hits, misses, missShare: Math.round((misses / (hits + misses)) * 1000) / 1000 } : null
      });
      process.stdout.write(`  ${s.name}: ${Math.round(r.requests.average)} req/s\n`);
    }
    const floor = results[0].requestsPerSecond;
    for (const r of results) r.ratioToFloor = Math.round((r.requestsPerSecond / floor) * 1000) / 1000;

    const widths = [14, 10, 9, 9, 9, 8, 10];
    const lines = [
      row(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'vs floor', 'non2xx', 'miss share'], widths),
      ...results.map((r) => row([r.name, r.requestsPerSecond, r.latencyMs.p50, r.latencyMs.p99, r.ratioToFloor.toFixed(3), r.non2xx + r.errors + r.timeouts, r.cache === null ? '-' : r.cache.missShare], widths))
    ];
    process.stdout.write('\n' + lines.join('\n') + '\n');
    for (const r of results) process.stdout.write(`  ${r.name}: ${r.description}\n`);

    const cpus = os.cpus();
    const out = {
      date: new Date().toISOString(),
      machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', node: process.version, platform: process.platform, arch: process.arch, totalMemoryBytes: os.totalmem(), loadAverage: os.loadavg() },
      settings: { connections: CONNECTIONS, durationSeconds: DURATION, loadGenerator: 'autocannon (in the bench process, one thread)', service: 'node dist/main.js, KUBE_MODE=local, AUTH_MODE=none, RATE_LIMIT_PER_MINUTE=0, LOG_LEVEL=warn' },
      scenarios: results
    };
    writeFileSync(RESULTS + '.tmp', JSON.stringify(out, null, 2) + '\n');
    renameSync(RESULTS + '.tmp', RESULTS);
    process.stdout.write(`\nwritten ${RESULTS}\n`);
    const failed = results.filter((r) => r.non2xx + r.errors + r.timeouts > 0);
    if (failed.length > 0) {
      process.stderr.write(`failed requests in: ${failed.map((r) => r.name).join(', ')}\n`);
      process.exitCode = 1;
    }
    if (stderr.trim() !== '') process.stderr.write(`service stderr (tail):\n${stderr}\n`);
  } finally {
    if (child !== undefined) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exitCode = 1;
});
