import t, { type Test } from 'tap';
import { ConfigError } from '../../src/errors.js';
import { parseRegistriesConf } from '../../src/config/registries.js';

type Tap = Test;
const SRC = '/app/config/registries.conf';

function configError (t: Tap, text: string, pattern: RegExp, label?: string): ConfigError | undefined {
  try {
    parseRegistriesConf(text, SRC);
    t.fail(`expected an error for ${label ?? text}`);
    return undefined;
  } catch (err) {
    t.ok(err instanceof ConfigError, 'is a ConfigError');
    const e = err as ConfigError;
    t.equal(e.setting, SRC, 'names the file');
    t.match(e.message, pattern, label ?? text);
    return e;
  }
}

t.test('the upstream documentation example', async (t) => {
  const conf = parseRegistriesConf(`registries:
- name: Docker Hub
  prefix: docker.io
  api_url: https://registry-1.docker.io
  credentials: secret:foo/bar#creds
  defaultns: library
  default: true
- name: RedHat Quay
  api_url: https://quay.io
  prefix: quay.io
  insecure: yes
  credentials: env:REGISTRY_SECRET
`, SRC);
  t.equal(conf.source, SRC);
  t.equal(conf.registries.length, 2);
  const [hub, quay] = conf.registries;
  t.match(hub, {
    name: 'Docker Hub', prefix: 'docker.io', apiUrl: 'https://registry-1.docker.io',
    credentials: 'secret:foo/bar#creds', defaultns: 'library', default: true, insecure: false, limit: 20
  });
  t.match(quay, { name: 'RedHat Quay', prefix: 'quay.io', apiUrl: 'https://quay.io', insecure: true, default: false, limit: 20 });
  t.equal(hub?.credsExpireMs, undefined);
  t.equal(hub?.tagsortmode, undefined);
});

t.test('every field', async (t) => {
  const conf = parseRegistriesConf(`registries:
  - name: acr-name
    prefix: acr-name.azurecr.io
    api_url: https://acr-name.azurecr.io/
    default: true
    credentials: ext:/app/auth/auth.sh
    credsexpire: 1h30m
    insecure: false
    ca_file: /etc/ssl/acr.pem
    ca_data: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
    limit: 100
    tagsortmode: Latest-First
    defaultns: base
    ping: no
`, SRC);
  const [acr] = conf.registries;
  t.match(acr, {
    name: 'acr-name', prefix: 'acr-name.azurecr.io', apiUrl: 'https://acr-name.azurecr.io',
    default: true, credentials: 'ext:/app/auth/auth.sh', credsExpireMs: 5_400_000, insecure: false,
    caFile: '/etc/ssl/acr.pem', limit: 100, tagsortmode: 'latest-first', defaultns: 'base', ping: false
  });
  t.match(acr?.caData, /BEGIN CERTIFICATE/);
});

t.test('YAML 1.1 booleans and scalar strings as upstream (yaml.v2) reads them', async (t) => {
  for (const [word, value] of [['yes', true], ['Yes', true], ['on', true], ['true', true], ['no', false], ['off', false], ['false', false], ['True', true]] as const) {
    const conf = parseRegistriesConf(`registries:\n- name: r\n  prefix: r.io\n  insecure: ${word}\n`, SRC);
    t.equal(conf.registries[0]?.insecure, value, word);
  }
  const conf = parseRegistriesConf('registries:\n- name: 2024\n  prefix: r.io\n  defaultns: 1team\n', SRC);
  t.equal(conf.registries[0]?.name, '2024');
  t.equal(conf.registries[0]?.defaultns, '1team');
});

t.test('empty configurations are valid', async (t) => {
  for (const text of ['', '\n', '# only a comment\n', 'registries: []\n', 'registries:\n', '---\n']) {
    t.same(parseRegistriesConf(text, SRC).registries, [], JSON.stringify(text));
  }
});

