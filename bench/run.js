// npm run bench: the built service (dist/main.js) as child processes, at the default log level
// (audit lines on), pinned to CPU 0 while this process (the load generator) runs on CPU 1 where
// taskset and two CPUs exist. Throughput figures are ratios to GET /healthz of the same process;
// latency at half saturation is measured open-loop from each request's intended send time.
// Writes bench/results.json and prints the table. See bench/README.md for how to read it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results.json');
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const MISSES = Number(process.env.BENCH_MISSES ?? 20_000);
const NS = 'argocd';
const HZ = 100; // clock ticks per second of /proc/<pid>/stat (USER_HZ on Linux)

// ---- pinning: the service on CPU 0, this process (autocannon, the open-loop sender) on CPU 1
const canPin = process.platform === 'linux' && os.cpus().length >= 2 && (() => {
  try { execFileSync('taskset', ['-V'], { stdio: 'ignore' }); return true; } catch { return false; }
})();
if (canPin) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
const pinned = (argv) => canPin ? ['taskset', ['-c', '0', ...argv]] : [argv[0], argv.slice(1)];

/** the NODE_OPTIONS the image runs the service with (Dockerfile ENV): the bench measures the service as it ships */
function imageNodeOptions () {
  const env = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
  return /^ENV\s.*?\bNODE_OPTIONS=("[^"]*"|\S+)/m.exec(env)?.[1]?.replace(/^"|"$/g, '') ?? '';
}
const NODE_OPTIONS = imageNodeOptions();

function secretManifest (name, stringData, type = 'Opaque') {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, type, stringData });
}

const wideFields = (n, salt = '') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, `u${i}:p${i}${salt}`]));

/** registries.conf with one pullsecret:, one secret: and one ext: registry; two wide Secrets for the miss path */
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
  // request-level secret: references to these fields are one cache entry each, all behind one Secret
  const half = Math.ceil(MISSES / 2);
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
  const token = 'bench-static-token';
  const tokens = join(dir, 'tokens.yaml');
  writeFileSync(tokens, `tokens:\n  - name: bench\n    sha256: ${createHash('sha256').update(token).digest('hex')}\n`);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'rules:\n  - subjects: ["*"]\n    actions: [resolve, explain, registries, status, validate]\n');
  return { conf, secrets, tokens, policy, token, wideA: join(secrets, 'wide-a.json'), wideB: join(secrets, 'wide-b.json'), half };
}

/** the two wide Secrets, written after the start (so that the start time is the service's own) and waited for */
async function addWideSecrets (base, fx) {
  for (const [file, name, n] of [[fx.wideA, 'wide-a', fx.half], [fx.wideB, 'wide-b', MISSES - fx.half]]) {
    writeFileSync(file + '.tmp', secretManifest(name, wideFields(n)));
    renameSync(file + '.tmp', file);
  }
  const until = Date.now() + 30_000;
  for (const name of ['wide-a', 'wide-b']) {
    for (;;) {
      const res = await fetch(`${base}/v1/credentials/resolve`, { method: 'POST', headers: json, body: JSON.stringify({ image: 'r.example.com/probe', credentials: `secret:${NS}/${name}#f0` }) });
      await res.arrayBuffer();
      if (res.status === 200) break;
      if (Date.now() > until) throw new Error(`${name} was not loaded by the local store within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
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

const children = new Set();
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

function launch (argv, opts) {
  const [cmd, args] = pinned(argv);
  const child = spawn(cmd, args, opts);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function waitReady (base, child, ms = 30_000, every = 10) {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${base}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {}
    if (Date.now() > until) throw new Error(`the service was not ready within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, every));
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

/** start the service; resolves when /readyz answers 200, with the time that took */
async function startService (name, env) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const child = launch([process.execPath, join(ROOT, 'dist', 'main.js')], {
    env: { PATH: process.env.PATH, NODE_OPTIONS, HOME: env.HOME, HOST: '127.0.0.1', PORT: String(port), POD_NAMESPACE: NS, RATE_LIMIT_PER_MINUTE: '0', SHUTDOWN_DELAY: '1s', ...env },
    // stdout (the log, at the default level) is read and dropped, as a log shipper would
    stdio: ['ignore', 'pipe', 'pipe']
  });
  child.stdout.resume();
  let stderr = '';
  child.stderr.on('data', (c) => { stderr = (stderr + c.toString('utf8')).slice(-4000); });
  await waitReady(base, child);
  const startMs = performance.now() - t0;
  return { name, base, child, startMs, stderr: () => stderr };
}

function procStat (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

function rssMB (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? null : Math.round(Number(m[1]) / 1024);
}

async function cannon (base, requests, duration = DURATION, connections = CONNECTIONS, headers = {}) {
  const r = await autocannon({ url: base, connections, duration, requests: requests.map((q) => ({ ...q, headers: { ...headers, ...q.headers } })) });
  const bad = r.non2xx + r.errors + r.timeouts;
  // which answers were not 2xx (e.g. 503 OVERLOADED when the service sheds load)
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).filter(([c]) => !c.startsWith('2')).map(([c, v]) => [c, v.count]));
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, bad, ...(bad > 0 ? { statuses, errors: r.errors, timeouts: r.timeouts } : {}) };
}

