// Caller authorization policy (docs/configuration.md "Callers: authentication and policy"): compiling the rules of a
// policy file, the built-in defaults when there is none, and evaluation. Deny unless a rule allows.
import { LRUCache } from 'lru-cache';
import { parse as parseYaml } from 'yaml';
import { openConfigFile, type ConfigFileOptions } from '../config/reload.js';
import { checkShape } from '../config/schema.js';
import type { Settings } from '../config/settings.js';
import type { ReloadingFile } from '../config/watch.js';
import { ConfigError } from '../errors.js';
import {
  MAX_POLICY_BYTES, POLICY_ACTIONS, PolicyFileSchema,
  type PolicyAction, type PolicyRule
} from './schema.js';
import { canonicalHost, canonicalPrefix } from '../registry/names.js';

export { MAX_POLICY_BYTES, POLICY_ACTIONS, type PolicyAction, type PolicyRule } from './schema.js';

/** Actions that act on a registry: a rule restricted to some registries needs the request to name one. */
const REGISTRY_SCOPED: ReadonlySet<PolicyAction> = new Set(['resolve', 'explain', 'test', 'invalidate']);

const REFERENCE_TYPES = ['pullsecret', 'secret', 'env', 'ext', 'serviceaccount', 'ecr', 'gcp', 'acr'] as const;
// the service's own environment, programs and cloud identity
const PROCESS_TYPES = new Set(['env', 'ext', 'ecr', 'gcp', 'acr']);

export type CallerKind = 'serviceaccount' | 'user' | 'static' | 'anonymous';

/** Who is asking: `system:serviceaccount:<ns>:<name>`, a Kubernetes user name, `static:<name>` or `anonymous`. */
export interface Caller {
  name: string
  groups: string[]
  kind: CallerKind
}

interface SubjectMatcher { on: 'name' | 'user' | 'group', re: RegExp }
interface OverrideMatcher { any: boolean, re?: RegExp }

interface CompiledRule {
  subjects: SubjectMatcher[]
  actions: ReadonlySet<PolicyAction>
  registries?: RegExp[]
  overrides: OverrideMatcher[]
  applications: RegExp[]
}

export interface Policy {
  readonly rules: readonly PolicyRule[]
  /** internal: the rules with their globs compiled */
  readonly compiled: readonly CompiledRule[]
}

export interface PolicyRequest {
  caller: Caller
  action: PolicyAction
  /** the image's registry host and repository path (`ghcr.io/org/app`) or an endpoint prefix */
  registry?: string
  /** a request's own credential reference (`pullsecret:argocd/x`) */
  override?: string
  /** the Argo CD Application the request names, as `namespace/name` */
  application?: string
}

export interface PolicyDecision {
  allowed: boolean
  /** index of the rule that allowed, or of the rule that came closest when denied */
  rule?: number
  reason: string
}

const GLOB_FORBIDDEN = /[\s\p{Cc}?[\]{}\\]/u;

function escapeRe (s: string): string {
  return s.replace(/[.+^${}()|[\]\\?]/g, '\\$&');
}

/** `*` matches within one piece, never across `sep`; a lone `*` matches anything. */
function segmentGlob (glob: string, sep: string, flags = ''): RegExp {
  if (glob === '*') return /^[^]*$/;
  const any = `[^${escapeRe(sep)}]*`;
  return new RegExp('^' + glob.split('*').map(escapeRe).join(any) + '$', flags);
}

/** The schema has checked that it is a non-empty string of bounded length; this checks the glob. */
function checkGlob (glob: string, where: () => string): string {
  if (GLOB_FORBIDDEN.test(glob)) {
    throw new ConfigError(where(), `"${glob}": whitespace, control characters and ? [ ] { } \\ are not allowed (only * globs)`);
  }
  if (glob.includes('**')) throw new ConfigError(where(), `"${glob}": ** is not supported; * matches within one segment`);
  return glob;
}

