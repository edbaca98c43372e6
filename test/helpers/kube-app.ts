// Builds the whole app in kubeconfig mode against the fake Kubernetes API (and optionally the
// fake Argo CD), with every log line captured, for the app-level tests in test/app/.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { eventually, tmpDir } from './app.js';
import { startFakeKubeApi, type FakeKubeApi, type FakeKubeApiOptions } from './fake-kube-api.js';

interface Teardown { teardown (fn: () => unknown): void }

export interface KubeAppOptions {
  /** a running fake (closed by its owner); else one is started and closed at teardown */
  api?: FakeKubeApi
  apiOptions?: FakeKubeApiOptions
  /** registries.conf text */
  conf?: string
  /** AUTH_POLICY_PATH content; the setting is set only when given */
  policy?: string
  /** AUTH_TOKENS_FILE content; the setting is set only when given */
  tokensFile?: string
  /** more settings as environment variables (win over the defaults here) */
  settingsEnv?: Record<string, string>
  /** environment seen by env: references */
  env?: NodeJS.ProcessEnv
  build?: Partial<BuildOptions>
  /** wait until /readyz answers 200 (default true) */
  waitReady?: boolean
}

export interface KubeApp {
  app: FastifyInstance
  api: FakeKubeApi
  settings: Settings
  dir: string
  confPath: string
  policyPath: string
  tokensPath: string
  metrics: Metrics
  /** every log line, as text */
  logs: string[]
  writeConf (text: string): void
  writePolicy (text: string): void
}

export async function kubeApp (t: Teardown, opts: KubeAppOptions = {}): Promise<KubeApp> {
  const dir = tmpDir(t, 'credbroker-app-');
  const api = opts.api ?? await startFakeKubeApi(opts.apiOptions);
  if (opts.api === undefined) t.teardown(async () => await api.close());
  const kubeconfigPath = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfigPath);
  const confPath = join(dir, 'registries.conf');
  writeFileSync(confPath, opts.conf ?? 'registries: []\n');
  const policyPath = join(dir, 'policy.yaml');
  const tokensPath = join(dir, 'tokens.yaml');
  const extra: Record<string, string> = {};
  if (opts.policy !== undefined) {
    writeFileSync(policyPath, opts.policy);
    extra.AUTH_POLICY_PATH = policyPath;
  }
  if (opts.tokensFile !== undefined) {
    writeFileSync(tokensPath, opts.tokensFile);
    extra.AUTH_TOKENS_FILE = tokensPath;
  }
  const logs: string[] = [];
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { logs.push(chunk.toString('utf8')); cb(); } });
  const settings = loadSettings({
    env: {
      KUBE_MODE: 'kubeconfig',
      KUBECONFIG: kubeconfigPath,
      POD_NAMESPACE: 'argocd',
      REGISTRIES_CONF_PATH: confPath,
      RATE_LIMIT_PER_MINUTE: '0',
      AUTH_MODE: 'none',
      // a busy test machine must not shed requests (test/http/edge.test.ts turns shedding on)
      OVERLOAD_MAX_EVENT_LOOP_DELAY: '0',
      LOG_LEVEL: 'debug',
      ...extra,
      ...opts.settingsEnv
    },
    serviceAccountDir: join(dir, 'no-serviceaccount'),
    cwd: dir
  });
  const metrics = createMetrics({ defaultMetrics: false });
  const app = await buildApp({ settings, logger: createLogger('debug', sink), metrics, env: opts.env ?? {}, ...opts.build });
  t.teardown(async () => await app.close());
  if (opts.waitReady !== false) {
    const ready = await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 10_000, 25);
    if (!ready) throw new Error('the app did not become ready against the fake Kubernetes API');
    // the watches start right after the lists: let them connect so that request counts start clean
    const scopes = settings.secretNamespaces === '*' ? 1 : settings.secretNamespaces.length;
    await eventually(() => api.watchCount >= 2 * scopes, 2000, 10);
  }
  return {
    app,
    api,
    settings,
    dir,
    confPath,
    policyPath,
    tokensPath,
    metrics,
    logs,
    writeConf: (text) => writeFileSync(confPath, text),
    writePolicy: (text) => writeFileSync(policyPath, text)
  };
}


/** POST /v1/credentials/resolve, with a bearer token when given. */
export async function resolve (app: FastifyInstance, body: Record<string, unknown>, token?: string): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/v1/credentials/resolve',
    payload: body,
    ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  });
}

/** POST /v1/credentials/explain. */
export async function explain (app: FastifyInstance, body: Record<string, unknown>, token?: string): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/v1/credentials/explain',
    payload: body,
    ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  });
}

/** A kubernetes.io/dockerconfigjson Secret's plain values, for putSecret(). */
export function dockerConfigJson (auths: Record<string, { username: string, password: string }>): Record<string, string> {
  return { '.dockerconfigjson': JSON.stringify({ auths }) };
}

export const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
