import t from 'tap';
import {
  credentialFromSecret, decodeAuthField, globMatch, keyringKey, lookupDockerConfig, normalizeImageRepository,
  parseDockerConfig, urlsMatchStr, type DockerConfig
} from '../../src/credentials/dockerconfig.js';
import type { SecretObject } from '../../src/kube/secret-store.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function configOf (auths: Record<string, unknown>): DockerConfig {
  return parseDockerConfig(Buffer.from(JSON.stringify({ auths })), 'dockerconfigjson', 'test');
}

function basic (username: string, password: string): Record<string, string> {
  return { auth: b64(`${username}:${password}`) };
}

function usernames (config: DockerConfig, image: string): string[] {
  return lookupDockerConfig(config, image).map((m) => m.credential.username);
}

// keyring_test.go TestUrlsMatch
t.test('urlsMatchStr (kubelet TestUrlsMatch)', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['*.kubernetes.io', 'prefix.kubernetes.io', true],
    ['prefix.*.io', 'prefix.kubernetes.io', true],
    ['prefix.kubernetes.*', 'prefix.kubernetes.io', true],
    ['*-good.kubernetes.io', 'prefix-good.kubernetes.io', true],
    ['*.kubernetes.io/blah', 'prefix.kubernetes.io/blah', true],
    ['prefix.*.io/foo', 'prefix.kubernetes.io/foo/bar', true],
    ['*.kubernetes.io:1111/blah', 'prefix.kubernetes.io:1111/blah', true],
    ['prefix.*.io:1111/foo', 'prefix.kubernetes.io:1111/foo/bar', true],
    ['*.kubernetes.io', 'kubernetes.io', false],
    ['*.*.kubernetes.io', 'prefix.kubernetes.io', false],
    ['*.*.kubernetes.io', 'kubernetes.io', false],
    ['kubernetes.io', 'kubernetes.com', false],
    ['k*.io', 'quay.io', false],
    ['*.kubernetes.io:1234/blah', 'prefix.kubernetes.io:1111/blah', false],
    ['prefix.*.io/foo', 'prefix.kubernetes.io:1111/foo/bar', false],
    // beyond the kubelet table
    ['registry.io:8080/path', 'registry.io/path', false],
    ['registry.io', 'registry.io:8080/path', false],
    ['Registry.IO', 'registry.io/x', true],
    ['[::1]:5000', '[::1]:5000/a/b', true],
    ['[::1]:5000', '[::1]:5001/a/b', false],
    ['bad:port', 'bad:port/x', false]
  ];
  for (const [glob, target, expected] of table) {
    t.equal(urlsMatchStr(glob, target), expected, `${glob} ~ ${target}`);
  }
});

t.test('globMatch: Go path.Match per host label', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['*', 'anything', true],
    ['*', '', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[^a-c]x', 'dx', true],
    ['[^a-c]x', 'ax', false],
    ['[xyz]', 'y', true],
    ['a\\*', 'a*', true],
    ['a\\*', 'ab', false],
    ['a.b', 'axb', false],
    ['x+', 'xx', false],
    // bad patterns never match
    ['[', '[', false],
    ['[]', 'a', false],
    ['[z-a]', 'm', false],
    ['a\\', 'a', false]
  ];
  for (const [pattern, name, expected] of table) t.equal(globMatch(pattern, name), expected, `${pattern} ~ ${name}`);
});

