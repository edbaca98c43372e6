// The hot path parses an image and finds its endpoint once per input text, until
// registries.conf reloads.
import t from 'tap';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { CredentialCache } from '../../src/credentials/cache.js';
import { Resolver } from '../../src/credentials/resolver.js';
import type { SecretStore } from '../../src/kube/secret-store.js';

const store: SecretStore = {
  start: async () => {},
  getSecret: async () => undefined,
  getServiceAccount: async () => undefined,
  onChange: () => () => {},
  status: () => ({ kind: 'local', synced: true, namespaces: {} }),
  close: async () => {}
};

t.test('parsed image and endpoint are reused per input until registries.conf reloads', async (t) => {
  let config = parseRegistriesConf('registries:\n  - name: A\n    prefix: ghcr.io/team\n', 'r.conf');
  const resolver = new Resolver({
    registries: { current: () => config },
    store,
    cache: new CredentialCache({ maxStaleMs: 0 }),
    secretNamespaces: ['argocd'],
    extTimeoutMs: 1000,
    extMaxOutputBytes: 1024,
    cacheMaxStaleMs: 0,
    env: {}
  });
  const first = resolver.parseImage('ghcr.io/team/app:1');
  t.equal(resolver.parseImage('ghcr.io/team/app:1'), first, 'the same parsed object: not parsed again');
  t.equal(resolver.endpointFor(first).name, 'A');
  t.equal(resolver.endpointFor(first), resolver.endpointFor(resolver.parseImage('ghcr.io/team/app:1')), 'the endpoint is reused too');
  t.not(resolver.parseImage('ghcr.io/team/app:2'), first, 'another input, another entry');
  t.throws(() => resolver.parseImage('UPPER/Case'), { code: 'INVALID_IMAGE_REFERENCE' }, 'bad input still fails every time');

  config = parseRegistriesConf('registries:\n  - name: B\n    prefix: ghcr.io\n', 'r.conf');
  const after = resolver.parseImage('ghcr.io/team/app:1');
  t.not(after, first, 'a reload empties the memo');
  t.equal(resolver.endpointFor(after).name, 'B', 'and the endpoint follows the new config');
});
