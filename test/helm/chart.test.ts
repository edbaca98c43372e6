// The Helm chart, rendered by the real helm: security settings, RBAC scope, env wiring, schema.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { evaluate, parsePolicy } from '../../src/policy/policy.js';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { loadSettings, SETTINGS } from '../../src/config/settings.js';
import { needTool } from '../helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chart = join(root, 'helm', 'credbroker');
const NS = 'argocd';
const RELEASE = 'cb';

type Obj = Record<string, any>;

const helm = needTool(t, 'helm');
const work = mkdtempSync(join(tmpdir(), 'credbroker-chart-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
let fileNo = 0;

function runHelm (args: string[], values?: Obj): { status: number | null, stdout: string, stderr: string } {
  const extra: string[] = [];
  if (values !== undefined) {
    const file = join(work, `values-${fileNo++}.json`);
    writeFileSync(file, JSON.stringify(values));
    extra.push('-f', file);
  }
  const r = spawnSync(helm as string, [...args, ...extra], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function render (values: Obj = {}): Obj[] {
  const r = runHelm(['template', RELEASE, chart, '--namespace', NS], values);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  const out: Obj[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const js = doc.toJS() as Obj | null;
    if (js !== null) out.push(js);
  }
  return out;
}

const ofKind = (docs: Obj[], kind: string): Obj[] => docs.filter((d) => d.kind === kind);
function one (docs: Obj[], kind: string, nameSuffix = ''): Obj {
  const found = ofKind(docs, kind).filter((d) => String(d.metadata.name).endsWith(nameSuffix));
  if (found.length !== 1) throw new Error(`expected one ${kind}${nameSuffix}, found ${found.length}`);
  return found[0] as Obj;
}
const container = (docs: Obj[]): Obj => one(docs, 'Deployment').spec.template.spec.containers[0];
function env (docs: Obj[]): Map<string, Obj> {
  return new Map((container(docs).env as Obj[]).map((e) => [e.name as string, e]));
}
const envValue = (docs: Obj[], name: string): string | undefined => env(docs).get(name)?.value;
const rules = (docs: Obj[]): Obj[] =>
  docs.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole').flatMap((r) => (r.rules ?? []).map((rule: Obj) => ({ ...rule, owner: r })));

/** The volume (and its source) that serves the file at `path` in the container. */
function volumeForFile (t: Test, docs: Obj[], path: string): { volume: Obj, file: string } {
  const c = container(docs);
  const mount = (c.volumeMounts as Obj[]).find((m) => path.startsWith(`${m.mountPath as string}/`));
  if (mount === undefined) throw new Error(`no volume mounted at ${path}`);
  const volume = (one(docs, 'Deployment').spec.template.spec.volumes as Obj[]).find((v) => v.name === mount.name);
  if (volume === undefined) throw new Error(`no volume ${mount.name as string}`);
  t.notOk(mount.subPath, `${path} is not a subPath mount (updates must reach it)`);
  return { volume, file: posix.relative(mount.mountPath, path) };
}

if (helm !== undefined) {
  const appVersion = String((parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as Obj).appVersion);

  t.test('helm lint passes with the defaults and with every switch on', async (t) => {
    const d = runHelm(['lint', '--strict', chart]);
    t.equal(d.status, 0, d.stdout + d.stderr);
    const all = runHelm(['lint', '--strict', chart], {
      auth: { mode: 'static', tokensSecret: { name: 'tokens' } },
      applicationsApi: 'argocd',
      argocd: { tokenSecret: { name: 'argocd-token' } },
      serviceMonitor: { enabled: true },
      autoscaling: { enabled: true },
      secretNamespaces: ['argocd', 'team-a']
    });
    t.equal(all.status, 0, all.stdout + all.stderr);
  });

  t.test('defaults render the expected objects', async (t) => {
    const docs = render();
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'NetworkPolicy', 'PodDisruptionBudget', 'ClusterRole', 'ClusterRoleBinding']) {
      t.equal(ofKind(docs, kind).length, 1, kind);
    }
    t.equal(ofKind(docs, 'ConfigMap').length, 2, 'registries and policy ConfigMaps');
    t.equal(ofKind(docs, 'HorizontalPodAutoscaler').length, 0, 'no HPA by default');
    t.equal(ofKind(docs, 'ServiceMonitor').length, 0, 'no ServiceMonitor by default');
    const dep = one(docs, 'Deployment');
    t.equal(dep.spec.replicas, 2);
    t.equal(container(docs).image, `ghcr.io/credbroker/credbroker:${appVersion}`, 'image tag defaults to appVersion');
    for (const d of docs) {
      const labels = d.metadata.labels ?? {};
      for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by']) {
        t.ok(labels[key], `${d.kind as string}/${d.metadata.name as string} has ${key}`);
      }
      if (d.kind !== 'ClusterRole' && d.kind !== 'ClusterRoleBinding') t.ok(d.metadata.namespace, `${d.kind as string} is namespaced`);
    }
    const svc = one(docs, 'Service');
    t.same(svc.spec.ports.map((p: Obj) => [p.port, p.targetPort]), [[8080, 'http']]);
    const podLabels = dep.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector as Obj)) t.equal(podLabels[k], v, `service selects pods by ${k}`);
    t.ok(dep.spec.template.metadata.annotations['checksum/registries'], 'config checksum rolls the pods');
  });

  t.test('pod and container security, probes, resources', async (t) => {
    const docs = render();
    const pod = one(docs, 'Deployment').spec.template.spec;
    const c = container(docs);
    t.equal(pod.securityContext.runAsNonRoot, true);
    t.ok(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0, 'numeric non-root user');
    t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    t.equal(c.securityContext.allowPrivilegeEscalation, false);
    t.equal(c.securityContext.readOnlyRootFilesystem, true);
    t.equal(c.securityContext.runAsNonRoot, true);
    t.same(c.securityContext.capabilities.drop, ['ALL']);
    t.notOk(c.securityContext.capabilities.add, 'no capability added');
    t.notOk(c.securityContext.privileged, 'not privileged');
    t.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault');
    t.same(c.ports.map((p: Obj) => [p.name, p.containerPort]), [['http', 8080]]);
    t.equal(c.livenessProbe.httpGet.path, '/healthz');
    t.equal(c.livenessProbe.httpGet.port, 'http');
    t.equal(c.readinessProbe.httpGet.path, '/readyz');
    t.equal(c.readinessProbe.httpGet.port, 'http');
    for (const kind of ['requests', 'limits']) {
      t.ok(c.resources[kind]?.cpu, `${kind}.cpu`);
      t.ok(c.resources[kind]?.memory, `${kind}.memory`);
    }
    t.same(env(docs).get('POD_NAMESPACE')?.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } }, 'POD_NAMESPACE from the downward API');
    const tmp = volumeForFile(t, docs, '/tmp/x');
    t.ok(tmp.volume.emptyDir, '/tmp is an emptyDir');
    t.equal(envValue(docs, 'PORT'), '8080');
    t.equal(envValue(docs, 'KUBE_MODE'), 'in-cluster');
  });

  t.test('registries and policy ConfigMaps are mounted where the service reads them', async (t) => {
    const registries = [
      { name: 'GitHub', prefix: 'ghcr.io/team-a', api_url: 'https://ghcr.io', credentials: 'pullsecret:argocd/ghcr', credsexpire: '12h' },
      { name: 'Docker Hub', prefix: 'docker.io', api_url: 'https://registry-1.docker.io', credentials: 'secret:argocd/hub#creds', defaultns: 'library', default: true, insecure: false, limit: 20 }
    ];
    const docs = render({ registries });
    const confPath = envValue(docs, 'REGISTRIES_CONF_PATH') as string;
    t.equal(confPath, '/app/config/registries.conf');
    const conf = volumeForFile(t, docs, confPath);
    const cm = ofKind(docs, 'ConfigMap').find((c) => c.metadata.name === conf.volume.configMap?.name);
    t.ok(cm, 'registries.conf comes from a rendered ConfigMap');
    t.same(parse(cm?.data[conf.file]), { registries }, 'registries.conf equals the registries value');

    const policyPath = envValue(docs, 'AUTH_POLICY_PATH') as string;
    const pol = volumeForFile(t, docs, policyPath);
    const pcm = ofKind(docs, 'ConfigMap').find((c) => c.metadata.name === pol.volume.configMap?.name);
    const policy = parse(pcm?.data[pol.file]) as Obj;
    t.same(policy.rules.map((r: Obj) => r.subjects), [[`system:serviceaccount:${NS}:*`]], 'default: ServiceAccounts of the release namespace');
    t.same([...policy.rules[0].actions].sort(), ['explain', 'registries', 'resolve', 'status', 'test', 'validate']);
    t.notOk(policy.rules[0].overrides, 'no request overrides by default');
    t.same(policy.rules[0].applications, [`${NS}/*`], 'default: the Applications of the release namespace');

    const custom = { rules: [{ subjects: ['system:serviceaccount:ci:builder'], actions: ['resolve'], registries: ['ghcr.io'] }] };
    const docs2 = render({ auth: { policy: custom } });
    const pcm2 = ofKind(docs2, 'ConfigMap').find((c) => c.metadata.name === pol.volume.configMap?.name);
    t.same(parse(pcm2?.data[pol.file]), custom, 'auth.policy is rendered as given');
    t.not(one(docs2, 'Deployment').spec.template.metadata.annotations['checksum/policy'],
      one(docs, 'Deployment').spec.template.metadata.annotations['checksum/policy'], 'a policy change changes the checksum');
  });

  t.test('RBAC: get/list/watch on secrets and serviceaccounts, only in the listed namespaces, no wildcard', async (t) => {
    const cases: Array<[Obj, string[]]> = [
      [{}, [NS]],
      [{ secretNamespaces: ['argocd', 'team-a', 'team-b'] }, ['argocd', 'team-a', 'team-b']],
      [{ secretNamespaces: ['registry-creds'] }, ['registry-creds']]
    ];
    for (const [values, namespaces] of cases) {
      const docs = render(values);
      t.equal(envValue(docs, 'SECRET_NAMESPACES'), namespaces.join(','), `SECRET_NAMESPACES for ${JSON.stringify(values)}`);
      const secretRules = rules(docs).filter((r) => (r.resources as string[]).some((x) => x === 'secrets' || x === 'serviceaccounts'));
      t.same(secretRules.map((r) => r.owner.kind), namespaces.map(() => 'Role'), 'only namespaced Roles grant secrets');
      t.same(secretRules.map((r) => r.owner.metadata.namespace).sort(), [...namespaces].sort(), 'one Role per listed namespace');
      for (const r of secretRules) {
        t.same([...r.verbs].sort(), ['get', 'list', 'watch']);
        t.same([...r.resources].sort(), ['secrets', 'serviceaccounts']);
        t.same(r.apiGroups, ['']);
        t.notOk(r.resourceNames, 'no resourceNames restriction needed for list/watch');
        const binding = ofKind(docs, 'RoleBinding').find((b) =>
          b.metadata.namespace === r.owner.metadata.namespace && b.roleRef.name === r.owner.metadata.name);
        t.ok(binding, `RoleBinding in ${r.owner.metadata.namespace as string}`);
        t.same(binding?.subjects, [{ kind: 'ServiceAccount', name: one(docs, 'ServiceAccount').metadata.name, namespace: NS }]);
      }
    }
  });

  t.test('no wildcard verb, resource or API group in any rendering', async (t) => {
    const variants: Obj[] = [
      {},
      { auth: { mode: 'static', tokensSecret: { name: 'tokens' } } },
      { auth: { mode: 'none', allowNoneInCluster: true } },
      { applicationsApi: 'argocd', argocd: { tokenSecret: { name: 't' } } },
      { secretNamespaces: ['a', 'b'], applicationNamespaces: ['c'] }
    ];
    for (const values of variants) {
      for (const r of rules(render(values))) {
        for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames', 'nonResourceURLs']) {
          const list = (r[field] ?? []) as string[];
          t.notOk(list.some((x) => x.includes('*')), `${r.owner.kind as string}/${r.owner.metadata.name as string} ${field} has no *`);
        }
        t.notOk((r.verbs as string[]).some((v) => ['update', 'patch', 'delete', 'deletecollection', 'escalate', 'bind', 'impersonate'].includes(v)),
          'no write verbs');
      }
    }
  });

  t.test('auth.mode: TokenReview ClusterRole only in kubernetes mode', async (t) => {
    const tokenReviewRules = (docs: Obj[]): Obj[] => rules(docs).filter((r) => (r.resources as string[]).includes('tokenreviews'));

    const k8s = render({ auth: { mode: 'kubernetes', audiences: ['credbroker', 'other'] } });
    t.equal(envValue(k8s, 'AUTH_MODE'), 'kubernetes');
    t.equal(envValue(k8s, 'AUTH_AUDIENCES'), 'credbroker,other');
    const tr = tokenReviewRules(k8s);
    t.equal(tr.length, 1);
    t.equal(tr[0]?.owner.kind, 'ClusterRole');
    t.same(tr[0]?.verbs, ['create']);
    t.same(tr[0]?.apiGroups, ['authentication.k8s.io']);
    const crb = one(k8s, 'ClusterRoleBinding');
    t.equal(crb.roleRef.name, tr[0]?.owner.metadata.name);
    t.same(crb.subjects, [{ kind: 'ServiceAccount', name: one(k8s, 'ServiceAccount').metadata.name, namespace: NS }]);
    t.notOk(env(k8s).has('AUTH_TOKENS_FILE'));

    const stat = render({ auth: { mode: 'static', tokensSecret: { name: 'caller-tokens', key: 'tokens.yaml' } } });
    t.equal(envValue(stat, 'AUTH_MODE'), 'static');
    t.equal(tokenReviewRules(stat).length, 0, 'no TokenReview access in static mode');
    const tokens = volumeForFile(t, stat, envValue(stat, 'AUTH_TOKENS_FILE') as string);
    t.equal(tokens.volume.secret?.secretName, 'caller-tokens');
    t.same(tokens.volume.secret?.items, [{ key: 'tokens.yaml', path: tokens.file }]);

    const none = render({ auth: { mode: 'none', allowNoneInCluster: true } });
    t.equal(envValue(none, 'AUTH_MODE'), 'none');
    t.equal(envValue(none, 'AUTH_ALLOW_NONE_IN_CLUSTER'), 'true');
    t.equal(tokenReviewRules(none).length, 0, 'no TokenReview access in none mode');
  });

  t.test('applicationsApi: Applications read access only with the kubernetes API', async (t) => {
    const appRules = (docs: Obj[]): Obj[] => rules(docs).filter((r) => (r.resources as string[]).includes('applications'));

    const k8s = render();
    t.equal(envValue(k8s, 'APPLICATIONS_API'), 'kubernetes');
    const ar = appRules(k8s);
    t.same(ar.map((r) => [r.owner.kind, r.owner.metadata.namespace]), [['Role', NS]], 'release namespace by default');
    t.same(ar[0]?.apiGroups, ['argoproj.io']);
    t.same([...(ar[0]?.verbs ?? [])].sort(), ['get', 'list', 'watch']);
    t.notOk(env(k8s).has('ARGOCD_TOKEN_FILE'), 'no Argo CD token without a Secret');

    const elsewhere = render({ applicationNamespaces: ['apps-a', 'apps-b'] });
    t.same(appRules(elsewhere).map((r) => r.owner.metadata.namespace).sort(), ['apps-a', 'apps-b']);
    for (const r of appRules(elsewhere)) {
      t.ok(ofKind(elsewhere, 'RoleBinding').some((b) => b.metadata.namespace === r.owner.metadata.namespace && b.roleRef.name === r.owner.metadata.name));
    }

    const argo = render({
      applicationsApi: 'argocd',
      argocd: { server: 'argocd.example.com:8443', tokenSecret: { name: 'credbroker-argocd', key: 'argocd.token' }, plaintext: true, insecure: true }
    });
    t.equal(appRules(argo).length, 0, 'no Applications access through the Kubernetes API');
    t.equal(envValue(argo, 'APPLICATIONS_API'), 'argocd');
    t.equal(envValue(argo, 'ARGOCD_SERVER'), 'argocd.example.com:8443');
    t.equal(envValue(argo, 'ARGOCD_PLAINTEXT'), 'true');
    t.equal(envValue(argo, 'ARGOCD_INSECURE'), 'true');
    const token = volumeForFile(t, argo, envValue(argo, 'ARGOCD_TOKEN_FILE') as string);
    t.equal(token.volume.secret?.secretName, 'credbroker-argocd');
    t.same(token.volume.secret?.items, [{ key: 'argocd.token', path: token.file }]);
    t.notOk(env(argo).has('ARGOCD_TOKEN'), 'the token is never a plain env value');

    const dflt = render();
    t.equal(envValue(dflt, 'ARGOCD_SERVER'), 'argocd-server.argocd');
    t.equal(envValue(dflt, 'ARGOCD_PLAINTEXT'), 'false');
    t.equal(envValue(dflt, 'ARGOCD_INSECURE'), 'false');
  });

  t.test('the remaining values reach their env vars', async (t) => {
    const docs = render({ logLevel: 'debug', rateLimitPerMinute: 0, extTimeout: '30s', cacheMaxStale: '10m', cacheMaxEntries: 250000, extraEnv: [{ name: 'HUB_CREDS', valueFrom: { secretKeyRef: { name: 'hub', key: 'creds' } } }] });
    t.equal(envValue(docs, 'LOG_LEVEL'), 'debug');
    t.equal(envValue(docs, 'RATE_LIMIT_PER_MINUTE'), '0');
    t.equal(envValue(render(), 'ANNOTATION_SOURCES'), 'secrets', 'annotations may name Secrets only by default');
    t.equal(envValue(render({ annotationSources: 'all' }), 'ANNOTATION_SOURCES'), 'all');
    t.equal(envValue(docs, 'EXT_TIMEOUT'), '30s');
    t.equal(envValue(docs, 'CACHE_MAX_STALE'), '10m');
    t.equal(envValue(docs, 'CACHE_MAX_ENTRIES'), '250000', 'a large bound is written as digits, not 2.5e+05');
    t.equal(envValue(render(), 'CACHE_MAX_ENTRIES'), '10000', 'the service default');
    t.same(env(docs).get('HUB_CREDS')?.valueFrom, { secretKeyRef: { name: 'hub', key: 'creds' } });
    const names = (container(docs).env as Obj[]).map((e) => e.name);
    t.equal(new Set(names).size, names.length, 'no env var twice');
  });

  t.test('serviceMonitor, networkPolicy, podDisruptionBudget, autoscaling switches', async (t) => {
    const sm = render({ serviceMonitor: { enabled: true, labels: { release: 'prom' } } });
    const mon = one(sm, 'ServiceMonitor');
    t.same(mon.spec.endpoints.map((e: Obj) => [e.port, e.path]), [['http', '/metrics']]);
    t.equal(mon.metadata.labels.release, 'prom');
    for (const [k, v] of Object.entries(mon.spec.selector.matchLabels as Obj)) t.equal(one(sm, 'Service').metadata.labels[k], v);

    const dflt = render();
    const np = one(dflt, 'NetworkPolicy');
    const podLabels = one(dflt, 'Deployment').spec.template.metadata.labels;
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels as Obj)) t.equal(podLabels[k], v, 'policy selects the pods');
    t.same(np.spec.policyTypes, ['Ingress']);
    const peers = (np.spec.ingress as Obj[]).flatMap((i) => i.from as Obj[]);
    t.ok(peers.some((p) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === NS && p.podSelector === undefined), 'callers of the release namespace');
    t.ok(peers.some((p) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring'), 'the Prometheus scrape');
    t.notOk(peers.some((p) => p.ipBlock !== undefined || (p.namespaceSelector !== undefined && Object.keys(p.namespaceSelector).length === 0 && p.podSelector === undefined)), 'no open peer');

    const callers = render({ networkPolicy: { allowedNamespaces: ['ci', 'apps'], allowedPodLabels: { 'credbroker-client': 'true' } } });
    const cPeers = (one(callers, 'NetworkPolicy').spec.ingress[0].from as Obj[]);
    t.same(cPeers.map((p) => p.namespaceSelector.matchLabels['kubernetes.io/metadata.name']), ['ci', 'apps']);
    t.ok(cPeers.every((p) => p.podSelector.matchLabels['credbroker-client'] === 'true'));

    t.equal(ofKind(render({ networkPolicy: { enabled: false } }), 'NetworkPolicy').length, 0, 'networkPolicy off');

    const pdb = one(dflt, 'PodDisruptionBudget');
    t.same(pdb.spec.selector.matchLabels, np.spec.podSelector.matchLabels);
    t.equal(ofKind(render({ podDisruptionBudget: { enabled: false } }), 'PodDisruptionBudget').length, 0, 'pdb off');

    const hpaDocs = render({ autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 7, targetCPUUtilizationPercentage: 60 } });
    const hpa = one(hpaDocs, 'HorizontalPodAutoscaler');
    t.equal(hpa.spec.scaleTargetRef.name, one(hpaDocs, 'Deployment').metadata.name);
    t.same([hpa.spec.minReplicas, hpa.spec.maxReplicas], [3, 7]);
    t.same(hpa.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }]);
    t.notOk('replicas' in one(hpaDocs, 'Deployment').spec, 'the HPA owns the replica count');
  });

  t.test('the rendered env, config and policy are accepted by the service', async (t) => {
    const saDir = join(work, 'serviceaccount');
    mkdirSync(saDir, { recursive: true });
    writeFileSync(join(saDir, 'token'), 'not-a-real-token');
    writeFileSync(join(saDir, 'namespace'), NS);
    const known = new Set(SETTINGS.map((s) => s.env));
    const settingsOf = (docs: Obj[]): ReturnType<typeof loadSettings> => {
      const vars: Record<string, string> = {};
      for (const e of container(docs).env as Obj[]) {
        t.ok(known.has(e.name), `${e.name as string} is a setting of the service`);
        vars[e.name] = e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? NS : e.value;
      }
      return loadSettings({ env: vars, argv: [], serviceAccountDir: saDir, cwd: work });
    };

    const dflt = settingsOf(render());
    t.match(dflt, {
      port: 8080, kubeMode: 'in-cluster', podNamespace: NS, secretNamespaces: [NS], authMode: 'kubernetes',
      authAudiences: ['credbroker'], applicationsApi: 'kubernetes', argocdServer: 'argocd-server.argocd',
      argocdPlaintext: false, argocdInsecure: false, registriesConfPath: '/app/config/registries.conf',
      authPolicyPath: '/app/policy/policy.yaml', rateLimitPerMinute: 600, logLevel: 'info'
    });
    const all = settingsOf(render({
      secretNamespaces: ['argocd', 'team-a'],
      auth: { mode: 'static', audiences: ['x', 'y'], tokensSecret: { name: 'tokens' } },
      applicationsApi: 'argocd',
      argocd: { server: 'argocd.example.com:443', tokenSecret: { name: 't' }, plaintext: true, insecure: true, caConfigMap: { name: 'ca' } },
      extTimeout: '30s', cacheMaxStale: '1h', cacheMaxEntries: 50000
    }));
    t.match(all, {
      secretNamespaces: ['argocd', 'team-a'], authMode: 'static', authAudiences: ['x', 'y'],
      authTokensFile: /^\/var\/run\/secrets\//, applicationsApi: 'argocd', argocdServer: 'argocd.example.com:443',
      argocdPlaintext: true, argocdInsecure: true, argocdTokenFile: '/var/run/secrets/argocd/token',
      argocdCaFile: /^\//, extTimeoutMs: 30_000, cacheMaxStaleMs: 3_600_000, cacheMaxEntries: 50_000
    });
    const none = settingsOf(render({ auth: { mode: 'none', allowNoneInCluster: true } }));
    t.equal(none.authMode, 'none', 'mode none starts in-cluster when allowed');

    const registries = [{ name: 'GitHub', prefix: 'ghcr.io', api_url: 'https://ghcr.io', credentials: 'pullsecret:argocd/ghcr', credsexpire: '12h', insecure: false, tagsortmode: 'latest-first' }];
    const docs = render({ registries });
    const cm = ofKind(docs, 'ConfigMap').find((c) => c.data['registries.conf'] !== undefined);
    const conf = parseRegistriesConf(cm?.data['registries.conf'], 'registries.conf');
    t.same(conf.registries.map((r) => [r.name, r.prefix]), [['GitHub', 'ghcr.io']], 'registries.conf parses');
    t.same(parseRegistriesConf(ofKind(render(), 'ConfigMap').find((c) => c.data['registries.conf'] !== undefined)?.data['registries.conf'], 'x').registries, [],
      'the empty default parses');

    const policyOf = (values: Obj) => parsePolicy(ofKind(render(values), 'ConfigMap').find((c) => c.data['policy.yaml'] !== undefined)?.data['policy.yaml']);
    const k8s = policyOf({});
    const sa = (ns: string) => ({ name: `system:serviceaccount:${ns}:app`, groups: ['system:serviceaccounts'], kind: 'serviceaccount' as const });
    t.equal(evaluate(k8s, { caller: sa(NS), action: 'resolve', registry: 'ghcr.io/org/app' }).allowed, true, 'a ServiceAccount of the release namespace may resolve');
    t.equal(evaluate(k8s, { caller: sa('other'), action: 'resolve', registry: 'ghcr.io/org/app' }).allowed, false, 'one of another namespace may not');
    t.equal(evaluate(k8s, { caller: sa(NS), action: 'invalidate' }).allowed, false, 'invalidate is not granted by default');
    t.equal(evaluate(k8s, { caller: sa(NS), action: 'resolve', registry: 'ghcr.io/org/app', application: `${NS}/guestbook` }).allowed, true,
      'an Application of the release namespace may be named');
    t.equal(evaluate(k8s, { caller: sa(NS), action: 'resolve', registry: 'ghcr.io/org/app', application: 'other/guestbook' }).allowed, false,
      'one of another namespace may not');
    const stat = policyOf({ auth: { mode: 'static', tokensSecret: { name: 'tokens' } } });
    t.equal(evaluate(stat, { caller: { name: 'static:ci', groups: [], kind: 'static' }, action: 'resolve', registry: 'ghcr.io/org/app' }).allowed, true, 'static callers may resolve in static mode');
    const none2 = policyOf({ auth: { mode: 'none', allowNoneInCluster: true } });
    t.equal(evaluate(none2, { caller: { name: 'anonymous', groups: [], kind: 'anonymous' }, action: 'resolve', registry: 'ghcr.io/org/app' }).allowed, true, 'anonymous callers may resolve in none mode');
  });

  t.test('NOTES tell a caller how to get a projected token and call the service', async (t) => {
    const r = runHelm(['install', RELEASE, chart, '--namespace', NS, '--dry-run=client']);
    t.equal(r.status, 0, r.stderr);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    t.match(notes, /serviceAccountToken:\s+path: token\s+audience: credbroker/);
    t.match(notes, 'curl -H "Authorization: Bearer $(cat /var/run/secrets/credbroker/token)"');
    t.match(notes, `http://${RELEASE}-credbroker.${NS}:8080/v1/credentials?image=ghcr.io/org/app`);
  });

  t.test('a wrong value fails helm template with the value named', async (t) => {
    const bad: Array<[Obj, RegExp]> = [
      [{ replicaCount: 'two' }, /replicaCount/],
      [{ auth: { mode: 'bogus' } }, /auth\/mode/],
      [{ applicationsApi: 'rest' }, /applicationsApi/],
      [{ secretNamespaces: 'argocd' }, /secretNamespaces/],
      [{ secretNamespaces: ['*'] }, /secretNamespaces/],
      [{ secretNamespaces: ['Not_A_Namespace'] }, /secretNamespaces/],
      [{ networkPolicy: { enabled: 'yes' } }, /networkPolicy\/enabled/],
      [{ registries: [{ prefix: 'ghcr.io' }] }, /registries\/0/],
      [{ registries: { name: 'x' } }, /registries/],
      [{ auth: { audiences: [] } }, /auth\/audiences/],
      [{ argocd: { server: 'https://argocd.example.com' } }, /argocd\/server/],
      [{ applicationsApi: 'argocd' }, /argocd\/tokenSecret\/name/],
      [{ auth: { mode: 'static' } }, /auth\/tokensSecret\/name/],
      [{ auth: { mode: 'none' } }, /allowNoneInCluster/],
      [{ extTimeout: '10 seconds' }, /extTimeout/],
      [{ replicaCont: 3 }, /replicaCont/]
    ];
    for (const [values, named] of bad) {
      const r = runHelm(['template', RELEASE, chart, '--namespace', NS], values);
      t.not(r.status, 0, `${JSON.stringify(values)} is refused`);
      t.match(r.stderr, named, `the error names the value (${JSON.stringify(values)})`);
    }
    const lint = runHelm(['lint', chart], { replicaCount: 'two' });
    t.not(lint.status, 0, 'helm lint fails too');
  });
}
