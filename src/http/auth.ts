// Caller authentication (TokenReview, static tokens or none), authorization against the
// policy, and the per-caller rate limit (README "Callers: authentication and policy"). The
// plugin decorates the hook; the /v1 routes plugin (routes/v1.ts) puts it on its routes.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { Cache } from '../cache.js';
import type { Settings } from '../config/settings.js';
import {
  PolicyDecisions, defaultPolicy, describeOverride, policyNamesCaller,
  type Caller, type Policy, type PolicyAction, type PolicyDecision, type PolicyRequest
} from '../policy/policy.js';
import { lookupToken, type StaticTokens } from '../config/tokens.js';
import { formatReference } from '../credentials/reference.js';
import type { CredentialReference } from '../credentials/types.js';
import {
  Forbidden, KubernetesUnavailable, OverrideNotAllowed, RateLimited, Unauthenticated, isCodedError
} from '../errors.js';
import type { Metrics } from '../metrics.js';
import { KeyedRateLimiter } from '../registry/rate-limiter.js';

export type { Caller } from '../policy/policy.js';

export interface TokenReviewResult {
  authenticated: boolean
  user?: { username: string, uid?: string, groups?: string[] }
  audiences?: string[]
  error?: string
}

/** Asks the Kubernetes API about a bearer token (src/kube/reviews.ts). */
export type TokenReviewer = (token: string, audiences: string[]) => Promise<TokenReviewResult>;

export interface AuthorizeRequest {
  action: PolicyAction
  /** the image's registry host and repository path, or an endpoint prefix */
  registry?: string
  /** the request's own credential reference, as given or parsed */
  override?: string | CredentialReference
  /** the Argo CD Application the request names (namespace: the service's own when absent) */
  application?: { name: string, namespace?: string }
}

export interface AuthPluginOptions {
  settings: Settings
  metrics?: Metrics
  tokenReviewer?: TokenReviewer
  /** undefined: no policy file, the README's defaults apply */
  policy: { current(): Policy } | undefined
  tokens?: { current(): StaticTokens }
  /** clock in ms, for the review cache and the rate limit (tests) */
  now?: () => number
  /** the memo of policy decisions (tests count its evaluations) */
  decisions?: PolicyDecisions
}

declare module 'fastify' {
  interface FastifyRequest {
    /** who is asking; set for routes under /v1, null elsewhere */
    caller: Caller | null
  }
  interface FastifyContextConfig {
    /** the policy action of the route, named by the line of a caller refused before its handler */
    action?: PolicyAction
  }
  interface FastifyInstance {
    /**
     * The onRequest hook of the routes that need a caller: authenticates (and rate-limits) the
     * request. Undefined when there is nothing to do (AUTH_MODE=none without a rate limit).
     */
    authenticateCaller: ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined
    /** Allows the request or throws Forbidden / OverrideNotAllowed (and logs the denial). */
    authorize: (request: FastifyRequest, req: AuthorizeRequest) => PolicyDecision
    /** Whether the policy would allow it, with no log line nor metric: for scoping an answer, never for access. */
    allows: (request: FastifyRequest, req: AuthorizeRequest) => boolean
  }
}

const MAX_TOKEN_LENGTH = 16 * 1024;
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:[^:]+:[^:]+$/;
const REVIEW_TTL_CAP_MS = 5 * 60_000;
const REVIEW_FAILURE_TTL_MS = 10_000;
const MAX_CACHED_REVIEWS = 10_000;
const MAX_RATE_KEYS = 10_000;
const ANONYMOUS: Caller = Object.freeze({ name: 'anonymous', groups: Object.freeze([]) as unknown as string[], kind: 'anonymous' });

/** What a caller's request budget is kept under: the caller, or the client address when anonymous. */
function callerKey (request: FastifyRequest): string {
  const caller = request.caller;
  return caller === null || caller.kind === 'anonymous' ? `ip:${request.ip}` : `caller:${caller.name}`;
}
const MAX_GROUPS = 256;
const CHALLENGE = 'Bearer realm="credbroker"';

type ReviewOutcome = { ok: true, caller: Caller } | { ok: false, reason: string };

