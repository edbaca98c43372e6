// Every setting (docs/configuration.md "Settings"): environment variables, each also a --kebab-case flag (flags win).
// Validated as a whole at start; the first bad value is reported as one line naming it.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { UsageError, parseArgv, type FlagOptions, type ParsedArgv } from './argv.js';
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
  /** bytes of Secret data the Kubernetes store holds (decoded values and names) */
  secretCacheMaxBytes: number
  logLevel: string
  /** pretty log output: auto = on a terminal when pino-pretty is installed */
  logPretty: 'auto' | 'true' | 'false'
  /** shed requests with 503 OVERLOADED above this mean event-loop delay; 0 turns it off */
  overloadMaxEventLoopDelayMs: number
  shutdownDelayMs: number
  /** HTTPS_PROXY, HTTP_PROXY, NO_PROXY (either case, upper first), read once at start; checked where the transport is built */
  proxy: { httpsProxy?: string, httpProxy?: string, noProxy?: string }
}

export interface SettingDef {
  env: string
  /** the value used when the setting is unset; the only place it is written */
  default?: string
  /** what docs/configuration.md and --help say the default is, where it depends on the mode */
  shown?: string
  /** a bare `--flag` means true */
  boolean?: true
  help: string
}

/** The table of settings: drives loading, the flags, --help, and the settings table of docs/configuration.md (tested). */
export const SETTINGS: readonly SettingDef[] = [
  { env: 'HOST', default: '0.0.0.0', help: 'listen address' },
  { env: 'PORT', default: '8080', help: 'listen port' },
  { env: 'REGISTRIES_CONF_PATH', default: '/app/config/registries.conf', shown: '/app/config/registries.conf (./examples/registries.conf in local mode)', help: 'registries.conf, reloaded on change; a missing file is an empty configuration (with a warning at start naming the path)' },
  { env: 'KUBE_MODE', default: 'auto', help: 'in-cluster, kubeconfig, local or auto' },
  { env: 'KUBECONFIG', shown: '~/.kube/config', help: 'kubeconfig file for KUBE_MODE=kubeconfig' },
  { env: 'LOCAL_SECRETS_DIR', shown: './examples/secrets', help: 'folder of Secret manifests (local mode)' },
  { env: 'POD_NAMESPACE', default: 'argocd', shown: 'the pod namespace file, else argocd', help: "the service's own namespace" },
  { env: 'SECRET_NAMESPACES', shown: 'POD_NAMESPACE', help: 'comma list of namespaces whose Secrets may be read, or *' },
  { env: 'APPLICATIONS_API', default: 'kubernetes', help: 'where Argo CD Applications are read: kubernetes or argocd' },
  { env: 'ARGOCD_SERVER', default: 'argocd-server.argocd', help: 'Argo CD API address (host[:port])' },
  { env: 'ARGOCD_TOKEN', help: 'Argo CD API token' },
  { env: 'ARGOCD_TOKEN_FILE', help: 'file holding the Argo CD API token, re-read on change' },
  { env: 'ARGOCD_PLAINTEXT', default: 'false', boolean: true, help: 'use http for the Argo CD API' },
  { env: 'ARGOCD_INSECURE', default: 'false', boolean: true, help: 'skip TLS verification of the Argo CD API' },
  { env: 'ARGOCD_CA_FILE', help: 'extra CA bundle for the Argo CD API' },
  { env: 'AUTH_MODE', shown: 'kubernetes in-cluster, else none', help: 'caller authentication: kubernetes, static or none' },
  { env: 'AUTH_ALLOW_NONE_IN_CLUSTER', default: 'false', boolean: true, help: 'allow AUTH_MODE=none when running in-cluster' },
  { env: 'AUTH_AUDIENCES', default: 'credbroker', help: 'audiences required of caller tokens (comma list)' },
  { env: 'AUTH_TOKENS_FILE', help: 'static mode: YAML tokens: [{name, sha256}]' },
  { env: 'AUTH_POLICY_PATH', help: 'authorization policy, reloaded on change' },
  { env: 'RATE_LIMIT_PER_MINUTE', default: '600', help: 'requests per minute per caller under /v1; 0 turns it off' },
  { env: 'ANNOTATION_SOURCES', default: 'secrets', help: 'reference types Application annotations may use: secrets (pullsecret:, secret:) or all (as upstream)' },
  { env: 'EXT_TIMEOUT', default: '10s', help: 'ext: script timeout' },
  { env: 'EXT_MAX_OUTPUT', default: '65536', help: 'ext: script output cap in bytes' },
  { env: 'CACHE_MAX_ENTRIES', default: '10000', help: 'most credentials cached; the least recently used is dropped beyond it' },
  { env: 'SECRET_CACHE_MAX_BYTES', default: '33554432', help: 'bytes of Secret data held (decoded values and names) for the Secrets references read; the least recently used is dropped beyond it and read again with one GET when next used' },
  { env: 'CACHE_MAX_STALE', default: '5m', help: 'how long cached credentials may be served when their source is unreachable' },
  { env: 'LOG_LEVEL', default: 'info', help: 'pino level: fatal, error, warn, info, debug, trace, silent' },
  { env: 'LOG_PRETTY', default: 'auto', help: 'human-readable logs: auto (on a terminal, when pino-pretty is installed), true or false' },
  { env: 'OVERLOAD_MAX_EVENT_LOOP_DELAY', default: '200ms', help: 'above this mean event-loop delay, requests get 503 `OVERLOADED` with `Retry-After`; 0 turns it off' },
  { env: 'SHUTDOWN_DELAY', default: '10s', help: 'longest wait for in-flight requests at shutdown' },
  { env: 'HTTPS_PROXY', help: 'proxy for https calls to registries, Argo CD and the cloud logins (https_proxy is read too; see "Proxies")' },
  { env: 'HTTP_PROXY', help: 'proxy for plain http calls (http_proxy is read too)' },
  { env: 'NO_PROXY', help: 'comma list of hosts, domains, .suffixes, host:port, IPs and CIDRs reached directly, or * (no_proxy is read too)' }
];