t.test('keyring keys: scheme, /v1/ and /v2/ removed, Docker Hub folded', async (t) => {
  const table: Array<[string, string | null]> = [
    ['https://index.docker.io/v1/', 'docker.io'],
    ['https://index.docker.io/v2/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://docker.io', 'docker.io'],
    ['HTTPS://Quay.IO/v1/', 'quay.io'],
    ['https://quay.io/v2/coreos', 'quay.io/coreos'],
    ['quay.io/v1', 'quay.io/v1'],
    ['quay.io/', 'quay.io'],
    ['localhost:5000', 'localhost:5000'],
    ['docker.io:5000', 'docker.io:5000'],
    ['*.dkr.ecr.us-east-1.amazonaws.com', '*.dkr.ecr.us-east-1.amazonaws.com'],
    ['[::1]:5000/a', '[::1]:5000/a'],
    ['', null],
    ['https://', null],
    ['host:port', null],
    ['a:1:2', null],
    ['user@host', null]
  ];
  for (const [key, expected] of table) t.equal(keyringKey(key), expected, JSON.stringify(key));
});

// keyring_test.go TestDockerKeyringForGlob and TestKeyringMiss
t.test('glob keys (kubelet TestDockerKeyringForGlob, TestKeyringMiss)', async (t) => {
  const hits: Array<[string, string]> = [
    ['https://hello.kubernetes.io', 'hello.kubernetes.io'],
    ['https://*.docker.io', 'prefix.docker.io'],
    ['https://prefix.*.io', 'prefix.docker.io'],
    ['https://prefix.docker.*', 'prefix.docker.io'],
    ['https://*.docker.io/path', 'prefix.docker.io/path'],
    ['https://prefix.*.io/path', 'prefix.docker.io/path/subpath'],
    ['https://prefix.docker.*/path', 'prefix.docker.io/path'],
    ['https://*.docker.io:8888', 'prefix.docker.io:8888'],
    ['https://prefix.*.io:8888', 'prefix.docker.io:8888'],
    ['https://prefix.docker.*:8888', 'prefix.docker.io:8888'],
    ['https://*.docker.io/path:1111', 'prefix.docker.io/path:1111'],
    ['https://*.docker.io/v1/', 'prefix.docker.io/path:1111'],
    ['https://*.docker.io/v2/', 'prefix.docker.io/path:1111'],
    ['https://prefix.docker.*/path:1111', 'prefix.docker.io/path:1111'],
    ['prefix.docker.io:1111', 'prefix.docker.io:1111/path'],
    ['*.docker.io:1111', 'prefix.docker.io:1111/path']
  ];
  for (const [key, target] of hits) {
    const config = configOf({ [key]: { email: 'foo@bar.baz', ...basic('foo', 'bar') } });
    const found = lookupDockerConfig(config, `${target}/foo/bar`);
    t.equal(found.length, 1, `${key} matches ${target}`);
    t.same(found[0]?.credential, { username: 'foo', password: 'bar', tokenType: 'basic', expiresAt: null });
    t.equal(found[0]?.key, key, 'reports the key as written');
  }
  const misses: Array<[string, string]> = [
    ['https://hello.kubernetes.io', 'world.mesos.org/foo/bar'],
    ['https://*.docker.com', 'prefix.docker.io'],
    ['https://suffix.*.io', 'prefix.docker.io'],
    ['https://prefix.docker.c*', 'prefix.docker.io'],
    ['https://prefix.*.io/path:1111', 'prefix.docker.io/path/subpath:1111'],
    ['suffix.*.io', 'prefix.docker.io']
  ];
  for (const [key, target] of misses) {
    const config = configOf({ [key]: basic('foo', 'bar') });
    t.same(lookupDockerConfig(config, `${target}/foo/bar`), [], `${key} does not match ${target}`);
  }
});

