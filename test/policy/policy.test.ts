import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  defaultPolicy, evaluate, openPolicyFile, parsePolicy, policyNamesCaller, type Caller
} from '../../src/policy/policy.js';
import { ConfigError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { eventually } from '../helpers/poll.js';


const sa = (ns: string, name: string, groups: string[] = []): Caller =>
  ({ name: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, ...groups], kind: 'serviceaccount' });
const user = (name: string, groups: string[] = []): Caller => ({ name, groups, kind: 'user' });
const ci: Caller = { name: 'static:ci', groups: [], kind: 'static' };

const SPEC_EXAMPLE = `
rules:
  - subjects: ["system:serviceaccount:argocd:*", "group:ci-readers"]
    actions: [resolve, explain, test, validate, registries, status, invalidate]
    registries: ["ghcr.io", "*.dkr.ecr.*.amazonaws.com"]
    overrides: ["pullsecret:argocd/*", "secret:argocd/*"]
    applications: ["argocd/*"]
`;

t.test('the SPEC example policy', async (t) => {
  const p = parsePolicy(SPEC_EXAMPLE);
  const updater = sa('argocd', 'argocd-image-updater');
  t.match(evaluate(p, { caller: updater, action: 'resolve', registry: 'ghcr.io/org/app' }), { allowed: true, rule: 0 });
  t.match(evaluate(p, { caller: updater, action: 'resolve', registry: 'ghcr.io' }), { allowed: true });
  t.match(evaluate(p, { caller: updater, action: 'resolve', registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app' }), { allowed: true });
  t.match(evaluate(p, { caller: updater, action: 'resolve', registry: 'a.b.dkr.ecr.eu-west-1.amazonaws.com/x' }), { allowed: false },
    '* stays within one DNS label');
  t.match(evaluate(p, { caller: updater, action: 'resolve', registry: 'ghcr.io.evil.com/x' }), { allowed: false });
  t.match(evaluate(p, { caller: updater, action: 'resolve', registry: 'docker.io/library/nginx' }),
    { allowed: false, rule: 0, reason: /registry docker\.io\/library\/nginx/ });
  t.match(evaluate(p, { caller: sa('default', 'x'), action: 'resolve', registry: 'ghcr.io/a' }),
    { allowed: false, reason: /no policy rule names caller system:serviceaccount:default:x/ });
  t.match(evaluate(p, { caller: user('alice', ['ci-readers']), action: 'status' }), { allowed: true }, 'group subject');
  t.match(evaluate(p, { caller: sa('argocd', 'x'), action: 'validate' }), { allowed: true }, 'registry rules do not bind validate');
  t.match(evaluate(p, { caller: sa('argocd', 'x'), action: 'invalidate' }), { allowed: false, reason: /only on named registries/ },
    'invalidating everything needs a rule without registries');
});

t.test('subjects', async (t) => {
  const p = parsePolicy(`
rules:
  - subjects: ["system:serviceaccount:*:image-updater"]
    actions: [resolve]
  - subjects: ["static:ci"]
    actions: [status]
  - subjects: ["user:alice@example.com", "group:system:serviceaccounts:tools"]
    actions: [explain]
  - subjects: ["*"]
    actions: [validate]
`);
  t.ok(evaluate(p, { caller: sa('team-a', 'image-updater'), action: 'resolve' }).allowed);
  t.notOk(evaluate(p, { caller: sa('team-a', 'other'), action: 'resolve' }).allowed);
  t.ok(evaluate(p, { caller: ci, action: 'status' }).allowed);
  t.notOk(evaluate(p, { caller: { name: 'static:cid', groups: [], kind: 'static' }, action: 'status' }).allowed);
  t.ok(evaluate(p, { caller: user('alice@example.com'), action: 'explain' }).allowed);
  t.ok(evaluate(p, { caller: sa('tools', 'x'), action: 'explain' }).allowed, 'group of a ServiceAccount');
  t.notOk(evaluate(p, { caller: { ...ci, name: 'alice@example.com' }, action: 'explain' }).allowed,
    'user: subjects match Kubernetes users only');
  t.notOk(evaluate(p, { caller: user('static:ci'), action: 'status' }).allowed,
    'a Kubernetes user named like a static caller does not get its rules');
  t.notOk(evaluate(p, { caller: user('bob'), action: 'validate' }).allowed, '* does not name Kubernetes users');
  t.ok(evaluate(p, { caller: { name: 'anonymous', groups: [], kind: 'anonymous' }, action: 'validate' }).allowed);
  t.notOk(evaluate(p, { caller: ci, action: 'resolve' }).allowed, 'deny by default');
  t.ok(policyNamesCaller(p, user('alice@example.com')));
  t.notOk(policyNamesCaller(p, user('bob')));
});

t.test('registry prefixes', async (t) => {
  const p = parsePolicy(`
rules:
  - subjects: ["*"]
    actions: [resolve]
    registries: ["ghcr.io/team-a", "localhost:5000", "registry.*.example.com/*/apps", "docker.io"]
`);
  const ok = (registry: string): boolean => evaluate(p, { caller: ci, action: 'resolve', registry }).allowed;
  t.ok(ok('ghcr.io/team-a'));
  t.ok(ok('ghcr.io/team-a/app'));
  t.notOk(ok('ghcr.io/team-ab/app'), 'whole path segments');
  t.notOk(ok('ghcr.io/team-b/app'));
  t.notOk(ok('ghcr.io'));
  t.ok(ok('GHCR.IO/team-a/app'), 'host is case-insensitive');
  t.ok(ok('https://ghcr.io/team-a/'), 'a scheme and trailing slash are ignored');
  t.ok(ok('localhost:5000/a/b'));
  t.notOk(ok('localhost:5001/a'), 'port must match');
  t.notOk(ok('localhost/a'));
  t.ok(ok('registry.eu.example.com/x/apps/web'));
  t.notOk(ok('registry.eu.example.com/x/y/apps'), '* stays within one path segment');
  t.ok(ok('registry-1.docker.io/library/nginx'), 'Docker Hub aliases');
  t.ok(ok('index.docker.io/library/nginx'));
});

t.test('overrides by reference type', async (t) => {
  const p = parsePolicy(`
rules:
  - subjects: ["static:a"]
    actions: [resolve]
    overrides: ["pullsecret:argocd/*", "secret:argocd/ci-*"]
  - subjects: ["static:b"]
    actions: [resolve]
    overrides: ["*"]
  - subjects: ["static:c"]
    actions: [resolve]
    overrides: ["env:REGISTRY_CREDS", "ext:/app/auth/*.sh"]
  - subjects: ["static:d"]
    actions: [resolve]
`);
  const ok = (name: string, override: string): boolean =>
    evaluate(p, { caller: { name: `static:${name}`, groups: [], kind: 'static' }, action: 'resolve', override }).allowed;
  t.ok(ok('a', 'pullsecret:argocd/ghcr'));
  t.ok(ok('a', 'PullSecret:argocd/ghcr'), 'type word is case-insensitive');
  t.notOk(ok('a', 'pullsecret:kube-system/ghcr'));
  t.ok(ok('a', 'secret:argocd/ci-creds#creds'));
  t.notOk(ok('a', 'secret:argocd/other#creds'));
  t.notOk(ok('a', 'env:REGISTRY_CREDS'));
  t.ok(ok('b', 'pullsecret:anywhere/x'), '* matches Kubernetes references');
  t.ok(ok('b', 'serviceaccount:ns/sa'));
  t.notOk(ok('b', 'env:HOME'), '* never matches env:');
  t.notOk(ok('b', 'ext:/bin/sh'), '* never matches ext:');
  t.notOk(ok('b', 'Env:HOME'));
  t.notOk(ok('b', 'bot:hunter2'), '* does not match what is not a reference');
  t.ok(ok('c', 'env:REGISTRY_CREDS'));
  t.notOk(ok('c', 'env:HOME'));
  t.ok(ok('c', 'ext:/app/auth/ecr.sh'));
  t.notOk(ok('c', 'ext:/app/auth/sub/ecr.sh'));
  t.notOk(ok('c', 'ext:/usr/bin/id'));
  t.notOk(ok('d', 'pullsecret:argocd/x'), 'no overrides key: no overrides');
  t.ok(evaluate(p, { caller: { name: 'static:d', groups: [], kind: 'static' }, action: 'resolve' }).allowed, 'the same request without override');
  const denied = evaluate(p, { caller: { name: 'static:b', groups: [], kind: 'static' }, action: 'resolve', override: 'bot:hunter2' });
  t.notMatch(denied.reason, /hunter2/, 'an unrecognised reference is not quoted');
});

t.test('applications a caller may name', async (t) => {
  const p = parsePolicy(`
rules:
  - subjects: ["system:serviceaccount:argocd:*"]
    actions: [resolve, explain]
    applications: ["argocd/*", "team-a/web-*"]
  - subjects: ["static:ci"]
    actions: [resolve]
    applications: ["*"]
  - subjects: ["static:plain"]
    actions: [resolve]
`);
  const updater = sa('argocd', 'argocd-image-updater');
  const ok = (caller: Caller, application: string): boolean => evaluate(p, { caller, action: 'resolve', application }).allowed;
  t.ok(ok(updater, 'argocd/guestbook'));
  t.ok(ok(updater, 'team-a/web-frontend'));
  t.notOk(ok(updater, 'team-a/api'), 'a name outside the glob');
  t.notOk(ok(updater, 'team-b/guestbook'), 'another namespace');
  t.notOk(ok(updater, 'argocd/guestbook/extra'), '* stays within one segment');
  t.ok(ok(ci, 'anywhere/anything'), 'a lone * is every Application');
  const plain: Caller = { name: 'static:plain', groups: [], kind: 'static' };
  t.notOk(ok(plain, 'argocd/guestbook'), 'a rule without applications grants none');
  t.ok(evaluate(p, { caller: plain, action: 'resolve' }).allowed, 'the same request without an application');
  t.match(evaluate(p, { caller: updater, action: 'resolve', application: 'team-b/guestbook' }),
    { allowed: false, rule: 0, reason: /caller system:serviceaccount:argocd:argocd-image-updater to name application team-b\/guestbook/ });
  t.same(parsePolicy(SPEC_EXAMPLE).rules[0]?.applications, ['argocd/*']);
});

t.test('examples/policy.yaml grants what its comments say', async (t) => {
  const p = parsePolicy(readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8'));
  const updater = sa('argocd', 'argocd-image-updater');
  t.ok(evaluate(p, { caller: updater, action: 'resolve', registry: 'ghcr.io/org/app', application: 'argocd/guestbook' }).allowed);
  t.notOk(evaluate(p, { caller: updater, action: 'resolve', registry: 'ghcr.io/org/app', application: 'team-b/guestbook' }).allowed);
  t.ok(evaluate(p, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app', override: 'pullsecret:argocd/ci-bot' }).allowed);
  t.notOk(evaluate(p, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app', application: 'argocd/guestbook' }).allowed);
  t.ok(evaluate(p, { caller: user('alice', ['platform-admins']), action: 'invalidate' }).allowed);
});

t.test('strict validation names the rule and key', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    verbs: [x]\n', /rules\[0\]\.verbs: unknown key/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n  - subjects: [a]\n    actions: [delete]\n', /rules\[1\]\.actions\[0\]: unknown action "delete"/],
    ['rules:\n  - subjects: [a]\n', /rules\[0\]\.actions: is required/],
    ['rules:\n  - actions: [resolve]\n', /rules\[0\]\.subjects: is required/],
    ['rules:\n  - subjects: []\n    actions: [resolve]\n', /rules\[0\]\.subjects: must not be empty/],
    ['rules:\n  - subjects: a\n    actions: [resolve]\n', /rules\[0\]\.subjects: must be a list/],
    ['rules:\n  - subjects: ["a?"]\n    actions: [resolve]\n', /rules\[0\]\.subjects\[0\]/],
    ['rules:\n  - subjects: ["group:"]\n    actions: [resolve]\n', /rules\[0\]\.subjects\[0\]/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    registries: ["ghcr.io/**"]\n', /rules\[0\]\.registries\[0\]: .*\*\*/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    registries: ["https://ghcr.io"]\n', /rules\[0\]\.registries\[0\]: .*scheme/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    registries: ["ghcr.io//x"]\n', /rules\[0\]\.registries\[0\]/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    registries: []\n', /rules\[0\]\.registries: must not be empty/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    overrides: ["vault:x"]\n', /rules\[0\]\.overrides\[0\]: .*must start with/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    overrides: ["ext:relative.sh"]\n', /rules\[0\]\.overrides\[0\]: .*absolute/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    overrides: [[x]]\n', /rules\[0\]\.overrides\[0\]: must be a string/],
    ['rules:\n  - [a]\n', /rules\[0\]: must be a mapping/],
    ['rules: {}\n', /rules: must be a list/],
    ['policy: []\n', /policy policy: unknown key/],
    ['', /is empty/],
    ['rules: [\n', /not valid YAML/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    applications: ["argocd"]\n', /rules\[0\]\.applications\[0\]: .*<namespace>\/<name>/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    applications: ["argocd/a/b"]\n', /rules\[0\]\.applications\[0\]/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    applications: ["Argocd/App"]\n', /rules\[0\]\.applications\[0\]/],
    ['rules:\n  - subjects: [a]\n    actions: [resolve]\n    applications: argocd/*\n', /rules\[0\]\.applications: must be a list/],
    ['rule:\n  - subjects: [a]\n', /policy rule: unknown key \(allowed: rules\)/],
    ['rules:\n  - subject: [a]\n    actions: [resolve]\n', /rules\[0\]\.subject: unknown key \(allowed: subjects, actions, registries, overrides, applications\)/],
    ['rules:\n  - subjects: ["' + 'a'.repeat(600) + '"]\n    actions: [resolve]\n', /rules\[0\]\.subjects\[0\]: longer than 512 characters/]
  ];
  for (const [text, re] of bad) {
    t.throws(() => parsePolicy(text), re, re.source);
    t.throws(() => parsePolicy(text), ConfigError);
  }
  t.same(parsePolicy('rules: []\n').rules, [], 'an empty rule list denies everything');
  t.same(parsePolicy('rules:\n  - subjects: [a]\n    actions: [resolve]\n    overrides: []\n').rules[0]?.overrides, []);
});

t.test('defaults without a policy file', async (t) => {
  const anon: Caller = { name: 'anonymous', groups: [], kind: 'anonymous' };
  const none = defaultPolicy({ authMode: 'none', secretNamespaces: ['argocd', 'ci'] });
  for (const action of ['resolve', 'explain', 'test', 'validate', 'registries', 'status', 'invalidate'] as const) {
    t.ok(evaluate(none, { caller: anon, action }).allowed, action);
  }
  t.ok(evaluate(none, { caller: anon, action: 'resolve', registry: 'anything.example/x' }).allowed);
  t.ok(evaluate(none, { caller: anon, action: 'resolve', override: 'pullsecret:ci/x' }).allowed);
  t.ok(evaluate(none, { caller: anon, action: 'resolve', override: 'secret:argocd/x#f' }).allowed);
  t.notOk(evaluate(none, { caller: anon, action: 'resolve', override: 'pullsecret:kube-system/x' }).allowed);
  t.notOk(evaluate(none, { caller: anon, action: 'resolve', override: 'env:HOME' }).allowed);
  t.notOk(evaluate(none, { caller: anon, action: 'resolve', override: 'ext:/bin/true' }).allowed);
  const all = defaultPolicy({ authMode: 'none', secretNamespaces: '*' });
  t.ok(evaluate(all, { caller: anon, action: 'resolve', override: 'pullsecret:kube-system/x' }).allowed);
  t.notOk(evaluate(all, { caller: anon, action: 'resolve', override: 'env:HOME' }).allowed);

  for (const authMode of ['kubernetes', 'static'] as const) {
    const p = defaultPolicy({ authMode, secretNamespaces: ['argocd'] });
    for (const action of ['validate', 'registries', 'status'] as const) t.ok(evaluate(p, { caller: sa('argocd', 'x'), action }).allowed);
    for (const action of ['resolve', 'explain', 'test', 'invalidate'] as const) t.notOk(evaluate(p, { caller: ci, action }).allowed);
  }
});

t.test('policy file reload keeps the last good version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'policy.yaml');
  writeFileSync(path, 'rules:\n  - subjects: ["static:ci"]\n    actions: [status]\n');
  const metrics = createMetrics({ defaultMetrics: false });
  const logs: string[] = [];
  const log = { info: (_o: object, m: string) => { logs.push(m); }, error: (_o: object, m: string) => { logs.push(m); } };
  const file = openPolicyFile(path, { metrics, log, intervalMs: 20, debounceMs: 10 });
  t.teardown(() => file.close());
  t.ok(evaluate(file.current(), { caller: ci, action: 'status' }).allowed);
  t.notOk(evaluate(file.current(), { caller: ci, action: 'resolve' }).allowed);

  writeFileSync(path, 'rules:\n  - subjects: ["static:ci"]\n    actions: [status, resolve]\n');
  await eventually(() => evaluate(file.current(), { caller: ci, action: 'resolve' }).allowed);
  t.ok(evaluate(file.current(), { caller: ci, action: 'resolve' }).allowed, 'the edit is seen and the new rule is in force');

  writeFileSync(path, 'rules:\n  - subjects: ["static:ci"]\n    actions: [explode]\n');
  await eventually(() => file.lastResult()?.result === 'failure');
  t.ok(evaluate(file.current(), { caller: ci, action: 'resolve' }).allowed, 'last good version kept');
  t.match(file.lastResult()?.error?.message, /rules\[0\]\.actions\[0\]: unknown action "explode"/);
  const text = await metrics.registry.metrics();
  t.match(text, /credbroker_config_reloads_total\{file="policy",result="success"\} [1-9]/);
  t.match(text, /credbroker_config_reloads_total\{file="policy",result="failure"\} [1-9]/);
  t.match(text, /credbroker_config_last_reload_successful\{file="policy"\} 0/);
  t.ok(logs.includes('policy reloaded'));
  t.ok(logs.includes('policy reload failed; keeping the last good version'));

  t.throws(() => openPolicyFile(join(dir, 'absent.yaml')), /AUTH_POLICY_PATH/);
});
