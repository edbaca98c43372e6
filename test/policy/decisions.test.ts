// The policy decision is evaluated once per (caller, request) until the policy reloads:
// counted evaluations, never timings.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import Fastify from 'fastify';
import t from 'tap';
import { loadSettings } from '../../src/config/settings.js';
import { parseTokens } from '../../src/config/tokens.js';
import authPlugin from '../../src/http/auth.js';
import { PolicyDecisions, parsePolicy, type Caller, type Policy } from '../../src/policy/policy.js';

const ci: Caller = { name: 'system:serviceaccount:argocd:ci', groups: [], kind: 'serviceaccount' };
const POLICY = 'rules:\n  - subjects: ["system:serviceaccount:argocd:*"]\n    actions: [resolve]\n    registries: ["ghcr.io/team-a"]\n';

t.test('one evaluation per (caller, request) across many, again after a reload', async (t) => {
  const decisions = new PolicyDecisions();
  let policy = parsePolicy(POLICY);
  for (let i = 0; i < 100; i++) t.equal(decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app' }).allowed, true);
  t.equal(decisions.evaluations, 1, '100 requests, one evaluation');
  for (let i = 0; i < 10; i++) t.equal(decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-b/app' }).allowed, false);
  t.equal(decisions.evaluations, 2, 'another image is its own decision, a denial memoized too');
  decisions.decide(policy, { caller: { ...ci, name: 'system:serviceaccount:argocd:other' }, action: 'resolve', registry: 'ghcr.io/team-a/app' });
  decisions.decide(policy, { caller: { ...ci, groups: ['platform'] }, action: 'resolve', registry: 'ghcr.io/team-a/app' });
  decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app', override: 'pullsecret:argocd/x' });
  decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app', application: 'argocd/app' });
  t.equal(decisions.evaluations, 6, 'caller name, groups, override and application are each part of the key');

  policy = parsePolicy(POLICY.replace('team-a', 'team-b'));
  t.equal(decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app' }).allowed, false, 'the reloaded policy decides');
  t.equal(decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-b/app' }).allowed, true);
  t.equal(decisions.evaluations, 8, 'a reload empties the memo');
  t.equal(decisions.size, 2);
});

t.test('allowed decisions are one object per rule and action, whatever the image; a reload starts afresh', async (t) => {
  const decisions = new PolicyDecisions();
  let policy = parsePolicy(POLICY);
  const allowed = new Set(Array.from({ length: 500 }, (_, i) => decisions.decide(policy, { caller: ci, action: 'resolve', registry: `ghcr.io/team-a/app-${i}` })));
  t.equal(decisions.evaluations, 500, 'each image is its own decision');
  t.equal(allowed.size, 1, 'but 500 allowed images share one decision object');
  t.match([...allowed][0], { allowed: true, rule: 0, reason: 'rule 0 allows resolve' });
  const denied = new Set(Array.from({ length: 3 }, (_, i) => decisions.decide(policy, { caller: ci, action: 'resolve', registry: `ghcr.io/team-b/app-${i}` })));
  t.equal(denied.size, 3, 'denials keep their own reason (it names the registry)');
  policy = parsePolicy(POLICY);
  const after = decisions.decide(policy, { caller: ci, action: 'resolve', registry: 'ghcr.io/team-a/app-0' });
  t.not(after, [...allowed][0], 'a reloaded policy does not reuse the old decisions');
});

t.test('the memo is bounded', async (t) => {
  const decisions = new PolicyDecisions(10);
  const policy = parsePolicy(POLICY);
  for (let i = 0; i < 50; i++) decisions.decide(policy, { caller: ci, action: 'resolve', registry: `ghcr.io/team-a/app${i}` });
  t.equal(decisions.size, 10);
  t.equal(decisions.evaluations, 50);
});

t.test('through the auth plugin: N requests of one caller and image, one evaluation; a policy reload evaluates again', async (t) => {
  const settings = { ...loadSettings({ env: { KUBE_MODE: 'local', AUTH_MODE: 'none' }, serviceAccountDir: '/nonexistent', cwd: tmpdir() }), authMode: 'static' as const, rateLimitPerMinute: 0 };
  const tokens = parseTokens(`tokens:\n  - name: ci\n    sha256: ${createHash('sha256').update('tok-ci').digest('hex')}\n`, 'tokens');
  let policy: Policy = parsePolicy('rules:\n  - subjects: ["static:ci"]\n    actions: [resolve]\n    registries: ["ghcr.io/team-a"]\n');
  const decisions = new PolicyDecisions();
  const app = Fastify();
  await app.register(authPlugin, { settings, policy: { current: () => policy }, tokens: { current: () => tokens }, decisions });
  // the /v1 routes in their own context with the caller hook, as src/http/routes/v1.ts has them
  await app.register(async (v1) => {
    if (v1.authenticateCaller !== undefined) v1.addHook('onRequest', v1.authenticateCaller);
    v1.get('/x', async (request) => {
      v1.authorize(request, { action: 'resolve', registry: (request.query as { r: string }).r });
      return { ok: true };
    });
  }, { prefix: '/v1' });
  await app.ready();
  t.teardown(() => app.close());
  const get = async (r: string) => (await app.inject({ url: `/v1/x?r=${r}`, headers: { authorization: 'Bearer tok-ci' } })).statusCode;
  for (let i = 0; i < 20; i++) t.equal(await get('ghcr.io/team-a/app'), 200);
  t.equal(decisions.evaluations, 1);
  t.equal(await get('ghcr.io/team-b/app'), 403);
  t.equal(await get('ghcr.io/team-b/app'), 403);
  t.equal(decisions.evaluations, 2);
  policy = parsePolicy('rules:\n  - subjects: ["static:ci"]\n    actions: [resolve]\n    registries: ["ghcr.io/team-b"]\n');
  t.equal(await get('ghcr.io/team-a/app'), 403, 'the reloaded policy is in force at once');
  t.equal(await get('ghcr.io/team-b/app'), 200);
  t.equal(decisions.evaluations, 4);
});