// keyring_test.go TestKeyringMissWithDockerHubCredentials, TestKeyringHitWith*DockerHub, TestIsDefaultRegistryMatch
t.test('Docker Hub credentials', async (t) => {
  const hub = configOf({ 'https://index.docker.io/v1/': basic('foo', 'bar') });
  t.same(usernames(hub, 'world.mesos.org/foo/bar'), [], 'other registry');
  t.same(usernames(hub, 'google/docker-registry'), ['foo'], 'unqualified');
  t.same(usernames(hub, 'jenkins'), ['foo'], 'unqualified library');
  t.same(usernames(hub, 'index.docker.io/v1//google/docker-registry'), ['foo'], 'qualified');
  const defaultRegistry: Array<[string, boolean]> = [
    ['foo/bar', true], ['docker.io/foo/bar', true], ['index.docker.io/foo/bar', true], ['foo', true],
    ['registry-1.docker.io/foo/bar', true], ['docker.io/library/nginx', true],
    ['', false], ['registry.tld/foo/bar', false], ['registry:5000/foo/bar', false],
    ['myhostdocker.io/foo/bar', false], ['localhost/foo', false], ['docker.io:5000/foo/bar', false]
  ];
  for (const [image, expected] of defaultRegistry) {
    t.equal(usernames(hub, image).length === 1, expected, `${JSON.stringify(image)} is Docker Hub: ${expected}`);
  }
  t.equal(normalizeImageRepository('nginx'), 'docker.io/library/nginx');
  t.equal(normalizeImageRepository('org/app'), 'docker.io/org/app');
  t.equal(normalizeImageRepository('localhost/app'), 'localhost/app');
  t.equal(normalizeImageRepository('nginx:1.25-alpine'), 'docker.io/library/nginx:1.25-alpine');
  t.equal(normalizeImageRepository('localhost:5000'), 'localhost:5000');
  t.equal(normalizeImageRepository('quay.io'), 'quay.io');
  t.equal(normalizeImageRepository('Registry/app'), 'Registry/app');

  const aliases = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/',
    'https://index.docker.io/v2/', 'https://registry-1.docker.io', 'http://docker.io/'];
  const images = ['nginx', 'docker.io/library/nginx', 'index.docker.io/library/nginx', 'registry-1.docker.io/library/nginx'];
  for (const key of aliases) {
    const config = configOf({ [key]: basic('hubuser', 'x'), 'ghcr.io': basic('ghuser', 'y') });
    for (const image of images) t.same(usernames(config, image), ['hubuser'], `${key} serves ${image}`);
    t.same(usernames(config, 'ghcr.io/library/nginx'), ['ghuser']);
  }
  const paths = configOf({ 'docker.io/myorg': basic('org', 'x'), 'https://index.docker.io/v1/': basic('hub', 'y') });
  t.same(usernames(paths, 'myorg/app'), ['org', 'hub'], 'a Docker Hub path key beats the hub key');
  t.same(usernames(paths, 'nginx'), ['hub']);
});

// keyring_test.go TestDockerKeyringLookup
t.test('most specific path first (kubelet TestDockerKeyringLookup)', async (t) => {
  const config = configOf({
    'bar.example.com/pong': { username: 'grace', password: 'squash', email: 'grace@example.com' },
    'bar.example.com': { username: 'ada', password: 'smash', email: 'ada@example.com' }
  });
  const table: Array<[string, string[]]> = [
    ['bar.example.com', ['ada']],
    ['bar.example.com/pong', ['grace', 'ada']],
    ['bar.example.com/ping', ['ada']],
    // the kubelet compares paths as strings: "pong" is a prefix of "pongz"
    ['bar.example.com/pongz', ['grace', 'ada']],
    ['bar.example.com/pong/pang', ['grace', 'ada']],
    ['example.com', []],
    ['foo.example.com', []]
  ];
  for (const [image, expected] of table) t.same(usernames(config, image), expected, image);
});

// keyring_test.go TestIssue3797
t.test('key with scheme and /v1/ matches the host (kubelet TestIssue3797)', async (t) => {
  const config = configOf({ 'https://quay.io/v1/': { username: 'rex', password: 'tiny arms', email: 'rex@example.com' } });
  for (const image of ['quay.io', 'quay.io/foo', 'quay.io/foo/bar']) {
    t.same(lookupDockerConfig(config, image), [{
      key: 'https://quay.io/v1/', keyringKey: 'quay.io',
      credential: { username: 'rex', password: 'tiny arms', tokenType: 'basic', expiresAt: null }
    }], image);
  }
});