const BY_ENV = new Map(SETTINGS.map((s) => [s.env, s]));

/** What docs/configuration.md and --help show as a setting's default ("—" when it has none). */
export function shownDefault (s: SettingDef): string {
  return s.shown ?? s.default ?? '—';
}

/** The table's default of a setting that has one. */
function dflt (name: string): string {
  const d = BY_ENV.get(name)?.default;
  if (d === undefined) throw new Error(`setting ${name} has no default in the table`);
  return d;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function flagOfEnv (env: string): string {
  return env.toLowerCase().replace(/_/g, '-');
}

/** Every setting as a --kebab-case string flag, for parseArgv. */
export const SETTING_FLAGS: FlagOptions = Object.fromEntries(SETTINGS.map((s) => [flagOfEnv(s.env), { type: 'string' as const }]));

const BOOLEAN_FLAGS = new Set(SETTINGS.filter((s) => s.boolean === true).map((s) => `--${flagOfEnv(s.env)}`));
const BOOL_WORD = /^(true|false|1|0|yes|no)$/i;

/** A bare boolean setting flag means true; `--argocd-plaintext false` still reads as false. */
function withBooleanValues (argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') { out.push(...argv.slice(i)); break; }
    if (!BOOLEAN_FLAGS.has(arg)) { out.push(arg); continue; }
    const next = argv[i + 1];
    if (next !== undefined && BOOL_WORD.test(next)) { out.push(`${arg}=${next}`); i++; } else out.push(`${arg}=true`);
  }
  return out;
}

/** The setting flags set on a parsed command line, as an env-shaped record. */
export function settingValues (values: ParsedArgv['values']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of SETTINGS) {
    const v = values[flagOfEnv(s.env)];
    if (typeof v === 'string') out[s.env] = v;
  }
  return out;
}

/**
 * The setting flags plus a command's own `extra` flags (`--port 9090` or `--port=9090`);
 * throws UsageError on an unknown flag or a missing value.
 */
export function parseFlags (argv: string[], extra: FlagOptions = {}): { values: Record<string, string>, rest: string[], extra: ParsedArgv['values'] } {
  const parsed = parseArgv(withBooleanValues(argv), { ...SETTING_FLAGS, ...extra });
  const own: ParsedArgv['values'] = {};
  for (const k of Object.keys(extra)) if (parsed.values[k] !== undefined) own[k] = parsed.values[k];
  return { values: settingValues(parsed.values), rest: parsed.positionals, extra: own };
}

/** An env value, or the table's default when it is unset or empty. */
function get (env: Record<string, string | undefined>, name: string): string {
  const v = env[name];
  return v === undefined || v === '' ? dflt(name) : v;
}

function bool (env: Record<string, string | undefined>, name: string): boolean {
  const v = get(env, name);
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(name, `must be true or false, got "${v}"`);
}

