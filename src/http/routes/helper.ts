// The protocols container tools already speak: the docker credential helper (`get`, `list`)
// and the kubelet credential provider (credentialprovider.kubelet.k8s.io/v1).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InvalidRequest, isCodedError } from '../../errors.js';
import { issueCredential } from '../issue.js';
import { goDuration, kubeletCacheDurationMs, kubeletScope, pathScopedHosts, type KubeletScope, type KubeletSource } from '../kubelet.js';
import { errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';
import { stripScheme } from '../../registry/names.js';
import { registryCredentialSpec } from '../../credentials/registry-credentials.js';

export const NOT_FOUND_TEXT = 'credentials not found in native keychain';
const KUBELET_API = 'credentialprovider.kubelet.k8s.io/v1' as const;
const KUBELET_DEFAULT_CACHE_MS = 5 * 60_000;
/** how long the kubelet keeps an answer without credentials */
const KUBELET_EMPTY_CACHE_MS = 60_000;
const NO_CREDENTIALS = new Set(['NO_CREDENTIALS_CONFIGURED', 'NO_MATCHING_AUTH_ENTRY']);

/** `https://index.docker.io/v1/`, `127.0.0.1:5055`, `ghcr.io/team-a` → `host[:port][/path]` */
export function serverUrlToPrefix (serverUrl: string): string {
  let s = serverUrl.trim();
  if (s === '' || s.length > 1024 || /[\s\u0000-\u001f]/.test(s)) throw new InvalidRequest('the body must be a registry server URL or host');
  s = stripScheme(s);
  s = s.replace(/\/+(v1|v2)\/*$/, '').replace(/\/+$/, '');
  if (s === '' || s.startsWith('/')) throw new InvalidRequest('the body must be a registry server URL or host');
  // credentials in the URL (user:password@host) are refused and never echoed
  if (s.includes('@')) throw new InvalidRequest('the server URL must not carry user information');
  return s;
}

/** a representative image name for a registry-level lookup of a server URL */
export function pseudoImage (prefix: string): string {
  return prefix.includes('/') ? prefix : `${prefix}/credential-helper`;
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { resolver } = app;

  app.post('/docker-credential-helper/get', {
    config: { action: 'resolve' },
    schema: {
      tags: ['protocols'],
      operationId: 'dockerCredentialHelperGet',
      summary: 'docker-credential-helpers `get`: body is the server URL as text',
      description: 'The body is what docker passes to a credential helper on stdin: a server URL or host (`https://index.docker.io/v1/`, `ghcr.io`). The answer is the helper protocol\'s JSON; a registry without credentials answers the text the helper protocol expects for "not found", so that docker pulls anonymously.',
      consumes: ['text/plain'],
      body: withExamples(Type.String({ maxLength: 1024, description: 'the registry server URL or host' }), ...EXAMPLES.helperGet.request),
      response: {
        200: withExamples(Type.Object({ ServerURL: Type.String(), Username: Type.String({ description: '`<token>` for an identity token' }), Secret: Type.String() }), ...EXAMPLES.helperGet.response),
        404: {
          description: `No credentials for this server: the helper protocol's "${NOT_FOUND_TEXT}"`,
          content: { 'text/plain': { schema: Type.String({ enum: [NOT_FOUND_TEXT], example: NOT_FOUND_TEXT }) } }
        },
        ...errorResponses(400, 401, 403, 429, 502, 503, 504)
      }
    }
  }, async (request, reply) => {
    const serverUrl = request.body;
    const prefix = serverUrlToPrefix(serverUrl);
    try {
      const result = await issueCredential(app, request, { image: pseudoImage(prefix) }, { auditImage: prefix });
      void reply.header('cache-control', 'no-store');
      return {
        ServerURL: serverUrl.trim(),
        Username: result.tokenType === 'identitytoken' ? '<token>' : result.username,
        Secret: result.password
      };
    } catch (err) {
      if (isCodedError(err) && NO_CREDENTIALS.has(err.code)) {
        return await reply.code(404).type('text/plain').send(NOT_FOUND_TEXT);
      }
      throw err;
    }
  });

  app.get('/docker-credential-helper/list', {
    config: { action: 'resolve' },
    schema: {
      tags: ['protocols'],
      operationId: 'dockerCredentialHelperList',
      summary: 'docker-credential-helpers `list`: server URL → username of each configured registry the caller may use',
      description: 'Every registries.conf entry with credentials whose credential resolves for this caller, as the helper protocol\'s `list` answers it; an entry the caller may not use, or whose source fails, is left out.',
      response: { 200: withExamples(Type.Record(Type.String(), Type.String()), ...EXAMPLES.helperList.response), ...errorResponses(401, 403, 429) }
    }
  }, async (request) => {
    const out: Record<string, string> = {};
    for (const r of app.registries.current().registries) {
      if (r.credentials === undefined) continue;
      try {
        const result = await issueCredential(app, request, { image: pseudoImage(r.prefix) }, { auditImage: r.prefix });
        out[r.prefix] = result.tokenType === 'identitytoken' ? '<token>' : result.username;
      } catch {
        // a registry the caller may not use, or whose source fails, is simply not listed
      }
    }
    return out;
  });

  app.post('/kubelet/credential-provider', {
    config: { action: 'resolve' },
    schema: {
      tags: ['protocols'],
      operationId: 'kubeletCredentialProvider',
      summary: 'kubelet credential provider: CredentialProviderRequest → CredentialProviderResponse',
      description: 'What the kubelet sends its credential provider plugin (credentialprovider.kubelet.k8s.io/v1), forwarded by `credbroker-kubelet-provider`. An image without credentials gets an empty `auth`, so that the kubelet pulls anonymously.',
      body: withExamples(Type.Object({
        apiVersion: Type.Literal(KUBELET_API),
        kind: Type.Literal('CredentialProviderRequest'),
        image: Type.String({ minLength: 1, maxLength: 1024 }),
        serviceAccountToken: Type.Optional(Type.String({ maxLength: 16384 })),
        serviceAccountAnnotations: Type.Optional(Type.Record(Type.String(), Type.String()))
      }), ...EXAMPLES.kubelet.request),
      response: {
        200: withExamples(Type.Object({
          apiVersion: Type.Literal(KUBELET_API),
          kind: Type.Literal('CredentialProviderResponse'),
          cacheKeyType: Type.Union([Type.Literal('Registry'), Type.Literal('Image'), Type.Literal('Global')]),
          cacheDuration: Type.Optional(Type.String({ pattern: '^([0-9]+h)?([0-9]+m)?[0-9]+s$' })),
          auth: Type.Record(Type.String(), Type.Object({ username: Type.String(), password: Type.String() }, { additionalProperties: false }))
        }, { additionalProperties: false, description: 'only the fields of credentialprovider.kubelet.k8s.io/v1: the kubelet decodes strictly' }), ...EXAMPLES.kubelet.response),
        ...errorResponses(400, 401, 403, 429, 502, 503, 504)
      }
    }
  }, async (request, reply) => {
    const { image } = request.body;
    const parsed = resolver.parseImage(image);
    const endpoint = resolver.endpointFor(parsed);
    const host = parsed.host;
    const scopeOf = (source: KubeletSource | undefined) => kubeletScope({
      image: parsed,
      endpoint,
      pathScopedHosts: pathScopedHosts(app.registries.current()),
      source,
      callerAllowedOnHost: app.allows(request, { action: 'resolve', registry: host })
    });
    // only the fields of credentialprovider.kubelet.k8s.io/v1: the kubelet decodes strictly
    const answer = (scope: KubeletScope, durationMs: number, auth: Record<string, { username: string, password: string }>) => {
      if (scope.reason !== '') request.log.debug({ image: parsed.name, cacheKeyType: scope.cacheKeyType, why: scope.reason }, 'kubelet provider: answer keyed by image');
      void reply.header('cache-control', 'no-store');
      return { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse' as const, cacheKeyType: scope.cacheKeyType, cacheDuration: goDuration(durationMs), auth };
    };
    let result;
    try {
      result = await issueCredential(app, request, { image }, { image: parsed });
    } catch (err) {
      if (isCodedError(err) && NO_CREDENTIALS.has(err.code)) {
        // nothing to offer: the kubelet pulls anonymously
        const spec = endpoint.entry === undefined ? undefined : registryCredentialSpec(endpoint.entry);
        return answer(scopeOf(spec === undefined ? undefined : { type: spec.reference.type, level: 'registry' }), KUBELET_EMPTY_CACHE_MS, {});
      }
      throw err;
    }
    const scope = scopeOf({ type: result.source.type, level: result.source.level });
    if (result.tokenType !== 'basic') {
      // the kubelet's AuthConfig is username/password only: a token it cannot use is no answer
      request.log.warn({ image: parsed.name, source: result.source.ref, tokenType: result.tokenType }, 'kubelet provider: credential is a token the kubelet cannot use; answering with no auth');
      return answer(scope, KUBELET_EMPTY_CACHE_MS, {});
    }
    // credsexpire applies to registry-level credentials, counted from the fetch; without any
    // expiry a short default, so that a changed Secret reaches the kubelet soon
    const durationMs = kubeletCacheDurationMs({
      nowMs: Date.now(),
      fetchedAtMs: Date.parse(result.fetchedAt),
      expiresAtMs: result.expiresAt === null ? null : Date.parse(result.expiresAt),
      credsExpireMs: result.source.level === 'registry' ? endpoint.credsExpireMs : undefined,
      fallbackMs: KUBELET_DEFAULT_CACHE_MS
    });
    return answer(scope, durationMs, { [scope.authKey]: { username: result.username, password: result.password } });
  });
};

export default routes;
