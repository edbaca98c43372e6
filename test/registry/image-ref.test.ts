import t, { type Test } from 'tap';
import { formatImageReference, parseImageReference } from '../../src/registry/image-ref.js';

type Tap = Test;

const F64 = 'f'.repeat(64);
const D = `sha256:${F64}`;
const REDIS = 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';

function invalid (t: Tap, input: string, reason?: RegExp): void {
  try {
    parseImageReference(input);
    t.fail(`expected ${JSON.stringify(input)} to be invalid`);
  } catch (err) {
    const e = err as Error & { code?: string, statusCode?: number };
    t.equal(e.code, 'INVALID_IMAGE_REFERENCE', input);
    t.equal(e.statusCode, 400);
    if (reason !== undefined) t.match(e.message, reason, input);
  }
}

t.test('normalization: distribution TestNormalizedSplitHostname and TestParseAnyReference', async (t) => {
  const table: Array<[string, string, string]> = [
    ['test.com/foo', 'test.com', 'foo'],
    ['test_com/foo', 'docker.io', 'test_com/foo'],
    ['docker/migrator', 'docker.io', 'docker/migrator'],
    ['test.com:8080/foo', 'test.com:8080', 'foo'],
    ['test-com:8080/foo', 'test-com:8080', 'foo'],
    ['foo', 'docker.io', 'library/foo'],
    ['xn--n3h.com/foo', 'xn--n3h.com', 'foo'],
    ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
    ['docker.io/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar'],
    ['index.docker.io/fooo/bar', 'docker.io', 'fooo/bar'],
    ['index.docker.io/debian', 'docker.io', 'library/debian'],
    ['library/ubuntu', 'docker.io', 'library/ubuntu'],
    ['127.0.0.1:8000/private/moonbase', '127.0.0.1:8000', 'private/moonbase'],
    ['127.0.0.1:8000/privatebase', '127.0.0.1:8000', 'privatebase'],
    ['example.com/private/moonbase', 'example.com', 'private/moonbase'],
    ['example.com:8000/privatebasee', 'example.com:8000', 'privatebasee'],
    ['ubuntu-12.04-base', 'docker.io', 'library/ubuntu-12.04-base'],
    ['store/foo/bar', 'docker.io', 'store/foo/bar'],
    ['localhost/foo', 'localhost', 'foo'],
    ['localhost:5000/a/b', 'localhost:5000', 'a/b'],
    ['dbcc1', 'docker.io', 'library/dbcc1'],
    ['dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9', 'docker.io',
      'library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9'],
    ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
    ['[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', 'repo'],
    ['[::1]:5000/repo', '[::1]:5000', 'repo'],
    ['192.168.1.1/repo', '192.168.1.1', 'repo'],
    ['192.168.1.1:5000/repo', '192.168.1.1:5000', 'repo'],
    ['sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com', 'bar/baz/quux'],
    // an upper-case first component is taken as a host, as Docker does
    ['Foo/bar', 'foo', 'bar'],
    ['GHCR.IO/org/app', 'ghcr.io', 'org/app']
  ];
  for (const [input, host, repository] of table) {
    const ref = parseImageReference(input);
    t.equal(ref.host, host, `${input} host`);
    t.equal(ref.repository, repository, `${input} repository`);
    t.equal(ref.name, `${host}/${repository}`, `${input} name`);
  }
});