t.test('ordering is deterministic and most specific first', async (t) => {
  const entries: Array<[string, string]> = [
    ['*.dkr.ecr.us-east-1.amazonaws.com', 'glob'],
    ['123.dkr.ecr.us-east-1.amazonaws.com', 'exact'],
    ['123.dkr.ecr.us-east-1.amazonaws.com/team', 'team'],
    ['*.dkr.ecr.*.amazonaws.com/team/app', 'globpath'],
    ['123.dkr.ecr.us-east-1.amazonaws.com:443', 'port'],
    ['456.dkr.ecr.us-east-1.amazonaws.com', 'other']
  ];
  const expected = ['globpath', 'team', 'exact', 'glob'];
  const image = '123.dkr.ecr.us-east-1.amazonaws.com/team/app';
  for (let shift = 0; shift < entries.length; shift++) {
    const rotated = [...entries.slice(shift), ...entries.slice(0, shift)];
    const reversed = [...rotated].reverse();
    for (const order of [rotated, reversed]) {
      const config = configOf(Object.fromEntries(order.map(([k, u]) => [k, basic(u, 'pw')])));
      t.same(usernames(config, image), expected, `order starting at ${order[0]?.[0] ?? ''}`);
    }
  }
  const config = configOf(Object.fromEntries(entries.map(([k, u]) => [k, basic(u, 'pw')])));
  t.same(usernames(config, '123.dkr.ecr.us-east-1.amazonaws.com:443/x'), ['port'], 'a port must match exactly');
  t.same(usernames(config, '123.dkr.ecr.us-east-1.amazonaws.com/other'), ['exact', 'glob']);

  // the same keyring key twice: config order, e.g. pull secrets merged in imagePullSecrets order
  const merged: DockerConfig = {
    entries: [
      ...configOf({ 'https://index.docker.io/v1/': basic('first', 'x') }).entries,
      ...configOf({ 'docker.io': basic('second', 'y') }).entries,
      ...configOf({ 'index.docker.io': basic('third', 'z'), 'docker.io/org': basic('org', 'w') }).entries
    ]
  };
  t.same(usernames(merged, 'org/app'), ['org', 'first', 'second', 'third']);
  merged.entries.reverse();
  t.same(usernames(merged, 'org/app'), ['org', 'third', 'second', 'first']);
});

t.test('entry forms and tokens', async (t) => {
  const config = configOf({
    'a.io': { auth: b64('user:pa:ss') },
    'b.io': { username: 'u', password: 'p' },
    'c.io': { auth: b64('fromauth:x'), username: 'ignored', password: 'ignored' },
    'd.io': { auth: b64('00000000-0000-0000-0000-000000000000:'), identitytoken: 'refresh-tok' },
    'e.io': { identitytoken: 'id-tok' },
    'f.io': { registrytoken: 'reg-tok' },
    'g.io': { username: 'u', registrytoken: 'reg-tok', identitytoken: 'id-tok' },
    'h.io': { auth: `${b64('wrapped:pw')}\n`, email: null },
    'i.io': { auth: b64('nopad:x').replace(/=+$/, '') }
  });
  const first = (image: string): unknown => lookupDockerConfig(config, image)[0]?.credential;
  t.same(first('a.io/x'), { username: 'user', password: 'pa:ss', tokenType: 'basic', expiresAt: null }, 'password may contain ":"');
  t.same(first('b.io/x'), { username: 'u', password: 'p', tokenType: 'basic', expiresAt: null });
  t.same(first('c.io/x'), { username: 'fromauth', password: 'x', tokenType: 'basic', expiresAt: null }, 'auth wins');
  t.same(first('d.io/x'), { username: '00000000-0000-0000-0000-000000000000', password: 'refresh-tok', tokenType: 'identitytoken', expiresAt: null });
  t.same(first('e.io/x'), { username: '<token>', password: 'id-tok', tokenType: 'identitytoken', expiresAt: null });
  t.same(first('f.io/x'), { username: '', password: 'reg-tok', tokenType: 'registrytoken', expiresAt: null });
  t.same(first('g.io/x'), { username: 'u', password: 'reg-tok', tokenType: 'registrytoken', expiresAt: null });
  t.same(first('h.io/x'), { username: 'wrapped', password: 'pw', tokenType: 'basic', expiresAt: null });
  t.same(first('i.io/x'), { username: 'nopad', password: 'x', tokenType: 'basic', expiresAt: null });
  t.equal(config.entries.length, 9);
});