const json = { 'content-type': 'application/json' };
const HIT_GET = { method: 'GET', path: '/v1/credentials?image=pull.example.com/team/app:1.0' };
const HIT_POST = { method: 'POST', path: '/v1/credentials/resolve', headers: json, body: JSON.stringify({ image: 'pull.example.com/team/app:1.0' }) };
const EXPLAIN = { method: 'POST', path: '/v1/credentials/explain', headers: json, body: JSON.stringify({ image: 'pull.example.com/team/app:1.0' }) };
const HEALTHZ = { method: 'GET', path: '/healthz' };

/** one request with node:http on a keep-alive agent; resolves with the status */
function send (agent, base, { method, path, headers = {}, body }) {
  return new Promise((resolve) => {
    const req = http.request(`${base}${path}`, { method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/**
 * Open loop: request i is due at t0 + i/rate whatever happened before; its latency runs from
 * that intended time to the end of the response, so queueing anywhere counts (no coordinated omission).
 */
async function openLoop (base, request, rate, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const total = Math.max(1, Math.round(rate * seconds));
  const lat = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let failed = 0;
  const statuses = {};
  const t0 = performance.now() + 20;
  await new Promise((resolve) => {
    const fire = (i, intended) => {
      send(agent, base, request).then((status) => {
        lat[i] = performance.now() - intended;
        if (status < 200 || status >= 300) { failed++; statuses[status] = (statuses[status] ?? 0) + 1; }
        if (++done === total) resolve();
      });
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + (sent * 1000) / rate <= now) { fire(sent, t0 + (sent * 1000) / rate); sent++; }
      if (sent < total) setImmediate(tick);
    };
    tick();
  });
  agent.destroy();
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const q = (p) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] * 100) / 100;
  return { rate: Math.round(rate), requests: total, p50: q(0.5), p99: q(0.99), max: q(1), failed, ...(failed > 0 ? { statuses } : {}) };
}

/** a bare node:http server answering like /healthz: the latency floor at the same rate */
async function bareServer () {
  const port = await freePort();
  const code = `require('http').createServer((q, s) => { q.resume(); q.on('end', () => { s.setHeader('content-type', 'application/json'); s.end('{"status":"ok"}'); }); }).listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  const child = launch([process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return { base: `http://127.0.0.1:${port}`, child };
}

/** the miss path: request-level references to distinct Secret fields, each a new entry; CPU per miss at fill levels */
async function missPath (svc, fx) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const marks = [1_000, 5_000, 10_000, 20_000].filter((m) => m <= MISSES);
  const window = 500;
  const perMiss = {};
  let rssAt10k = null;
  let n = 0;
  let bad = 0;
  const run = async (to) => {
    const queue = [];
    while (n < to) {
      const i = n++;
      const secret = i < fx.half ? 'wide-a' : 'wide-b';
      const field = i < fx.half ? i : i - fx.half;
      queue.push(send(agent, svc.base, {
        method: 'POST', path: '/v1/credentials/resolve', headers: json,
        body: JSON.stringify({ image: `r.example.com/bench/app-${i}`, credentials: `secret:${NS}/${secret}#f${field}` })
      }).then((s) => { if (s !== 200) bad++; }));
      if (queue.length >= 16) await Promise.all(queue.splice(0));
    }
    await Promise.all(queue);
  };
  for (const mark of marks) {
    await run(mark - window);
    const before = procStat(svc.child.pid).cpuTicks;
    await run(mark);
    const ticks = procStat(svc.child.pid).cpuTicks - before;
    perMiss[mark] = Math.round((ticks * (1000 / HZ) * 1000) / window); // µs of service CPU per miss
    if (mark === 10_000) rssAt10k = rssMB(svc.child.pid);
  }
  agent.destroy();
  const entries = await gauge(svc.base, 'credbroker_cache_entries');
  return { perMissMicros: perMiss, rssAt10kMB: rssAt10k, entries, failed: bad };
}

async function gauge (base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.slice(name.length + 1));
}

