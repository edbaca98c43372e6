// POST /v1/credential-specs/validate: parse a credential reference, fetching nothing. The
// registries.conf form `<prefix>=<spec>` is accepted, as a user checks it before writing it there.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { formatReference, parseCredentialSpec } from '../../credentials/reference.js';
import { CredentialReference } from '../../credentials/types.js';
import { SpecString, errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/credential-specs/validate', {
    config: { action: 'validate' },
    schema: {
      tags: ['credential-specs'],
      operationId: 'validateCredentialSpec',
      summary: 'Parse a credential reference (spec), fetching nothing',
      description: 'Accepts a spec as a request or an Application annotation names it, and the registries.conf form <prefix>=<spec>.',
      body: withExamples(Type.Object({
        spec: SpecString,
        registryPrefix: Type.Optional(Type.Boolean({ description: 'ignored: the registries.conf form <prefix>=<spec> is always accepted', deprecated: true }))
      }, { additionalProperties: false }), ...EXAMPLES.validate.request),
      response: {
        200: withExamples(Type.Object({
          valid: Type.Boolean(),
          canonical: Type.String({ description: 'the reference in canonical form, without the prefix' }),
          prefix: Type.Optional(Type.String({ description: 'the registry prefix of a <prefix>=<spec> form: the images the spec applies to in registries.conf' })),
          reference: CredentialReference
        }), ...EXAMPLES.validate.response),
        ...errorResponses(400, 401, 403, 429)
      }
    }
  }, async (request) => {
    await app.authorize(request, { action: 'validate' });
    const parsed = parseCredentialSpec(request.body.spec, { allowRegistryPrefix: true });
    return {
      valid: true,
      canonical: formatReference(parsed.reference),
      ...(parsed.prefix !== undefined ? { prefix: parsed.prefix } : {}),
      reference: parsed.reference
    };
  });
};

export default routes;
