// The notation of ecr:, gcp: and acr: references and the cloud registry hosts they recognise.
import t from 'tap';
import { formatReference, parseCredentialSpec } from '../../../src/credentials/reference.js';
import { providerHostOf } from '../../../src/credentials/cloud/hosts.js';
import { registryCredentialSpec } from '../../../src/credentials/registry-credentials.js';
import { parseRegistriesConf } from '../../../src/registry/registries-conf.js';

const ROLE = 'arn:aws:iam::123456789012:role/pull';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '2a4f0c1e-3b5d-4e6f-8a7b-9c0d1e2f3a4b';

t.test('valid cloud references and their canonical form', async (t) => {
  const table: Array<[string, unknown, string]> = [
    ['ecr:', { type: 'ecr', options: {} }, 'ecr:'],
    ['ECR:', { type: 'ecr', options: {} }, 'ecr:'],
    ['ecr:region=eu-west-1', { type: 'ecr', options: { region: 'eu-west-1' } }, 'ecr:region=eu-west-1'],
    [`ecr:role=${ROLE},region=us-gov-west-1`, { type: 'ecr', options: { role: ROLE, region: 'us-gov-west-1' } }, `ecr:region=us-gov-west-1,role=${ROLE}`],
    ['ecr:role=arn:aws-cn:iam::123456789012:role/path/to/r+=.@-_', { type: 'ecr', options: { role: 'arn:aws-cn:iam::123456789012:role/path/to/r+=.@-_' } }, 'ecr:role=arn:aws-cn:iam::123456789012:role/path/to/r+=.@-_'],
    ['gcp:', { type: 'gcp', options: {} }, 'gcp:'],
    ['Gcp:', { type: 'gcp', options: {} }, 'gcp:'],
    ['acr:', { type: 'acr', options: {} }, 'acr:'],
    [`acr:clientId=${CLIENT},tenant=${TENANT}`, { type: 'acr', options: { clientId: CLIENT, tenant: TENANT } }, `acr:tenant=${TENANT},clientId=${CLIENT}`],
    ['acr:tenant=contoso.onmicrosoft.com', { type: 'acr', options: { tenant: 'contoso.onmicrosoft.com' } }, 'acr:tenant=contoso.onmicrosoft.com']
  ];
  for (const [spec, reference, canonical] of table) {
    const parsed = parseCredentialSpec(spec);
    t.same(parsed, { reference }, spec);
    t.equal(formatReference(parsed.reference), canonical, `${spec} → ${canonical}`);
    t.same(parseCredentialSpec(canonical), parsed, 'the canonical form parses to the same reference');
  }
  // registries.conf prefixes: the "=" of an option is not a registry prefix
  t.same(parseCredentialSpec('123456789012.dkr.ecr.eu-west-1.amazonaws.com=ecr:region=eu-west-1', { allowRegistryPrefix: true }),
    { prefix: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', reference: { type: 'ecr', options: { region: 'eu-west-1' } } });
  t.same(parseCredentialSpec('ecr:region=eu-west-1', { allowRegistryPrefix: true }), { reference: { type: 'ecr', options: { region: 'eu-west-1' } } });
});

t.test('invalid cloud references: stable code, names the key, never the value', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['ecr:region', /comma-separated key=value pairs; ecr: takes region=…, role=…/],
    ['ecr:=x', /comma-separated key=value/],
    ['ecr:zone=eu-west-1', /unknown option "zone"; ecr: takes region=…, role=…/],
    ['ecr:region=EU-WEST-1', /ecr: region is not an AWS region/],
    ['ecr:region=eu-west-1,region=eu-west-2', /option region is given twice/],
    ['ecr:region=', /empty value for region/],
    ['ecr:region=eu-west-1,', /comma-separated/],
    ['ecr:role=arn:aws:iam::12345:role/x', /role is not an IAM role ARN/],
    ['ecr:role=s3cr3t-v4lue', /role is not an IAM role ARN/],
    ['gcp:project=x', /unknown option "project"; gcp: takes no options/],
    ['acr:clientId=not-a-guid', /clientId is not a client ID/],
    ['acr:tenant=-bad-', /tenant is not a Microsoft Entra tenant/],
    ['acr:secret=s3cr3t-v4lue', /unknown option "secret"/]
  ];
  for (const [spec, message] of table) {
    try {
      parseCredentialSpec(spec);
      t.fail(`accepted ${spec}`);
    } catch (err) {
      const e = err as Error & { code: string, statusCode: number };
      t.equal(e.code, 'INVALID_CREDENTIAL_SPEC', spec);
      t.equal(e.statusCode, 400);
      t.match(e.message, message, spec);
      t.notOk(e.message.includes('s3cr3t'), 'no value in the message');
    }
  }
});

