// GET /v1/auth/status: who the service is in Kubernetes and whether its Argo CD token works.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses } from '../schemas.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const b = app.broker;
  app.get('/v1/auth/status', {
    schema: {
      tags: ['auth'],
      summary: "The service's identity in Kubernetes and Argo CD, and what it may read",
      response: {
        200: Type.Object({
          caller: Type.Union([Type.Object({ name: Type.String(), groups: Type.Array(Type.String()) }), Type.Null()]),
          authMode: Type.String(),
          kubernetes: Type.Unknown(),
          applications: Type.Unknown()
        }),
        ...errorResponses(401, 403, 429)
      }
    }
  }, async (request) => {
    await app.authorize(request, { action: 'status' });
    const [kubernetes, applications] = await Promise.all([
      b.kubeStatus !== undefined
        ? b.kubeStatus().catch((err: Error) => ({ ok: false, error: (err as { code?: string }).code ?? 'ERROR' }))
        : Promise.resolve({ mode: 'local', secretsDir: b.settings.localSecretsDir }),
      b.applications !== undefined
        ? b.applications.status().catch((err: Error) => ({ ok: false, error: (err as { code?: string }).code ?? 'ERROR' }))
        : Promise.resolve(null)
    ]);
    return {
      caller: request.caller !== null && request.caller !== undefined ? { name: request.caller.name, groups: request.caller.groups } : null,
      authMode: b.settings.authMode,
      kubernetes,
      applications
    };
  });
};

export default routes;
