import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadSettings, parseFlags, SETTINGS, shownDefault, type LoadOptions } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { tmpDir } from '../helpers/app.js';

interface Dirs { home: string, noSa: string, sa: string, cwd: string }

function dirs (t: Parameters<typeof tmpDir>[0]): Dirs {
  const root = tmpDir(t);
  const sa = join(root, 'sa');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), 'eyJhbGciOi.fake.token');
  writeFileSync(join(sa, 'namespace'), 'credbroker-system\n');
  return { home: join(root, 'home'), noSa: join(root, 'no-sa'), sa, cwd: root };
}

// no token file and a KUBECONFIG that does not exist: nothing about this machine leaks in
function local (d: Dirs, env: Record<string, string> = {}, argv: string[] = []): LoadOptions {
  return { env: { KUBECONFIG: join(d.home, 'missing-kubeconfig'), ...env }, argv, serviceAccountDir: d.noSa, cwd: d.cwd };
}
function inCluster (d: Dirs, env: Record<string, string> = {}, argv: string[] = []): LoadOptions {
  return { env: { KUBECONFIG: join(d.home, 'missing-kubeconfig'), ...env }, argv, serviceAccountDir: d.sa, cwd: d.cwd };
}

function configError (t: Test, opts: LoadOptions, setting: string, what: string): void {
  try {
    loadSettings(opts);
    t.fail(`${what}: expected ConfigError naming ${setting}`);
  } catch (err) {
    t.type(err, ConfigError, `${what}: ConfigError`);
    t.equal((err as ConfigError).setting, setting, `${what}: names ${setting}`);
    t.match((err as Error).message, new RegExp(`^${setting.replace(/[-[\]]/g, '\\$&')}: \\S`), `${what}: message starts with the setting`);
    t.notMatch((err as Error).message, /\n/, `${what}: one line`);
  }
}

t.test('defaults with no cluster and no settings: local mode on ./examples', async (t) => {
  const d = dirs(t);
  const s = loadSettings(local(d));
  t.match(s, {
    host: '0.0.0.0',
    port: 8080,
    kubeMode: 'local',
    kubeModeSetting: 'auto',
    registriesConfPath: join(d.cwd, 'examples', 'registries.conf'),
    localSecretsDir: join(d.cwd, 'examples', 'secrets'),
    podNamespace: 'argocd',
    secretNamespaces: ['argocd'],
    applicationsApi: 'kubernetes',
    argocdServer: 'argocd-server.argocd',
    argocdPlaintext: false,
    argocdInsecure: false,
    authMode: 'none',
    authAllowNoneInCluster: false,
    authAudiences: ['credbroker'],
    rateLimitPerMinute: 600,
    annotationSources: 'secrets',
    extTimeoutMs: 10_000,
    extMaxOutputBytes: 65536,
    cacheMaxStaleMs: 300_000,
    logLevel: 'info'
  });
  t.equal(s.argocdToken, undefined);
  t.equal(s.authTokensFile, undefined);
  t.equal(s.authPolicyPath, undefined);
});

t.test('in-cluster detection from the ServiceAccount token', async (t) => {
  const d = dirs(t);
  const s = loadSettings(inCluster(d));
  t.equal(s.kubeMode, 'in-cluster');
  t.equal(s.podNamespace, 'credbroker-system', 'POD_NAMESPACE from the namespace file');
  t.same(s.secretNamespaces, ['credbroker-system'], 'SECRET_NAMESPACES defaults to the own namespace');
  t.equal(s.authMode, 'kubernetes', 'AUTH_MODE defaults to kubernetes in-cluster');
  t.equal(s.registriesConfPath, '/app/config/registries.conf');
  t.equal(s.serviceAccountDir, d.sa);

  const own = loadSettings(inCluster(d, { POD_NAMESPACE: 'mine' }));
  t.equal(own.podNamespace, 'mine', 'POD_NAMESPACE wins over the file');
  t.same(own.secretNamespaces, ['mine']);

  const forced = loadSettings(inCluster(d, { KUBE_MODE: 'local' }));
  t.equal(forced.kubeMode, 'local', 'an explicit KUBE_MODE wins over detection');
  t.equal(forced.kubeModeSetting, 'local');
  t.equal(forced.authMode, 'none');
});

