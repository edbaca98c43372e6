// Every setting of SPEC §2: environment variables, each also a --kebab-case flag (flags win).
// Validated as a whole at start; the first bad value is reported as one line naming it.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseDuration } from './duration.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeMode = 'in-cluster' | 'kubeconfig' | 'local';
export type AuthMode = 'kubernetes' | 'static' | 'none';
/** `secrets`: pullsecret:/secret: only; `all`: every type, as upstream */
export type AnnotationSources = 'secrets' | 'all';

export interface Settings {
  host: string
  port: number
  registriesConfPath: string
  /** the mode actually used (auto is resolved at load) */
  kubeMode: KubeMode
  kubeModeSetting: KubeMode | 'auto'
  kubeconfigPath?: string
  serviceAccountDir: string
  localSecretsDir: string
  podNamespace: string
  /** '*' means every namespace */
  secretNamespaces: string[] | '*'
  applicationsApi: 'kubernetes' | 'argocd'
  argocdServer: string
  argocdToken?: string
  argocdTokenFile?: string
  argocdPlaintext: boolean
  argocdInsecure: boolean
  argocdCaFile?: string
  authMode: AuthMode
  /** AUTH_MODE=none in-cluster is refused unless this is set */
  authAllowNoneInCluster: boolean
  authAudiences: string[]
  authTokensFile?: string
  authPolicyPath?: string
  rateLimitPerMinute: number
  /** which reference types Application annotations may use */
  annotationSources: AnnotationSources
  extTimeoutMs: number
  extMaxOutputBytes: number
  cacheMaxStaleMs: number
  cacheMaxEntries: number
  logLevel: string
  /** pretty log output: auto = on a terminal when pino-pretty is installed */
  logPretty: 'auto' | 'true' | 'false'
  /** shed requests with 503 OVERLOADED above this mean event-loop delay; 0 turns it off */
  overloadMaxEventLoopDelayMs: number
  shutdownDelayMs: number
}

interface SettingDef {
  env: string
  default?: string
  help: string
}

/** The table of settings, in SPEC order; also drives --help and the README. */
export const SETTINGS: SettingDef[] = [
  { env: 'HOST', default: '0.0.0.0', help: 'listen address' },
  { env: 'PORT', default: '8080', help: 'listen port' },
  { env: 'REGISTRIES_CONF_PATH', default: '/app/config/registries.conf (./examples/registries.conf in local mode)', help: 'registries.conf, reloaded on change' },
  { env: 'KUBE_MODE', default: 'auto', help: 'in-cluster, kubeconfig, local or auto' },
  { env: 'KUBECONFIG', default: '~/.kube/config', help: 'kubeconfig file for KUBE_MODE=kubeconfig' },
  { env: 'LOCAL_SECRETS_DIR', default: './examples/secrets', help: 'folder of Secret manifests (local mode)' },
  { env: 'POD_NAMESPACE', default: 'the pod namespace file, else argocd', help: "the service's own namespace" },
  { env: 'SECRET_NAMESPACES', default: 'POD_NAMESPACE', help: 'comma list of namespaces whose Secrets may be read, or *' },
  { env: 'APPLICATIONS_API', default: 'kubernetes', help: 'where Argo CD Applications are read: kubernetes or argocd' },
  { env: 'ARGOCD_SERVER', default: 'argocd-server.argocd', help: 'Argo CD API address (host[:port])' },
  { env: 'ARGOCD_TOKEN', help: 'Argo CD API token' },
  { env: 'ARGOCD_TOKEN_FILE', help: 'file holding the Argo CD API token, re-read on change' },
  { env: 'ARGOCD_PLAINTEXT', default: 'false', help: 'use http for the Argo CD API' },
  { env: 'ARGOCD_INSECURE', default: 'false', help: 'skip TLS verification of the Argo CD API' },
  { env: 'ARGOCD_CA_FILE', help: 'extra CA bundle for the Argo CD API' },
  { env: 'AUTH_MODE', default: 'kubernetes in-cluster, else none', help: 'caller authentication: kubernetes, static or none' },
  { env: 'AUTH_ALLOW_NONE_IN_CLUSTER', default: 'false', help: 'allow AUTH_MODE=none when running in-cluster' },
  { env: 'AUTH_AUDIENCES', default: 'credbroker', help: 'audiences required of caller tokens (comma list)' },
  { env: 'AUTH_TOKENS_FILE', help: 'static mode: YAML tokens: [{name, sha256}]' },
  { env: 'AUTH_POLICY_PATH', help: 'authorization policy, reloaded on change' },
  { env: 'RATE_LIMIT_PER_MINUTE', default: '600', help: 'requests per minute per caller under /v1; 0 turns it off' },
  { env: 'ANNOTATION_SOURCES', default: 'secrets', help: 'reference types Application annotations may use: secrets (pullsecret:, secret:) or all (as upstream)' },
  { env: 'EXT_TIMEOUT', default: '10s', help: 'ext: script timeout' },
  { env: 'EXT_MAX_OUTPUT', default: '65536', help: 'ext: script output cap in bytes' },
  { env: 'CACHE_MAX_ENTRIES', default: '10000', help: 'most credentials cached; the least recently used is dropped beyond it' },
  { env: 'CACHE_MAX_STALE', default: '5m', help: 'how long cached credentials may be served when their source is unreachable' },
  { env: 'LOG_LEVEL', default: 'info', help: 'pino level: fatal, error, warn, info, debug, trace, silent' },
  { env: 'LOG_PRETTY', default: 'auto', help: 'human-readable logs: auto (on a terminal, when pino-pretty is installed), true or false' },
  { env: 'OVERLOAD_MAX_EVENT_LOOP_DELAY', default: '200ms', help: 'above this mean event-loop delay, requests get 503 OVERLOADED with Retry-After; 0 turns it off' },
  { env: 'SHUTDOWN_DELAY', default: '10s', help: 'longest wait for in-flight requests at shutdown' }
];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function envNameOfFlag (flag: string): string {
  return flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

/** --kebab-case flags (`--port 9090` or `--port=9090`) into an env-shaped record. */
export function parseFlags (argv: string[]): { values: Record<string, string>, rest: string[] } {
  const known = new Set(SETTINGS.map((s) => s.env));
  const values: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--') || arg === '--help') { rest.push(arg); continue; }
    const eq = arg.indexOf('=');
    const name = envNameOfFlag(eq === -1 ? arg : arg.slice(0, eq));
    if (!known.has(name)) throw new ConfigError(arg.slice(0, eq === -1 ? undefined : eq), 'unknown flag');
    if (eq !== -1) { values[name] = arg.slice(eq + 1); continue; }
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) {
      values[name] = 'true';
    } else {
      values[name] = next;
      i++;
    }
  }
  return { values, rest };
}

