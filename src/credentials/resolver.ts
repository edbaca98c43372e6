// Resolution (README "How resolution works"): normalize the image, find its endpoint, pick the most specific
// credential reference (request → image → application → registry), fetch it through the cache.
import { LRUCache } from 'lru-cache';
import type { RegistriesConfig } from '../registry/registries-conf.js';
import { AnnotationSourceNotAllowed, ApplicationNotFound, ArgocdUnavailable, KubernetesUnavailable, NoCredentialsConfigured, isCodedError } from '../errors.js';
import type { ApplicationSource } from '../argocd/types.js';
import { credentialFromAnnotations } from '../argocd/annotations.js';
import type { SecretStore } from '../kube/secret-store.js';
import type { Metrics } from '../metrics.js';
import { defaultPrefixOf, findEndpoint, type Endpoint } from '../registry/endpoints.js';
import { canonicalPrefix } from '../registry/names.js';
import { registryCredentialSpec } from './registry-credentials.js';
import { parseImageReference, type ImageReference } from '../registry/image-ref.js';
import type { CacheLookup, CredentialCache, Level } from './cache.js';
import { formatReference, parseCredentialSpec } from './reference.js';
import type { EndpointView, ExplainResult, ExplainStep, ResolveRequest, ResolveResult } from './results.js';
import { CloudCredentials } from './cloud/index.js';
import { checkNamespace, credentialFor, disconnectedSince, fetchCredential, namespaceOf, type SourceContext } from './sources.js';
import { isCloudProvider, type CredentialReference, type ParsedSpec, type SourceType, type TokenType } from './types.js';

export type { EndpointView, ExplainResult, ExplainStep, ResolveRequest, ResolveResult };

export interface ResolveContext {
  /** throws when the caller may not use this request override (policy, docs/configuration.md "Callers: authentication and policy") */
  authorizeOverride?: (ref: string, parsed: CredentialReference) => void | Promise<void>
}

interface Plan {
  image: ImageReference
  endpoint: Endpoint
  steps: ExplainStep[]
  chosen?: { ref: CredentialReference, text: string, level: Level }
  /** the Application's reference is of a type annotations may not use */
  refused?: Error
}

/**
 * Types an Application annotation may name under ANNOTATION_SOURCES=secrets: an allow-list,
 * so that a type added later (env:, ext: and the cloud types run as the service itself) is
 * refused until someone decides otherwise. Anyone who may write an Application writes these.
 */
const ANNOTATION_SAFE_TYPES: ReadonlySet<string> = new Set(['pullsecret', 'secret']);

export interface ResolverDeps {
  registries: { current (): RegistriesConfig }
  store: SecretStore
  applications?: ApplicationSource
  cache: CredentialCache
  secretNamespaces: string[] | '*'
  extTimeoutMs: number
  extMaxOutputBytes: number
  cacheMaxStaleMs: number
  /** ANNOTATION_SOURCES: `secrets` (default) or `all` */
  annotationSources?: 'secrets' | 'all'
  env?: NodeJS.ProcessEnv
  metrics?: Metrics
}

/** distinct image texts whose parse and endpoint are kept */
const MEMO_MAX_ENTRIES = 10_000;

function endpointView (e: Endpoint): EndpointView {
  return { name: e.name, prefix: e.prefix, apiUrl: e.apiUrl, configured: e.configured };
}

export class Resolver {
  private readonly sources: SourceContext;
  private readonly images = new LRUCache<string, { image: ImageReference, endpoint: Endpoint }>({ max: MEMO_MAX_ENTRIES });
  private memoConfig: RegistriesConfig | undefined;

  constructor (private readonly deps: ResolverDeps) {
    this.sources = {
      store: deps.store,
      env: deps.env ?? process.env,
      extTimeoutMs: deps.extTimeoutMs,
      extMaxOutputBytes: deps.extMaxOutputBytes,
      metrics: deps.metrics,
      cloud: new CloudCredentials(deps.env ?? process.env, deps.metrics)
    };
  }

  async close (): Promise<void> {
    await this.sources.cloud?.close();
  }

  /** the image reference normalized with the configured default prefix (memoized per input until registries.conf reloads) */
  parseImage (input: string): ImageReference {
    return this.parsed(input).image;
  }

  endpointFor (image: ImageReference): Endpoint {
    const config = this.memoFor();
    const hit = this.images.get(image.input);
    if (hit !== undefined && hit.image === image) return hit.endpoint;
    return findEndpoint(config, image);
  }

  /**
   * The hot path's parsing: an image reference and its endpoint, kept per input text in a
   * bounded memo that a registries.conf reload (a new config object) empties.
   */
  private parsed (input: string): { image: ImageReference, endpoint: Endpoint } {
    const config = this.memoFor();
    let hit = this.images.get(input);
    if (hit === undefined) {
      const image = parseImageReference(input, defaultPrefixOf(config));
      hit = { image, endpoint: findEndpoint(config, image) };
      this.images.set(input, hit);
    }
    return hit;
  }