/** The token's own `exp` in ms, read without verifying: only to bound how long a review is cached. */
export function tokenExpiry (token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined || parts[1].length > MAX_TOKEN_LENGTH) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const exp = (payload as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function tokenKey (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** TokenReview results by token hash, never past the token's exp; concurrent misses share one review. */
export class ReviewCache {
  private readonly cache: Cache<ReviewOutcome>;

  constructor (
    private readonly review: (token: string) => Promise<ReviewOutcome>,
    private readonly now: () => number,
    maxEntries = MAX_CACHED_REVIEWS
  ) {
    // no stale serving: a review past its time is never an answer
    this.cache = new Cache<ReviewOutcome>({ max: maxEntries, now });
  }

  async lookup (token: string): Promise<ReviewOutcome> {
    const lookup = await this.cache.get(tokenKey(token), async () => {
      const outcome = await this.review(token);
      const now = this.now();
      let freshUntil = now + (outcome.ok ? REVIEW_TTL_CAP_MS : REVIEW_FAILURE_TTL_MS);
      const exp = tokenExpiry(token);
      // a success never outlives the token; a failure is kept its few seconds regardless
      if (outcome.ok && exp !== undefined) freshUntil = Math.min(freshUntil, exp);
      return { value: outcome, freshUntil, store: freshUntil > now };
    });
    return lookup.stored.value;
  }

  get size (): number { return this.cache.size; }

  clear (): void { this.cache.clear(); }
}

function overrideText (override: AuthorizeRequest['override']): string | undefined {
  if (override === undefined) return undefined;
  return typeof override === 'string' ? override.trim() : formatReference(override);
}

async function authPlugin (app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const { settings, metrics } = opts;
  const now = opts.now ?? Date.now;
  const mode = settings.authMode;
  const fallbackPolicy = defaultPolicy(settings);
  const currentPolicy = (): Policy => opts.policy?.current() ?? fallbackPolicy;
  // one evaluation per (caller, request) until the policy reloads
  const decisions = opts.decisions ?? new PolicyDecisions();

  if (mode === 'kubernetes' && opts.tokenReviewer === undefined) {
    throw new Error('AUTH_MODE=kubernetes needs a TokenReview function');
  }
  if (mode === 'static' && opts.tokens === undefined) {
    throw new Error('AUTH_MODE=static needs the AUTH_TOKENS_FILE tokens');
  }
  if (mode === 'none') {
    app.log.warn('AUTH_MODE=none: callers are not authenticated; use it only for local work');
  }

  const reviewer = opts.tokenReviewer;
  const reviews = new ReviewCache(async (token) => {
    let result: TokenReviewResult;
    try {
      result = await (reviewer as TokenReviewer)(token, settings.authAudiences);
    } catch (err) {
      // a coded error of ours is forwarded unless it somehow carries the token; anything
      // else (an ApiException holds the API's whole answer) is never forwarded nor logged
      if (isCodedError(err) && !err.message.includes(token)) throw err;
      throw new KubernetesUnavailable('TokenReview request failed');
    }
    if (result.authenticated !== true) return { ok: false, reason: 'token not authenticated' };
    const granted = result.audiences ?? [];
    if (!granted.some((a) => settings.authAudiences.includes(a))) {
      return { ok: false, reason: `token audience is not one of ${settings.authAudiences.join(', ')}` };
    }
    const username = result.user?.username;
    if (typeof username !== 'string' || username === '') return { ok: false, reason: 'token review named no user' };
    const groups = (result.user?.groups ?? []).filter((g): g is string => typeof g === 'string').slice(0, MAX_GROUPS);
    const kind = SERVICE_ACCOUNT_USER.test(username) ? 'serviceaccount' : 'user';
    return { ok: true, caller: { name: username, groups, kind } };
  }, now);

  const perMinute = settings.rateLimitPerMinute;
  const rateLimited = (request: FastifyRequest, who: string, retryAfterSeconds: number): InstanceType<typeof RateLimited> => {
    metrics?.authDecisions.inc({ result: 'rate_limited' });
    request.log.info({ auth: { caller: who, retryAfter: retryAfterSeconds } }, 'caller rate limited');
    return new RateLimited(`more than ${perMinute} requests per minute; retry after ${retryAfterSeconds}s`);
  };

  // callers: @fastify/rate-limit, keyed by who they are once authenticated (by client address
  // in none mode), with the RateLimit-* and Retry-After headers
  let limitCaller: ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined;
  if (perMinute > 0) {
    await app.register(rateLimit, {
      global: false,
      max: perMinute,
      timeWindow: 60_000,
      cache: MAX_RATE_KEYS,
      enableDraftSpec: true,
      keyGenerator: (request) => callerKey(request),
      errorResponseBuilder: (request, context) => {
        const caller = request.caller;
        const who = caller === null || caller.kind === 'anonymous' ? callerKey(request) : caller.name;
        return rateLimited(request, who, Math.max(1, Math.ceil(context.ttl / 1000)));
      }
    });
    const handler = app.rateLimit();
    limitCaller = async (request, reply) => { await handler.call(app, request, reply); };
  }
  // failed authentications: per client address, before any TokenReview, so that random
  // tokens cannot make the service send TokenReviews without bound
  const failures = perMinute > 0 && mode !== 'none' ? new KeyedRateLimiter(perMinute, 60_000, MAX_RATE_KEYS, now) : undefined;

  const unauthenticated = (request: FastifyRequest, reply: FastifyReply, reason: string, tokenGiven: boolean): never => {
    metrics?.authDecisions.inc({ result: 'unauthenticated' });
    // the caller is unknown: the line names what was asked, the action and the route
    const target = request.routeOptions.url ?? request.url.split('?', 1)[0];
    request.log.info({ auth: { mode, reason, action: request.routeOptions.config.action ?? null, route: `${request.method} ${target}` } }, 'caller not authenticated');
    reply.header('WWW-Authenticate', tokenGiven ? `${CHALLENGE}, error="invalid_token"` : CHALLENGE);
    throw new Unauthenticated(reason);
  };

  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<Caller> => {
    const header = request.headers.authorization;
    if (header === undefined || header === '') return unauthenticated(request, reply, 'missing bearer token', false);
    const match = header.length <= MAX_TOKEN_LENGTH + 16 ? BEARER.exec(header) : null;
    const token = match?.[1];
    if (token === undefined) return unauthenticated(request, reply, 'malformed Authorization header; expected "Bearer <token>"', false);
    if (mode === 'static') {
      const name = lookupToken((opts.tokens as { current(): StaticTokens }).current(), token);
      if (name === undefined) return unauthenticated(request, reply, 'unknown token', true);
      return { name: `static:${name}`, groups: [], kind: 'static' };
    }
    const outcome = await reviews.lookup(token);
    if (!outcome.ok) return unauthenticated(request, reply, outcome.reason, true);
    const caller = outcome.caller;
    // any token the cluster issues passes a TokenReview; beyond ServiceAccounts, only
    // the users and groups the policy names are callers
    if (caller.kind === 'user' && !policyNamesCaller(currentPolicy(), caller)) {
      return unauthenticated(request, reply, `${caller.name} is not a ServiceAccount and no policy rule names it`, true);
    }
    return caller;
  };

  if (mode === 'none') {
    // no identity to establish: every request is the anonymous caller; without a rate limit
    // there is no hook at all
    app.decorateRequest('caller', { getter: () => ANONYMOUS });
    app.decorate('authenticateCaller', limitCaller);
  } else {
    app.decorateRequest('caller', null);
    app.decorate('authenticateCaller', async (request: FastifyRequest, reply: FastifyReply) => {
      const address = `ip:${request.ip}`;
      const tooManyFailures = failures?.peek(address);
      if (tooManyFailures !== undefined && !tooManyFailures.ok) {
        const retryAfter = Math.max(1, Math.ceil(tooManyFailures.retryAfterMs / 1000));
        void reply.header('Retry-After', String(retryAfter));
        throw rateLimited(request, address, retryAfter);
      }
      try {
        request.caller = await authenticate(request, reply);
      } catch (err) {
        if (isCodedError(err) && err.code === 'UNAUTHENTICATED') failures?.hit(address);
        throw err;
      }
      await limitCaller?.(request, reply);
    });
  }

  app.decorate('authorize', (request: FastifyRequest, req: AuthorizeRequest): PolicyDecision => {
    const caller = request.caller;
    if (caller === null) {
      metrics?.authDecisions.inc({ result: 'unauthenticated' });
      throw new Unauthenticated('no caller identity');
    }
    const override = overrideText(req.override);
    const policyRequest: PolicyRequest = { caller, action: req.action };
    if (req.registry !== undefined) policyRequest.registry = req.registry;
    if (override !== undefined) policyRequest.override = override;
    // AUTH_MODE=none has no caller to grant Applications to: naming one stays open there
    if (req.application !== undefined && mode !== 'none') {
      policyRequest.application = `${req.application.namespace ?? settings.podNamespace}/${req.application.name}`;
    }
    const policy = currentPolicy();
    const decision = decisions.decide(policy, policyRequest);
    if (decision.allowed) {
      metrics?.authDecisions.inc({ result: 'allowed' });
      if ((request.log as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.('debug') !== false) {
        request.log.debug({ auth: { caller: caller.name, callerKind: caller.kind, action: req.action, registry: req.registry, application: policyRequest.application, override: override === undefined ? undefined : describeOverride(override), rule: decision.rule, reason: decision.reason } }, 'request allowed by policy');
      }
      return decision;
    }
    // only a reference of a known type is echoed: a pasted `user:password` must not be
    const shownOverride = override === undefined ? undefined : describeOverride(override);
    const fields = {
      caller: caller.name,
      callerKind: caller.kind,
      action: req.action,
      registry: req.registry,
      application: policyRequest.application,
      override: shownOverride,
      rule: decision.rule,
      reason: decision.reason
    };
    metrics?.authDecisions.inc({ result: 'denied' });
    request.log.warn({ auth: fields }, 'request denied by policy');
    if (override !== undefined) {
      const { override: _omit, ...withoutOverride } = policyRequest;
      if (decisions.decide(policy, withoutOverride).allowed) {
        throw new OverrideNotAllowed(`caller ${caller.name} may not use ${shownOverride ?? 'this reference'} as credentials`);
      }
    }
    throw new Forbidden(decision.reason);
  });

  app.decorate('allows', (request: FastifyRequest, req: AuthorizeRequest): boolean => {
    if (request.caller === null) return false;
    const policyRequest: PolicyRequest = { caller: request.caller, action: req.action };
    if (req.registry !== undefined) policyRequest.registry = req.registry;
    const override = overrideText(req.override);
    if (override !== undefined) policyRequest.override = override;
    return decisions.decide(currentPolicy(), policyRequest).allowed;
  });

  app.addHook('onClose', async () => {
    reviews.clear();
    decisions.clear();
  });
}

export default fp(authPlugin, { name: 'caller-auth', fastify: '5.x' });
