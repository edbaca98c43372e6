// The API's shapes: the credential domain's result schemas (credentials/results.ts) served as
// they are, the error shape, the documented error responses and headers, the tags.
import { Type, type TSchema } from '@sinclair/typebox';
import { ExplainResult, ImageString, ResolveRequest, ResolveResult, SourceView, SpecString } from '../credentials/results.js';
import * as errors from '../errors.js';

// every code made with @fastify/error in errors.ts: the `code` enum of the OpenAPI document
export const ERROR_CODES = (Object.values(errors) as unknown[])
  .filter((v): v is new () => { code: string } => typeof v === 'function' &&
    (v.prototype as Record<symbol, unknown> | undefined)?.[Symbol.for('fastify-error-generic')] === true)
  .map((E) => new E().code)
  .sort();

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable error code (README "Errors")', enum: ERROR_CODES }),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorResponse', description: 'Every error has this shape', examples: [{ statusCode: 400, code: 'INVALID_IMAGE_REFERENCE', error: 'Bad Request', message: 'invalid image reference "UPPER/Case": repository name must be lowercase' }] });

/** the tags the operations use, with what each groups (the document's top-level `tags`) */
export const TAGS = [
  { name: 'credentials', description: 'Resolve the credentials of an image, explain the resolution, test them against the registry' },
  { name: 'credential-specs', description: 'Check a credential reference before writing it in registries.conf or an annotation' },
  { name: 'registries', description: 'The registries.conf endpoints, their credential references and cache state' },
  { name: 'cache', description: 'Drop cached credentials' },
  { name: 'auth', description: "The service's own identity in Kubernetes and Argo CD" },
  { name: 'protocols', description: 'The protocols container tools already speak: the docker credential helper and the kubelet credential provider' },
  { name: 'health', description: 'Probes and metrics; open to all, no token' }
] as const;

const RETRY_AFTER = { 'Retry-After': { type: 'integer', minimum: 1, description: 'seconds to wait before retrying' } };

const ERROR_DESCRIPTIONS: Record<number, { description: string, headers?: Record<string, unknown> }> = {
  400: { description: 'The image, the credential reference or the body is invalid' },
  401: { description: 'No valid bearer token (AUTH_MODE=kubernetes or static); the answer has WWW-Authenticate' },
  403: { description: 'The policy does not allow this caller the action, registry, Application or override' },
  404: { description: 'No credentials configured for the image, or the Application does not exist' },
  429: {
    description: 'Too many requests from this caller (RATE_LIMIT_PER_MINUTE), or too many failed authentications from this address',
    headers: {
      ...RETRY_AFTER,
      'RateLimit-Limit': { type: 'integer', description: 'requests allowed per window (absent when failed authentications are limited)' },
      'RateLimit-Remaining': { type: 'integer', description: 'requests left in the window' },
      'RateLimit-Reset': { type: 'integer', description: 'seconds until the window resets' }
    }
  },
  431: { description: 'The request headers are larger than the server accepts (HEADERS_TOO_LARGE)' },
  502: { description: 'The credential source failed: a Secret, a field, a script, the cloud provider or the registry' },
  503: {
    description: 'Kubernetes, Argo CD or the cloud provider is unreachable, the service is shutting down, or it is overloaded (OVERLOADED, with Retry-After)',
    headers: { 'Retry-After': { ...RETRY_AFTER['Retry-After'], description: 'seconds to wait before retrying (OVERLOADED)' } }
  },
  504: { description: 'The credential source did not answer in time (SCRIPT_TIMEOUT)' }
};

/** the error responses of an operation: the one error shape, with each status's meaning and headers */
export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, Type.Ref(ErrorResponse, ERROR_DESCRIPTIONS[c] ?? {})]));

/**
 * `schema` with examples for the document (the media type's `example`, or `examples` when
 * there are several); the request examples are sent to the app by test/http/openapi-examples.test.ts
 */
export function withExamples<T extends TSchema> (schema: T, ...examples: unknown[]): T {
  return { ...schema, examples };
}

export { ExplainResult, ImageString, ResolveRequest, ResolveResult, SourceView, SpecString };
