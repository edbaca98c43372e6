// Every resource the app opens is closed by the plugin that opened it: built and closed 50 times
// (local mode on examples/, and against the fake Kubernetes API), the process is left with the
// handles and listeners it had. Also: a start that fails half-way closes what it had opened.
import { createHook } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { buildApp } from '../../src/app.js';
import { loadSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { tmpDir } from '../helpers/app.js';
import { eventually } from '../helpers/poll.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const ROUNDS = 50;
const TOKEN = 'lifecycle-token';

// handles and intervals, referenced or not (an unref'd watcher poll keeps no process alive but is a leak)
const HANDLE_TYPES = new Set(['Timeout', 'FSEVENTWRAP', 'STATWATCHER', 'TCPWRAP', 'TCPSERVERWRAP', 'PIPEWRAP',
  'PIPESERVERWRAP', 'PROCESSWRAP', 'SIGNALWRAP', 'TTYWRAP', 'UDPWRAP', 'TLSWRAP', 'HTTPPARSER', 'ZLIB']);

/** Handles and intervals created from now on, until they are destroyed. */
function trackHandles (): { alive (): string[], stop (): void } {
  const live = new Map<number, string>();
  const hook = createHook({
    init (id, type, _trigger, resource) {
      if (!HANDLE_TYPES.has(type)) return;
      // a one-shot timer (AbortSignal.timeout of a request, say) ends by itself; an interval does not
      if (type === 'Timeout' && (resource as { _repeat?: number | null })._repeat == null) return;
      live.set(id, type);
    },
    destroy (id) { live.delete(id); }
  }).enable();
  return {
    alive: () => {
      const counts = new Map<string, number>();
      for (const type of live.values()) counts.set(type, (counts.get(type) ?? 0) + 1);
      return [...counts].map(([type, n]) => `${type} ×${n}`);
    },
    stop: () => { hook.disable(); }
  };
}

/** Active handles and requests by type (timers, sockets, watchers, ...), as Node counts them. */
function resources (): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function processListeners (): Map<string, number> {
  return new Map(process.eventNames().map((e) => [String(e), process.listenerCount(e)]));
}

/** The types whose count grew from `before` to `after`, with both counts. */
function grown (before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k}: ${before.get(k) ?? 0} → ${n}`);
}

async function settle (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Runs `round` ROUNDS times after one warm-up round, then compares handles and listeners. */
async function noLeaks (t: Test, round: () => Promise<void>): Promise<void> {
  await round(); // modules load and caches fill once
  await settle();
  const handles = resources();
  const listeners = processListeners();
  const tracked = trackHandles();
  t.teardown(() => { tracked.stop(); });
  for (let i = 0; i < ROUNDS; i++) await round();
  // a closed socket or watcher goes from the list within a few turns of the loop
  const clean = await eventually(() => grown(handles, resources()).length === 0, 15_000, 20);
  t.ok(clean, `no handle left after ${ROUNDS} builds and closes`);
  if (!clean) t.comment(grown(handles, resources()).join('; '));
  const none = await eventually(() => tracked.alive().length === 0, 15_000, 20);
  tracked.stop();
  t.same(none ? [] : tracked.alive(), [], 'no handle or interval made by the builds is alive, referenced or not');
  t.same(grown(listeners, processListeners()), [], 'no process listener left');
}

t.test('local mode on examples/: 50 builds and closes leave no handle or listener', async (t) => {
  const dir = tmpDir(t);
  const tokens = join(dir, 'tokens.yaml');
  writeFileSync(tokens, `tokens:\n  - name: ci\n    sha256: ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
  // every file the app can watch, the rate limit and the event-loop sampler all on
  const settings = loadSettings({
    env: {
      KUBE_MODE: 'local',
      LOCAL_SECRETS_DIR: join(EXAMPLES, 'secrets'),
      REGISTRIES_CONF_PATH: join(EXAMPLES, 'registries.conf'),
      AUTH_MODE: 'static',
      AUTH_TOKENS_FILE: tokens,
      AUTH_POLICY_PATH: join(EXAMPLES, 'policy.yaml'),
      RATE_LIMIT_PER_MINUTE: '100000',
      OVERLOAD_MAX_EVENT_LOOP_DELAY: '1s'
    },
    serviceAccountDir: join(dir, 'no-serviceaccount'),
    cwd: ROOT
  });
  let answered = 0;
  await noLeaks(t, async () => {
    const app = await buildApp({ settings, metrics: createMetrics({ defaultMetrics: false }), env: {} });
    const res = await app.inject({ url: '/v1/registries', headers: { authorization: `Bearer ${TOKEN}` } });
    if (res.statusCode === 403 || res.statusCode === 200) answered++;
    await app.close();
  });
  t.equal(answered, ROUNDS + 1, 'each app answered an authenticated request');
});