  private memoFor (): RegistriesConfig {
    const config = this.deps.registries.current();
    if (config !== this.memoConfig) {
      this.images.clear();
      this.memoConfig = config;
    }
    return config;
  }

  /** `image`: the request's image already parsed by the caller (parsed here otherwise) */
  async resolve (req: ResolveRequest, ctx: ResolveContext = {}, image?: ImageReference): Promise<ResolveResult> {
    let sourceType: SourceType | 'none' = 'none';
    try {
      const plan = await this.plan(req, ctx, image);
      if (plan.refused !== undefined) throw plan.refused;
      if (plan.chosen === undefined) throw new NoCredentialsConfigured(plan.image.name);
      sourceType = plan.chosen.ref.type;
      const lookup = await this.fetch(plan, req.refresh === true);
      const { entry } = lookup;
      const { credential, matchedKey } = credentialFor(entry, plan.image.name);
      this.deps.metrics?.credentialRequests.inc({ outcome: 'ok', source_type: sourceType });
      return {
        image: req.image,
        normalized: plan.image.name,
        registry: endpointView(plan.endpoint),
        source: { type: plan.chosen.ref.type, ref: plan.chosen.text, level: plan.chosen.level },
        username: credential.username,
        password: credential.password,
        tokenType: credential.tokenType,
        cached: lookup.hit,
        stale: lookup.stale,
        fetchedAt: entry.fetchedAt,
        expiresAt: credential.expiresAt?.toISOString() ?? null,
        ...(matchedKey !== undefined ? { matchedKey } : {})
      };
    } catch (err) {
      this.deps.metrics?.credentialRequests.inc({ outcome: isCodedError(err) ? err.code : 'INTERNAL', source_type: sourceType });
      throw err;
    }
  }

  /** Every step of resolution, never a secret value. Errors of the image reference are thrown. */
  async explain (req: ResolveRequest, ctx: ResolveContext = {}): Promise<ExplainResult> {
    const image = this.parseImage(req.image);
    const endpoint = this.endpointFor(image);
    const result: ExplainResult = {
      image: {
        input: req.image,
        normalized: image.name,
        registry: image.host,
        repository: image.repository,
        ...(image.tag !== undefined ? { tag: image.tag } : {}),
        ...(image.digest !== undefined ? { digest: image.digest } : {})
      },
      endpoint: {
        ...endpointView(endpoint),
        reason: endpoint.configured
          ? `registries.conf entry "${endpoint.name}" has the longest prefix matching ${image.name}`
          : `no registries.conf prefix matches ${image.name}; endpoint inferred from the host`
      },
      steps: [],
      cache: { state: 'not-cached' },
      outcome: { ok: true }
    };
    let plan: Plan | undefined;
    try {
      plan = await this.plan(req, ctx, image, endpoint);
      result.steps = plan.steps;
      if (plan.refused !== undefined) throw plan.refused;
      if (plan.chosen === undefined) throw new NoCredentialsConfigured(image.name);
      result.source = { type: plan.chosen.ref.type, ref: plan.chosen.text, level: plan.chosen.level };
      const before = this.deps.cache.peek(this.cacheKey(plan));
      const lookup = await this.fetch(plan, req.refresh === true);
      const { credential, matchedKey } = credentialFor(lookup.entry, image.name);
      if (matchedKey !== undefined) result.match = { key: matchedKey };
      if (lookup.entry.cloud !== undefined) result.cloud = { ...lookup.entry.cloud, expiresAt: credential.expiresAt?.toISOString() ?? null };
      result.cache = {
        state: lookup.stale ? 'stale' : lookup.hit ? 'hit' : before === undefined && this.deps.cache.peek(lookup.entry.key) === undefined ? 'not-cached' : 'miss',
        fetchedAt: lookup.entry.fetchedAt,
        freshUntil: lookup.entry.freshUntil === null ? null : new Date(lookup.entry.freshUntil).toISOString()
      };
    } catch (err) {
      if (!isCodedError(err)) throw err;
      if (plan !== undefined) result.steps = plan.steps;
      result.outcome = { ok: false, code: err.code, message: err.message };
    }
    return result;
  }

