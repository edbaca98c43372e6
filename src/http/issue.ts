// Shared by every route that hands out credentials: the policy check on the image's
// registry (and on a request override), the resolve, and the one audit line per answer.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ResolveContext, ResolveRequest, ResolveResult } from '../credentials/resolver.js';
import { isCodedError } from '../errors.js';
import { formatImageReference, type ImageReference } from '../registry/image-ref.js';
import type { PolicyAction } from '../policy/policy.js';

/**
 * The caller may do `action` on this image's registry (and name the request's Application);
 * overrides are checked as the resolver meets them.
 */
export async function authorizeImage (
  app: FastifyInstance,
  request: FastifyRequest,
  action: PolicyAction,
  image: ImageReference,
  body: Pick<ResolveRequest, 'application' | 'applicationNamespace'> = {}
): Promise<ResolveContext> {
  const application = body.application === undefined
    ? undefined
    : { name: body.application, ...(body.applicationNamespace === undefined ? {} : { namespace: body.applicationNamespace }) };
  const scope = { action, registry: image.name, ...(application === undefined ? {} : { application }) };
  await app.authorize(request, scope);
  return {
    authorizeOverride: async (ref) => { await app.authorize(request, { ...scope, override: ref }); }
  };
}

/**
 * Resolve for the `resolve` action and write the audit line, issued or refused. The audit
 * names the normalized image (`opts.auditImage` when the route knows better, e.g. a server URL),
 * never the raw input: a caller may have typed `user:password@host/...` into it.
 */
export async function issueCredential (
  app: FastifyInstance,
  request: FastifyRequest,
  body: ResolveRequest,
  opts: { auditImage?: string, image?: ImageReference } = {}
): Promise<ResolveResult> {
  const { resolver } = app;
  const audit = { caller: request.caller?.name ?? null, image: opts.auditImage ?? '<invalid image reference>', application: body.application };
  try {
    const image = opts.image ?? resolver.parseImage(body.image);
    if (opts.auditImage === undefined) audit.image = formatImageReference(image);
    const ctx = await authorizeImage(app, request, 'resolve', image, body);
    const result = await resolver.resolve(body, ctx, image);
    request.audited = true;
    request.log.info({
      audit: 'credential',
      ...audit,
      registry: result.registry.prefix,
      source: result.source.ref,
      sourceLevel: result.source.level,
      cache: result.stale ? 'stale' : result.cached ? 'hit' : 'miss',
      outcome: 'issued'
    }, 'credential issued');
    return result;
  } catch (err) {
    request.audited = true;
    request.log.info({ audit: 'credential', ...audit, outcome: isCodedError(err) ? err.code : 'INTERNAL' }, 'credential refused');
    throw err;
  }
}
