import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSecretStore, type LocalSecretStoreOptions } from '../../src/kube/local-store.js';
import type { ChangeKind } from '../../src/kube/secret-store.js';
import { eventually } from '../helpers/poll.js';

const SECRET = 'p4ss-Wq7-SECRET';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface Logged { level: string, obj: object, msg: string }

function folder (t: Test, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-local-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function open (t: Test, dir: string, opts: Partial<LocalSecretStoreOptions> = {}) {
  const logs: Logged[] = [];
  const events: Array<[ChangeKind, string, string]> = [];
  const store = new LocalSecretStore({
    dir,
    defaultNamespace: 'argocd',
    log: {
      warn: (obj, msg) => { logs.push({ level: 'warn', obj, msg }) },
      info: (obj, msg) => { logs.push({ level: 'info', obj, msg }) }
    },
    ...opts
  });
  store.onChange((kind, ns, name) => { events.push([kind, ns, name]) });
  t.teardown(() => store.close());
  await store.start();
  return { store, logs, events };
}

/** Waits for a condition the store must reach within a second; the bound is generous for a busy machine. */

function noSecretIn (t: Test, logs: Logged[], problems: string[], ...secrets: string[]): void {
  const text = JSON.stringify(logs) + JSON.stringify(problems);
  for (const s of [SECRET, b64(SECRET), ...secrets]) t.notMatch(text, s, 'no value in logs or problems');
}

const secretYaml = (name: string, value: string, ns = 'argocd'): string => `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: ${ns}
data:
  creds: ${b64(value)}
`;

t.test('data, stringData, type and namespaces', async (t) => {
  const dir = folder(t, {
    'a.yaml': `apiVersion: v1
kind: Secret
metadata:
  name: ghcr
  namespace: team-a
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: ${b64('{"auths":{}}')}
  user: ${b64('alice')}
  pass: ${b64('old')}
stringData:
  pass: ${SECRET}
`,
    'b.yml': `kind: Secret
apiVersion: v1
metadata: { name: no-ns }
stringData: { creds: "bob:${SECRET}" }
`
  });
  const { store, logs } = await open(t, dir);
  const s = await store.getSecret('team-a', 'ghcr');
  t.equal(s?.type, 'kubernetes.io/dockerconfigjson');
  t.same(Object.keys(s?.data ?? {}).sort(), ['.dockerconfigjson', 'pass', 'user']);
  t.equal(s?.data['.dockerconfigjson']?.toString(), '{"auths":{}}');
  t.equal(s?.data.user?.toString(), 'alice');
  t.equal(s?.data.pass?.toString(), SECRET, 'stringData wins over data');
  t.type(s?.resourceVersion, 'string');
  const n = await store.getSecret('argocd', 'no-ns');
  t.equal(n?.data.creds?.toString(), `bob:${SECRET}`, 'default namespace');
  t.equal(n?.type, undefined);
  t.equal(await store.getSecret('team-a', 'no-ns'), undefined);
  t.equal(await store.getSecret('argocd', 'missing'), undefined);
  t.same(store.problems(), []);
  const status = store.status();
  t.equal(status.kind, 'local');
  t.equal(status.synced, true);
  t.same(Object.keys(status.namespaces).sort(), ['argocd', 'team-a']);
  t.equal(status.namespaces['team-a']?.synced, true);
  noSecretIn(t, logs, store.problems());

  const copy = await store.getSecret('argocd', 'no-ns');
  t.throws(() => { if (copy !== undefined) delete copy.data.creds; }, TypeError, 'callers get a read-only object (no copy of every field per read)');
  t.ok((await store.getSecret('argocd', 'no-ns'))?.data.creds, 'and cannot change what the store holds');
});

t.test('multi-document YAML, List and JSON', async (t) => {
  const dir = folder(t, {
    'multi.yaml': `---
${secretYaml('one', 'u1:p1')}---
${secretYaml('two', 'u2:p2')}---
apiVersion: v1
kind: ConfigMap
metadata: { name: ignored }
data: { x: "not base64 and not a Secret" }
---
`,
    'list.yaml': `apiVersion: v1
kind: List
items:
- ${JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'three' }, data: { creds: b64('u3:p3') } })}
- apiVersion: v1
  kind: ServiceAccount
  metadata: { name: deployer, namespace: apps }
  imagePullSecrets: [{ name: first }, { name: second }]
`,
    'secret.json': JSON.stringify({
      apiVersion: 'v1', kind: 'Secret', metadata: { name: 'four', namespace: 'json-ns' }, stringData: { creds: 'u4:p4' }
    }),
    'list.json': JSON.stringify({
      kind: 'List', items: [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'plain' } }]
    }),
    'notes.txt': secretYaml('ignored-txt', 'x:y')
  });
  const { store } = await open(t, dir);
  const table: Array<[string, string, string]> = [
    ['argocd', 'one', 'u1:p1'], ['argocd', 'two', 'u2:p2'], ['argocd', 'three', 'u3:p3'], ['json-ns', 'four', 'u4:p4']];
  for (const [ns, name, want] of table) {
    t.equal((await store.getSecret(ns, name))?.data.creds?.toString(), want, name);
  }
  t.equal(await store.getSecret('argocd', 'ignored-txt'), undefined, 'only .yaml, .yml and .json files');
  t.same((await store.getServiceAccount('apps', 'deployer'))?.imagePullSecrets, ['first', 'second'], 'in order');
  t.same((await store.getServiceAccount('argocd', 'plain'))?.imagePullSecrets, []);
  t.equal(await store.getServiceAccount('argocd', 'one'), undefined, 'a Secret is not a ServiceAccount');
  t.same(store.problems(), []);
});

