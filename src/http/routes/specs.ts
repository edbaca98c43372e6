// POST /v1/credential-specs/validate: parse a credential reference, fetching nothing.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { formatReference, parseCredentialSpec } from '../../credentials/reference.js';
import { SpecString, errorResponses } from '../schemas.js';

export const ParsedReference = Type.Object({
  type: Type.String(),
  namespace: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  field: Type.Optional(Type.String()),
  variable: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  options: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'ecr:, gcp:, acr: the key=value options' }))
});

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/v1/credential-specs/validate', {
    schema: {
      tags: ['credential-specs'],
      summary: 'Parse a credential reference (spec), fetching nothing',
      body: Type.Object({
        spec: SpecString,
        registryPrefix: Type.Optional(Type.Boolean({ description: 'accept the registries.conf form <registry>=<spec>' }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          valid: Type.Boolean(),
          canonical: Type.String(),
          registry: Type.Optional(Type.String()),
          reference: ParsedReference
        }),
        ...errorResponses(400, 401, 403, 429)
      }
    }
  }, async (request) => {
    await app.authorize(request, { action: 'validate' });
    const parsed = parseCredentialSpec(request.body.spec, { allowRegistryPrefix: request.body.registryPrefix === true });
    return {
      valid: true,
      canonical: formatReference(parsed.reference),
      ...(parsed.registry !== undefined ? { registry: parsed.registry } : {}),
      reference: parsed.reference
    };
  });
};

export default routes;
