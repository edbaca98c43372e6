import t from 'tap';
import {
  APPLICATION_PULL_SECRET_ANNOTATION, IMAGE_LIST_ANNOTATION, aliasPullSecretAnnotation,
  credentialFromAnnotations, parseImageList
} from '../../src/argocd/annotations.js';

// Docker-style normalization, enough for these tests (the service passes the registry module's parser).
function normalize (ref: string): string {
  let s = ref.trim();
  const at = s.indexOf('@');
  if (at !== -1) s = s.slice(0, at);
  let host = 'docker.io';
  let path = s;
  const slash = s.indexOf('/');
  if (slash > 0) {
    const first = s.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      host = first;
      path = s.slice(slash + 1);
    }
  }
  const colon = path.indexOf(':');
  if (colon !== -1) path = path.slice(0, colon);
  if (!/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(path)) throw new Error(`invalid reference ${ref}`);
  if (host === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return `${host}/${path}`;
}

const P = 'argocd-image-updater.argoproj.io';

t.test('image-list parsing follows upstream notation', async (t) => {
  t.same(parseImageList('nginx'), [{ raw: 'nginx', image: 'nginx' }]);
  t.same(parseImageList('nginx:~1.26'), [{ raw: 'nginx:~1.26', image: 'nginx', constraint: '~1.26' }]);
  t.same(parseImageList('myalias=some/image'), [{ raw: 'myalias=some/image', alias: 'myalias', image: 'some/image' }]);
  t.same(parseImageList('  a = ghcr.io/org/app:^1.0 ,b=quay.io/x/y,, '), [
    { raw: 'a = ghcr.io/org/app:^1.0', alias: 'a', image: 'ghcr.io/org/app', constraint: '^1.0' },
    { raw: 'b=quay.io/x/y', alias: 'b', image: 'quay.io/x/y' }
  ], 'whitespace and empty entries are tolerated');
  t.same(parseImageList('argoproj/argocd=quay.io/argoproj/argocd:v2.x'), [
    { raw: 'argoproj/argocd=quay.io/argoproj/argocd:v2.x', alias: 'argoproj/argocd', image: 'quay.io/argoproj/argocd', constraint: 'v2.x' }
  ], 'an alias may hold /');
  t.same(parseImageList('localhost:5000/a/b:1.x'), [{ raw: 'localhost:5000/a/b:1.x', image: 'localhost:5000/a/b', constraint: '1.x' }],
    'a registry port is not a constraint');
  t.same(parseImageList('reg=localhost:5000/a/b'), [{ raw: 'reg=localhost:5000/a/b', alias: 'reg', image: 'localhost:5000/a/b' }]);
  t.same(parseImageList('nginx:>=1.0'), [{ raw: 'nginx:>=1.0', image: 'nginx', constraint: '>=1.0' }],
    '= inside a constraint does not make an alias');
  t.same(parseImageList('x=nginx:>=1.0'), [{ raw: 'x=nginx:>=1.0', alias: 'x', image: 'nginx', constraint: '>=1.0' }]);
  t.same(parseImageList('app@sha256:0123'), [{ raw: 'app@sha256:0123', image: 'app' }], 'a digest is dropped');
  t.same(parseImageList(''), []);
});

t.test('alias annotation keys turn / into _', async (t) => {
  t.equal(aliasPullSecretAnnotation('web'), `${P}/web.pull-secret`);
  t.equal(aliasPullSecretAnnotation('argoproj/argocd'), `${P}/argoproj_argocd.pull-secret`);
  t.equal(IMAGE_LIST_ANNOTATION, `${P}/image-list`);
  t.equal(APPLICATION_PULL_SECRET_ANNOTATION, `${P}/pull-secret`);
});

