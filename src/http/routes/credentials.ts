// Credential routes: resolve (POST and GET), explain. Every issued credential is audited.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { authorizeImage, issueCredential } from '../issue.js';
import { ExplainResult, ImageString, ResolveRequest, ResolveResult, errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';

const credentialErrors = errorResponses(400, 401, 403, 404, 429, 502, 503, 504);

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { resolver } = app;

  async function resolveAndAudit (request: FastifyRequest, reply: FastifyReply, body: ResolveRequest) {
    const result = await issueCredential(app, request, body);
    void reply.header('cache-control', 'no-store');
    return result;
  }

  app.post('/credentials/resolve', {
    config: { action: 'resolve' },
    schema: {
      tags: ['credentials'],
      operationId: 'resolveCredentials',
      summary: 'Resolve the credentials for an image',
      description: 'Picks the most specific credential reference (the request, an image annotation, the Application, then registries.conf), fetches it through the cache and answers the username and password. Overrides (`credentials`, `application`) are subject to the policy. The answer has `Cache-Control: no-store`.',
      body: withExamples(ResolveRequest, ...EXAMPLES.resolve.request),
      response: { 200: withExamples(ResolveResult, ...EXAMPLES.resolve.response), ...credentialErrors }
    }
  }, async (request, reply) => await resolveAndAudit(request, reply, request.body));

  app.get('/credentials', {
    config: { action: 'resolve' },
    schema: {
      tags: ['credentials'],
      operationId: 'getCredentials',
      summary: 'Resolve the credentials for an image (no overrides; for curl)',
      description: 'The same resolution as `POST /v1/credentials/resolve` for an image given in the query, without overrides.',
      querystring: Type.Object({ image: { ...ImageString, examples: [EXAMPLES.get.image] } }, { additionalProperties: false }),
      response: { 200: withExamples(ResolveResult, ...EXAMPLES.get.response), ...credentialErrors }
    }
  }, async (request, reply) => await resolveAndAudit(request, reply, { image: request.query.image }));

  app.post('/credentials/explain', {
    config: { action: 'explain' },
    schema: {
      tags: ['credentials'],
      operationId: 'explainCredentials',
      summary: 'Every step of resolution for an image, never a secret value',
      description: 'Which endpoint the image matched and why, each level tried, the reference taken, the docker-config key that matched and the cache state. A failing resolution is reported in `outcome` with its error code, with status 200.',
      body: withExamples(ResolveRequest, ...EXAMPLES.explain.request),
      response: { 200: withExamples(ExplainResult, ...EXAMPLES.explain.response), ...errorResponses(400, 401, 403, 429) }
    }
  }, async (request) => {
    const ctx = await authorizeImage(app, request, 'explain', resolver.parseImage(request.body.image), request.body);
    return await resolver.explain(request.body, ctx);
  });
};

export default routes;
