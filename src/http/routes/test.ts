// POST /v1/credentials/test: resolve, then talk to the registry as `argocd-image-updater test`
// would (v2 ping, Basic or Bearer challenge, up to 10 tags). A 401 refetches the credential once.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ResolveResult } from '../../credentials/resolver.js';
import { isCodedError } from '../../errors.js';
import { testRegistry } from '../../registry/client.js';
import { RegistryTestResult } from '../../registry/test-result.js';
import { formatImageReference } from '../../registry/image-ref.js';
import { authorizeImage } from '../issue.js';
import { ImageString, SourceView, SpecString, errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

export const TestResponse = Type.Composite([
  Type.Object({
    image: Type.String(),
    registry: Type.String({ description: 'the endpoint prefix' }),
    apiUrl: Type.String(),
    source: Type.Union([SourceView, Type.Null()], { description: 'the credential used; null when the registry was tried anonymously' })
  }),
  Type.Omit(RegistryTestResult, ['status']),
  Type.Object({ retriedWithFreshCredentials: Type.Boolean() })
], { $id: 'TestResponse' });

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { resolver, metrics, registryAgents } = app;

  app.post('/credentials/test', {
    config: { action: 'test' },
    schema: {
      tags: ['credentials'],
      operationId: 'testCredentials',
      summary: 'Resolve, then prove the credentials against the registry (ping, auth, tags)',
      description: 'Talks to the registry as `argocd-image-updater test` would: the v2 ping, the Basic or Bearer challenge, up to 10 tags. A cached credential the registry refuses is refetched once. What the registry answered is in the body with status 200 (`ok`, `error`); the error statuses are those of resolution.',
      body: withExamples(Type.Object({ image: ImageString, credentials: Type.Optional(SpecString) }, { additionalProperties: false }), ...EXAMPLES.test.request),
      response: { 200: withExamples(TestResponse, ...EXAMPLES.test.response), ...errorResponses(400, 401, 403, 404, 429, 502, 503, 504) }
    }
  }, async (request) => {
    const body = request.body;
    const image = resolver.parseImage(body.image);
    const endpoint = resolver.endpointFor(image);
    const ctx = await authorizeImage(app, request, 'test', image);
    const req = { image: body.image, ...(body.credentials !== undefined ? { credentials: body.credentials } : {}) };

    async function credentialFor (refresh: boolean): Promise<ResolveResult | null> {
      try {
        return await resolver.resolve({ ...req, refresh }, ctx, image);
      } catch (err) {
        // no credentials configured: test anonymously, as the registry would see a plain pull
        if (isCodedError(err) && err.code === 'NO_CREDENTIALS_CONFIGURED') return null;
        throw err;
      }
    }

    const base = {
      image: image.name,
      registry: endpoint.prefix,
      apiUrl: endpoint.apiUrl
    };
    const url = new URL(endpoint.apiUrl);
    if (url.protocol === 'http:' && !LOOPBACK.test(url.host) && !endpoint.insecure) {
      return {
        ...base, ok: false, source: null, authScheme: 'none' as const, authenticated: false, tags: [], durationMs: 0, retriedWithFreshCredentials: false,
        error: { code: 'REGISTRY_CONFIG_ERROR' as const, message: `plain http to ${url.host} is refused; use https, or set insecure: true in registries.conf` }
      };
    }

    const run = async (resolved: ResolveResult | null): Promise<RegistryTestResult> => await testRegistry(
      { apiUrl: endpoint.apiUrl, insecure: endpoint.insecure, limit: endpoint.limit,
        ...(endpoint.caFile !== undefined ? { caFile: endpoint.caFile } : {}),
        ...(endpoint.caData !== undefined ? { caData: endpoint.caData } : {}),
        ...(endpoint.entry?.proxy !== undefined ? { proxy: endpoint.entry.proxy } : {}) },
      image.repository,
      resolved === null ? undefined : { username: resolved.username, password: resolved.password, tokenType: resolved.tokenType },
      { metrics, agents: registryAgents, proxy: app.settings.proxy }
    );

    let resolved = await credentialFor(false);
    let result = await run(resolved);
    let retried = false;
    if (resolved !== null && resolved.cached && result.error?.code === 'REGISTRY_UNAUTHORIZED') {
      // the cached credential may be outdated: one fresh fetch, then report. A credential just
      // fetched (or a refetch the once-a-second limit turned into a hit) is not sent twice.
      const fresh = await credentialFor(true);
      if (fresh !== null && !fresh.cached) {
        retried = true;
        resolved = fresh;
        result = await run(resolved);
      }
    }
    request.audited = true; // this line is the request's line
    request.log.info({
      audit: 'test', caller: request.caller?.name ?? null, image: formatImageReference(image), registry: endpoint.prefix,
      source: resolved?.source.ref ?? null, outcome: result.ok ? 'ok' : result.error?.code ?? 'failed'
    }, 'registry test');
    return {
      ...base,
      ok: result.ok,
      source: resolved === null ? null : resolved.source,
      authScheme: result.authScheme,
      authenticated: result.authenticated,
      tags: result.tags,
      durationMs: result.durationMs,
      retriedWithFreshCredentials: retried,
      ...(result.error !== undefined ? { error: result.error } : {})
    };
  });
};

export default routes;
