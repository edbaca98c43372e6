import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { INFERRED_ENDPOINTS_MAX, defaultPrefixOf, findEndpoint, inferredEndpointCount } from '../../src/registry/endpoints.js';
import { inferApiUrl } from '../../src/registry/names.js';
import { parseImageReference } from '../../src/registry/image-ref.js';

const CA_FILE = fileURLToPath(new URL('../fixtures/tls/ca.pem', import.meta.url));

const conf = parseRegistriesConf(`registries:
- name: GitHub
  prefix: ghcr.io
  credentials: pullsecret:argocd/ghcr
- name: Team A
  prefix: ghcr.io/team-a
  api_url: https://ghcr.io
  credentials: secret:argocd/team-a#creds
  credsexpire: 5h
- name: Team A tools
  prefix: ghcr.io/team-a/tools
  limit: 5
- name: Local 5000
  prefix: localhost:5000
  insecure: yes
  ca_data: PEM
- name: Hub
  prefix: index.docker.io
  defaultns: library
- name: Corp
  prefix: registry.corp.example:8443
  ca_file: ${CA_FILE}
`, 'registries.conf');

function endpointFor (image: string, config = conf): ReturnType<typeof findEndpoint> {
  return findEndpoint(config, parseImageReference(image, defaultPrefixOf(config)));
}

t.test('longest prefix of whole path segments wins', async (t) => {
  t.equal(endpointFor('ghcr.io/org/app:1.2').name, 'GitHub');
  t.equal(endpointFor('ghcr.io/team-a/app').name, 'Team A');
  t.equal(endpointFor('ghcr.io/team-ab/app').name, 'GitHub', 'team-a does not match team-ab');
  t.equal(endpointFor('ghcr.io/team-a').name, 'Team A', 'the prefix itself as the repository');
  t.equal(endpointFor('ghcr.io/team-a/tools/lint').name, 'Team A tools');
  t.equal(endpointFor('ghcr.io/team-a/toolsx/lint').name, 'Team A');
  t.equal(endpointFor('GHCR.io/team-a/app').name, 'Team A', 'hosts compare case-insensitively');
});

t.test('an endpoint carries its registry settings', async (t) => {
  const teamA = endpointFor('ghcr.io/team-a/app');
  t.match(teamA, {
    name: 'Team A', prefix: 'ghcr.io/team-a', apiUrl: 'https://ghcr.io', configured: true, insecure: false,
    limit: 20, credsExpireMs: 5 * 3_600_000, credentials: 'secret:argocd/team-a#creds'
  });
  t.equal(teamA.entry?.name, 'Team A');
  const local = endpointFor('localhost:5000/a/b');
  t.match(local, { name: 'Local 5000', apiUrl: 'https://localhost:5000', insecure: true, configured: true });
  t.equal(local.caData, undefined, 'insecure: the CA is not used');
  t.equal(local.credentials, undefined);
  t.equal(endpointFor('ghcr.io/team-a/tools/x').limit, 5);
  t.match(endpointFor('registry.corp.example:8443/x'), { name: 'Corp', apiUrl: 'https://registry.corp.example:8443', caFile: CA_FILE });
});

t.test('ports must match exactly', async (t) => {
  t.equal(endpointFor('localhost:5000/x').name, 'Local 5000');
  const other = endpointFor('localhost:5001/x');
  t.match(other, { configured: false, name: 'localhost:5001', prefix: 'localhost:5001', apiUrl: 'https://localhost:5001' });
  t.equal(endpointFor('localhost/x').configured, false);
  t.equal(endpointFor('registry.corp.example/x').configured, false, 'no port is not any port');
  t.equal(endpointFor('registry.corp.example:443/x').configured, false);
});

t.test('Docker Hub aliases', async (t) => {
  t.equal(endpointFor('nginx').name, 'Hub', 'index.docker.io prefix matches docker.io images');
  t.equal(endpointFor('docker.io/bitnami/redis').name, 'Hub');
  t.equal(endpointFor('index.docker.io/library/nginx').name, 'Hub');
  t.equal(endpointFor('registry-1.docker.io/library/nginx').name, 'Hub');
  t.equal(endpointFor('nginx').apiUrl, 'https://registry-1.docker.io', 'api_url inferred from the prefix');
  const r1 = parseRegistriesConf('registries:\n- {name: R1, prefix: registry-1.docker.io/library}\n', 'f');
  t.equal(endpointFor('nginx', r1).name, 'R1');
  t.equal(endpointFor('bitnami/redis', r1).configured, false);
});

