// The chart values users know from argo-helm's argocd-image-updater chart, rendered by the real helm:
// authScripts, extraEnvFrom, initContainers, extraObjects, namespaceOverride, updateStrategy, the
// ServiceMonitor's settings, icon and maintainers, a README generated from values.yaml, and pod
// templates that a chart bump leaves alone.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runExtScript } from '../../src/credentials/ext.js';
import { chart, NS, one, ofKind, render, RELEASE, root, runHelm, tempDir, type Obj } from './helm.js';
import { needTool } from '../helpers/tools.js';

const FULL = `${RELEASE}-credbroker`;
const deployment = (docs: Obj[]): Obj => one(docs, 'Deployment');
const container = (docs: Obj[]): Obj => deployment(docs).spec.template.spec.containers[0];

t.test('Chart.yaml: icon and maintainers', async (t) => {
  const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as Obj;
  t.match(meta.icon, /^https:\/\//, 'an https icon URL');
  const local = /\/main\/(.+)$/.exec(String(meta.icon))?.[1];
  t.ok(local !== undefined && existsSync(join(root, local)), `the icon file is in the repository (${local ?? '?'})`);
  t.ok(Array.isArray(meta.maintainers) && meta.maintainers.length > 0, 'maintainers');
  for (const m of meta.maintainers as Obj[]) t.ok(m.name, 'each maintainer has a name');
});

t.test('the chart README is generated from values.yaml and up to date', async (t) => {
  const work = tempDir(t);
  const bin = join(root, 'node_modules', '.bin', 'readme-generator');
  const regenerate = (values: string): string => {
    const readme = join(work, 'README.md');
    cpSync(join(chart, 'README.md'), readme);
    const v = join(work, 'values.yaml');
    writeFileSync(v, values);
    const r = spawnSync(bin, ['--values', v, '--readme', readme], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) {
      const errors = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('ERROR')).join('\n');
      throw new Error(`readme-generator refused values.yaml: give each value a "## @param key description" comment above its block, then run npm run chart:readme\n${errors}`);
    }
    return readFileSync(readme, 'utf8');
  };
  const values = readFileSync(join(chart, 'values.yaml'), 'utf8');
  const committed = readFileSync(join(chart, 'README.md'), 'utf8');
  t.equal(regenerate(values), committed, 'helm/credbroker/README.md is stale: run npm run chart:readme');
  for (const key of Object.keys(parse(values) as Obj)) t.match(committed, `\`${key}`, `the README documents ${key}`);
  const changed = regenerate(values.replace('## @param replicaCount number of pods', '## @param replicaCount how many pods'));
  t.not(changed, committed, 'a changed description changes the README (the check can fail)');
});