t.test('tags and digests', async (t) => {
  const table: Array<[string, string, string | undefined, string | undefined]> = [
    ['test.com/repo:tag', 'test.com/repo', 'tag', undefined],
    ['test:5000/repo', 'test:5000/repo', undefined, undefined],
    ['test:5000/repo:tag', 'test:5000/repo', 'tag', undefined],
    [`test:5000/repo@${D}`, 'test:5000/repo', undefined, D],
    [`test:5000/repo:tag@${D}`, 'test:5000/repo', 'tag', D],
    ['lowercase:Uppercase', 'docker.io/library/lowercase', 'Uppercase', undefined],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com/bar/baz/quux', 'some-long-tag', undefined],
    ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io/test.example.com/my-app', 'test.example.com', undefined],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage', 'xn--n3h.com', undefined],
    [`xn--7o8h.com/myimage:xn--7o8h.com@sha512:${'f'.repeat(128)}`, 'xn--7o8h.com/myimage', 'xn--7o8h.com', `sha512:${'f'.repeat(128)}`],
    // no slash: never a host (distribution's "familiar name" fast path)
    ['test.com:tag', 'docker.io/library/test.com', 'tag', undefined],
    ['test.com:5000', 'docker.io/library/test.com', '5000', undefined],
    ['foo_bar.com:8080', 'docker.io/library/foo_bar.com', '8080', undefined],
    ['foo/foo_bar.com:8080', 'docker.io/foo/foo_bar.com', '8080', undefined],
    ['192.168.1.1', 'docker.io/library/192.168.1.1', undefined, undefined],
    ['192.168.1.1:5000', 'docker.io/library/192.168.1.1', '5000', undefined],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000/repo', '5050', undefined],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', '[2001:db8:1:2:3:4:5:6]/repo', 'tag', undefined],
    [`[2001:db8::1]:5000/repo:tag@${D}`, '[2001:db8::1]:5000/repo', 'tag', D],
    [`redis@${REDIS}`, 'docker.io/library/redis', undefined, REDIS],
    [`busybox:latest@${REDIS}`, 'docker.io/library/busybox', 'latest', REDIS],
    ['ghcr.io/org/app:1.2', 'ghcr.io/org/app', '1.2', undefined],
    [`localhost:5000/a/b@${D}`, 'localhost:5000/a/b', undefined, D],
    [`a:${'x'.repeat(128)}`, 'docker.io/library/a', 'x'.repeat(128), undefined]
  ];
  for (const [input, name, tag, digest] of table) {
    const ref = parseImageReference(input);
    t.equal(ref.name, name, `${input} name`);
    t.equal(ref.tag, tag, `${input} tag`);
    t.equal(ref.digest, digest, `${input} digest`);
    t.equal(ref.input, input);
  }
  t.equal(formatImageReference(parseImageReference(`busybox:latest@${REDIS}`)), `docker.io/library/busybox:latest@${REDIS}`);
  t.equal(formatImageReference(parseImageReference('nginx')), 'docker.io/library/nginx');
});

t.test('explicitHost', async (t) => {
  t.equal(parseImageReference('nginx').explicitHost, false);
  t.equal(parseImageReference('org/app').explicitHost, false);
  t.equal(parseImageReference('docker.io/nginx').explicitHost, true);
  t.equal(parseImageReference('localhost/x').explicitHost, true);
  t.equal(parseImageReference('ghcr.io/org/app').explicitHost, true);
});

t.test('invalid references: distribution tables', async (t) => {
  for (const input of [
    '', ':justtag', `@${D}`, 'Uppercase:tag', 'test:5000/Uppercase/lowercase:tag', 'aa/asdf$$^/aa',
    '[2001:db8::1]', '[2001:db8::1]:5000', '[2001:db8::1]:tag', '[fe80::1%eth0]:5000/repo',
    '[fe80::1%@invalidzone]:5000/repo', 'https://github.com/docker/docker', 'docker/Docker', '-docker',
    '-docker/docker', '-docker.io/docker/docker', 'docker///docker', 'docker.io/docker/Docker',
    'docker.io/docker///docker', '[fc00::1]', '[fc00::1]:5000', 'fc00::1:5000/debian',
    '[fe80::1%eth0]:5000/debian', '[2001:db8:3:4::192.0.2.33]:5000/debian', 'docker-/docker',
    '-docker-/docker', '____/____', '_docker/_docker', 'dock..er/docker', 'dock_.er/docker',
    'dock-.er/docker', 'docker/', 'nginx:', 'nginx:-tag', `nginx:${'x'.repeat(129)}`, 'nginx@', 'a b',
    ' nginx', 'nginx\n'
  ]) invalid(t, input);
  invalid(t, 'Uppercase:tag', /lowercase/);
  invalid(t, 'test:5000/Uppercase/lowercase:tag', /lowercase/);
  invalid(t, '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', /hexadecimal/);
  invalid(t, `repo@sha256:${'f'.repeat(34)}`, /length/);
  invalid(t, `validname@invaliddigest:${F64}`, /unsupported/);
  invalid(t, `repo@sha256:${'F'.repeat(64)}`, /lower-case/);
  invalid(t, 'repo@sha256:xyz', /digest/);
  invalid(t, `${'a/'.repeat(128)}a:tag`, /255/);
  invalid(t, 'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker', /255/);
  invalid(t, `ghcr.io/${'a'.repeat(1100)}`, /1024/);
});