t.test('registries.conf: one line per cloud (YAML needs "ecr:" quoted)', async (t) => {
  const conf = parseRegistriesConf([
    'registries:',
    '  - name: ecr',
    '    prefix: 123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    '    credentials: "ecr:"',
    '  - name: gar',
    '    prefix: europe-west1-docker.pkg.dev',
    '    credentials: "gcp:"',
    '  - name: acr',
    '    prefix: contoso.azurecr.io',
    `    credentials: acr:tenant=${TENANT}`
  ].join('\n'), 'registries.conf');
  t.same(conf.registries.map((r) => registryCredentialSpec(r)?.reference.type), ['ecr', 'gcp', 'acr']);
});

t.test('cloud registry hosts', async (t) => {
  const table: Array<[string, unknown]> = [
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', { provider: 'ecr', account: '123456789012', region: 'eu-west-1' }],
    ['123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', { provider: 'ecr', region: 'us-gov-west-1' }],
    ['123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', { provider: 'ecr', region: 'cn-north-1' }],
    ['123456789012.dkr-ecr.eu-west-1.on.aws', { provider: 'ecr', region: 'eu-west-1' }],
    ['public.ecr.aws', { provider: 'ecr', region: 'us-east-1', ecrPublic: true }],
    ['gcr.io', { provider: 'gcp' }],
    ['eu.gcr.io', { provider: 'gcp' }],
    ['us-central1-docker.pkg.dev', { provider: 'gcp' }],
    ['europe-west1-docker.pkg.dev', { provider: 'gcp' }],
    ['contoso.azurecr.io', { provider: 'acr', azureCloud: 'public' }],
    ['contoso.azurecr.cn', { provider: 'acr', azureCloud: 'china' }],
    ['contoso.azurecr.us', { provider: 'acr', azureCloud: 'usgov' }]
  ];
  for (const [host, want] of table) t.match(providerHostOf(host), want, host);
  for (const host of ['12345.dkr.ecr.eu-west-1.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example', 'gcr.io.evil.example',
    'docker.pkg.dev', 'evil-docker.pkg.dev.example', 'azurecr.io', 'contoso.azurecr.io.example', 'ghcr.io', 'docker.io', '127.0.0.1:5000']) {
    t.equal(providerHostOf(host), undefined, `${host} is no cloud registry`);
  }
});

t.test('POST /v1/credential-specs/validate knows the cloud types', async (t) => {
  const { localApp } = await import('../../helpers/app.js');
  const { app } = await localApp(t);
  const ok = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: `ACR:clientId=${CLIENT},tenant=${TENANT}` } });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(ok.json(), { valid: true, canonical: `acr:tenant=${TENANT},clientId=${CLIENT}`, reference: { type: 'acr', options: { tenant: TENANT, clientId: CLIENT } } });
  const bad = await app.inject({ method: 'POST', url: '/v1/credential-specs/validate', payload: { spec: 'ecr:region=nowhere' } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { code: 'INVALID_CREDENTIAL_SPEC', message: /region is not an AWS region/ });
});