  private async plan (req: ResolveRequest, ctx: ResolveContext, image?: ImageReference, endpoint?: Endpoint): Promise<Plan> {
    image ??= this.parseImage(req.image);
    endpoint ??= this.endpointFor(image);
    const steps: ExplainStep[] = [];
    const plan: Plan = { image, endpoint, steps };

    if (req.credentials !== undefined) {
      const parsed = parseCredentialSpec(req.credentials);
      const text = formatReference(parsed.reference);
      // SECRET_NAMESPACES bounds every caller, whatever the policy says
      checkNamespace(parsed.reference, this.deps.secretNamespaces);
      await ctx.authorizeOverride?.(text, parsed.reference);
      steps.push({ level: 'request', ref: text, taken: true, reason: 'the request names its own credentials' });
      plan.chosen = { ref: parsed.reference, text, level: 'request' };
      return plan;
    }
    steps.push({ level: 'request', taken: false, reason: 'the request names no credentials' });

    if (req.application !== undefined) {
      const apps = this.deps.applications;
      if (apps === undefined) throw new ArgocdUnavailable('Argo CD applications cannot be read in this mode (no Kubernetes API and APPLICATIONS_API is not argocd)');
      const app = await apps.getApplication(req.application, req.applicationNamespace);
      const appName = req.applicationNamespace !== undefined ? `${req.applicationNamespace}/${req.application}` : req.application;
      if (app === undefined) throw new ApplicationNotFound(appName);
      const picked = credentialFromAnnotations(app.annotations, image.name, (ref) => this.parseImage(ref).name);
      for (const s of picked.steps) {
        steps.push({ level: s.step.startsWith('application') ? 'application' : 'image', taken: s.taken, reason: `${s.step}: ${s.reason}` });
      }
      if (picked.spec !== undefined) {
        const parsed = this.applicable(parseCredentialSpec(picked.spec, { allowRegistryPrefix: true }), image, picked.level, steps);
        if (parsed !== undefined) {
          const text = formatReference(parsed.reference);
          if (this.deps.annotationSources !== 'all' && !ANNOTATION_SAFE_TYPES.has(parsed.reference.type)) {
            const why = `${parsed.reference.type}: references from Application annotations are refused (ANNOTATION_SOURCES=secrets allows pullsecret: and secret: only; ANNOTATION_SOURCES=all allows every type)`;
            steps.push({ level: picked.level, ref: text, taken: false, reason: why });
            plan.refused = new AnnotationSourceNotAllowed(`application ${appName} names ${text}: ${why}`);
            return plan;
          }
          plan.chosen = { ref: parsed.reference, text, level: picked.level };
          return plan;
        }
      }
    } else {
      steps.push({ level: 'application', taken: false, reason: 'the request names no Argo CD application' });
    }

    const spec = endpoint.entry === undefined ? undefined : registryCredentialSpec(endpoint.entry);
    if (spec !== undefined) {
      const parsed = this.applicable(spec, image, 'registry', steps);
      if (parsed !== undefined) {
        const text = formatReference(parsed.reference);
        steps.push({ level: 'registry', ref: text, taken: true, reason: `credentials of registries.conf entry "${endpoint.name}"` });
        plan.chosen = { ref: parsed.reference, text, level: 'registry' };
        return plan;
      }
    } else {
      steps.push({
        level: 'registry',
        taken: false,
        reason: endpoint.configured ? `registries.conf entry "${endpoint.name}" has no credentials` : 'no registries.conf entry for this registry'
      });
    }
    return plan;
  }

  /** a `<prefix>=<spec>` reference applies only to images under that prefix */
  private applicable (parsed: ParsedSpec, image: ImageReference, level: Level, steps: ExplainStep[]): ParsedSpec | undefined {
    if (parsed.prefix === undefined) return parsed;
    const prefix = canonicalPrefix(parsed.prefix);
    if (image.name === prefix || image.name.startsWith(`${prefix}/`)) return parsed;
    steps.push({ level, ref: formatReference(parsed.reference), taken: false, reason: `the reference is for prefix ${prefix}, not ${image.name}` });
    return undefined;
  }

  /** one entry per reference (and endpoint at registry level): a keyring serves every image it matches */
  private cacheKey (plan: Plan): string {
    const chosen = plan.chosen as NonNullable<Plan['chosen']>;
    const parts = [chosen.level, chosen.text];
    // a cloud token is for the registry host (and, for ACR, the exchange at the API URL)
    if (isCloudProvider(chosen.ref.type)) parts.push(plan.image.host, plan.endpoint.apiUrl);
    if (chosen.level === 'registry') parts.push(plan.endpoint.prefix);
    // joined, not concatenated: one flat string per entry instead of a rope of pieces
    return parts.join('|');
  }

  private async fetch (plan: Plan, refresh: boolean): Promise<CacheLookup> {
    const chosen = plan.chosen as NonNullable<Plan['chosen']>;
    checkNamespace(chosen.ref, this.deps.secretNamespaces);
    return await this.deps.cache.get({
      key: this.cacheKey(plan),
      level: chosen.level,
      ref: chosen.text,
      sourceType: chosen.ref.type,
      registry: plan.endpoint.prefix,
      image: plan.image.name,
      ttlMs: chosen.level === 'registry' ? plan.endpoint.credsExpireMs : undefined,
      // upstream reads image-level script credentials every time; keep them only when they say when they expire
      noStore: chosen.ref.type === 'ext' && chosen.level !== 'registry',
      refresh
    }, async () => {
      // the store still answers from memory while its watch is down: only credentials cached
      // before the outage are served then (marked stale, up to CACHE_MAX_STALE), nothing new
      const ns = namespaceOf(chosen.ref);
      const since = ns === undefined ? undefined : disconnectedSince(this.deps.store, [ns]);
      if (since !== undefined) {
        throw new KubernetesUnavailable(`the Kubernetes API has been unreachable since ${new Date(since).toISOString()}; namespace ${ns as string} is not read until it is back`);
      }
      return await fetchCredential(chosen.ref, plan.image.name, this.sources, plan.endpoint);
    });
  }
}