t.test('invalid documents are skipped and reported without values', async (t) => {
  const dir = folder(t, {
    'bad.yaml': `apiVersion: v1
kind: Secret
metadata: { name: bad-b64 }
data:
  good: ${b64('fine')}
  creds: "${SECRET}!!"
---
- just
- a list
---
apiVersion: v1
kind: Secret
metadata: { namespace: argocd }
stringData: { creds: "u:${SECRET}" }
---
apiVersion: v1
kind: Secret
metadata: { name: number-value }
stringData: { port: 5000 }
---
apiVersion: v2
kind: Secret
metadata: { name: wrong-version }
---
apiVersion: v1
kind: Secret
metadata: { name: ok }
stringData: { creds: "u:${SECRET}" }
`,
    'broken.yaml': `apiVersion: v1\nkind: Secret\nmetadata: { name: broken\nstringData: { creds: "${SECRET}" }\n`,
    'broken.json': `{"apiVersion":"v1","kind":"Secret","stringData":{"creds":"${SECRET}"`,
    'padding.yaml': `apiVersion: v1
kind: Secret
metadata: { name: bad-padding }
data: { creds: "${b64('abcd').replace(/=+$/, '')}=" }
`,
    'sa.yaml': `apiVersion: v1
kind: ServiceAccount
metadata: { name: weird }
imagePullSecrets: first
`
  });
  const { store, logs } = await open(t, dir);
  t.equal(await store.getSecret('argocd', 'bad-b64'), undefined, 'a bad base64 value makes the Secret invalid');
  t.equal(await store.getSecret('argocd', 'number-value'), undefined);
  t.equal(await store.getSecret('argocd', 'wrong-version'), undefined);
  t.equal(await store.getSecret('argocd', 'bad-padding'), undefined);
  t.equal(await store.getServiceAccount('argocd', 'weird'), undefined);
  t.equal((await store.getSecret('argocd', 'ok'))?.data.creds?.toString(), `u:${SECRET}`, 'the rest of the file is served');
  const problems = store.problems();
  const want = [
    /^file bad\.yaml document 0: Secret argocd\/bad-b64 data\.creds: must be base64, skipped$/,
    /^file bad\.yaml document 1: not an object, skipped$/,
    /^file bad\.yaml document 2: Secret metadata\.name: is required, skipped$/,
    /^file bad\.yaml document 3: Secret argocd\/number-value stringData\.port: must be a string, skipped$/,
    /^file bad\.yaml document 4: Secret apiVersion: must be \"v1\", skipped$/,
    /^file broken\.json is not valid JSON$/,
    /^file broken\.yaml document 0 is not valid YAML \(\w+ at line \d+\)$/,
    /^file padding\.yaml document 0: Secret argocd\/bad-padding data\.creds: must be base64, skipped$/,
    /^file sa\.yaml document 0: ServiceAccount argocd\/weird imagePullSecrets: must be a list, skipped$/
  ];
  t.equal(problems.length, want.length, 'one problem each');
  for (const re of want) t.ok(problems.some((p) => re.test(p)), String(re));
  t.ok(logs.filter((l) => l.level === 'warn').length >= want.length, 'each one is logged');
  noSecretIn(t, logs, problems, 'fine');
});

