import t from 'tap';
import { formatReference, parseCredentialSpec, parseUserPass } from '../../src/credentials/reference.js';
import type { CredentialReference, ParsedSpec } from '../../src/credentials/types.js';

t.test('valid specs', async (t) => {
  const table: Array<[string, CredentialReference]> = [
    ['pullsecret:argocd/ghcr', { type: 'pullsecret', namespace: 'argocd', name: 'ghcr' }],
    ['pullsecret:argocd/ghcr.io-creds', { type: 'pullsecret', namespace: 'argocd', name: 'ghcr.io-creds' }],
    ['PullSecret:argocd/x', { type: 'pullsecret', namespace: 'argocd', name: 'x' }],
    ['PULLSECRET:a1/b2', { type: 'pullsecret', namespace: 'a1', name: 'b2' }],
    ['secret:argocd/some-secret#creds', { type: 'secret', namespace: 'argocd', name: 'some-secret', field: 'creds' }],
    ['Secret:ns/name#.dot_field-1', { type: 'secret', namespace: 'ns', name: 'name', field: '.dot_field-1' }],
    ['secret:ns/name#CamelCase', { type: 'secret', namespace: 'ns', name: 'name', field: 'CamelCase' }],
    ['env:DOCKER_HUB_CREDS', { type: 'env', variable: 'DOCKER_HUB_CREDS' }],
    ['ENV:_lower_1', { type: 'env', variable: '_lower_1' }],
    ['ext:/app/scripts/ecr-login.sh', { type: 'ext', path: '/app/scripts/ecr-login.sh' }],
    ['Ext:/opt/get=creds.sh', { type: 'ext', path: '/opt/get=creds.sh' }],
    ['ext:/opt/with:colon', { type: 'ext', path: '/opt/with:colon' }],
    ['ext:/opt/with space', { type: 'ext', path: '/opt/with space' }],
    ['serviceaccount:team-a/puller', { type: 'serviceaccount', namespace: 'team-a', name: 'puller' }],
    ['ServiceAccount:team-a/default', { type: 'serviceaccount', namespace: 'team-a', name: 'default' }],
    [`pullsecret:${'a'.repeat(63)}/${'b'.repeat(253)}`, { type: 'pullsecret', namespace: 'a'.repeat(63), name: 'b'.repeat(253) }]
  ];
  for (const [spec, reference] of table) {
    t.same(parseCredentialSpec(spec), { reference }, spec);
    t.same(parseCredentialSpec(spec, { allowRegistryPrefix: true }), { reference }, `${spec} (registries.conf)`);
    const canonical = formatReference(reference);
    t.equal(canonical.slice(0, canonical.indexOf(':')), reference.type, `${spec}: lower-case type word`);
    t.same(parseCredentialSpec(canonical).reference, reference, `${spec}: format round-trips`);
  }
  t.equal(formatReference({ type: 'secret', namespace: 'argocd', name: 'x', field: 'creds' }), 'secret:argocd/x#creds');
  t.equal(formatReference({ type: 'ext', path: '/a=b' }), 'ext:/a=b');
});

t.test('prefix (registries.conf)', async (t) => {
  const table: Array<[string, ParsedSpec]> = [
    ['gcr.io=secret:foo/bar#baz', { prefix: 'gcr.io', reference: { type: 'secret', namespace: 'foo', name: 'bar', field: 'baz' } }],
    ['gcr.io=pullsecret:foo/bar', { prefix: 'gcr.io', reference: { type: 'pullsecret', namespace: 'foo', name: 'bar' } }],
    ['gcr.io=env:FOOBAR', { prefix: 'gcr.io', reference: { type: 'env', variable: 'FOOBAR' } }],
    ['localhost:5000=ext:/bin/creds', { prefix: 'localhost:5000', reference: { type: 'ext', path: '/bin/creds' } }],
    ['ghcr.io/team-a=pullsecret:argocd/a', { prefix: 'ghcr.io/team-a', reference: { type: 'pullsecret', namespace: 'argocd', name: 'a' } }],
    ['ghcr.io=ext:/opt/get=creds.sh', { prefix: 'ghcr.io', reference: { type: 'ext', path: '/opt/get=creds.sh' } }],
    // "env:5000" is a host with a port, not an env spec: an env variable cannot start with a digit
    ['env:5000=pullsecret:a/b', { prefix: 'env:5000', reference: { type: 'pullsecret', namespace: 'a', name: 'b' } }],
    ['[::1]:5000=env:X', { prefix: '[::1]:5000', reference: { type: 'env', variable: 'X' } }]
  ];
  for (const [spec, parsed] of table) {
    t.same(parseCredentialSpec(spec, { allowRegistryPrefix: true }), parsed, spec);
    t.throws(() => parseCredentialSpec(spec), { code: 'INVALID_CREDENTIAL_SPEC', message: /only allowed in registries\.conf/ }, `${spec} without allowRegistryPrefix`);
  }
  // an "=" inside an ext path is never taken for a prefix
  t.same(parseCredentialSpec('ext:/opt/a=b', { allowRegistryPrefix: true }), { reference: { type: 'ext', path: '/opt/a=b' } });
});