t.test('prefixes: host, port, path; normalized', async (t) => {
  const conf = parseRegistriesConf(`registries:
- { name: a, prefix: GHCR.io/team-a }
- { name: b, prefix: "localhost:5000" }
- { name: c, prefix: "registry.example.com:8443/org/sub/" }
- { name: d, prefix: "[::1]:5000" }
- { name: e, prefix: 10.0.0.1 }
`, SRC);
  t.same(conf.registries.map((r) => r.prefix), ['ghcr.io/team-a', 'localhost:5000', 'registry.example.com:8443/org/sub', '[::1]:5000', '10.0.0.1']);
  for (const bad of ['https://ghcr.io', 'ghcr.io/Team', 'ghcr.io//x', '-bad.io', 'host:port', '"a b"', '"*.example.com"']) {
    configError(t, `registries:\n- name: r\n  prefix: ${bad}\n`, /registries\[0\] \("r"\): prefix: must be a registry host/, bad);
  }
});

t.test('required fields, uniqueness and one default', async (t) => {
  configError(t, 'registries:\n- prefix: r.io\n', /registries\[0\]: name: is required/);
  configError(t, 'registries:\n- name: ""\n  prefix: r.io\n', /name: is required/);
  configError(t, 'registries:\n- name: r\n', /registries\[0\] \("r"\): prefix: is required/);
  configError(t, 'registries:\n- {name: a, prefix: r.io}\n- {name: b, prefix: R.io/}\n', /registries\[1\] \("b"\): prefix: must be unique; registries\[0\] \("a"\)/);
  configError(t, 'registries:\n- {name: a, prefix: docker.io}\n- {name: b, prefix: index.docker.io}\n', /must be unique/, 'Docker Hub aliases are one prefix');
  configError(t, 'registries:\n- {name: a, prefix: a.io, default: true}\n- {name: b, prefix: b.io, default: yes}\n', /registries\[1\] \("b"\): default: only one registry may be the default; registries\[0\] \("a"\)/);
  // a path makes a different prefix
  t.equal(parseRegistriesConf('registries:\n- {name: a, prefix: ghcr.io/a}\n- {name: b, prefix: ghcr.io/b}\n- {name: c, prefix: ghcr.io}\n', SRC).registries.length, 3);
});

t.test('unknown keys name the key and the registry', async (t) => {
  configError(t, 'registries:\n- name: Quay\n  prefix: quay.io\n  insecure_skip: true\n', /registries\[0\] \("Quay"\): unknown key "insecure_skip" \(line 4\)/);
  configError(t, 'registries:\n- name: a\n  prefix: a.io\n- name: Quay\n  prefix: quay.io\n  apiurl: https://quay.io\n', /registries\[1\] \("Quay"\): unknown key "apiurl"/);
  configError(t, 'registry:\n- name: a\n', /unknown top-level key "registry"/);
  configError(t, 'registries: []\nextra: 1\n', /unknown top-level key "extra"/);
});

t.test('wrong types', async (t) => {
  const base = 'registries:\n- name: r\n  prefix: r.io\n';
  configError(t, `${base}  insecure: maybe\n`, /insecure: must be a boolean/);
  configError(t, `${base}  insecure: "true"\n`, /insecure: must be a boolean/);
  configError(t, `${base}  default: 1\n`, /default: must be a boolean/);
  configError(t, `${base}  limit: "10"\n`, /limit: must be an integer greater than 0/);
  configError(t, `${base}  limit: 0\n`, /limit: must be an integer/);
  configError(t, `${base}  limit: -1\n`, /limit: must be an integer/);
  configError(t, `${base}  limit: 2.5\n`, /limit: must be an integer/);
  configError(t, `${base}  credsexpire: 5\n`, /credsexpire: must be a Go duration/);
  configError(t, `${base}  credsexpire: 5d\n`, /credsexpire: must be a Go duration/);
  configError(t, `${base}  credsexpire: [1h]\n`, /credsexpire: must be a Go duration/);
  configError(t, `${base}  tagsortmode: newest\n`, /tagsortmode: unknown value "newest" \(use latest-first, latest-last, none\)/);
  configError(t, `${base}  api_url: ftp://r.io\n`, /api_url: must be an http or https URL/);
  configError(t, `${base}  api_url: r.io\n`, /api_url: must be an http or https URL/);
  configError(t, `${base}  defaultns: Library\n`, /defaultns: must be a repository namespace/);
  configError(t, 'registries:\n- name: [a]\n  prefix: r.io\n', /name: must be a string/);
  configError(t, 'registries:\n- name: r\n  prefix: {host: r.io}\n', /prefix: must be a string/);
  configError(t, 'registries: {name: r}\n', /"registries" must be a list/);
  configError(t, 'registries:\n- just-a-string\n', /registries\[0\]: must be a mapping/);
  configError(t, '- name: r\n', /top level must be a mapping/);
  configError(t, 'registries:\n- name: r\n  name: s\n  prefix: r.io\n', /invalid YAML at line 3/);
  configError(t, 'registries: [\n', /invalid YAML/);
  t.equal(parseRegistriesConf(`${base}  credsexpire: 0\n`, SRC).registries[0]?.credsExpireMs, undefined, '0 means no expiry');
  t.equal(parseRegistriesConf(`${base}  tagsortmode: none\n`, SRC).registries[0]?.tagsortmode, 'none');
});