t.test('kubeconfig detection', async (t) => {
  const d = dirs(t);
  const kc = join(d.cwd, 'kubeconfig');
  writeFileSync(kc, 'apiVersion: v1\nkind: Config\n');
  const s = loadSettings({ env: { KUBECONFIG: `${kc}:/elsewhere` }, serviceAccountDir: d.noSa, cwd: d.cwd });
  t.equal(s.kubeMode, 'kubeconfig');
  t.equal(s.kubeconfigPath, kc, 'the first KUBECONFIG entry');
  t.equal(s.authMode, 'none');
  t.equal(s.registriesConfPath, '/app/config/registries.conf');
});

t.test('settings from the environment', async (t) => {
  const d = dirs(t);
  const s = loadSettings(local(d, {
    HOST: '127.0.0.1',
    PORT: '0',
    SECRET_NAMESPACES: ' argocd, team-a ,team-b',
    ARGOCD_SERVER: 'argocd.example.com:8443',
    ARGOCD_PLAINTEXT: 'yes',
    ARGOCD_INSECURE: 'TRUE',
    AUTH_AUDIENCES: 'a,b',
    RATE_LIMIT_PER_MINUTE: '0',
    EXT_TIMEOUT: '1m30s',
    CACHE_MAX_STALE: '1h',
    CACHE_MAX_ENTRIES: '500',
    SECRET_CACHE_MAX_BYTES: '8388608',
    LOG_LEVEL: 'debug',
    REGISTRIES_CONF_PATH: '/etc/r.conf',
    APPLICATIONS_API: 'argocd'
  }));
  t.match(s, {
    host: '127.0.0.1',
    port: 0,
    secretNamespaces: ['argocd', 'team-a', 'team-b'],
    argocdServer: 'argocd.example.com:8443',
    argocdPlaintext: true,
    argocdInsecure: true,
    authAudiences: ['a', 'b'],
    rateLimitPerMinute: 0,
    extTimeoutMs: 90_000,
    cacheMaxStaleMs: 3_600_000,
    cacheMaxEntries: 500,
    secretCacheMaxBytes: 8_388_608,
    logLevel: 'debug',
    registriesConfPath: '/etc/r.conf',
    applicationsApi: 'argocd'
  });
  t.equal(loadSettings(local(d, { SECRET_NAMESPACES: '*' })).secretNamespaces, '*');
  t.equal(loadSettings(local(d, { ARGOCD_SERVER: '[::1]:8080' })).argocdServer, '[::1]:8080');
  const st = loadSettings(local(d, { AUTH_MODE: 'static', AUTH_TOKENS_FILE: '/etc/tokens.yaml' }));
  t.match(st, { authMode: 'static', authTokensFile: '/etc/tokens.yaml' });
  const none = loadSettings(inCluster(d, { AUTH_MODE: 'none', AUTH_ALLOW_NONE_IN_CLUSTER: 'true' }));
  t.match(none, { kubeMode: 'in-cluster', authMode: 'none', authAllowNoneInCluster: true }, 'none in-cluster when explicitly allowed');
});

