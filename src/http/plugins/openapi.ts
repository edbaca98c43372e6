// The OpenAPI document, written by @fastify/swagger from the route schemas (registered before
// the routes so that it sees them): GET /openapi.json and the UI at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { VERSION } from '../../version.js';
import { ErrorResponse, TAGS } from '../schemas.js';

export default fp(async (app) => {
  app.addSchema(ErrorResponse);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'credbroker',
        version: VERSION,
        description: 'Container-registry credentials for the workloads of a Kubernetes cluster (Argo CD Image Updater credential scheme).',
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
        contact: { name: 'credbroker maintainers' }
      },
      // relative: the document is served by the service it describes (/docs "Try it out")
      servers: [{ url: '/', description: 'this service' }],
      tags: TAGS.map((t) => ({ ...t })),
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a projected ServiceAccount token (AUTH_MODE=kubernetes) or a static token' } }
      },
      security: [{ bearer: [] }]
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  });
  await app.register(swaggerUi, { routePrefix: '/docs', theme: { title: 'credbroker' } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}, { name: 'openapi', fastify: '5.x' });
