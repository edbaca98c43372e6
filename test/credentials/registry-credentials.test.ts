import t, { type Test } from 'tap';
import { checkRegistryCredentials, registryCredentialSpec } from '../../src/credentials/registry-credentials.js';
import type { ConfigError } from '../../src/errors.js';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { expectConfigError } from '../helpers/config-error.js';

type Tap = Test;
const SRC = '/app/config/registries.conf';
const load = (text: string): ReturnType<typeof parseRegistriesConf> => checkRegistryCredentials(parseRegistriesConf(text, SRC));

const configError = (t: Tap, text: string, pattern: RegExp, label?: string): ConfigError | undefined =>
  expectConfigError(t, load, SRC, text, pattern, label);

// registries.conf keeps credentials as text; they are parsed with the credential reference
// parser once per load, and a bad one fails the load
t.test('credentials are validated credential references', async (t) => {
  const conf = load(`registries:
- name: a
  prefix: ghcr.io
  credentials: pullsecret:argocd/ghcr
- name: b
  prefix: quay.io
  credentials: quay.io=secret:argocd/quay#creds
- name: c
  prefix: ecr.example.com
  credentials: EXT:/app/auth/ecr.sh
`);
  t.same(registryCredentialSpec(conf.registries[0]!), { reference: { type: 'pullsecret', namespace: 'argocd', name: 'ghcr' } });
  t.equal(conf.registries[0]?.credentials, 'pullsecret:argocd/ghcr');
  t.match(registryCredentialSpec(conf.registries[1]!), { prefix: 'quay.io', reference: { type: 'secret', namespace: 'argocd', name: 'quay', field: 'creds' } });
  t.match(registryCredentialSpec(conf.registries[2]!), { reference: { type: 'ext', path: '/app/auth/ecr.sh' } });

  configError(t, 'registries:\n- name: Quay\n  prefix: quay.io\n  credentials: secret:argocd\n', /registries\[0\] \("Quay"\): credentials: invalid credential reference/);
  configError(t, 'registries:\n- name: r\n  prefix: r.io\n  credentials: ext:relative/path.sh\n', /credentials: invalid credential reference/);
  const secret = 'hunter2-s3cr3t';
  for (const spec of [`bot:${secret}`, `env:${secret}:x`, `pullsecret:${secret}`, `r.io=bot:${secret}`]) {
    const e = configError(t, `registries:\n- name: r\n  prefix: r.io\n  credentials: "${spec}"\n`, /credentials: invalid credential reference/, spec);
    t.notMatch(e?.message ?? '', secret, `no secret in the error for ${spec}`);
  }
});
