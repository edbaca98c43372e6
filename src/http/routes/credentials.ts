// Credential routes: resolve (POST and GET), explain. Every issued credential is audited.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ResolveContext, ResolveRequest } from '../../credentials/resolver.js';
import { isCodedError } from '../../errors.js';
import { ExplainResponse, ImageString, ResolveBody, ResolveResponse, errorResponses } from '../schemas.js';
import type { AuthAction } from '../context.js';

const credentialErrors = errorResponses(400, 401, 403, 404, 429, 502, 503, 504);

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { resolver } = app.broker;

  /** policy: the action on the image's registry, and the request override if any */
  async function guard (request: FastifyRequest, action: AuthAction, body: ResolveRequest): Promise<ResolveContext> {
    const image = resolver.parseImage(body.image);
    await app.authorize(request, { action, registry: image.name });
    return {
      authorizeOverride: async (ref) => { await app.authorize(request, { action, registry: image.name, override: ref }); }
    };
  }

  async function resolveAndAudit (request: FastifyRequest, reply: FastifyReply, body: ResolveRequest) {
    const audit = { caller: request.caller?.name ?? null, image: resolver.describeImage(body.image), application: body.application };
    try {
      const ctx = await guard(request, 'resolve', body);
      const result = await resolver.resolve(body, ctx);
      request.log.info({
        audit: 'credential',
        ...audit,
        registry: result.registry.prefix,
        source: result.source.ref,
        level: result.source.level,
        cache: result.stale ? 'stale' : result.cached ? 'hit' : 'miss',
        outcome: 'issued'
      }, 'credential issued');
      void reply.header('cache-control', 'no-store');
      return result;
    } catch (err) {
      request.log.info({ audit: 'credential', ...audit, outcome: isCodedError(err) ? err.code : 'INTERNAL' }, 'credential refused');
      throw err;
    }
  }

  app.post('/v1/credentials/resolve', {
    schema: {
      tags: ['credentials'],
      summary: 'Resolve the credentials for an image',
      body: ResolveBody,
      response: { 200: ResolveResponse, ...credentialErrors }
    }
  }, async (request, reply) => await resolveAndAudit(request, reply, request.body));

  app.get('/v1/credentials', {
    schema: {
      tags: ['credentials'],
      summary: 'Resolve the credentials for an image (no overrides; for curl)',
      querystring: Type.Object({ image: ImageString }, { additionalProperties: false }),
      response: { 200: ResolveResponse, ...credentialErrors }
    }
  }, async (request, reply) => await resolveAndAudit(request, reply, { image: request.query.image }));

  app.post('/v1/credentials/explain', {
    schema: {
      tags: ['credentials'],
      summary: 'Every step of resolution for an image, never a secret value',
      body: ResolveBody,
      response: { 200: ExplainResponse, ...errorResponses(400, 401, 403, 429) }
    }
  }, async (request) => {
    const ctx = await guard(request, 'explain', request.body);
    return await resolver.explain(request.body, ctx);
  });
};

export default routes;