if (needTool(t, 'helm') !== undefined) {
  t.test('helm lint --strict with every new value set', async (t) => {
    const r = runHelm(['lint', '--strict', chart], {
      namespaceOverride: 'credbroker',
      updateStrategy: { type: 'Recreate' },
      extraEnvFrom: [{ secretRef: { name: 'cloud' } }],
      initContainers: [{ name: 'init', image: 'busybox:1.36', command: ['true'] }],
      extraObjects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b' } }],
      authScripts: { enabled: true, scripts: { 'ecr.sh': '#!/bin/sh\necho AWS:token\n' } },
      serviceMonitor: { enabled: true, namespace: 'monitoring', relabelings: [{ action: 'labeldrop', regex: 'pod' }], metricRelabelings: [{ action: 'drop', sourceLabels: ['__name__'], regex: 'nodejs_.*' }], scheme: 'https', tlsConfig: { insecureSkipVerify: true } },
      prometheusRule: { enabled: true },
      grafanaDashboard: { enabled: true }
    });
    t.equal(r.status, 0, r.stdout + r.stderr);
  });

  t.test('a chart version bump leaves the pod template as it was', async (t) => {
    const work = tempDir(t);
    const bumped = join(work, 'credbroker');
    cpSync(chart, bumped, { recursive: true });
    const meta = parse(readFileSync(join(bumped, 'Chart.yaml'), 'utf8')) as Obj;
    meta.version = '99.1.0';
    writeFileSync(join(bumped, 'Chart.yaml'), stringify(meta));
    const values = { authScripts: { enabled: true, scripts: { 'a.sh': '#!/bin/sh\necho a:b\n' } }, podLabels: { team: 'x' } };
    const before = deployment(render(values));
    const after = deployment(render(values, bumped));
    t.not(before.metadata.labels['helm.sh/chart'], after.metadata.labels['helm.sh/chart'], 'the bump did change the chart label of the Deployment');
    t.same(after.spec.template, before.spec.template, 'the pod template is identical');
    t.notOk(Object.keys(before.spec.template.metadata.labels as Obj).some((k) => k === 'helm.sh/chart'), 'no chart label on pods');
    t.equal(before.spec.template.metadata.labels.team, 'x', 'podLabels still reach the pods');
  });

  t.test('namespaceOverride moves every namespaced object and every reference to the namespace', async (t) => {
    const docs = render({ namespaceOverride: 'credbroker', serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } });
    for (const d of docs) {
      if (d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding') continue;
      if (d.kind === 'Role' || d.kind === 'RoleBinding') continue; // in the Secret namespaces, checked below
      t.equal(d.metadata.namespace, 'credbroker', `${d.kind as string}/${d.metadata.name as string}`);
    }
    t.same(ofKind(docs, 'Role').map((r) => r.metadata.namespace).sort(), ['credbroker', 'credbroker'], 'Secrets and Applications of the override namespace by default');
    for (const b of [...ofKind(docs, 'RoleBinding'), ...ofKind(docs, 'ClusterRoleBinding')]) {
      t.same(b.subjects.map((s: Obj) => s.namespace), ['credbroker'], `${b.kind as string} binds the ServiceAccount of the override namespace`);
    }
    const env = new Map((container(docs).env as Obj[]).map((e) => [e.name, e.value]));
    t.equal(env.get('SECRET_NAMESPACES'), 'credbroker');
    const policy = parse(one(docs, 'ConfigMap', '-policy').data['policy.yaml'] as string) as Obj;
    t.same(policy.rules[0].subjects, ['system:serviceaccount:credbroker:*'], 'the default policy admits that namespace\'s ServiceAccounts');
    const sm = one(docs, 'ServiceMonitor');
    t.same(sm.spec.namespaceSelector.matchNames, ['credbroker']);
    t.match(one(docs, 'PrometheusRule').spec.groups[0].rules[0].expr, 'namespace="credbroker"');
    const np = one(docs, 'NetworkPolicy');
    t.equal(np.spec.ingress[0].from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'], 'credbroker');
    t.equal(render()[0]?.metadata.namespace, NS, 'without it, the release namespace');
  });

  t.test('updateStrategy', async (t) => {
    t.same(deployment(render()).spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } }, 'default: never below the replica count');
    t.same(deployment(render({ updateStrategy: { type: 'Recreate' } })).spec.strategy, { type: 'Recreate' }, 'Recreate drops rollingUpdate (the API refuses both)');
    t.same(deployment(render({ updateStrategy: { rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } } })).spec.strategy,
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }, 'values merge into the default');
    const bad = runHelm(['template', RELEASE, chart], { updateStrategy: { type: 'BlueGreen' } });
    t.not(bad.status, 0, 'an unknown strategy type is refused');
  });

  t.test('extraEnvFrom and initContainers (templated)', async (t) => {
    const docs = render({
      extraEnvFrom: [{ secretRef: { name: 'cloud-creds' } }, { configMapRef: { name: 'cloud-settings' } }],
      initContainers: [{ name: 'wait', image: 'busybox:1.36', args: ['echo', '{{ .Release.Name }}'] }]
    });
    t.same(container(docs).envFrom, [{ secretRef: { name: 'cloud-creds' } }, { configMapRef: { name: 'cloud-settings' } }]);
    t.same(deployment(docs).spec.template.spec.initContainers, [{ name: 'wait', image: 'busybox:1.36', args: ['echo', RELEASE] }]);
    const plain = render();
    t.notOk(container(plain).envFrom, 'no envFrom by default');
    t.notOk(deployment(plain).spec.template.spec.initContainers, 'no initContainers by default');
  });

  t.test('extraObjects: objects and strings, templated', async (t) => {
    const docs = render({
      extraObjects: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ .Release.Name }}-extra', namespace: '{{ .Release.Namespace }}' }, data: { a: 'b' } },
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include "credbroker.fullname" . }}-extra\nstringData:\n  k: v\n'
      ]
    });
    t.same(one(docs, 'ConfigMap', '-extra').metadata, { name: `${RELEASE}-extra`, namespace: NS });
    t.equal(one(docs, 'Secret').metadata.name, `${FULL}-extra`);
  });

  t.test('authScripts: a ConfigMap mounted executable, and an ext: reference to it yields the credential', async (t) => {
    const script = '#!/bin/sh\necho "robot:$(printf %s pw-from-script)"\n';
    const docs = render({ authScripts: { enabled: true, scripts: { 'ecr.sh': script, 'other.sh': '#!/bin/sh\nexit 3\n' } } });
    const cm = one(docs, 'ConfigMap', '-authscripts');
    t.equal(cm.metadata.name, `${FULL}-authscripts`);
    t.same(Object.keys(cm.data as Obj).sort(), ['ecr.sh', 'other.sh']);
    const pod = deployment(docs).spec.template.spec;
    const volume = (pod.volumes as Obj[]).find((v) => v.configMap?.name === cm.metadata.name) as Obj;
    t.ok(volume, 'a volume of that ConfigMap');
    t.equal(volume.configMap.defaultMode, 0o555, 'mode 0555: executable, not writable');
    const mount = (container(docs).volumeMounts as Obj[]).find((m) => m.name === volume.name) as Obj;
    t.equal(mount.mountPath, '/scripts');
    t.equal(mount.readOnly, true);
    t.notOk(mount.subPath, 'a directory mount, so updates reach the scripts');

    // lay the files out as the kubelet would and run the one an ext: reference names
    const node = tempDir(t);
    const dir = join(node, mount.mountPath as string);
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(cm.data as Record<string, string>)) {
      writeFileSync(join(dir, name), text);
      chmodSync(join(dir, name), volume.configMap.defaultMode as number);
    }
    const cred = await runExtScript(join(dir, 'ecr.sh'), { timeoutMs: 5000, maxOutputBytes: 4096, env: { PATH: process.env.PATH } });
    t.same([cred.username, cred.password], ['robot', 'pw-from-script']);

    const named = render({ authScripts: { enabled: true, name: 'my-scripts', mountPath: '/opt/auth', scripts: { 'a.sh': script } } });
    t.equal(one(named, 'ConfigMap', 'my-scripts').metadata.name, 'my-scripts');
    t.ok((container(named).volumeMounts as Obj[]).some((m) => m.mountPath === '/opt/auth'), 'mountPath is used');
    t.equal(ofKind(render({ authScripts: { scripts: { 'a.sh': script } } }), 'ConfigMap').length, 2, 'nothing while disabled');
    const bad = runHelm(['template', RELEASE, chart], { authScripts: { enabled: true, scripts: { '../evil.sh': script } } });
    t.not(bad.status, 0, 'a script name that is not a file name is refused');
  });

  t.test('ServiceMonitor: namespace, relabelings, metricRelabelings, scheme, tlsConfig', async (t) => {
    const relabelings = [{ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }];
    const metricRelabelings = [{ action: 'drop', sourceLabels: ['__name__'], regex: 'nodejs_gc_.*' }];
    const tlsConfig = { insecureSkipVerify: false, serverName: 'credbroker.argocd.svc' };
    const sm = one(render({ serviceMonitor: { enabled: true, namespace: 'monitoring', relabelings, metricRelabelings, scheme: 'https', tlsConfig } }), 'ServiceMonitor');
    t.equal(sm.metadata.namespace, 'monitoring');
    t.same(sm.spec.namespaceSelector.matchNames, [NS], 'still selects the release namespace');
    const ep = sm.spec.endpoints[0] as Obj;
    t.same(ep.relabelings, relabelings);
    t.same(ep.metricRelabelings, metricRelabelings);
    t.same(ep.tlsConfig, tlsConfig);
    t.equal(ep.scheme, 'https');
    const plain = one(render({ serviceMonitor: { enabled: true } }), 'ServiceMonitor');
    t.equal(plain.metadata.namespace, NS);
    t.same(Object.keys(plain.spec.endpoints[0] as Obj).sort(), ['interval', 'path', 'port', 'scrapeTimeout'], 'nothing extra by default');
  });
}
