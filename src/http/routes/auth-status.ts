// GET /v1/auth/status: who the service is in Kubernetes and whether its Argo CD token works.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/auth/status', {
    config: { action: 'status' },
    schema: {
      tags: ['auth'],
      operationId: 'authStatus',
      summary: "The service's identity in Kubernetes and Argo CD, and what it may read",
      description: 'The caller as the service sees it, the AUTH_MODE, and the state of the Kubernetes and Argo CD connections (in local mode, the Secrets folder). Never a token.',
      response: {
        200: withExamples(Type.Object({
          caller: Type.Union([Type.Object({ name: Type.String(), groups: Type.Array(Type.String()) }), Type.Null()]),
          authMode: Type.String(),
          kubernetes: Type.Unknown(),
          applications: Type.Unknown()
        }), ...EXAMPLES.authStatus.response),
        ...errorResponses(401, 403, 429)
      }
    }
  }, async (request) => {
    await app.authorize(request, { action: 'status' });
    const [kubernetes, applications] = await Promise.all([
      app.kubeStatus !== undefined
        ? app.kubeStatus().catch((err: Error) => ({ ok: false, error: (err as { code?: string }).code ?? 'ERROR' }))
        : Promise.resolve({ mode: 'local', secretsDir: app.settings.localSecretsDir }),
      app.applications !== undefined
        ? app.applications.status().catch((err: Error) => ({ ok: false, error: (err as { code?: string }).code ?? 'ERROR' }))
        : Promise.resolve(null)
    ]);
    return {
      caller: request.caller !== null && request.caller !== undefined ? { name: request.caller.name, groups: request.caller.groups } : null,
      authMode: app.settings.authMode,
      kubernetes,
      applications
    };
  });
};

export default routes;