t.test('the alias pull-secret wins over the application-wide one', async (t) => {
  const r = credentialFromAnnotations({
    [`${P}/image-list`]: 'web=ghcr.io/org/web:^1, api=ghcr.io/org/api',
    [`${P}/api.pull-secret`]: '  pullsecret:argocd/api-creds ',
    [`${P}/pull-secret`]: 'secret:argocd/wide#creds'
  }, 'ghcr.io/org/api:2.0.1', normalize);
  t.equal(r.spec, 'pullsecret:argocd/api-creds');
  t.equal(r.level, 'image');
  t.same(r.steps.map((s) => [s.step, s.taken]), [
    ['image-list', true], ['image pull-secret', true], ['application pull-secret', false]
  ]);
  t.match(r.steps[0]?.reason, /api=ghcr\.io\/org\/api/);
  t.match(r.steps[1]?.reason, /api\.pull-secret names pullsecret:argocd\/api-creds/);
});

t.test('an alias with / is looked up with _', async (t) => {
  const annotations = {
    [`${P}/image-list`]: 'argoproj/argocd=quay.io/argoproj/argocd',
    [`${P}/argoproj_argocd.pull-secret`]: 'pullsecret:argocd/quay'
  };
  const r = credentialFromAnnotations(annotations, 'quay.io/argoproj/argocd:v2.9.0', normalize);
  t.equal(r.spec, 'pullsecret:argocd/quay');
  t.equal(r.level, 'image');

  const slashKey = credentialFromAnnotations({
    [`${P}/image-list`]: 'argoproj/argocd=quay.io/argoproj/argocd',
    [`${P}/argoproj/argocd.pull-secret`]: 'pullsecret:argocd/wrong'
  }, 'quay.io/argoproj/argocd', normalize);
  t.equal(slashKey.spec, undefined, 'the key written with / is not an annotation upstream reads');
  t.match(slashKey.steps[1]?.reason, /argoproj_argocd\.pull-secret is not set/);
});

t.test('application-wide pull-secret for listed images', async (t) => {
  const withAlias = credentialFromAnnotations({
    [`${P}/image-list`]: 'web=nginx:~1.26',
    [`${P}/pull-secret`]: 'pullsecret:argocd/dockerhub'
  }, 'docker.io/library/nginx:1.26.1', normalize);
  t.equal(withAlias.spec, 'pullsecret:argocd/dockerhub');
  t.equal(withAlias.level, 'application');
  t.match(withAlias.steps[1]?.reason, /web\.pull-secret is not set/);

  const noAlias = credentialFromAnnotations({
    [`${P}/image-list`]: 'nginx',
    [`${P}/pull-secret`]: 'env:DOCKERHUB'
  }, 'nginx:latest', normalize);
  t.equal(noAlias.spec, 'env:DOCKERHUB');
  t.equal(noAlias.level, 'application');
  t.match(noAlias.steps[1]?.reason, /has no alias/);
});

t.test('an image not in the image-list falls through to the registry level', async (t) => {
  const notListed = credentialFromAnnotations({
    [`${P}/image-list`]: 'web=ghcr.io/org/web',
    [`${P}/pull-secret`]: 'pullsecret:argocd/wide'
  }, 'quay.io/org/web:1.0', normalize);
  t.equal(notListed.spec, undefined, 'same path on another registry is another image');
  t.same(notListed.steps.map((s) => s.taken), [false, false, false]);
  t.match(notListed.steps[0]?.reason, /no entry .* matches quay\.io\/org\/web/);
  t.match(notListed.steps[2]?.reason, /registry level/);

  const noList = credentialFromAnnotations({ [`${P}/pull-secret`]: 'pullsecret:argocd/wide' }, 'nginx', normalize);
  t.equal(noList.spec, undefined);
  t.match(noList.steps[0]?.reason, /image-list is not set/);

  const nothing = credentialFromAnnotations({ [`${P}/image-list`]: 'nginx' }, 'nginx', normalize);
  t.equal(nothing.spec, undefined, 'listed, but no pull secret anywhere');
  t.match(nothing.steps[2]?.reason, /pull-secret is not set; falls through/);

  const empty = credentialFromAnnotations({
    [`${P}/image-list`]: 'w=nginx',
    [`${P}/w.pull-secret`]: '  ',
    [`${P}/pull-secret`]: ''
  }, 'nginx', normalize);
  t.equal(empty.spec, undefined, 'empty annotations count as not set, as upstream');
});

