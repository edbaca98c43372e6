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

t.test('a keyring is matched once per image, and a new keyring (a changed Secret) matches again', async (t) => {
  const { credentialFor } = await import('../../src/credentials/sources.js');
  const { parseDockerConfig } = await import('../../src/credentials/dockerconfig.js');
  const keyring = (user: string) => {
    const parsed = parseDockerConfig(Buffer.from(JSON.stringify({ auths: { 'ghcr.io': { username: user, password: 'p' }, '*.example.com': { username: 'glob', password: 'p' } } })), 'dockerconfigjson', 'test');
    let reads = 0;
    // counts the walks of the keyring's entries: one per match made
    const config = { get entries () { reads++; return parsed.entries; } };
    return { fetched: { keyring: { config, label: 'secret argocd/pull' }, deps: [], namespaces: [] }, reads: () => reads };
  };
  const a = keyring('first');
  for (let i = 0; i < 50; i++) t.equal(credentialFor(a.fetched, 'ghcr.io/team/app').credential.username, 'first');
  t.equal(a.reads(), 1, '50 lookups of one image, one match');
  t.equal(credentialFor(a.fetched, 'r.example.com/x').matchedKey, '*.example.com');
  for (let i = 0; i < 5; i++) t.throws(() => credentialFor(a.fetched, 'quay.io/x'), { code: 'NO_MATCHING_AUTH_ENTRY' });
  t.equal(a.reads(), 3, 'each image once, a miss included');
  const b = keyring('second');
  t.equal(credentialFor(b.fetched, 'ghcr.io/team/app').credential.username, 'second', 'a new keyring is its own memo');
  t.equal(b.reads(), 1);
});