t.test('oversize files are skipped', async (t) => {
  const big = secretYaml('big', `u:${SECRET}`) + `  padding: ${'A'.repeat(1024 * 1024)}\n`;
  const dir = folder(t, { 'big.yaml': big, 'small.yaml': secretYaml('small', 'u:p') });
  const { store, logs } = await open(t, dir);
  t.equal(await store.getSecret('argocd', 'big'), undefined);
  t.ok(await store.getSecret('argocd', 'small'));
  t.same(store.problems(), ['file big.yaml is larger than 1048576 bytes and is skipped']);
  t.ok(logs.some((l) => l.level === 'warn' && /big\.yaml is larger/.test(l.msg)));
  noSecretIn(t, logs, store.problems());
});

t.test('duplicates: the last file in sorted order wins', async (t) => {
  const dir = folder(t, {
    'b.yaml': secretYaml('dup', 'from:b'),
    'a.yaml': secretYaml('dup', 'from:a'),
    'c.json': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'dup', namespace: 'other' }, stringData: { creds: 'other:ns' } })
  });
  const { store, logs } = await open(t, dir);
  t.equal((await store.getSecret('argocd', 'dup'))?.data.creds?.toString(), 'from:b');
  t.equal((await store.getSecret('other', 'dup'))?.data.creds?.toString(), 'other:ns', 'another namespace is another Secret');
  t.same(store.problems(), ['Secret argocd/dup is defined in a.yaml and b.yaml; the one in b.yaml is used']);
  t.ok(logs.some((l) => l.level === 'warn' && /argocd\/dup is defined in/.test(l.msg)));
});

t.test('a missing folder stops start()', async (t) => {
  const dir = join(folder(t), 'nope');
  const store = new LocalSecretStore({ dir, defaultNamespace: 'argocd' });
  t.teardown(() => store.close());
  await t.rejects(store.start(), { name: 'ConfigError', setting: 'LOCAL_SECRETS_DIR', message: `LOCAL_SECRETS_DIR: folder ${dir} does not exist` });
  t.equal(store.status().synced, false);

  const file = join(folder(t, { 'x.yaml': '' }), 'x.yaml');
  const notDir = new LocalSecretStore({ dir: file, defaultNamespace: 'argocd' });
  await t.rejects(notDir.start(), { setting: 'LOCAL_SECRETS_DIR', message: /is not a folder/ });
});