t.test('kubeconfig mode against the fake Kubernetes API: 50 builds and closes leave no handle or listener', async (t) => {
  const api = await startFakeKubeApi();
  t.teardown(async () => await api.close());
  api.putSecret('argocd', 'ghcr', { '.dockerconfigjson': JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: 'p' } } }) }, 'kubernetes.io/dockerconfigjson');
  const dir = tmpDir(t);
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  const conf = join(dir, 'registries.conf');
  writeFileSync(conf, 'registries:\n  - name: ghcr\n    prefix: ghcr.io\n    api_url: https://ghcr.io\n    credentials: pullsecret:argocd/ghcr\n');
  const settings = loadSettings({
    env: {
      KUBE_MODE: 'kubeconfig',
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: 'argocd',
      REGISTRIES_CONF_PATH: conf,
      AUTH_MODE: 'kubernetes',
      RATE_LIMIT_PER_MINUTE: '100000'
    },
    serviceAccountDir: join(dir, 'no-serviceaccount'),
    cwd: dir
  });
  api.setTokenReview(TOKEN, { authenticated: true, user: { username: 'system:serviceaccount:argocd:lifecycle' }, audiences: ['credbroker'] });
  let synced = 0;
  await noLeaks(t, async () => {
    const app: FastifyInstance = await buildApp({ settings, metrics: createMetrics({ defaultMetrics: false }), env: {} });
    // the Secret list and watch, a TokenReview and the Applications client all in use before the close
    if (await eventually(async () => (await app.inject({ url: '/readyz' })).statusCode === 200, 15_000, 10)) synced++;
    await app.inject({ url: '/v1/auth/status', headers: { authorization: `Bearer ${TOKEN}` } });
    await app.close();
  });
  t.equal(synced, ROUNDS + 1, 'each app synced with the API before it closed');
  await eventually(() => api.watchCount === 0, 10_000, 10);
  t.equal(api.watchCount, 0, 'no watch left open on the API');
});

t.test('a start that fails half-way closes what the loaded plugins opened', async (t) => {
  const dir = tmpDir(t);
  const badPolicy = join(dir, 'policy.yaml');
  writeFileSync(badPolicy, 'rules: [{ subjects: 7 }]\n');
  const settings = loadSettings({
    env: {
      KUBE_MODE: 'local',
      LOCAL_SECRETS_DIR: join(EXAMPLES, 'secrets'),
      REGISTRIES_CONF_PATH: join(EXAMPLES, 'registries.conf'),
      AUTH_POLICY_PATH: badPolicy
    },
    serviceAccountDir: join(dir, 'no-serviceaccount'),
    cwd: ROOT
  });
  let refused = 0;
  await noLeaks(t, async () => {
    await buildApp({ settings, metrics: createMetrics({ defaultMetrics: false }), env: {} })
      .then(async (app) => { await app.close(); }, (err: unknown) => { if (err instanceof ConfigError && err.message.startsWith('AUTH_POLICY_PATH')) refused++; });
  });
  t.equal(refused, ROUNDS + 1, 'every start refused the policy, naming its setting');
});