t.test('legacy .dockercfg', async (t) => {
  const data = Buffer.from(JSON.stringify({
    'https://index.docker.io/v1/': { auth: b64('hub:pw'), email: 'a@b.c' },
    'registry.example.com:5000': { username: 'reg', password: 'pw2' }
  }));
  const config = parseDockerConfig(data, 'dockercfg', 'secret argocd/old field .dockercfg');
  t.same(usernames(config, 'nginx'), ['hub']);
  t.same(usernames(config, 'registry.example.com:5000/a/b'), ['reg']);
  t.same(usernames(config, 'registry.example.com/a/b'), []);
  t.throws(() => parseDockerConfig(data, 'dockerconfigjson', 'L'), { code: 'MALFORMED_CREDENTIALS', message: 'L has no "auths" object' },
    'a .dockercfg body is not a .dockerconfigjson');
});

t.test('malformed docker configs never reveal values', async (t) => {
  const secret = 'Sup3r-S3cret-Value';
  const label = 'secret argocd/regcred field .dockerconfigjson';
  const cases: Array<[string, Buffer, RegExp, ('dockerconfigjson' | 'dockercfg')?]> = [
    ['not JSON', Buffer.from(`{"auths": {"ghcr.io": {"auth": "${secret}"`), /is not valid JSON/],
    ['empty', Buffer.from(''), /is empty/],
    ['array', Buffer.from(JSON.stringify([secret])), /is not a JSON object/],
    ['string', Buffer.from(JSON.stringify(secret)), /is not a JSON object/],
    ['no auths', Buffer.from(JSON.stringify({ credsStore: secret })), /has no "auths" object/],
    ['auths not an object', Buffer.from(JSON.stringify({ auths: [secret] })), /"auths" is not an object/],
    ['entry not an object', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': secret } })), /entry "ghcr.io" is not an object/],
    ['auth not a string', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { auth: [secret] } } })), /entry "ghcr.io": "auth" is not a string/],
    ['password not a string', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: { v: secret } } } })), /"password" is not a string/],
    ['bad base64', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { auth: `${secret}!!` } } })), /entry "ghcr.io": "auth" is not valid base64/],
    ['base64 of no colon', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { auth: b64(secret) } } })), /does not decode to <username>:<password>/],
    ['base64 of binary', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from([0xff, 0xfe, 0x3a, 0x80]).toString('base64') } } })), /does not decode to UTF-8/],
    ['empty password', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { auth: b64(`${secret}:`) } } })), /"auth" has an empty password/],
    ['empty username', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { username: '', password: secret } } })), /username\/password has an empty username/],
    ['no credentials', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { email: secret } } })), /entry "ghcr.io" has no credentials/],
    ['invalid UTF-8', Buffer.concat([Buffer.from(`{"auths":{"x":{"auth":"${secret}`), Buffer.from([0xff]), Buffer.from('"}}}')]), /not valid UTF-8/],
    ['too large', Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: secret.repeat(60_000) } } })), /more than the 1048576 allowed/],
    ['legacy entry not an object', Buffer.from(JSON.stringify({ 'ghcr.io': secret })), /entry "ghcr.io" is not an object/, 'dockercfg']
  ];
  for (const [name, data, message, format] of cases) {
    try {
      parseDockerConfig(data, format ?? 'dockerconfigjson', label);
      t.fail(`${name}: accepted`);
    } catch (err) {
      const e = err as Error & { code: string, statusCode: number };
      t.equal(e.code, 'MALFORMED_CREDENTIALS', name);
      t.equal(e.statusCode, 502, name);
      t.match(e.message, message, name);
      t.ok(e.message.startsWith(label), `${name}: names the Secret`);
      t.notOk(e.message.includes(secret), `${name}: no value in the message`);
      t.notOk(String(e.stack).includes(secret), `${name}: no value in the stack`);
      t.notOk(JSON.stringify(e).includes(secret), `${name}: no value in any property`);
      t.equal((e as { cause?: unknown }).cause, undefined, `${name}: no cause carrying the input`);
    }
  }
});