t.test('invalid specs', async (t) => {
  const table: Array<[string, RegExp, boolean?]> = [
    ['', /empty credential reference/],
    ['pullsecret', /missing source type/],
    ['argocd/x', /missing source type/],
    [':argocd/x', /empty source type/],
    ['pullsecret:', /empty value/],
    ['foo:argocd/x', /unknown source type, expected/],
    ['docker:argocd/x', /unknown source type/],
    ['pull-secret:argocd/x', /unknown source type/],
    ['pullsecret:x', /missing namespace/],
    ['pullsecret:/x', /empty namespace/],
    ['pullsecret:argocd/', /empty Secret name/],
    ['pullsecret:a/b/c', /more than one "\/"/],
    ['pullsecret:Argocd/x', /namespace is not a valid DNS-1123 label/],
    ['pullsecret:argocd/X', /Secret name is not a valid DNS-1123 subdomain/],
    ['pullsecret:argo_cd/x', /DNS-1123 label/],
    ['pullsecret:argocd/x_y', /DNS-1123 subdomain/],
    ['pullsecret:-a/x', /DNS-1123 label/],
    ['pullsecret:a-/x', /DNS-1123 label/],
    ['pullsecret:argocd/x.', /DNS-1123 subdomain/],
    ['pullsecret:argocd/a..b', /DNS-1123 subdomain/],
    ['pullsecret:argocd.io/x', /DNS-1123 label/],
    [`pullsecret:${'a'.repeat(64)}/x`, /DNS-1123 label/],
    [`pullsecret:a/${'b'.repeat(254)}`, /DNS-1123 subdomain/],
    ['pullsecret:argocd/x#creds', /without a #field/],
    ['secret:argocd/x', /missing #<field>/],
    ['secret:argocd/x#', /empty field/],
    ['secret:argocd/x#a#b', /more than one "#"/],
    ['secret:argocd/x#a b', /not a valid Secret data key/],
    ['secret:argocd/x#a/b', /not a valid Secret data key/],
    ['secret:argocd/x#..', /not a valid Secret data key/],
    [`secret:argocd/x#${'f'.repeat(254)}`, /longer than 253/],
    ['secret:x#f', /missing namespace/],
    ['secret:/x#f', /empty namespace/],
    ['secret:a/#f', /empty Secret name/],
    ['serviceaccount:x', /missing namespace/],
    ['serviceaccount:a/B', /ServiceAccount name is not a valid/],
    ['serviceaccount:a/b#f', /without a #field/],
    ['env:', /empty value/],
    ['env:1ABC', /environment variable name is not valid/],
    ['env:A-B', /environment variable name is not valid/],
    ['env:A=B', /environment variable name is not valid/],
    ['ext:relative/path.sh', /must be absolute/],
    ['ext:./x.sh', /must be absolute/],
    ['ext:/', /directory/],
    ['ext:/opt/', /directory/],
    // policy globs match the path as written: it must be the path that runs
    ['ext:/opt/h/../get-creds', /not normalized/],
    ['ext:/opt/h/./get-creds', /not normalized/],
    ['ext:/opt//get-creds', /not normalized/],
    ['ext://opt/get-creds', /not normalized/],
    ['ext:/opt/..', /not normalized/],
    ['ext:/opt/.', /not normalized/],
    ['ext:/..', /not normalized/],
    ['ghcr.io=ext:/opt/../x', /not normalized/, true],
    ['ext:/opt/a\u0000b', /control characters/],
    ['pullsecret:argocd/x\n', /control characters/],
    [' pullsecret:argocd/x', /whitespace/],
    ['pullsecret:argocd/x ', /whitespace/],
    [`ext:/${'a'.repeat(1024)}`, /at most 1024/],
    ['=pullsecret:a/b', /empty registry prefix/],
    ['ghcr.io=', /empty credential reference after/, true],
    ['ghcr.io=foo:a/b', /unknown source type/, true],
    ['ghcr.io=pullsecret', /missing source type/, true],
    ['ghcr.io=ext:relative', /must be absolute/, true]
  ];
  for (const [spec, message, prefixed] of table) {
    t.throws(() => parseCredentialSpec(spec, { allowRegistryPrefix: prefixed === true }),
      { code: 'INVALID_CREDENTIAL_SPEC', statusCode: 400, message }, JSON.stringify(spec.slice(0, 60)));
  }
  t.throws(() => parseCredentialSpec('foo:argocd/x'), { message: 'invalid credential reference: unknown source type, expected pullsecret, secret, env, ext, serviceaccount, ecr, gcp or acr' });
  // a pasted user:password must not come back in the message, whatever part of it is wrong
  for (const pasted of ['robot:hunter2-secret', 'env:robot:hunter2-secret', 'pullsecret:hunter2:secret/x', 'secret:a/b#hunter2-secret!', 'pullsecret:a/hunter2_secret']) {
    try {
      parseCredentialSpec(pasted);
      t.fail(`accepted ${pasted}`);
    } catch (err) {
      t.notMatch((err as Error).message, /hunter2/, 'no part of an invalid spec is echoed');
    }
  }
  const long = `ext:/${'a'.repeat(2000)}`;
  try {
    parseCredentialSpec(long);
    t.fail('long spec accepted');
  } catch (err) {
    t.ok((err as Error).message.length < 200, 'a too long spec is not echoed');
  }
});

t.test('parseUserPass', async (t) => {
  const ok: Array<[string, string, string]> = [
    ['user:pass', 'user', 'pass'],
    ['user:pa:ss:word', 'user', 'pa:ss:word'],
    ['user:pass\n', 'user', 'pass'],
    ['user:pass\r\n', 'user', 'pass'],
    ['user: pass ', 'user', ' pass '],
    ['AWS:eyJwYXlsb2FkIjoi==', 'AWS', 'eyJwYXlsb2FkIjoi==']
  ];
  for (const [value, username, password] of ok) {
    t.same(parseUserPass(value, 'env FOO'), { username, password }, JSON.stringify(value));
  }

  const secret = 's3cr3t-P@ss';
  const bad: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['\n', /is empty/],
    [secret, /has no ":"/],
    [`:${secret}`, /empty username/],
    [`${secret}:`, /empty password/],
    [`${secret}:\n`, /empty password/],
    [`user:${secret}\n\n`, /more than one line/],
    [`user:${secret}\nuser2:${secret}`, /more than one line/]
  ];
  for (const [value, message] of bad) {
    try {
      parseUserPass(value, 'secret argocd/x field creds');
      t.fail(`accepted ${JSON.stringify(value)}`);
    } catch (err) {
      const e = err as Error & { code: string, statusCode: number };
      t.equal(e.code, 'MALFORMED_CREDENTIALS');
      t.equal(e.statusCode, 502);
      t.match(e.message, message);
      t.match(e.message, /^secret argocd\/x field creds /, 'names the source');
      t.notOk(e.message.includes(secret), 'never the value');
      t.notOk(JSON.stringify(e).includes(secret), 'not in any property');
      t.notOk(String(e.stack).includes(secret), 'not in the stack');
    }
  }
});

// A key that is an Object.prototype member is an unknown key like any other, never a crash.
t.test('Object.prototype member names: refused with INVALID_CREDENTIAL_SPEC or looked up as names', async (t) => {
  for (const spec of ['ecr:constructor=x', 'gcp:toString=1', 'acr:__proto__=a', 'ecr:hasOwnProperty=y', 'acr:valueOf=1']) {
    t.throws(() => parseCredentialSpec(spec), { code: 'INVALID_CREDENTIAL_SPEC', statusCode: 400, message: /unknown option/ }, spec);
  }
  // env and Secret field names that are prototype members are valid names (looked up as own properties)
  t.same(parseCredentialSpec('env:constructor').reference, { type: 'env', variable: 'constructor' });
  t.same(parseCredentialSpec('secret:ns/name#toString').reference, { type: 'secret', namespace: 'ns', name: 'name', field: 'toString' });
});
