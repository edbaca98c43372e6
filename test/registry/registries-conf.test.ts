import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { ConfigError } from '../../src/errors.js';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { eventually, localApp } from '../helpers/app.js';
import { expectConfigError } from '../helpers/config-error.js';

const CA_FILE = fileURLToPath(new URL('../fixtures/tls/ca.pem', import.meta.url));
const CA_PEM = readFileSync(CA_FILE, 'utf8');
const indent = (text: string, by: string): string => text.trimEnd().split('\n').map((l) => by + l).join('\n');

type Tap = Test;
const SRC = '/app/config/registries.conf';

const configError = (t: Tap, text: string, pattern: RegExp, label?: string): ConfigError | undefined =>
  expectConfigError(t, (text) => parseRegistriesConf(text, SRC), SRC, text, pattern, label);

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
    ca_file: ${CA_FILE}
    ca_data: |
${indent(CA_PEM, '      ')}
    limit: 100
    tagsortmode: Latest-First
    defaultns: base
    ping: no
`, SRC);
  const [acr] = conf.registries;
  t.match(acr, {
    name: 'acr-name', prefix: 'acr-name.azurecr.io', apiUrl: 'https://acr-name.azurecr.io',
    default: true, credentials: 'ext:/app/auth/auth.sh', credsExpireMs: 5_400_000, insecure: false,
    caFile: CA_FILE, limit: 100, tagsortmode: 'latest-first', defaultns: 'base', ping: false
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

t.test('credentials stay text here', async (t) => {
  const conf = parseRegistriesConf('registries:\n- name: a\n  prefix: ghcr.io\n  credentials: pullsecret:argocd/ghcr\n', SRC);
  t.equal(conf.registries[0]?.credentials, 'pullsecret:argocd/ghcr');
  t.equal(Object.hasOwn(conf.registries[0] ?? {}, 'credentialSpec'), false);
});

t.test('TLS: ca_file and ca_data must be PEM certificates; nothing is read with insecure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-ca-'));
  const notPem = join(dir, 'key.txt');
  writeFileSync(notPem, 'just some text\n');
  const badPem = join(dir, 'bad.pem');
  writeFileSync(badPem, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
  const subdir = join(dir, 'sub');
  mkdirSync(subdir);
  const base = 'registries:\n- name: Corp\n  prefix: corp.example\n';

  const ok = parseRegistriesConf(`${base}  ca_file: ${CA_FILE}\n`, SRC);
  t.equal(ok.registries[0]?.caFile, CA_FILE);
  const two = parseRegistriesConf(`${base}  ca_data: |\n${indent(CA_PEM + CA_PEM, '    ')}\n`, SRC);
  t.match(two.registries[0]?.caData, /BEGIN CERTIFICATE/, 'a bundle of certificates');

  configError(t, `${base}  ca_file: ${notPem}\n`, /registries\[0\] \("Corp"\): ca_file: .*does not hold PEM certificates/);
  configError(t, `${base}  ca_file: ${badPem}\n`, /ca_file: .*does not hold PEM certificates/, 'a PEM block that is no certificate');
  configError(t, `${base}  ca_file: ${join(dir, 'missing.pem')}\n`, /ca_file: cannot read .*missing\.pem \(ENOENT\)/);
  configError(t, `${base}  ca_file: ${subdir}\n`, /ca_file: .* is a directory, not a regular file/);
  configError(t, `${base}  ca_file: relative.pem\n`, /ca_file: must be an absolute path/);
  configError(t, `${base}  ca_data: PEM\n`, /ca_data: must be one or more PEM certificates/);
  configError(t, `${base}  ca_data: |\n${indent(CA_PEM, '    ')}\n    trailing garbage\n`, /ca_data: must be one or more PEM certificates/);
  // a private key is PEM, but not a certificate; its text never reaches the message
  const e = configError(t, `${base}  ca_data: |\n    -----BEGIN PRIVATE KEY-----\n    c2VjcmV0LWtleS1ieXRlcw==\n    -----END PRIVATE KEY-----\n`, /ca_data: must be one or more PEM certificates/);
  t.notMatch(e?.message ?? '', 'c2VjcmV0');

  // insecure: true verifies nothing, so the CA is neither read nor checked
  const insecure = parseRegistriesConf(`${base}  insecure: true\n  ca_file: ${join(dir, 'missing.pem')}\n  ca_data: PEM\n`, SRC);
  t.equal(insecure.registries[0]?.caFile, undefined);
  t.equal(insecure.registries[0]?.caData, undefined);
});

t.test('values that look like Object.prototype members are plain values', async (t) => {
  configError(t, 'registries:\n- name: r\n  prefix: r.io\n  constructor: x\n', /unknown key "constructor"/);
  configError(t, 'registries:\n- name: r\n  prefix: r.io\n  toString: x\n', /unknown key "toString"/);
  configError(t, 'constructor: 1\n', /unknown top-level key "constructor"/);
  const conf = parseRegistriesConf('registries:\n- name: constructor\n  prefix: r.io\n  tagsortmode: none\n', SRC);
  t.equal(conf.registries[0]?.name, 'constructor');
});

t.test('TLS: a bad CA stops the start; on reload the last good config stays, and it is reported', async (t) => {
  const good = `registries:\n- name: Corp\n  prefix: corp.example\n  ca_file: ${CA_FILE}\n`;
  const badData = 'registries:\n- name: Corp\n  prefix: corp.example\n  ca_data: not-a-certificate\n';
  await t.rejects(localApp(t, { conf: badData }), { name: 'ConfigError', message: /ca_data: must be one or more PEM certificates/ }, 'start fails');

  const { app, writeConf, metrics, logs } = await localApp(t, { conf: good });
  const endpoint = async (): Promise<{ caFile?: string, caData?: string } | undefined> =>
    (await app.inject('/v1/registries')).json().registries.find((r: { prefix: string }) => r.prefix === 'corp.example');
  t.ok(await endpoint(), 'the good config is in force');
  writeConf(badData);
  t.ok(await eventually(async () => (await metrics.configReloads.get()).values.some((v) => v.labels.file === 'registries' && v.labels.result === 'failure' && v.value > 0)),
    'the failed reload is counted');
  t.ok(logs.some((l) => /ca_data: must be one or more PEM certificates/.test(l)), 'and logged with the reason');
  t.ok(await endpoint(), 'the last good config stays');
  t.equal((await metrics.configLastReloadSuccess.get()).values.find((v) => v.labels.file === 'registries')?.value, 0);
});

t.test('proxy: a proxy URL (http assumed without a scheme) or none; a bad one names the entry, never its user info', async (t) => {
  const base = 'registries:\n- name: Corp\n  prefix: corp.example\n';
  t.equal(parseRegistriesConf(`${base}  proxy: http://u:p@proxy.corp:3128\n`, SRC).registries[0]?.proxy, 'http://u:p@proxy.corp:3128');
  t.equal(parseRegistriesConf(`${base}  proxy: proxy.corp:3128\n`, SRC).registries[0]?.proxy, 'http://proxy.corp:3128');
  t.equal(parseRegistriesConf(`${base}  proxy: None\n`, SRC).registries[0]?.proxy, 'none');
  t.equal(parseRegistriesConf(base, SRC).registries[0]?.proxy, undefined, 'unset: the environment decides');
  const e = configError(t, `${base}  proxy: ftp://u:s3cret@proxy.corp\n`, /registries\.conf: registries\[0\] \("Corp"\): proxy: must be an http:\/\/, https:\/\/ or socks5:\/\/ proxy address .*\(line 4\)$/);
  t.notMatch(e?.message ?? '', 's3cret');
  const p = configError(t, `${base}  proxy: http://u:s3cret@proxy.corp/path\n`, /proxy: http:\/\/proxy\.corp: a proxy address has no path/);
  t.notMatch(p?.message ?? '', 's3cret');
});