t.test('distribution valid names', async (t) => {
  for (const input of [
    'docker/docker', 'library/debian', 'debian', 'docker.io/docker/docker', 'docker.io/library/debian',
    'docker.io/debian', 'index.docker.io/docker/docker', 'index.docker.io/library/debian',
    'index.docker.io/debian', '127.0.0.1:5000/docker/docker', '127.0.0.1:5000/library/debian',
    '127.0.0.1:5000/debian', '192.168.0.1', '192.168.0.1:80', '192.168.0.1:8/debian',
    '192.168.0.2:25000/debian', 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    '[fc00::1]:5000/docker', '[fc00::1]:5000/docker/docker', '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
    'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'Docker/docker',
    'DOCKER/docker', 'docker-rules/docker', 'docker---rules/docker', 'doc/docker', 'd/docker', 'jess/t',
    'dock__er/docker', `${'a/'.repeat(120)}a`
  ]) {
    t.doesNotThrow(() => parseImageReference(input), input);
  }
});

t.test('the error names the input and why, and is bounded', async (t) => {
  try {
    parseImageReference('docker/Docker');
    t.fail('should throw');
  } catch (err) {
    t.match((err as Error).message, /docker\/Docker/);
    t.match((err as Error).message, /lowercase/);
  }
  try {
    parseImageReference(`${'A'.repeat(1000)}`);
    t.fail('should throw');
  } catch (err) {
    t.ok((err as Error).message.length < 500, 'message does not echo a huge input whole');
  }
});

t.test('configured default prefix and namespace', async (t) => {
  const quay = { prefix: 'quay.io' };
  t.equal(parseImageReference('argoproj/argocd', quay).name, 'quay.io/argoproj/argocd');
  t.equal(parseImageReference('nginx', quay).name, 'quay.io/nginx', 'no library/ outside Docker Hub');
  t.equal(parseImageReference('nginx', { prefix: 'quay.io', namespace: 'base' }).name, 'quay.io/base/nginx');
  t.equal(parseImageReference('quay.io/nginx', { prefix: 'quay.io', namespace: 'base' }).name, 'quay.io/base/nginx');
  t.equal(parseImageReference('org/nginx', { prefix: 'quay.io', namespace: 'base' }).name, 'quay.io/org/nginx');
  t.equal(parseImageReference('ghcr.io/nginx', { prefix: 'quay.io', namespace: 'base' }).name, 'ghcr.io/nginx');
  t.equal(parseImageReference('docker.io/nginx', quay).name, 'docker.io/library/nginx', 'explicit Docker Hub keeps library/');
  t.equal(parseImageReference('nginx', { prefix: 'localhost:5000' }).name, 'localhost:5000/nginx');
  t.equal(parseImageReference('nginx', { prefix: 'index.docker.io' }).name, 'docker.io/library/nginx');
  t.equal(parseImageReference('nginx', { prefix: 'docker.io', namespace: 'myorg' }).name, 'docker.io/myorg/nginx');
  const mirror = parseImageReference('nginx:1', { prefix: 'registry.example.com/mirror' });
  t.equal(mirror.host, 'registry.example.com');
  t.equal(mirror.repository, 'mirror/nginx');
  t.equal(mirror.tag, '1');
  t.equal(mirror.explicitHost, false);
  t.equal(parseImageReference('nginx', { prefix: 'QUAY.IO' }).host, 'quay.io');
});