function int (env: Record<string, string | undefined>, name: string, min: number, max: number): number {
  const v = get(env, name);
  if (!/^\d+$/.test(v)) throw new ConfigError(name, `must be an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function duration (env: Record<string, string | undefined>, name: string): number {
  try {
    return parseDuration(get(env, name));
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

function oneOf<T extends string> (env: Record<string, string | undefined>, name: string, allowed: readonly T[], fallback?: T): T {
  const raw = env[name];
  const v = raw === undefined || raw === '' ? (fallback ?? dflt(name)) : raw;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
  }
  return v as T;
}

function list (v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The proxy variables, upper case first, then lower case, as Go reads them; empty is unset. */
function proxyEnv (env: Record<string, string | undefined>): Settings['proxy'] {
  const any = (upper: string): string | undefined => {
    for (const n of [upper, upper.toLowerCase()]) {
      const v = env[n]?.trim();
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  const out: Settings['proxy'] = {};
  const httpsProxy = any('HTTPS_PROXY');
  const httpProxy = any('HTTP_PROXY');
  const noProxy = any('NO_PROXY');
  if (httpsProxy !== undefined) out.httpsProxy = httpsProxy;
  if (httpProxy !== undefined) out.httpProxy = httpProxy;
  if (noProxy !== undefined) out.noProxy = noProxy;
  return out;
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
  let flags: Record<string, string>;
  try {
    flags = parseFlags(opts.argv ?? []).values;
  } catch (err) {
    // a bad flag is reported like a bad setting: one line naming it
    if (err instanceof UsageError) throw new ConfigError(err.flag ?? 'command line', err.message.replace(`${err.flag ?? ''} `, '').replace(` ${err.flag ?? ''}`, ''));
    throw err;
  }
  const env: Record<string, string | undefined> = { ...(opts.env ?? process.env), ...flags };
  const cwd = opts.cwd ?? process.cwd();
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;

  const kubeModeSetting = oneOf(env, 'KUBE_MODE', ['auto', 'in-cluster', 'kubeconfig', 'local'] as const);
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
      podNamespace = dflt('POD_NAMESPACE');
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

  const authMode = oneOf(env, 'AUTH_MODE', ['kubernetes', 'static', 'none'] as const, kubeMode === 'in-cluster' ? 'kubernetes' : 'none');
  const authAllowNoneInCluster = bool(env, 'AUTH_ALLOW_NONE_IN_CLUSTER');
  if (authMode === 'none' && kubeMode === 'in-cluster' && !authAllowNoneInCluster) {
    throw new ConfigError('AUTH_MODE', 'none is refused in-cluster; set AUTH_ALLOW_NONE_IN_CLUSTER=true to force it');
  }
  const authTokensFile = env.AUTH_TOKENS_FILE || undefined;
  if (authMode === 'static' && authTokensFile === undefined) {
    throw new ConfigError('AUTH_TOKENS_FILE', 'required when AUTH_MODE=static');
  }
  const authAudiences = list(env.AUTH_AUDIENCES ?? dflt('AUTH_AUDIENCES'));
  if (authAudiences.length === 0) throw new ConfigError('AUTH_AUDIENCES', 'must name at least one audience');

  const logLevel = oneOf(env, 'LOG_LEVEL', LOG_LEVELS);

  const argocdServer = get(env, 'ARGOCD_SERVER');
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(argocdServer) && !/^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(argocdServer)) {
    throw new ConfigError('ARGOCD_SERVER', `must be host[:port], got "${argocdServer}"`);
  }

  const registriesDefault = kubeMode === 'local' && env.REGISTRIES_CONF_PATH === undefined
    ? join(cwd, 'examples', 'registries.conf')
    : dflt('REGISTRIES_CONF_PATH');

  return {
    host: get(env, 'HOST'),
    port: int(env, 'PORT', 0, 65535),
    registriesConfPath: env.REGISTRIES_CONF_PATH || registriesDefault,
    kubeMode,
    kubeModeSetting,
    kubeconfigPath,
    serviceAccountDir: saDir,
    localSecretsDir: env.LOCAL_SECRETS_DIR || join(cwd, 'examples', 'secrets'),
    podNamespace,
    secretNamespaces,
    applicationsApi: oneOf(env, 'APPLICATIONS_API', ['kubernetes', 'argocd'] as const),
    argocdServer,
    argocdToken: env.ARGOCD_TOKEN || undefined,
    argocdTokenFile: env.ARGOCD_TOKEN_FILE || undefined,
    argocdPlaintext: bool(env, 'ARGOCD_PLAINTEXT'),
    argocdInsecure: bool(env, 'ARGOCD_INSECURE'),
    argocdCaFile: env.ARGOCD_CA_FILE || undefined,
    authMode,
    authAllowNoneInCluster,
    authAudiences,
    authTokensFile,
    authPolicyPath: env.AUTH_POLICY_PATH || undefined,
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 0, 1_000_000),
    annotationSources: oneOf(env, 'ANNOTATION_SOURCES', ['secrets', 'all'] as const),
    extTimeoutMs: duration(env, 'EXT_TIMEOUT'),
    extMaxOutputBytes: int(env, 'EXT_MAX_OUTPUT', 1, 16 * 1024 * 1024),
    cacheMaxStaleMs: duration(env, 'CACHE_MAX_STALE'),
    cacheMaxEntries: int(env, 'CACHE_MAX_ENTRIES', 1, 10_000_000),
    secretCacheMaxBytes: int(env, 'SECRET_CACHE_MAX_BYTES', 1024 * 1024, 64 * 1024 ** 3),
    logLevel,
    logPretty: oneOf(env, 'LOG_PRETTY', ['auto', 'true', 'false'] as const),
    overloadMaxEventLoopDelayMs: duration(env, 'OVERLOAD_MAX_EVENT_LOOP_DELAY'),
    shutdownDelayMs: duration(env, 'SHUTDOWN_DELAY'),
    proxy: proxyEnv(env)
  };
}