function bool (name: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === '') return dflt;
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(name, `must be true or false, got "${v}"`);
}

function int (name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new ConfigError(name, `must be an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function duration (name: string, v: string | undefined, dflt: string): number {
  try {
    return parseDuration(v === undefined || v === '' ? dflt : v);
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

function oneOf<T extends string> (name: string, v: string | undefined, dflt: T, allowed: readonly T[]): T {
  if (v === undefined || v === '') return dflt;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
  }
  return v as T;
}

function list (v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface LoadOptions {
  env?: NodeJS.ProcessEnv
  argv?: string[]
  /** where the ServiceAccount token/namespace files live (tests) */
  serviceAccountDir?: string
  /** the project root, for the local-mode defaults */
  cwd?: string
}

/** Build Settings from env and flags; throws ConfigError naming the first bad setting. */
export function loadSettings (opts: LoadOptions = {}): Settings {
  const flags = parseFlags(opts.argv ?? []).values;
  const env: Record<string, string | undefined> = { ...(opts.env ?? process.env), ...flags };
  const cwd = opts.cwd ?? process.cwd();
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;

  const kubeModeSetting = oneOf('KUBE_MODE', env.KUBE_MODE, 'auto', ['auto', 'in-cluster', 'kubeconfig', 'local'] as const);
  const kubeconfigPath = env.KUBECONFIG !== undefined && env.KUBECONFIG !== ''
    ? env.KUBECONFIG.split(':')[0]
    : join(homedir(), '.kube', 'config');
  let kubeMode: KubeMode;
  if (kubeModeSetting === 'auto') {
    if (existsSync(join(saDir, 'token'))) kubeMode = 'in-cluster';
    else if (kubeconfigPath !== undefined && existsSync(kubeconfigPath)) kubeMode = 'kubeconfig';
    else kubeMode = 'local';
  } else {
    kubeMode = kubeModeSetting;
  }

  let podNamespace = env.POD_NAMESPACE;
  if (podNamespace === undefined || podNamespace === '') {
    try {
      podNamespace = readFileSync(join(saDir, 'namespace'), 'utf8').trim();
    } catch {
      podNamespace = 'argocd';
    }
  }
  if (!DNS_LABEL.test(podNamespace)) throw new ConfigError('POD_NAMESPACE', `"${podNamespace}" is not a namespace name`);

  let secretNamespaces: string[] | '*' = [podNamespace];
  if (env.SECRET_NAMESPACES !== undefined && env.SECRET_NAMESPACES.trim() !== '') {
    const items = list(env.SECRET_NAMESPACES);
    if (items.includes('*')) {
      if (items.length > 1) throw new ConfigError('SECRET_NAMESPACES', '"*" cannot be combined with other namespaces');
      secretNamespaces = '*';
    } else {
      for (const ns of items) {
        if (!DNS_LABEL.test(ns)) throw new ConfigError('SECRET_NAMESPACES', `"${ns}" is not a namespace name`);
      }
      secretNamespaces = items;
    }
  }

  const authMode = oneOf('AUTH_MODE', env.AUTH_MODE, kubeMode === 'in-cluster' ? 'kubernetes' : 'none',
    ['kubernetes', 'static', 'none'] as const);
  const authAllowNoneInCluster = bool('AUTH_ALLOW_NONE_IN_CLUSTER', env.AUTH_ALLOW_NONE_IN_CLUSTER, false);
  if (authMode === 'none' && kubeMode === 'in-cluster' && !authAllowNoneInCluster) {
    throw new ConfigError('AUTH_MODE', 'none is refused in-cluster; set AUTH_ALLOW_NONE_IN_CLUSTER=true to force it');
  }
  const authTokensFile = env.AUTH_TOKENS_FILE || undefined;
  if (authMode === 'static' && authTokensFile === undefined) {
    throw new ConfigError('AUTH_TOKENS_FILE', 'required when AUTH_MODE=static');
  }
  const authAudiences = env.AUTH_AUDIENCES === undefined ? ['credbroker'] : list(env.AUTH_AUDIENCES);
  if (authAudiences.length === 0) throw new ConfigError('AUTH_AUDIENCES', 'must name at least one audience');

  const logLevel = oneOf('LOG_LEVEL', env.LOG_LEVEL, 'info', LOG_LEVELS);

  const argocdServer = env.ARGOCD_SERVER || 'argocd-server.argocd';
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(argocdServer) && !/^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(argocdServer)) {
    throw new ConfigError('ARGOCD_SERVER', `must be host[:port], got "${argocdServer}"`);
  }

  const registriesDefault = kubeMode === 'local' && env.REGISTRIES_CONF_PATH === undefined
    ? join(cwd, 'examples', 'registries.conf')
    : '/app/config/registries.conf';

  return {
    host: env.HOST || '0.0.0.0',
    port: int('PORT', env.PORT, 8080, 0, 65535),
    registriesConfPath: env.REGISTRIES_CONF_PATH || registriesDefault,
    kubeMode,
    kubeModeSetting,
    kubeconfigPath,
    serviceAccountDir: saDir,
    localSecretsDir: env.LOCAL_SECRETS_DIR || join(cwd, 'examples', 'secrets'),
    podNamespace,
    secretNamespaces,
    applicationsApi: oneOf('APPLICATIONS_API', env.APPLICATIONS_API, 'kubernetes', ['kubernetes', 'argocd'] as const),
    argocdServer,
    argocdToken: env.ARGOCD_TOKEN || undefined,
    argocdTokenFile: env.ARGOCD_TOKEN_FILE || undefined,
    argocdPlaintext: bool('ARGOCD_PLAINTEXT', env.ARGOCD_PLAINTEXT, false),
    argocdInsecure: bool('ARGOCD_INSECURE', env.ARGOCD_INSECURE, false),
    argocdCaFile: env.ARGOCD_CA_FILE || undefined,
    authMode,
    authAllowNoneInCluster,
    authAudiences,
    authTokensFile,
    authPolicyPath: env.AUTH_POLICY_PATH || undefined,
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', env.RATE_LIMIT_PER_MINUTE, 600, 0, 1_000_000),
    annotationSources: oneOf('ANNOTATION_SOURCES', env.ANNOTATION_SOURCES, 'secrets', ['secrets', 'all'] as const),
    extTimeoutMs: duration('EXT_TIMEOUT', env.EXT_TIMEOUT, '10s'),
    extMaxOutputBytes: int('EXT_MAX_OUTPUT', env.EXT_MAX_OUTPUT, 65536, 1, 16 * 1024 * 1024),
    cacheMaxStaleMs: duration('CACHE_MAX_STALE', env.CACHE_MAX_STALE, '5m'),
    cacheMaxEntries: int('CACHE_MAX_ENTRIES', env.CACHE_MAX_ENTRIES, 10_000, 1, 10_000_000),
    logLevel,
    logPretty: oneOf('LOG_PRETTY', env.LOG_PRETTY, 'auto', ['auto', 'true', 'false'] as const),
    overloadMaxEventLoopDelayMs: duration('OVERLOAD_MAX_EVENT_LOOP_DELAY', env.OVERLOAD_MAX_EVENT_LOOP_DELAY, '200ms'),
    shutdownDelayMs: duration('SHUTDOWN_DELAY', env.SHUTDOWN_DELAY, '10s')
  };
}