// Subjects: caller-name globs (`*` stays within one `:`-separated part; a lone `*` is every
// caller that is not a Kubernetes user), `user:<glob>` for Kubernetes users, `group:<glob>`.
function compileSubject (subject: string, where: () => string): SubjectMatcher {
  const glob = checkGlob(subject, where);
  for (const on of ['group', 'user'] as const) {
    if (glob.startsWith(`${on}:`)) {
      const rest = glob.slice(on.length + 1);
      if (rest === '') throw new ConfigError(where(), `"${glob}" names no ${on}`);
      return { on, re: segmentGlob(rest, ':') };
    }
  }
  return { on: 'name', re: segmentGlob(glob, ':') };
}

const REGISTRY_HOST_GLOB = /^[a-z0-9*]([a-z0-9*.-]*[a-z0-9*])?(:(\d{1,5}|\*))?$/;
const REGISTRY_PATH_GLOB = /^[a-z0-9*]([a-z0-9*._-]*[a-z0-9*])?$/;

// Registries: prefix globs, `*` within one DNS label or one path segment; `ghcr.io` allows
// `ghcr.io/...` and `ghcr.io/team-a` allows `ghcr.io/team-a/...` (whole segments only).
function compileRegistry (pattern: string, where: () => string): RegExp {
  const glob = checkGlob(pattern, where);
  if (glob.includes('://')) throw new ConfigError(where(), `"${glob}": a registry prefix has no scheme`);
  const [host = '', ...path] = glob.split('/');
  const lowerHost = canonicalHost(host);
  if (!REGISTRY_HOST_GLOB.test(lowerHost)) throw new ConfigError(where(), `"${glob}": "${host}" is not a registry host[:port]`);
  for (const seg of path) {
    if (!REGISTRY_PATH_GLOB.test(seg)) throw new ConfigError(where(), `"${glob}": path segment "${seg}" is not valid`);
  }
  const [hostName = '', port] = lowerHost.split(':');
  let re = hostName.split('*').map(escapeRe).join('[^./:]*');
  if (port !== undefined) re += ':' + (port === '*' ? '\\d+' : port);
  for (const seg of path) re += '/' + seg.split('*').map(escapeRe).join('[^/]*');
  return new RegExp(`^${re}(?:/.*)?$`);
}