t.test('matching compares normalized names without tag or digest', async (t) => {
  const annotations = {
    [`${P}/image-list`]: 'first=ghcr.io/org/app:^1, second=ghcr.io/org/app',
    [`${P}/first.pull-secret`]: 'pullsecret:argocd/first',
    [`${P}/second.pull-secret`]: 'pullsecret:argocd/second'
  };
  const digest = credentialFromAnnotations(annotations, `ghcr.io/org/app@sha256:${'a'.repeat(64)}`, normalize);
  t.equal(digest.spec, 'pullsecret:argocd/first', 'a digest reference matches, the first matching entry wins');

  const hub = credentialFromAnnotations({
    [`${P}/image-list`]: 'hub=library/nginx',
    [`${P}/hub.pull-secret`]: 'pullsecret:argocd/hub'
  }, 'docker.io/library/nginx:1.27', normalize);
  t.equal(hub.spec, 'pullsecret:argocd/hub', 'library/nginx and docker.io/library/nginx are the same image');

  const bad = credentialFromAnnotations({
    [`${P}/image-list`]: 'x=Not A Ref, ok=nginx',
    [`${P}/ok.pull-secret`]: 'pullsecret:argocd/ok'
  }, 'nginx', normalize);
  t.equal(bad.spec, 'pullsecret:argocd/ok', 'entries that are not references are skipped');

  const badOnly = credentialFromAnnotations({ [`${P}/image-list`]: 'x=Not A Ref' }, 'nginx', normalize);
  t.match(badOnly.steps[0]?.reason, /ignored: "x=Not A Ref"/);
});

// argocd-image-updater's own tests of image-list entries (registry-scanner pkg/image
// image_test.go Test_ParseImageTags, pkg/argocd argocd_test.go Test_parseImageList): the text
// before the first "=" is the alias, whatever it holds, and an empty alias is no alias.
t.test('image-list entries as upstream reads them', async (t) => {
  t.same(parseImageList(' foo, bar ').map((e) => e.raw), ['foo', 'bar']);
  t.same(parseImageList(' foo, bar,baz = qux ').map((e) => e.raw), ['foo', 'bar', 'baz = qux']);
  t.same(parseImageList('foo,bar,baz=qux').map((e) => e.raw), ['foo', 'bar', 'baz=qux']);
  t.same(parseImageList('foo=bar'), [{ raw: 'foo=bar', alias: 'foo', image: 'bar' }]);
  t.same(parseImageList('jannfis/test-image:0.1'), [{ raw: 'jannfis/test-image:0.1', image: 'jannfis/test-image', constraint: '0.1' }]);
  t.same(parseImageList('gcr.io/jannfis/test-image:0.1'), [{ raw: 'gcr.io/jannfis/test-image:0.1', image: 'gcr.io/jannfis/test-image', constraint: '0.1' }]);
  t.same(parseImageList('gcr.io/jannfis/test-image@sha256:abcde'), [{ raw: 'gcr.io/jannfis/test-image@sha256:abcde', image: 'gcr.io/jannfis/test-image' }]);
  t.same(parseImageList('gcr.io/jannfis/test-image:test-tag@sha256:abcde'),
    [{ raw: 'gcr.io/jannfis/test-image:test-tag@sha256:abcde', image: 'gcr.io/jannfis/test-image', constraint: 'test-tag' }]);
  t.same(parseImageList('jannfis/orig-image=gcr.io/jannfis/test-image:0.1'),
    [{ raw: 'jannfis/orig-image=gcr.io/jannfis/test-image:0.1', alias: 'jannfis/orig-image', image: 'gcr.io/jannfis/test-image', constraint: '0.1' }]);
  t.same(parseImageList('ghcr.io:4567/jannfis/orig-image=gcr.io:1234/jannfis/test-image:0.1'),
    [{ raw: 'ghcr.io:4567/jannfis/orig-image=gcr.io:1234/jannfis/test-image:0.1', alias: 'ghcr.io:4567/jannfis/orig-image', image: 'gcr.io:1234/jannfis/test-image', constraint: '0.1' }],
    'an alias that names a registry with a port');
  t.same(parseImageList('jannfis/orig-image=gcr.io/jannfis/test-image'),
    [{ raw: 'jannfis/orig-image=gcr.io/jannfis/test-image', alias: 'jannfis/orig-image', image: 'gcr.io/jannfis/test-image' }]);
  t.same(parseImageList('classic-web=registry:5000/classic-web'),
    [{ raw: 'classic-web=registry:5000/classic-web', alias: 'classic-web', image: 'registry:5000/classic-web' }], 'upstream #273');
  t.same(parseImageList('jannfis/argocd=jannfis/orig-image:0.1'),
    [{ raw: 'jannfis/argocd=jannfis/orig-image:0.1', alias: 'jannfis/argocd', image: 'jannfis/orig-image', constraint: '0.1' }]);
  t.same(parseImageList('  =docker.io/library/nginx:1.21'),
    [{ raw: '=docker.io/library/nginx:1.21', image: 'docker.io/library/nginx', constraint: '1.21' }], 'an empty alias is no alias');
  t.same(parseImageList(' = nginx'), [{ raw: '= nginx', image: 'nginx' }]);
});