t.test('size is bounded', async (t) => {
  const big = `registries: []\n${'#'.repeat(1024 * 1024)}\n`;
  configError(t, big, /larger than 1 MiB/, 'big file');
});

t.test('no secret in errors: api_url user info, YAML errors', async (t) => {
  const secret = 'hunter2-s3cr3t';
  let e = configError(t, `registries:\n- name: r\n  prefix: r.io\n  api_url: https://bot:${secret}@r.io\n`, /api_url: must not carry user info/);
  t.notMatch(e?.message ?? '', secret);
  e = configError(t, `registries:\n- name: r\n  prefix: r.io\n  password: ${secret}\n`, /unknown key "password"/);
  t.notMatch(e?.message ?? '', secret);
  e = configError(t, `registries:\n- name: r\n  prefix: r.io\n  limit: ${secret}\n`, /limit/);
  t.notMatch(e?.message ?? '', secret);
  e = configError(t, `registries:\n- name: r\n  prefix: "bot:${secret}@r.io"\n`, /prefix/);
  t.notMatch(e?.message ?? '', secret);
  e = configError(t, `registries:\n- name: r\n  credentials: "x:${secret}\n`, /invalid YAML/);
  t.notMatch(e?.message ?? '', secret);
});

// credentials are checked with the credential reference parser (src/credentials/reference.ts)
t.test('credentials are validated credential references', async (t) => {
  const conf = parseRegistriesConf(`registries:
- name: a
  prefix: ghcr.io
  credentials: pullsecret:argocd/ghcr
- name: b
  prefix: quay.io
  credentials: quay.io=secret:argocd/quay#creds
- name: c
  prefix: ecr.example.com
  credentials: EXT:/app/auth/ecr.sh
`, SRC);
  t.same(conf.registries[0]?.credentialSpec, { reference: { type: 'pullsecret', namespace: 'argocd', name: 'ghcr' } });
  t.equal(conf.registries[0]?.credentials, 'pullsecret:argocd/ghcr');
  t.match(conf.registries[1]?.credentialSpec, { registry: 'quay.io', reference: { type: 'secret', namespace: 'argocd', name: 'quay', field: 'creds' } });
  t.match(conf.registries[2]?.credentialSpec, { reference: { type: 'ext', path: '/app/auth/ecr.sh' } });

  configError(t, 'registries:\n- name: Quay\n  prefix: quay.io\n  credentials: secret:argocd\n', /registries\[0\] \("Quay"\): credentials: invalid credential reference/);
  configError(t, 'registries:\n- name: r\n  prefix: r.io\n  credentials: ext:relative/path.sh\n', /credentials: invalid credential reference/);
  const secret = 'hunter2-s3cr3t';
  for (const spec of [`bot:${secret}`, `env:${secret}:x`, `pullsecret:${secret}`, `r.io=bot:${secret}`]) {
    const e = configError(t, `registries:\n- name: r\n  prefix: r.io\n  credentials: "${spec}"\n`, /credentials: invalid credential reference/, spec);
    t.notMatch(e?.message ?? '', secret, `no secret in the error for ${spec}`);
  }
});