for (const watch of [true, false]) {
  t.test(`changes are served and announced (${watch ? 'fs.watch' : 'polling only'})`, async (t) => {
    const dir = folder(t, { 'a.yaml': secretYaml('one', 'u:v1'), 'keep.yaml': secretYaml('keep', 'k:k') });
    const { store, events } = await open(t, dir, { watch });
    t.same(events, [], 'no events for the initial load');
    const creds = async (name: string) => (await store.getSecret('argocd', name))?.data.creds?.toString();
    const rv1 = (await store.getSecret('argocd', 'one'))?.resourceVersion;

    writeFileSync(join(dir, 'a.yaml'), secretYaml('one', 'u:v2'));
    t.ok(await eventually(async () => await creds('one') === 'u:v2'), 'an edit is served');
    t.ok(await eventually(() => events.length > 0));
    t.same(events, [['secret', 'argocd', 'one']], 'changed');
    t.not((await store.getSecret('argocd', 'one'))?.resourceVersion, rv1, 'resourceVersion moves');
    events.length = 0;

    writeFileSync(join(dir, 'b.yaml'), `${secretYaml('two', 'u:2')}---
apiVersion: v1
kind: ServiceAccount
metadata: { name: sa }
imagePullSecrets: [{ name: two }]
`);
    t.ok(await eventually(async () => await creds('two') === 'u:2'), 'an added file is served');
    t.ok(await eventually(() => events.length >= 2));
    t.same(events.sort(), [['secret', 'argocd', 'two'], ['serviceaccount', 'argocd', 'sa']].sort(), 'added');
    events.length = 0;

    // Same content under another file name: nothing changed for callers.
    renameSync(join(dir, 'keep.yaml'), join(dir, 'kept.yaml'));
    writeFileSync(join(dir, 'b.yaml'), `${secretYaml('two', 'u:2')}---
apiVersion: v1
kind: ServiceAccount
metadata: { name: sa }
imagePullSecrets: [{ name: two }, { name: one }]
`);
    t.ok(await eventually(async () => (await store.getServiceAccount('argocd', 'sa'))?.imagePullSecrets.length === 2));
    t.ok(await eventually(() => events.length > 0));
    t.same(events, [['serviceaccount', 'argocd', 'sa']], 'only what changed by content');
    events.length = 0;

    unlinkSync(join(dir, 'b.yaml'));
    t.ok(await eventually(async () => await store.getSecret('argocd', 'two') === undefined), 'a removed file is no longer served');
    t.ok(await eventually(() => events.length >= 2));
    t.same(events.sort(), [['secret', 'argocd', 'two'], ['serviceaccount', 'argocd', 'sa']].sort(), 'removed');
    t.equal(await store.getServiceAccount('argocd', 'sa'), undefined);
    t.equal(await creds('keep'), 'k:k');
  });
}

t.test('a file that stops parsing keeps its last version and is reported', async (t) => {
  const dir = folder(t, { 'a.yaml': secretYaml('one', `u:${SECRET}`) });
  const { store, events, logs } = await open(t, dir);
  writeFileSync(join(dir, 'a.yaml'), `${secretYaml('one', `u:${SECRET}`)}  broken: [\n`);
  t.ok(await eventually(() => store.problems().length > 0), 'reported');
  t.match(store.problems()[0], /^file a\.yaml document 0 is not valid YAML .*; its last loaded version is kept$/);
  t.equal((await store.getSecret('argocd', 'one'))?.data.creds?.toString(), `u:${SECRET}`);
  t.same(events, []);
  writeFileSync(join(dir, 'a.yaml'), secretYaml('one', 'u:fixed'));
  t.ok(await eventually(async () => (await store.getSecret('argocd', 'one'))?.data.creds?.toString() === 'u:fixed'));
  t.same(store.problems(), []);
  noSecretIn(t, logs, store.problems());
});

t.test('close stops watching', async (t) => {
  const dir = folder(t, { 'a.yaml': secretYaml('one', 'u:1') });
  const { store, events } = await open(t, dir, { intervalMs: 50 });
  await store.close();
  writeFileSync(join(dir, 'a.yaml'), secretYaml('one', 'u:2'));
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await store.getSecret('argocd', 'one'))?.data.creds?.toString(), 'u:1');
  t.same(events, []);
});

t.test('unsubscribe and failing listeners', async (t) => {
  const dir = folder(t, { 'a.yaml': secretYaml('one', 'u:1') });
  const { store, events, logs } = await open(t, dir);
  let calls = 0;
  const off = store.onChange(() => { calls++ });
  store.onChange(() => { throw new Error('listener bug') });
  writeFileSync(join(dir, 'a.yaml'), secretYaml('one', 'u:2'));
  await store.reload();
  t.equal(calls, 1);
  t.equal(events.length, 1, 'a failing listener does not stop the others');
  t.ok(logs.some((l) => l.msg === 'a change listener failed'));
  off();
  writeFileSync(join(dir, 'a.yaml'), secretYaml('one', 'u:3'));
  await store.reload();
  t.equal(calls, 1, 'unsubscribed');
  t.equal(events.length, 2);
});