t.test('credentialFromSecret', async (t) => {
  const json = Buffer.from(JSON.stringify({ auths: { 'ghcr.io': basic('json', 'pw1'), 'ghcr.io/team-a': basic('team', 'pw3') } }));
  const cfg = Buffer.from(JSON.stringify({ 'ghcr.io': basic('cfg', 'pw2') }));
  const secret = (data: Record<string, Buffer>): SecretObject => ({ namespace: 'argocd', name: 'regcred', data });

  t.same(credentialFromSecret(secret({ '.dockerconfigjson': json, '.dockercfg': cfg }), 'ghcr.io/org/app'), {
    key: 'ghcr.io', keyringKey: 'ghcr.io', credential: { username: 'json', password: 'pw1', tokenType: 'basic', expiresAt: null }
  }, '.dockerconfigjson first');
  t.equal(credentialFromSecret(secret({ '.dockerconfigjson': json }), 'ghcr.io/team-a/app').credential.username, 'team', 'best match');
  t.equal(credentialFromSecret(secret({ '.dockercfg': cfg }), 'ghcr.io/org/app').credential.username, 'cfg', 'legacy');
  t.equal(credentialFromSecret(secret({ '.dockerconfigjson': Buffer.alloc(0), '.dockercfg': cfg }), 'ghcr.io/x').credential.username, 'cfg',
    'an empty .dockerconfigjson gives way to .dockercfg');

  t.throws(() => credentialFromSecret(secret({ creds: Buffer.from('u:p') }), 'ghcr.io/x'),
    { code: 'SECRET_FIELD_MISSING', message: 'secret argocd/regcred has no field .dockerconfigjson (nor .dockercfg)' });
  t.throws(() => credentialFromSecret(secret({ '.dockerconfigjson': json }), 'quay.io/org/app'),
    { code: 'NO_MATCHING_AUTH_ENTRY', statusCode: 502, message: 'no entry of secret argocd/regcred matches registry quay.io' });
  t.throws(() => credentialFromSecret(secret({ '.dockerconfigjson': json }), 'nginx', 'pullsecret:argocd/regcred'),
    { code: 'NO_MATCHING_AUTH_ENTRY', message: 'no entry of pullsecret:argocd/regcred matches registry docker.io' });
  t.throws(() => credentialFromSecret(secret({ '.dockerconfigjson': Buffer.from('{') }), 'ghcr.io/x'),
    { code: 'MALFORMED_CREDENTIALS', message: 'secret argocd/regcred field .dockerconfigjson is not valid JSON' });
  t.throws(() => credentialFromSecret(secret({ '.dockercfg': Buffer.from('[]') }), 'ghcr.io/x'),
    { code: 'MALFORMED_CREDENTIALS', message: 'secret argocd/regcred field .dockercfg is not a JSON object' });
});

