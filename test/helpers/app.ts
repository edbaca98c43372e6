// Builds the app in local mode over a temporary folder, with the log captured.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { loadSettings } from '../../src/config/settings.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';

interface Teardown { teardown (fn: () => unknown): void }

export interface LocalAppOptions {
  conf?: string
  /** file name → manifest text */
  secrets?: Record<string, string>
  /** settings as environment variables */
  settingsEnv?: Record<string, string>
  /** environment seen by env: references */
  env?: NodeJS.ProcessEnv
  build?: Partial<BuildOptions>
}

export interface LocalApp {
  app: FastifyInstance
  dir: string
  secretsDir: string
  confPath: string
  metrics: Metrics
  /** every log line, as text */
  logs: string[]
  writeSecret (file: string, text: string): void
  writeConf (text: string): void
}

export function tmpDir (t: Teardown, prefix = 'credbroker-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function secretManifest (ns: string, name: string, stringData: Record<string, string>, type = 'Opaque'): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, type, stringData });
}

export function dockerConfigSecret (ns: string, name: string, auths: Record<string, { username: string, password: string }>): string {
  return secretManifest(ns, name, { '.dockerconfigjson': JSON.stringify({ auths }) }, 'kubernetes.io/dockerconfigjson');
}

export async function localApp (t: Teardown, opts: LocalAppOptions = {}): Promise<LocalApp> {
  const dir = tmpDir(t);
  const secretsDir = join(dir, 'secrets');
  mkdirSync(secretsDir);
  const confPath = join(dir, 'registries.conf');
  writeFileSync(confPath, opts.conf ?? 'registries: []\n');
  for (const [file, text] of Object.entries(opts.secrets ?? {})) writeFileSync(join(secretsDir, file), text);
  const logs: string[] = [];
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { logs.push(chunk.toString('utf8')); cb(); } });
  // a busy test machine must not shed requests (test/http/edge.test.ts turns shedding on)
  const settings = loadSettings({
    env: { KUBE_MODE: 'local', LOCAL_SECRETS_DIR: secretsDir, REGISTRIES_CONF_PATH: confPath, RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'debug', OVERLOAD_MAX_EVENT_LOOP_DELAY: '0', ...opts.settingsEnv },
    serviceAccountDir: join(dir, 'no-serviceaccount')
  });
  const metrics = createMetrics({ defaultMetrics: false });
  const app = await buildApp({ settings, logger: createLogger('debug', sink), metrics, env: opts.env ?? {}, ...opts.build });
  t.teardown(async () => await app.close());
  return {
    app,
    dir,
    secretsDir,
    confPath,
    metrics,
    logs,
    writeSecret: (file, text) => writeFileSync(join(secretsDir, file), text),
    writeConf: (text) => writeFileSync(confPath, text)
  };
}

/** The one polling helper (test/helpers/poll.ts), here too for the tests that import it from app.js. */
export { eventually } from './poll.js';
