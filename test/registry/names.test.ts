// The one owner of registry names: hosts, prefixes and Docker Hub's aliases and URLs.
import t from 'tap';
import { keyringKey } from '../../src/credentials/dockerconfig.js';
import { parseImageReference } from '../../src/registry/image-ref.js';
import {
  DOCKER_HUB, DOCKER_HUB_API_URL, DOCKER_HUB_CONFIG_KEY, DOCKER_HUB_HOSTS, canonicalHost, canonicalPrefix,
  inferApiUrl, isHostComponent, normalizePrefix, stripScheme
} from '../../src/registry/names.js';

t.test('Docker Hub: every alias is one host, in image names, docker config keys and prefixes', async (t) => {
  t.same(DOCKER_HUB_HOSTS, ['docker.io', 'index.docker.io', 'registry-1.docker.io']);
  for (const alias of DOCKER_HUB_HOSTS) {
    t.equal(canonicalHost(alias), DOCKER_HUB, alias);
    t.equal(canonicalHost(alias.toUpperCase()), DOCKER_HUB, `${alias} upper-case`);
    t.equal(parseImageReference(`${alias}/nginx`).name, 'docker.io/library/nginx', `${alias}/nginx`);
    t.equal(keyringKey(alias), DOCKER_HUB, `docker config key ${alias}`);
    t.equal(canonicalPrefix(`https://${alias}/library/`), 'docker.io/library', `prefix ${alias}`);
    t.equal(inferApiUrl(alias), DOCKER_HUB_API_URL, `API of ${alias}`);
  }
  t.equal(keyringKey(DOCKER_HUB_CONFIG_KEY), DOCKER_HUB, 'the key docker login writes');
  t.equal(canonicalHost('docker.io:443'), 'docker.io:443', 'a port makes another host');
  t.equal(canonicalHost('hub.docker.com'), 'hub.docker.com');
});

t.test('prefixes: checked, normalized, compared', async (t) => {
  t.equal(normalizePrefix(' GHCR.io/team-a/ '), 'ghcr.io/team-a');
  t.equal(normalizePrefix('Index.Docker.io'), 'index.docker.io', 'normalized, not folded: shown as written');
  t.equal(normalizePrefix('[::1]:5000'), '[::1]:5000');
  for (const bad of ['https://ghcr.io', 'ghcr.io/Team', 'ghcr.io//x', '-bad.io', 'host:port', 'a b', '*.example.com', '']) {
    t.equal(normalizePrefix(bad), undefined, bad);
  }
  t.equal(canonicalPrefix('HTTPS://Index.Docker.IO/v1/'), 'docker.io/v1');
  t.equal(canonicalPrefix('http://ghcr.io/team-a//'), 'ghcr.io/team-a');
  t.equal(canonicalPrefix(' quay.io '), 'quay.io');
});

t.test('scheme stripping and the host rule of image names', async (t) => {
  t.equal(stripScheme('https://ghcr.io/v2/'), 'ghcr.io/v2/');
  t.equal(stripScheme('HTTP://ghcr.io'), 'ghcr.io');
  t.equal(stripScheme('ghcr.io'), 'ghcr.io');
  for (const [component, host] of [['localhost', true], ['ghcr.io', true], ['reg:5000', true], ['Upper', true], ['library', false], ['team_a', false]] as const) {
    t.equal(isHostComponent(component), host, component);
  }
});
