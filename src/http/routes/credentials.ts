// Credential routes: resolve (POST and GET), explain. Every issued credential is audited.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ResolveRequest } from '../../credentials/resolver.js';
import { authorizeImage, issueCredential } from '../issue.js';
import { ExplainResponse, ImageString, ResolveBody, ResolveResponse, errorResponses } from '../schemas.js';

const credentialErrors = errorResponses(400, 401, 403, 404, 429, 502, 503, 504);

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { resolver } = app.broker;

  async function resolveAndAudit (request: FastifyRequest, reply: FastifyReply, body: ResolveRequest) {
    const result = await issueCredential(app, request, body);
    void reply.header('cache-control', 'no-store');
    return result;
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
    const ctx = await authorizeImage(app, request, 'explain', resolver.parseImage(request.body.image), request.body);
    return await resolver.explain(request.body, ctx);
  });
};

export default routes;