t.test('flags win over the environment', async (t) => {
  const d = dirs(t);
  t.equal(loadSettings(local(d, { PORT: '1234' }, ['--port', '9090'])).port, 9090, '--port 9090');
  t.equal(loadSettings(local(d, { PORT: '1234' }, ['--port=9090'])).port, 9090, '--port=9090');
  t.equal(loadSettings(local(d, { PORT: '1234' })).port, 1234, 'env without a flag');
  const s = loadSettings(local(d, { LOG_LEVEL: 'info', SECRET_NAMESPACES: 'a' }, ['--log-level', 'warn', '--secret-namespaces=b,c', '--argocd-plaintext']));
  t.equal(s.logLevel, 'warn');
  t.same(s.secretNamespaces, ['b', 'c']);
  t.equal(s.argocdPlaintext, true, 'a bare boolean flag means true');
  const kinds = loadSettings(inCluster(d, {}, ['--kube-mode', 'local']));
  t.equal(kinds.kubeMode, 'local');
  t.equal(loadSettings(local(d, {}, ['--annotation-sources', 'all'])).annotationSources, 'all', '--annotation-sources all');
  t.equal(loadSettings(local(d, { ANNOTATION_SOURCES: 'all' }, ['--annotation-sources=secrets'])).annotationSources, 'secrets');
  t.same(parseFlags(['serve', '--port', '1', 'x']), { values: { PORT: '1' }, rest: ['serve', 'x'], extra: {} });
  // every documented setting has a flag
  for (const s of SETTINGS) {
    const flag = `--${s.env.toLowerCase().replace(/_/g, '-')}`;
    t.same(Object.keys(parseFlags([`${flag}=v`]).values), [s.env], `${flag} is a flag`);
  }
});

