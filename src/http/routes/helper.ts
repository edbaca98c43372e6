// The protocols container tools already speak: the docker credential helper (`get`, `list`)
// and the kubelet credential provider (credentialprovider.kubelet.k8s.io/v1).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InvalidRequest, isCodedError } from '../../errors.js';
import { issueCredential } from '../issue.js';
import { errorResponses } from '../schemas.js';

export const NOT_FOUND_TEXT = 'credentials not found in native keychain';
const KUBELET_API = 'credentialprovider.kubelet.k8s.io/v1' as const;
const KUBELET_DEFAULT_CACHE_MS = 5 * 60_000;
const NO_CREDENTIALS = new Set(['NO_CREDENTIALS_CONFIGURED', 'NO_MATCHING_AUTH_ENTRY']);

/** `https://index.docker.io/v1/`, `127.0.0.1:5055`, `ghcr.io/team-a` → `host[:port][/path]` */
export function serverUrlToPrefix (serverUrl: string): string {
  let s = serverUrl.trim();
  if (s === '' || s.length > 1024 || /[\s\u0000-\u001f]/.test(s)) throw new InvalidRequest('the body must be a registry server URL or host');
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
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

/** Go's time.Duration String() form, which the kubelet parses */
function goDuration (ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { resolver } = app.broker;

  app.post('/v1/docker-credential-helper/get', {
    schema: {
      tags: ['protocols'],
      summary: 'docker-credential-helpers `get`: body is the server URL as text',
      consumes: ['text/plain'],
      body: Type.String({ maxLength: 1024 }),
      response: {
        200: Type.Object({ ServerURL: Type.String(), Username: Type.String(), Secret: Type.String() }),
        404: Type.String({ description: NOT_FOUND_TEXT }),
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

  app.get('/v1/docker-credential-helper/list', {
    schema: {
      tags: ['protocols'],
      summary: 'docker-credential-helpers `list`: server URL → username of each configured registry the caller may use',
      response: { 200: Type.Record(Type.String(), Type.String()), ...errorResponses(401, 403, 429) }
    }
  }, async (request) => {
    const out: Record<string, string> = {};
    for (const r of app.broker.registries.current().registries) {
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

  app.post('/v1/kubelet/credential-provider', {
    schema: {
      tags: ['protocols'],
      summary: 'kubelet credential provider: CredentialProviderRequest → CredentialProviderResponse',
      body: Type.Object({
        apiVersion: Type.Literal(KUBELET_API),
        kind: Type.Literal('CredentialProviderRequest'),
        image: Type.String({ minLength: 1, maxLength: 1024 }),
        serviceAccountToken: Type.Optional(Type.String({ maxLength: 16384 })),
        serviceAccountAnnotations: Type.Optional(Type.Record(Type.String(), Type.String()))
      }),
      response: {
        200: Type.Object({
          apiVersion: Type.Literal(KUBELET_API),
          kind: Type.Literal('CredentialProviderResponse'),
          cacheKeyType: Type.Union([Type.Literal('Registry'), Type.Literal('Image'), Type.Literal('Global')]),
          cacheDuration: Type.Optional(Type.String()),
          auth: Type.Record(Type.String(), Type.Object({ username: Type.String(), password: Type.String() }))
        }),
        ...errorResponses(400, 401, 403, 429, 502, 503, 504)
      }
    }
  }, async (request, reply) => {
    const { image } = request.body;
    const parsed = resolver.parseImage(image);
    const endpoint = resolver.endpointFor(parsed);
    // a path-scoped prefix (ghcr.io/team-a) must not be cached for the whole registry host
    const cacheKeyType = endpoint.prefix.includes('/') ? 'Image' as const : 'Registry' as const;
    const key = endpoint.prefix.includes('/') ? parsed.name : parsed.registry;
    try {
      const result = await issueCredential(app, request, { image }, { image: parsed });
      if (result.tokenType !== 'basic') {
        // the kubelet's AuthConfig is username/password only: a token it cannot use is no answer
        request.log.warn({ image: parsed.name, source: result.source.ref, tokenType: result.tokenType }, 'kubelet provider: credential is a token the kubelet cannot use; answering with no auth');
        return { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse' as const, cacheKeyType, cacheDuration: goDuration(60_000), auth: {} };
      }
      // without an expiry, a short default so that a changed Secret reaches the kubelet soon
      const untilMs = result.expiresAt !== null
        ? Date.parse(result.expiresAt) - Date.now()
        : endpoint.credsExpireMs ?? KUBELET_DEFAULT_CACHE_MS;
      void reply.header('cache-control', 'no-store');
      return {
        apiVersion: KUBELET_API,
        kind: 'CredentialProviderResponse' as const,
        cacheKeyType,
        cacheDuration: goDuration(untilMs),
        auth: { [key]: { username: result.username, password: result.password } }
      };
    } catch (err) {
      if (isCodedError(err) && NO_CREDENTIALS.has(err.code)) {
        // nothing to offer: the kubelet pulls anonymously
        return { apiVersion: KUBELET_API, kind: 'CredentialProviderResponse' as const, cacheKeyType, cacheDuration: goDuration(60_000), auth: {} };
      }
      throw err;
    }
  });
};

export default routes;
