// The chart's kubelet provider parts, rendered by the real helm: the DaemonSet that copies the
// executable to the nodes (off by default), the NetworkPolicy rule for node addresses, a fixed ClusterIP.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { needTool } from '../helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chart = join(root, 'helm', 'credbroker');

type Obj = Record<string, any>;

const helm = needTool(t, 'helm');
const work = mkdtempSync(join(tmpdir(), 'credbroker-chart-kubelet-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
let fileNo = 0;

function template (values: Obj): { status: number | null, stdout: string, stderr: string } {
  const file = join(work, `values-${fileNo++}.json`);
  writeFileSync(file, JSON.stringify(values));
  const r = spawnSync(helm as string, ['template', 'cb', chart, '--namespace', 'argocd', '-f', file], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function render (values: Obj = {}): Obj[] {
  const r = template(values);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((d): d is Obj => d !== null);
}

const ofKind = (docs: Obj[], kind: string): Obj[] => docs.filter((d) => d.kind === kind);
const matches = (selector: Obj, labels: Obj): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);

if (helm !== undefined) {
  t.test('off by default: no DaemonSet, no node rule, no fixed ClusterIP', async (t) => {
    const docs = render();
    t.same(ofKind(docs, 'DaemonSet'), []);
    const np = ofKind(docs, 'NetworkPolicy')[0] as Obj;
    t.notOk(JSON.stringify(np.spec.ingress).includes('ipBlock'), 'no ipBlock peer');
    t.notOk('clusterIP' in (ofKind(docs, 'Service')[0] as Obj).spec, 'the ClusterIP is assigned');
  });

  t.test('the DaemonSet copies the executable to the hostPath, as root only where it must', async (t) => {
    const docs = render({ kubeletProvider: { enabled: true, hostPath: '/opt/kubelet/plugins', nodeSelector: { pool: 'workers' } } });
    const ds = ofKind(docs, 'DaemonSet');
    t.equal(ds.length, 1);
    const d = ds[0] as Obj;
    t.equal(d.metadata.namespace, 'argocd');
    const pod = d.spec.template.spec;
    t.same(d.spec.selector.matchLabels, d.spec.template.metadata.labels, 'the selector is the pod template\'s labels');
    t.notOk('helm.sh/chart' in d.spec.template.metadata.labels, 'no chart-version label on the pod template: a chart bump alone does not roll the nodes');
    t.equal(pod.automountServiceAccountToken, false);
    t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux', pool: 'workers' });
    t.same(pod.tolerations, [{ operator: 'Exists' }], 'every node, tainted ones included, by default');

    const volume = (pod.volumes as Obj[]).find((v) => v.hostPath !== undefined) as Obj;
    t.same(volume.hostPath, { path: '/opt/kubelet/plugins', type: 'DirectoryOrCreate' });
    const install = pod.initContainers[0] as Obj;
    const mount = (install.volumeMounts as Obj[]).find((m) => m.name === volume.name) as Obj;
    const script = (install.command as string[]).join(' ');
    t.match(script, /install -m 0755 \/app\/dist\/bin\/credbroker-kubelet-provider /, 'copies the executable the image builds (Dockerfile: npm run build:kubelet-provider)');
    t.match(script, new RegExp(`mv -f ${mount.mountPath as string}/\\S+ ${mount.mountPath as string}/credbroker-kubelet-provider$`), 'then renames it into place under the provider\'s name');
    const deployment = ofKind(docs, 'Deployment')[0] as Obj;
    t.equal(install.image, deployment.spec.template.spec.containers[0].image, 'the same image as the service');
    t.equal(install.securityContext.runAsUser, 0, 'the plugin directory belongs to root');
    t.same(install.securityContext.capabilities, { drop: ['ALL'] });
    t.equal(install.securityContext.allowPrivilegeEscalation, false);
    t.equal(install.securityContext.readOnlyRootFilesystem, true);
    const idle = pod.containers[0] as Obj;
    t.equal(idle.securityContext.runAsNonRoot, true, 'the long-running container is not root');
    t.same(idle.volumeMounts ?? [], [], 'and does not mount the host');

    const labels = d.spec.template.metadata.labels as Obj;
    const service = ofKind(docs, 'Service')[0] as Obj;
    t.notOk(matches(service.spec.selector, labels), 'the Service does not send callers to the DaemonSet pods');
    for (const kind of ['NetworkPolicy', 'PodDisruptionBudget']) {
      for (const o of ofKind(docs, kind)) {
        const sel = kind === 'NetworkPolicy' ? o.spec.podSelector.matchLabels : o.spec.selector.matchLabels;
        t.notOk(matches(sel, labels), `the ${kind} does not select the DaemonSet pods`);
      }
    }
  });

  t.test('node CIDRs open the service port to the host network; a fixed ClusterIP', async (t) => {
    const docs = render({ kubeletProvider: { nodeCIDRs: ['10.0.0.0/16', 'fd00:10::/64'] }, service: { clusterIP: '10.96.200.10' } });
    const np = ofKind(docs, 'NetworkPolicy')[0] as Obj;
    const rule = (np.spec.ingress as Obj[]).find((r) => (r.from as Obj[]).some((f) => f.ipBlock !== undefined)) as Obj;
    t.same(rule.from, [{ ipBlock: { cidr: '10.0.0.0/16' } }, { ipBlock: { cidr: 'fd00:10::/64' } }]);
    t.same(rule.ports, [{ port: 'http', protocol: 'TCP' }], 'only the service port');
    t.equal((ofKind(docs, 'Service')[0] as Obj).spec.clusterIP, '10.96.200.10');
  });

  t.test('the schema refuses bad values', async (t) => {
    const bad: Array<[string, Obj]> = [
      ['a CIDR that is not one', { kubeletProvider: { nodeCIDRs: ['nodes'] } }],
      ['a relative hostPath', { kubeletProvider: { enabled: true, hostPath: 'plugins' } }],
      ['an unknown key', { kubeletProvider: { enable: true } }],
      ['a ClusterIP that is not an address', { service: { clusterIP: 'credbroker.argocd' } }]
    ];
    for (const [what, values] of bad) {
      const r = template(values);
      t.not(r.status, 0, `${what}: refused`);
      t.match(r.stderr, /schema|values don't meet/i, `${what}: by the schema`);
    }
  });

  t.test('docs/kubelet.md names the values the chart has', async (t) => {
    const doc = readFileSync(join(root, 'docs', 'kubelet.md'), 'utf8');
    const values = readFileSync(join(chart, 'values.yaml'), 'utf8');
    for (const key of ['kubeletProvider.enabled', 'kubeletProvider.hostPath', 'kubeletProvider.nodeCIDRs', 'service.clusterIP']) {
      t.ok(doc.includes(key), `the doc names ${key}`);
      t.match(values, new RegExp(`^\\s+${key.split('.')[1] as string}:`, 'm'), `values.yaml has ${key}`);
    }
  });
}