/** rewrite the Secret behind `half` cached entries; the longest /healthz wait while the service drops them */
async function secretChange (svc, fx) {
  const before = await gauge(svc.base, 'credbroker_cache_entries');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let max = 0;
  let probes = 0;
  let stopProbe = false;
  const probe = (async () => {
    while (!stopProbe) {
      const t = performance.now();
      await send(agent, svc.base, HEALTHZ);
      max = Math.max(max, performance.now() - t);
      probes++;
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const maxBefore = max;
  max = 0;
  writeFileSync(fx.wideA + '.tmp', secretManifest('wide-a', wideFields(fx.half, '-rotated')));
  renameSync(fx.wideA + '.tmp', fx.wideA);
  const until = Date.now() + 10_000;
  let after = before;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    after = await gauge(svc.base, 'credbroker_cache_entries');
    if (after !== null && before !== null && after <= before - fx.half) break;
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  stopProbe = true;
  await probe;
  agent.destroy();
  return { entriesBefore: before, entriesAfter: after, dropped: before - after, maxHealthzMs: Math.round(max * 100) / 100, maxHealthzBeforeMs: Math.round(maxBefore * 100) / 100, probes };
}

function fmt (v, digits = 2) {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v ?? '-');
}

async function main () {
  const started = performance.now();
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: npm run build');
  const dir = mkdtempSync(join(os.tmpdir(), 'credbroker-bench-'));
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { rmSync(dir, { recursive: true, force: true }); process.exit(130); });
  const rows = [];
  const raw = {};
  const row = (figure, value, unit, ratio, goal) => { rows.push({ figure, value, unit, ratio, goal }); };
  const services = [];
  try {
    const fx = writeFixture(dir);
    const localEnv = { HOME: dir, KUBE_MODE: 'local', AUTH_MODE: 'none', REGISTRIES_CONF_PATH: fx.conf, LOCAL_SECRETS_DIR: fx.secrets, CACHE_MAX_ENTRIES: String(Math.max(MISSES, 10_000)) };

    // ---- local mode, AUTH_MODE=none: start, RSS, the hit paths, explain, latency, misses, a Secret change, overload
    const a = await startService('local', localEnv);
    services.push(a);
    await new Promise((resolve) => setTimeout(resolve, 500));
    raw.startMs = Math.round(a.startMs);
    raw.rssIdleMB = rssMB(a.child.pid);
    for (const image of ['pull.example.com/team/app:1.0', 'field.example.com/team/app', 'ext.example.com/team/app']) {
      const res = await fetch(`${a.base}/v1/credentials?image=${encodeURIComponent(image)}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`smoke check: ${image} answered ${res.status}`);
    }
    process.stdout.write(`credbroker ${a.base} (pid ${a.child.pid}); ${canPin ? 'service on CPU 0, load generator on CPU 1' : 'not pinned (no taskset or one CPU)'}; ${CONNECTIONS} connections, ${DURATION} s per throughput run\n`);
    await cannon(a.base, [HEALTHZ, HIT_GET], 2);
    const healthz = await cannon(a.base, [HEALTHZ]);
    const hitGet = await cannon(a.base, [HIT_GET]);
    const hitPost = await cannon(a.base, [HIT_POST]);
    const explain = await cannon(a.base, [EXPLAIN]);
    raw.local = { healthz, hitGet, hitPost, explain };
    process.stdout.write(`  throughput: healthz ${healthz.rps}, GET hit ${hitGet.rps}, POST hit ${hitPost.rps}, explain ${explain.rps} req/s\n`);

    // the rate, half of /healthz's saturation; and half of the cached resolve's own
    // saturation, where the service is not queueing and the added latency can be read
    const rate = healthz.rps / 2;
    const ownRate = hitPost.rps / 2;
    const latency = await openLoop(a.base, HIT_POST, rate, DURATION);
    const latencyOwn = await openLoop(a.base, HIT_POST, ownRate, DURATION);
    const bare = await bareServer();
    const floor = await openLoop(bare.base, HEALTHZ, rate, DURATION);
    const floorOwn = await openLoop(bare.base, HEALTHZ, ownRate, DURATION);
    await stop(bare.child);
    raw.halfSaturation = { service: latency, bareNodeHttp: floor };
    raw.halfOwnSaturation = { service: latencyOwn, bareNodeHttp: floorOwn };
    process.stdout.write(`  half saturation (${Math.round(rate)} req/s): p50 ${latency.p50} ms, p99 ${latency.p99} ms; bare node:http p99 ${floor.p99} ms\n`);
    process.stdout.write(`  half its own saturation (${Math.round(ownRate)} req/s): p50 ${latencyOwn.p50} ms, p99 ${latencyOwn.p99} ms; bare node:http p99 ${floorOwn.p99} ms\n`);

    await addWideSecrets(a.base, fx);
    const miss = await missPath(a, fx);
    raw.missPath = miss;
    process.stdout.write(`  miss path: ${JSON.stringify(miss.perMissMicros)} µs CPU per miss, ${miss.entries} entries\n`);
    const change = await secretChange(a, fx);
    raw.secretChange = change;
    process.stdout.write(`  Secret change: ${change.dropped} entries dropped, longest /healthz ${change.maxHealthzMs} ms\n`);

    const rssBeforeOverload = rssMB(a.child.pid);
    const overload = await cannon(a.base, [HIT_GET], DURATION * 2, 400);
    // V8 gives memory back once the process has been idle a few seconds: RSS 5 s after the
    // overload, and after up to 30 s (as soon as it is back within 10% of what it was before)
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const rssAfter5s = rssMB(a.child.pid);
    let rssSettled = rssAfter5s;
    for (let s = 5; s < 30 && rssSettled > rssBeforeOverload * 1.1; s++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      rssSettled = rssMB(a.child.pid);
    }
    raw.overload = { ...overload, rssBeforeMB: rssBeforeOverload, rssAfterMB: rssAfter5s, rssSettledMB: rssSettled };
    process.stdout.write(`  overload: ${overload.rps} req/s at 400 connections, ${overload.bad} not 2xx; RSS before ${rssBeforeOverload} MB, 5 s after ${rssAfter5s} MB, within 30 s ${rssSettled} MB\n`);
    await stop(a.child);

    // ---- AUTH_MODE=static
    const s = await startService('static', { ...localEnv, AUTH_MODE: 'static', AUTH_TOKENS_FILE: fx.tokens, AUTH_POLICY_PATH: fx.policy });
    services.push(s);
    const bearer = { authorization: `Bearer ${fx.token}` };
    await cannon(s.base, [HEALTHZ, HIT_GET], 1, CONNECTIONS, bearer);
    raw.static = { healthz: await cannon(s.base, [HEALTHZ]), hitGet: await cannon(s.base, [HIT_GET], DURATION, CONNECTIONS, bearer) };
    await stop(s.child);

    // ---- AUTH_MODE=kubernetes against the fake API (TokenReview cached after the first request)
    const kubeconfig = join(dir, 'kubeconfig');
    const fake = launch([process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'fake-kube.mts'), kubeconfig], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => { fake.stdout.once('data', resolve); fake.once('exit', () => reject(new Error('the fake Kubernetes API exited'))); });
    try {
      const k = await startService('kubernetes', { HOME: dir, KUBE_MODE: 'kubeconfig', KUBECONFIG: kubeconfig, AUTH_MODE: 'kubernetes', AUTH_POLICY_PATH: fx.policy, REGISTRIES_CONF_PATH: fx.conf });
      services.push(k);
      const kb = { authorization: 'Bearer bench-caller-token' };
      await cannon(k.base, [HEALTHZ, HIT_GET], 1, CONNECTIONS, kb);
      raw.kubernetes = { healthz: await cannon(k.base, [HEALTHZ]), hitGet: await cannon(k.base, [HIT_GET], DURATION, CONNECTIONS, kb) };
      await stop(k.child);
    } finally {
      await stop(fake);
    }

    // ---- the table
    const ratio = (x, floorRun) => Math.round((x.rps / floorRun.rps) * 1000) / 1000;
    row('cached GET /v1/credentials ÷ /healthz', hitGet.rps, 'req/s', ratio(hitGet, healthz), '≥ 0.75');
    row('cached POST /v1/credentials/resolve ÷ /healthz', hitPost.rps, 'req/s', ratio(hitPost, healthz), '≥ 0.65');
    row('cached GET, AUTH_MODE=static ÷ its /healthz', raw.static.hitGet.rps, 'req/s', ratio(raw.static.hitGet, raw.static.healthz), '≥ 0.60');
    row('cached GET, AUTH_MODE=kubernetes ÷ its /healthz', raw.kubernetes.hitGet.rps, 'req/s', ratio(raw.kubernetes.hitGet, raw.kubernetes.healthz), '≥ 0.60');
    row('explain ÷ /healthz', explain.rps, 'req/s', ratio(explain, healthz), '-');
    row(`p50 / p99 cached resolve at ${latency.rate} req/s (½ /healthz), from intended send time`, `${latency.p50} / ${latency.p99}`, 'ms', null, 'p99 ≤ bare + 1 ms');
    row(`p50 / p99 bare node:http at the same rate`, `${floor.p50} / ${floor.p99}`, 'ms', null, '-');
    row(`p50 / p99 cached resolve at ${latencyOwn.rate} req/s (½ its own saturation)`, `${latencyOwn.p50} / ${latencyOwn.p99}`, 'ms', null, '-');
    row(`p50 / p99 bare node:http at that rate`, `${floorOwn.p50} / ${floorOwn.p99}`, 'ms', null, '-');
    for (const [mark, us] of Object.entries(miss.perMissMicros)) row(`service CPU per miss, at ${Number(mark).toLocaleString('en')} entries`, us, 'µs', null, 'flat');
    row(`longest /healthz wait, Secret change behind ${change.dropped} cached entries`, change.maxHealthzMs, 'ms', null, '≤ 50 ms');
    row('start → /readyz 200, local mode', raw.startMs, 'ms', null, '< 1000 ms');
    row('RSS idle / at 10k entries', `${raw.rssIdleMB} / ${miss.rssAt10kMB}`, 'MB', null, '10k < 100 MB');
    row('RSS before overload / 5 s after / within 30 s', `${raw.overload.rssBeforeMB} / ${raw.overload.rssAfterMB} / ${raw.overload.rssSettledMB}`, 'MB', null, 'back to before');
    raw.totalSeconds = Math.round((performance.now() - started) / 1000);

    const w = [Math.max(...rows.map((r) => r.figure.length)), 14, 6, 7, 18];
    const line = (c) => [c[0].padEnd(w[0]), String(c[1]).padStart(w[1]), String(c[2]).padEnd(w[2]), String(c[3]).padStart(w[3]), String(c[4]).padStart(w[4])].join('  ');
    process.stdout.write('\n' + [line(['figure', 'value', 'unit', 'ratio', 'goal']), ...rows.map((r) => line([r.figure, fmt(r.value), r.unit, r.ratio === null ? '' : fmt(r.ratio, 3), r.goal]))].join('\n') + '\n');

    const cpus = os.cpus();
    const out = {
      date: new Date().toISOString(),
      machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', node: process.version, platform: process.platform, arch: process.arch, totalMemoryBytes: os.totalmem(), loadAverage: os.loadavg() },
      settings: {
        pinned: canPin, connections: CONNECTIONS, durationSeconds: DURATION, misses: MISSES,
        loadGenerator: 'autocannon (throughput) and an open-loop node:http sender (latency), in the bench process',
        service: `node dist/main.js, NODE_OPTIONS=${NODE_OPTIONS} (the image's), LOG_LEVEL default (info, audit lines on), RATE_LIMIT_PER_MINUTE=0`
      },
      table: rows,
      raw
    };
    writeFileSync(RESULTS + '.tmp', JSON.stringify(out, null, 2) + '\n');
    renameSync(RESULTS + '.tmp', RESULTS);
    process.stdout.write(`\nwritten ${RESULTS} (${raw.totalSeconds} s)\n`);
    const bad = [healthz, hitGet, hitPost, explain, raw.static.healthz, raw.static.hitGet, raw.kubernetes.healthz, raw.kubernetes.hitGet].some((r) => r.bad > 0) ||
      latency.failed > 0 || latencyOwn.failed > 0 || miss.failed > 0;
    if (bad) {
      process.stderr.write('some requests failed (see raw in results.json)\n');
      process.exitCode = 1;
    }
  } catch (err) {
    for (const svc of services) if (svc.stderr().trim() !== '') process.stderr.write(`${svc.name} service stderr (tail):\n${svc.stderr()}\n`);
    throw err;
  } finally {
    for (const c of [...children]) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
