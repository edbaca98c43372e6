// GET /v1/registries and POST /v1/cache/invalidate: configured endpoints with their credential
// references and cache state (never values), and cache invalidation.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { inferApiUrl } from '../../registry/names.js';
import { redactProxyUrl } from '../../transport/proxy.js';
import { errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { registries, credentialCache: cache } = app;

  app.get('/registries', {
    config: { action: 'registries' },
    schema: {
      tags: ['registries'],
      operationId: 'listRegistries',
      summary: 'Configured registries with their credential references and cache state',
      description: 'Each registries.conf entry with its credential reference (never a value) and the state of its registry-level cache entries, and the result of the last reload of the file.',
      response: {
        200: withExamples(Type.Object({
          source: Type.String({ description: 'registries.conf path' }),
          lastReload: Type.Object({ result: Type.String(), at: Type.Optional(Type.String()), error: Type.Optional(Type.String()) }),
          registries: Type.Array(Type.Object({
            name: Type.String(),
            prefix: Type.String(),
            apiUrl: Type.String(),
            default: Type.Boolean(),
            defaultns: Type.Optional(Type.String()),
            insecure: Type.Boolean(),
            limit: Type.Integer(),
            tagsortmode: Type.Optional(Type.String()),
            credentials: Type.Optional(Type.String({ description: 'the credential reference, never a value' })),
            credsexpire: Type.Optional(Type.String()),
            proxy: Type.Optional(Type.String({ description: 'registries.conf `proxy`: scheme://host:port (never its user info), or none' })),
            cache: Type.Object({
              entries: Type.Integer(),
              fetchedAt: Type.Optional(Type.String()),
              freshUntil: Type.Optional(Type.Union([Type.String(), Type.Null()]))
            })
          }))
        }), ...EXAMPLES.registries.response),
        ...errorResponses(401, 403, 429)
      }
    }
  }, async (request) => {
    await app.authorize(request, { action: 'registries' });
    const config = registries.current();
    const entries = cache.entries().filter((e) => e.level === 'registry');
    const last = registries.lastResult();
    return {
      source: app.settings.registriesConfPath,
      lastReload: {
        result: last?.result ?? 'not-loaded',
        ...(last !== undefined ? { at: last.at.toISOString() } : {}),
        ...(last?.error !== undefined ? { error: last.error.message } : {})
      },
      registries: config.registries.map((r) => {
        const mine = entries.filter((e) => e.registry === r.prefix);
        // ISO 8601 times of one format sort as text
        const newest = mine.sort((a, b) => (a.fetchedAt < b.fetchedAt ? 1 : a.fetchedAt > b.fetchedAt ? -1 : 0))[0];
        return {
          name: r.name,
          prefix: r.prefix,
          apiUrl: r.apiUrl ?? inferApiUrl(r.prefix.split('/')[0] as string),
          default: r.default,
          ...(r.defaultns !== undefined ? { defaultns: r.defaultns } : {}),
          insecure: r.insecure,
          limit: r.limit,
          ...(r.tagsortmode !== undefined ? { tagsortmode: r.tagsortmode } : {}),
          ...(r.credentials !== undefined ? { credentials: r.credentials } : {}),
          ...(r.credsExpireMs !== undefined ? { credsexpire: `${r.credsExpireMs / 1000}s` } : {}),
          ...(r.proxy !== undefined ? { proxy: r.proxy === 'none' ? 'none' : redactProxyUrl(r.proxy) } : {}),
          cache: {
            entries: mine.length,
            ...(newest !== undefined
              ? { fetchedAt: newest.fetchedAt, freshUntil: newest.freshUntil === null ? null : new Date(newest.freshUntil).toISOString() }
              : {})
          }
        };
      })
    };
  });

  app.post('/cache/invalidate', {
    config: { action: 'invalidate' },
    schema: {
      tags: ['cache'],
      operationId: 'invalidateCache',
      summary: 'Drop cached credentials, all or those of one registry prefix',
      description: 'Without a body (or with `{}`) every cached credential is dropped; with `registry`, those of that registries.conf prefix and of images under it. The next request fetches again.',
      body: Type.Optional(withExamples(Type.Object({
        registry: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'registry prefix as in registries.conf, or an image name prefix' }))
      }, { additionalProperties: false }), ...EXAMPLES.invalidate.request)),
      response: { 200: withExamples(Type.Object({ invalidated: Type.Integer({ description: 'how many cached credentials were dropped' }) }), ...EXAMPLES.invalidate.response), ...errorResponses(400, 401, 403, 429) }
    }
  }, async (request) => {
    const registry = request.body?.registry;
    await app.authorize(request, { action: 'invalidate', ...(registry !== undefined ? { registry } : {}) });
    if (registry === undefined) return { invalidated: cache.invalidate() };
    const invalidated = cache.invalidate((e) =>
      e.registry === registry || e.image === registry || e.image.startsWith(`${registry}/`));
    return { invalidated };
  });
};

export default routes;