t.test('inferred endpoints', async (t) => {
  const none = parseRegistriesConf('', 'f');
  t.same(endpointFor('nginx', none), {
    name: 'Docker Hub', prefix: 'docker.io', apiUrl: 'https://registry-1.docker.io', configured: false, insecure: false, limit: 20
  });
  t.same(endpointFor('quay.io/org/app', none), {
    name: 'quay.io', prefix: 'quay.io', apiUrl: 'https://quay.io', configured: false, insecure: false, limit: 20
  });
  t.equal(endpointFor('[::1]:5000/x', none).apiUrl, 'https://[::1]:5000');
  t.equal(inferApiUrl('index.docker.io'), 'https://registry-1.docker.io');
  t.equal(inferApiUrl('docker.io'), 'https://registry-1.docker.io');
  t.equal(inferApiUrl('Ghcr.io'), 'https://ghcr.io');
});

t.test('the default registry', async (t) => {
  const quayDefault = parseRegistriesConf(`registries:
- name: Quay
  prefix: quay.io
  api_url: https://quay.io
  default: true
  defaultns: base
  credentials: env:QUAY_CREDS
- name: GitHub
  prefix: ghcr.io
`, 'f');
  t.same(defaultPrefixOf(quayDefault), { prefix: 'quay.io', namespace: 'base' });
  t.same(defaultPrefixOf(conf), {}, 'no default configured: Docker Hub');
  const ep = endpointFor('argoproj/argocd', quayDefault);
  t.equal(ep.name, 'Quay');
  t.equal(parseImageReference('nginx', defaultPrefixOf(quayDefault)).name, 'quay.io/base/nginx');
  t.equal(endpointFor('ghcr.io/x/y', quayDefault).name, 'GitHub');
  t.equal(endpointFor('docker.io/x/y', quayDefault).configured, false, 'an explicit registry never falls back to the default');

  // a prefix-less image parsed without the defaults still lands on the default registry (upstream)
  t.equal(findEndpoint(quayDefault, parseImageReference('nginx')).name, 'Quay');

  const mirror = parseRegistriesConf('registries:\n- {name: Mirror, prefix: registry.example.com/mirror, default: true}\n', 'f');
  t.same(defaultPrefixOf(mirror), { prefix: 'registry.example.com/mirror' });
  const m = endpointFor('nginx:1', mirror);
  t.match(m, { name: 'Mirror', apiUrl: 'https://registry.example.com', configured: true });
  t.equal(endpointFor('registry.example.com/other/x', mirror).configured, false);
});

t.test('the images of a registry share one endpoint object; inferred ones are kept per host, bounded', async (t) => {
  const images = Array.from({ length: 1000 }, (_, i) => `ghcr.io/team-${i}/app:${i}`);
  const configured = new Set(images.map((i) => endpointFor(i)));
  t.equal(configured.size, 1, '1,000 images of a configured registry: one endpoint');
  const unconfigured = new Set(Array.from({ length: 1000 }, (_, i) => endpointFor(`r.example.com/team/app-${i}`)));
  t.equal(unconfigured.size, 1, '1,000 images of an inferred registry: one endpoint');
  t.match([...unconfigured][0], { name: 'r.example.com', prefix: 'r.example.com', apiUrl: 'https://r.example.com', configured: false });
  t.not(endpointFor('r2.example.com/x'), endpointFor('r.example.com/x'), 'another host, another endpoint');

  const fresh = parseRegistriesConf('registries: []\n', 'f');
  t.equal(inferredEndpointCount(fresh), 0);
  for (let i = 0; i < INFERRED_ENDPOINTS_MAX * 3; i++) endpointFor(`host-${i}.example.com/x`, fresh);
  t.equal(inferredEndpointCount(fresh), INFERRED_ENDPOINTS_MAX, `hosts named by callers: at most ${INFERRED_ENDPOINTS_MAX} kept`);
  t.equal(endpointFor('host-0.example.com/x', fresh).prefix, 'host-0.example.com', 'an evicted host is inferred again');
});