t.test('entries with such aliases still list their image', async (t) => {
  const ported = credentialFromAnnotations({
    [`${P}/image-list`]: 'ghcr.io:4567/x/orig=gcr.io:1234/x/app',
    [`${P}/pull-secret`]: 'pullsecret:argocd/app-wide'
  }, 'gcr.io:1234/x/app:1.0', normalize);
  t.equal(ported.spec, 'pullsecret:argocd/app-wide', 'listed: the application-wide pull secret applies');
  t.match(ported.steps[0], { step: 'image-list', taken: true });
  // the alias annotation key keeps its characters (`/` becomes `_`)
  const aliased = credentialFromAnnotations({
    [`${P}/image-list`]: 'ghcr.io:4567/x/orig=gcr.io:1234/x/app',
    [`${P}/ghcr.io:4567_x_orig.pull-secret`]: 'pullsecret:argocd/alias'
  }, 'gcr.io:1234/x/app', normalize);
  t.equal(aliased.spec, 'pullsecret:argocd/alias');
  const empty = credentialFromAnnotations({
    [`${P}/image-list`]: '  =docker.io/library/nginx:1.21',
    [`${P}/pull-secret`]: 'pullsecret:argocd/app-wide'
  }, 'nginx', normalize);
  t.equal(empty.spec, 'pullsecret:argocd/app-wide');
  t.equal(empty.level, 'application');
  t.match(empty.steps[1], { step: 'image pull-secret', taken: false, reason: /has no alias/ });
});

t.test('annotations are read as own properties only', async (t) => {
  const annotations = Object.create({ [`${P}/pull-secret`]: 'pullsecret:argocd/inherited' }) as Record<string, string>;
  annotations[`${P}/image-list`] = 'constructor=nginx';
  const r = credentialFromAnnotations(annotations, 'nginx', normalize);
  t.equal(r.spec, undefined, 'an inherited annotation is not an annotation');
  const proto = credentialFromAnnotations({ [`${P}/image-list`]: 'toString=nginx' }, 'nginx', normalize);
  t.equal(proto.spec, undefined);
  t.match(proto.steps[1], { step: 'image pull-secret', reason: /is not set/ });
});