// distribution/reference reference_test.go (TestReferenceParse) and normalize_test.go: since
// v0.6 the 255-character limit (RepositoryNameTotalLengthMax) is on the repository path,
// the host not counted.
t.test('name length: the repository path is bounded, not host plus path', async (t) => {
  invalid(t, `domain/${'a'.repeat(256)}:tag`, /255/);
  invalid(t, `example.com/${'a'.repeat(256)}`, /255/);
  // 255 characters of path, a tag that would put host plus path over the limit
  const long = `${'a/'.repeat(127)}a`;
  const ref = parseImageReference(`${long}:tag-puts-this-over-max`);
  t.equal(ref.host, 'docker.io');
  t.equal(ref.repository, long);
  t.equal(ref.repository.length, 255);
  t.equal(ref.tag, 'tag-puts-this-over-max');
  // exactly 255 behind a long host is valid; 256 is not
  const host = `${'h'.repeat(60)}.example.com:5000`;
  t.equal(parseImageReference(`${host}/${'b'.repeat(255)}`).repository.length, 255);
  invalid(t, `${host}/${'b'.repeat(256)}`, /255/);
  // Docker Hub's implicit library/ counts, as the path is normalized first
  t.equal(parseImageReference('c'.repeat(247)).repository.length, 255);
  invalid(t, 'c'.repeat(248), /255/);
});

// the rest of distribution/reference's TestReferenceParse table not covered above
t.test('distribution TestReferenceParse: tags, digests and hosts', async (t) => {
  const ok: Array<[string, string, string, string?, string?]> = [
    ['test_com', 'docker.io', 'library/test_com'],
    ['test.com:tag', 'docker.io', 'library/test.com', 'tag'],
    ['test.com:5000', 'docker.io', 'library/test.com', '5000'],
    ['test.com/repo:tag', 'test.com', 'repo', 'tag'],
    ['test:5000/repo', 'test:5000', 'repo'],
    ['test:5000/repo:tag', 'test:5000', 'repo', 'tag'],
    [`test:5000/repo@sha256:${F64}`, 'test:5000', 'repo', undefined, `sha256:${F64}`],
    [`test:5000/repo:tag@sha256:${F64}`, 'test:5000', 'repo', 'tag', `sha256:${F64}`],
    ['sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com', 'bar/baz/quux'],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag'],
    ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io', 'test.example.com/my-app', 'test.example.com'],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com', 'myimage', 'xn--n3h.com'],
    [`xn--7o8h.com/myimage:xn--7o8h.com@sha512:${'f'.repeat(128)}`, 'xn--7o8h.com', 'myimage', 'xn--7o8h.com', `sha512:${'f'.repeat(128)}`],
    ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080'],
    ['foo/foo_bar.com:8080', 'docker.io', 'foo/foo_bar.com', '8080'],
    ['192.168.1.1', 'docker.io', 'library/192.168.1.1'],
    ['192.168.1.1:tag', 'docker.io', 'library/192.168.1.1', 'tag'],
    ['192.168.1.1:5000', 'docker.io', 'library/192.168.1.1', '5000'],
    ['192.168.1.1/repo', '192.168.1.1', 'repo'],
    ['192.168.1.1:5000/repo', '192.168.1.1:5000', 'repo'],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000', 'repo', '5050'],
    ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', '[2001:db8:1:2:3:4:5:6]', 'repo', 'tag'],
    ['[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', 'repo'],
    ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000', 'repo', 'tag'],
    [`[2001:db8::1]:5000/repo@sha256:${F64}`, '[2001:db8::1]:5000', 'repo', undefined, `sha256:${F64}`],
    [`[2001:db8::1]:5000/repo:tag@sha256:${F64}`, '[2001:db8::1]:5000', 'repo', 'tag', `sha256:${F64}`],
    ['[2001:db8::]:5000/repo', '[2001:db8::]:5000', 'repo'],
    ['[::1]:5000/repo', '[::1]:5000', 'repo'],
    ['lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase']
  ];
  for (const [input, host, repository, tag, digest] of ok) {
    const ref = parseImageReference(input);
    t.same([ref.host, ref.repository, ref.tag, ref.digest], [host, repository, tag, digest], input);
  }
  for (const input of [
    'test:5000/Uppercase/lowercase:tag', 'aa/asdf$$^/aa', `@sha256:${F64}`, ':justtag',
    `validname@invaliddigest:${F64}`, '[fe80::1%eth0]:5000/repo', '[fe80::1%@invalidzone]:5000/repo'
  ]) invalid(t, input);
});