t.test('every bad value is a ConfigError naming the setting', async (t) => {
  const d = dirs(t);
  const bad: Array<[Record<string, string>, string, string]> = [
    [{ PORT: 'abc' }, 'PORT', 'not a number'],
    [{ PORT: '65536' }, 'PORT', 'out of range'],
    [{ PORT: '-1' }, 'PORT', 'negative'],
    [{ PORT: '80.5' }, 'PORT', 'fraction'],
    [{ KUBE_MODE: 'cluster' }, 'KUBE_MODE', 'unknown mode'],
    [{ KUBE_MODE: 'LOCAL' }, 'KUBE_MODE', 'wrong case'],
    [{ SECRET_NAMESPACES: 'argocd,Bad_NS' }, 'SECRET_NAMESPACES', 'bad namespace name'],
    [{ SECRET_NAMESPACES: 'argocd,' + 'a'.repeat(64) }, 'SECRET_NAMESPACES', 'namespace name too long'],
    [{ SECRET_NAMESPACES: 'argocd,*' }, 'SECRET_NAMESPACES', '* mixed with names'],
    [{ POD_NAMESPACE: 'Not-A-Namespace' }, 'POD_NAMESPACE', 'bad own namespace'],
    [{ APPLICATIONS_API: 'rest' }, 'APPLICATIONS_API', 'unknown applications API'],
    [{ AUTH_MODE: 'tokenreview' }, 'AUTH_MODE', 'unknown auth mode'],
    [{ AUTH_MODE: 'static' }, 'AUTH_TOKENS_FILE', 'static without a tokens file'],
    [{ AUTH_AUDIENCES: ' , ' }, 'AUTH_AUDIENCES', 'no audience'],
    [{ EXT_TIMEOUT: '10' }, 'EXT_TIMEOUT', 'duration without a unit'],
    [{ EXT_TIMEOUT: 'soon' }, 'EXT_TIMEOUT', 'not a duration'],
    [{ CACHE_MAX_STALE: '5 minutes' }, 'CACHE_MAX_STALE', 'not a Go duration'],
    [{ CACHE_MAX_ENTRIES: '0' }, 'CACHE_MAX_ENTRIES', 'no room at all'],
    [{ CACHE_MAX_ENTRIES: 'many' }, 'CACHE_MAX_ENTRIES', 'not a number'],
    [{ SECRET_CACHE_MAX_BYTES: '1000' }, 'SECRET_CACHE_MAX_BYTES', 'smaller than one Secret may be (1 MiB)'],
    [{ SECRET_CACHE_MAX_BYTES: '32Mi' }, 'SECRET_CACHE_MAX_BYTES', 'a unit instead of bytes'],
    [{ SHUTDOWN_DELAY: 'x' }, 'SHUTDOWN_DELAY', 'not a duration'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', 'unknown level'],
    [{ LOG_PRETTY: 'maybe' }, 'LOG_PRETTY', 'not auto, true or false'],
    [{ OVERLOAD_MAX_EVENT_LOOP_DELAY: '200' }, 'OVERLOAD_MAX_EVENT_LOOP_DELAY', 'a duration needs a unit'],
    [{ ARGOCD_SERVER: 'https://argocd.example.com' }, 'ARGOCD_SERVER', 'a URL instead of host[:port]'],
    [{ ARGOCD_SERVER: 'argocd:port' }, 'ARGOCD_SERVER', 'port not a number'],
    [{ ARGOCD_SERVER: 'argo cd' }, 'ARGOCD_SERVER', 'space'],
    [{ ARGOCD_PLAINTEXT: 'maybe' }, 'ARGOCD_PLAINTEXT', 'not a boolean'],
    [{ ARGOCD_INSECURE: 'on?' }, 'ARGOCD_INSECURE', 'not a boolean'],
    [{ AUTH_ALLOW_NONE_IN_CLUSTER: '2' }, 'AUTH_ALLOW_NONE_IN_CLUSTER', 'not a boolean'],
    [{ RATE_LIMIT_PER_MINUTE: 'lots' }, 'RATE_LIMIT_PER_MINUTE', 'not a number'],
    [{ RATE_LIMIT_PER_MINUTE: '-5' }, 'RATE_LIMIT_PER_MINUTE', 'negative'],
    [{ EXT_MAX_OUTPUT: '0' }, 'EXT_MAX_OUTPUT', 'zero cap'],
    [{ ANNOTATION_SOURCES: 'env' }, 'ANNOTATION_SOURCES', 'not secrets or all'],
    [{ ANNOTATION_SOURCES: 'ALL' }, 'ANNOTATION_SOURCES', 'wrong case']
  ];
  for (const [env, setting, what] of bad) configError(t, local(d, env), setting, `${JSON.stringify(env).slice(0, 60)} (${what})`);

  configError(t, inCluster(d, { AUTH_MODE: 'none' }), 'AUTH_MODE', 'none in-cluster without AUTH_ALLOW_NONE_IN_CLUSTER');
  configError(t, inCluster(d, { AUTH_MODE: 'none', AUTH_ALLOW_NONE_IN_CLUSTER: 'false' }), 'AUTH_MODE', 'none in-cluster with the allowance false');
  configError(t, local(d, {}, ['--port', 'abc']), 'PORT', 'bad flag value');
  configError(t, local(d, { PORT: '9090' }, ['--port=99999']), 'PORT', 'bad flag value over a good env value');
  configError(t, local(d, {}, ['--no-such-setting', 'x']), '--no-such-setting', 'unknown flag');
  configError(t, local(d, {}, ['--prot=9090']), '--prot', 'misspelt flag');
});

t.test('a bad setting never echoes a secret-bearing neighbour', async (t) => {
  const d = dirs(t);
  const secret = 'argocd-token-SECRET-4f1c';
  try {
    loadSettings(local(d, { ARGOCD_TOKEN: secret, ARGOCD_SERVER: 'bad server' }));
    t.fail('expected ConfigError');
  } catch (err) {
    t.equal((err as ConfigError).setting, 'ARGOCD_SERVER');
    t.notOk((err as Error).message.includes(secret), 'the token is not in the message');
    t.notOk(JSON.stringify(err).includes(secret), 'nor anywhere on the error');
  }
  const s = loadSettings(local(d, { ARGOCD_TOKEN: secret }));
  t.equal(s.argocdToken, secret, 'the token itself is loaded');
});

t.test('the settings table of docs/configuration.md lists every setting with the default the table gives', async (t) => {
  const readme = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const start = readme.indexOf('## Settings');
  t.ok(start >= 0, 'docs/configuration.md has a Settings section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  const rows = new Map<string, string>();
  for (const m of section.matchAll(/^\| `([A-Z0-9_]+)` \| (.*?) \| .* \|$/gm)) rows.set(m[1] as string, (m[2] as string).trim());
  for (const s of SETTINGS) {
    t.equal(rows.get(s.env), shownDefault(s), `${s.env}: documented default`);
  }
  t.same([...rows.keys()], SETTINGS.map((s) => s.env), 'docs/configuration.md lists the settings of the table, in its order, and no other');
});