// Overrides: reference globs. `*` alone matches every reference *except* `env:`, `ext:` and
// the cloud types `ecr:`, `gcp:`, `acr:`, which only a pattern starting with that type matches:
// a caller must never reach the service's own environment, programs or cloud identity unless
// the policy says so in as many words.
function compileOverride (pattern: string, where: () => string): OverrideMatcher {
  const glob = checkGlob(pattern, where);
  if (glob === '*') return { any: true };
  const colon = glob.indexOf(':');
  const type = colon === -1 ? '' : glob.slice(0, colon).toLowerCase();
  if (!(REFERENCE_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(where(), `"${glob}" must start with one of ${REFERENCE_TYPES.map((t) => t + ':').join(', ')} (or be *)`);
  }
  const rest = glob.slice(colon + 1);
  if (rest === '') throw new ConfigError(where(), `"${glob}" names no reference`);
  if (type === 'ext' && !rest.startsWith('/')) throw new ConfigError(where(), `"${glob}": ext: paths are absolute`);
  return { any: false, re: segmentGlob(`${type}:${rest}`, '/') };
}

/** Lower-case type word, as the reference parser treats it. */
function canonicalOverride (override: string): string {
  const colon = override.indexOf(':');
  return colon === -1 ? override : override.slice(0, colon).toLowerCase() + override.slice(colon);
}

function overrideType (override: string): string {
  const colon = override.indexOf(':');
  return colon === -1 ? '' : override.slice(0, colon);
}

const APPLICATION_SEGMENT = /^[a-z0-9*]([a-z0-9*.-]*[a-z0-9*])?$/;

// Applications: `namespace/name` globs, `*` within one segment; a lone `*` is every Application.
function compileApplication (pattern: string, where: () => string): RegExp {
  const glob = checkGlob(pattern, where);
  if (glob === '*') return segmentGlob(glob, '/');
  const parts = glob.split('/');
  if (parts.length !== 2 || !parts.every((p) => APPLICATION_SEGMENT.test(p))) {
    throw new ConfigError(where(), `"${glob}" must be <namespace>/<name> (lower-case, * globs within a segment) or *`);
  }
  return segmentGlob(glob, '/');
}

/** Compile rules the schema has accepted; `label` prefixes the key in errors (`policy rules[2].registries[0]`). */
export function compilePolicy (rules: readonly PolicyRule[], label = 'policy'): Policy {
  const compiled = rules.map((rule, i): CompiledRule => {
    const key = (k: string) => () => `${label} rules[${i}].${k}`;
    return {
      subjects: rule.subjects.map((s, j) => compileSubject(s, key(`subjects[${j}]`))),
      actions: new Set(rule.actions),
      ...(rule.registries === undefined ? {} : { registries: rule.registries.map((r, j) => compileRegistry(r, key(`registries[${j}]`))) }),
      overrides: (rule.overrides ?? []).map((o, j) => compileOverride(o, key(`overrides[${j}]`))),
      applications: (rule.applications ?? []).map((a, j) => compileApplication(a, key(`applications[${j}]`)))
    };
  });
  return { rules, compiled };
}

/** Parse a policy file's text; throws ConfigError naming the rule index and key. */
export function parsePolicy (text: string, label = 'policy'): Policy {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) throw new ConfigError(label, `larger than ${MAX_POLICY_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (err) {
    throw new ConfigError(label, `not valid YAML: ${String((err as Error).message).split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) throw new ConfigError(label, 'is empty (write "rules: []" to deny every request)');
  return compilePolicy(checkShape(PolicyFileSchema, doc, label).rules, label);
}

/**
 * The policy in force without a policy file: in `none` mode every action, with request
 * overrides limited to Kubernetes references within SECRET_NAMESPACES (never env:/ext:);
 * in the other modes `validate`, `registries` and `status` only.
 */
export function defaultPolicy (settings: Pick<Settings, 'authMode' | 'secretNamespaces'>): Policy {
  if (settings.authMode !== 'none') {
    return compilePolicy([{ subjects: ['*'], actions: ['validate', 'registries', 'status'] }], 'default policy');
  }
  const namespaces = settings.secretNamespaces === '*' ? ['*'] : settings.secretNamespaces;
  const overrides = namespaces.flatMap((ns) => [`pullsecret:${ns}/*`, `secret:${ns}/*`, `serviceaccount:${ns}/*`]);
  return compilePolicy([{ subjects: ['*'], actions: [...POLICY_ACTIONS], overrides }], 'default policy');
}

function subjectMatches (m: SubjectMatcher, caller: Caller): boolean {
  switch (m.on) {
    // Plain subjects never match Kubernetes users, so that a user named like a
    // ServiceAccount or `static:x` cannot borrow their rules.
    case 'name': return caller.kind !== 'user' && m.re.test(caller.name);
    case 'user': return caller.kind === 'user' && m.re.test(caller.name);
    case 'group': return caller.groups.some((g) => m.re.test(g));
  }
}

/** Whether some rule names this caller through `user:` or `group:` (Kubernetes users need that). */
export function policyNamesCaller (policy: Policy, caller: Caller): boolean {
  return policy.compiled.some((r) => r.subjects.some((m) => m.on !== 'name' && subjectMatches(m, caller)));
}

/** How an override may be shown in logs and errors: only a reference of a known type is quoted. */
export function describeOverride (override: string): string {
  const type = overrideType(override).toLowerCase();
  return (REFERENCE_TYPES as readonly string[]).includes(type) ? canonicalOverride(override) : 'an unrecognised credential reference';
}

function overrideMatches (m: OverrideMatcher, override: string): boolean {
  if (m.any) {
    const type = overrideType(override);
    return (REFERENCE_TYPES as readonly string[]).includes(type) && !PROCESS_TYPES.has(type);
  }
  return m.re !== undefined && m.re.test(override);
}

/** Decide one request: the first rule that allows it wins; deny when none does. */
export function evaluate (policy: Policy, req: PolicyRequest): PolicyDecision {
  const registry = req.registry === undefined ? undefined : canonicalPrefix(req.registry);
  const override = req.override === undefined ? undefined : canonicalOverride(req.override);
  const application = req.application;
  // how far the closest rule got: 0 none, 1 subject, 2 action, 3 registry, 4 application
  let best = 0;
  let bestRule: number | undefined;
  for (let i = 0; i < policy.compiled.length; i++) {
    const r = policy.compiled[i] as CompiledRule;
    if (!r.subjects.some((m) => subjectMatches(m, req.caller))) continue;
    if (best < 1) { best = 1; bestRule = i; }
    if (!r.actions.has(req.action)) continue;
    if (best < 2) { best = 2; bestRule = i; }
    if (r.registries !== undefined) {
      if (registry === undefined ? REGISTRY_SCOPED.has(req.action) : !r.registries.some((re) => re.test(registry))) continue;
    }
    if (best < 3) { best = 3; bestRule = i; }
    if (application !== undefined && !r.applications.some((re) => re.test(application))) continue;
    if (best < 4) { best = 4; bestRule = i; }
    if (override !== undefined && !r.overrides.some((m) => overrideMatches(m, override))) continue;
    return { allowed: true, rule: i, reason: `rule ${i} allows ${req.action}` };
  }
  const who = `caller ${req.caller.name}`;
  const decision: PolicyDecision = { allowed: false, reason: '' };
  if (bestRule !== undefined) decision.rule = bestRule;
  switch (best) {
    case 0: decision.reason = `no policy rule names ${who}`; break;
    case 1: decision.reason = `no policy rule allows ${who} to ${req.action}`; break;
    case 2: decision.reason = registry === undefined
      ? `${who} may ${req.action} only on named registries`
      : `no policy rule allows ${who} to ${req.action} on registry ${registry}`;
      break;
    case 3: decision.reason = `no policy rule allows ${who} to name application ${application ?? ''}`; break;
    default: decision.reason = `no policy rule allows ${who} to use ${describeOverride(override ?? '')} as credentials`;
  }
  return decision;
}

/** distinct (caller, request) pairs whose decision is kept */
export const DECISION_MEMO_MAX_ENTRIES = 10_000;

/**
 * The decisions of one policy, reused per (caller, action, registry, application, override):
 * a bounded memo that empties when the policy in force changes (a reload is a new object),
 * so the hot path evaluates the rules once per caller and image. `evaluations` counts the
 * rule evaluations it made (tests count them).
 */
export class PolicyDecisions {
  evaluations = 0;
  private policy: Policy | undefined;
  private readonly memo: LRUCache<string, PolicyDecision>;
  private readonly allowedByRule = new Map<string, PolicyDecision>();

  constructor (max = DECISION_MEMO_MAX_ENTRIES) {
    this.memo = new LRUCache({ max });
  }

  get size (): number { return this.memo.size; }

  decide (policy: Policy, req: PolicyRequest): PolicyDecision {
    if (policy !== this.policy) {
      this.memo.clear();
      this.allowedByRule.clear();
      this.policy = policy;
    }
    const c = req.caller;
    // JSON: no separator a name could forge
    const key = JSON.stringify([c.kind, c.name, c.groups, req.action, req.registry, req.application, req.override]);
    let decision = this.memo.get(key);
    if (decision === undefined) {
      decision = Object.freeze(evaluate(policy, req));
      this.evaluations++;
      // an allowed decision says only which rule allowed which action: one object each, shared
      // by every image that rule allows (the memo holds one per image)
      if (decision.allowed) {
        const shared = `${decision.rule ?? ''}|${req.action}`;
        const known = this.allowedByRule.get(shared);
        if (known !== undefined) decision = known;
        else this.allowedByRule.set(shared, decision);
      }
      this.memo.set(key, decision);
    }
    return decision;
  }

  clear (): void {
    this.memo.clear();
    this.allowedByRule.clear();
    this.policy = undefined;
  }
}

/** Loads AUTH_POLICY_PATH (throws ConfigError at start) and follows its changes. */
export function openPolicyFile (path: string, opts: ConfigFileOptions = {}): ReloadingFile<Policy> {
  return openConfigFile(path, {
    file: 'policy',
    setting: 'AUTH_POLICY_PATH',
    parse: (text) => parsePolicy(text, `AUTH_POLICY_PATH ${path}`),
    maxBytes: MAX_POLICY_BYTES
  }, opts);
}