// kubelet pkg/credentialprovider config_test.go TestDecodeDockerConfigFieldAuth and
// TestDockerConfigEntryJSONDecode: Go's base64 decoder skips \r and \n and nothing else,
// padded and unpadded input are both accepted.
t.test('auth base64 as the kubelet decodes it (TestDecodeDockerConfigFieldAuth)', async (t) => {
  const table: Array<[string, string, string] | [string, null]> = [
    ['Zm9vOmJhcg==', 'foo', 'bar'],
    ['Zm9vOmJhcg', 'foo', 'bar'], // not well padded
    ['Zm9vOm\nJhcg==\n', 'foo', 'bar'], // with new line characters
    ['Zm9vOm\r\nJhcg==\r\n', 'foo', 'bar'], // CRLF, as base64 on Windows wraps
    [Buffer.from('foo:bar').toString('base64'), 'foo', 'bar'], // standard encoding
    [Buffer.from('foo:bar').toString('base64').replace(/=+$/, ''), 'foo', 'bar'], // raw encoding
    ['cGluZzpwb25n', 'ping', 'pong'],
    ['cGFudHM=', null], // good base64, no colon
    ['Zm9vOmJhcg== ', null], // only new line characters are ignored
    [' Zm9vOmJhcg==', null],
    ['Zm9vOmJh\tcg==', null],
    ['pants', null], // bad base64
    ['Zm9vOmJhcg=\n=', 'foo', 'bar'], // a line break anywhere, even inside the padding, is skipped
    ['Zm9vOmJhcg=', null] // wrong padding
  ];
  for (const [auth, username, password] of table) {
    const label = JSON.stringify(auth);
    if (username === null) {
      t.throws(() => configOf({ 'foo.example.com': { auth, email: 'foo@example.com' } }), { code: 'MALFORMED_CREDENTIALS' }, label);
      continue;
    }
    const entry = configOf({ 'foo.example.com': { auth, email: 'foo@example.com' } }).entries[0];
    t.same(entry?.credential, { username, password, tokenType: 'basic', expiresAt: null }, label);
  }
  // auth overrides username and password
  t.same(configOf({ 'foo.example.com': { username: 'foo', password: 'bar', auth: 'cGluZzpwb25n' } }).entries[0]?.credential,
    { username: 'ping', password: 'pong', tokenType: 'basic', expiresAt: null });
  // a long token wrapped at 76 columns, as `base64` without -w0 prints it
  const token = 'x'.repeat(300);
  const wrapped = Buffer.from(`AWS:${token}`).toString('base64').replace(/.{76}/g, '$&\n') + '\n';
  t.same(configOf({ 'ecr.example.com': { auth: wrapped } }).entries[0]?.credential,
    { username: 'AWS', password: token, tokenType: 'basic', expiresAt: null });
  t.equal(decodeAuthField('Zm9v\nYmFy')?.toString(), 'foobar');
  t.equal(decodeAuthField('Zm9v YmFy'), undefined);
});

t.test('docker config keys and fields are own properties only', async (t) => {
  // an entry key or field named like an Object.prototype member is just a name
  const config = parseDockerConfig(Buffer.from('{"auths":{"constructor":{"auth":"' + b64('c:pw') + '"},"__proto__":{"auth":"' + b64('p:pw') + '"}}}'), 'dockerconfigjson', 'test');
  t.same(config.entries.map((e) => e.key), ['constructor', '__proto__']);
  // an entry with no own credential fields has none, whatever its prototype offers
  t.throws(() => configOf({ 'a.io': { toString: 'x' } }), { code: 'MALFORMED_CREDENTIALS', message: /has no credentials/ });
  const secret = (data: Record<string, Buffer>): SecretObject => ({ namespace: 'argocd', name: 'regcred', data });
  t.throws(() => credentialFromSecret(secret({}), 'ghcr.io/x'), { code: 'SECRET_FIELD_MISSING' });
  const inherited = Object.create({ '.dockerconfigjson': Buffer.from('{"auths":{"ghcr.io":{"auth":"' + b64('u:p') + '"}}}') }) as Record<string, Buffer>;
  t.throws(() => credentialFromSecret(secret(inherited), 'ghcr.io/x'), { code: 'SECRET_FIELD_MISSING' }, 'an inherited field is not a field');
});
