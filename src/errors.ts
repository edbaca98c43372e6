// Every error code of the API (docs/api.md "Errors"), in one module. Domain code throws these;
// http/ maps them to the one error shape. Messages never carry secret values.
import createError from '@fastify/error';

export const InvalidImageReference = createError<[string, string]>(
  'INVALID_IMAGE_REFERENCE', 'invalid image reference %s: %s', 400);
export const InvalidCredentialSpec = createError<[string]>(
  'INVALID_CREDENTIAL_SPEC', 'invalid credential reference: %s', 400);
export const InvalidRequest = createError<[string]>('INVALID_REQUEST', '%s', 400);
export const Unauthenticated = createError<[string]>('UNAUTHENTICATED', '%s', 401);
export const Forbidden = createError<[string]>('FORBIDDEN', '%s', 403);
export const NamespaceNotAllowed = createError<[string]>(
  'NAMESPACE_NOT_ALLOWED', 'namespace %s is not in SECRET_NAMESPACES', 403);
export const OverrideNotAllowed = createError<[string]>('OVERRIDE_NOT_ALLOWED', '%s', 403);
export const AnnotationSourceNotAllowed = createError<[string]>('ANNOTATION_SOURCE_NOT_ALLOWED', '%s', 403);
export const NoCredentialsConfigured = createError<[string]>(
  'NO_CREDENTIALS_CONFIGURED', 'no credentials configured for %s', 404);
export const ApplicationNotFound = createError<[string]>(
  'APPLICATION_NOT_FOUND', 'application %s not found', 404);
export const NotFound = createError<[string]>('NOT_FOUND', '%s', 404);
export const RateLimited = createError<[string]>('RATE_LIMITED', '%s', 429);
export const SecretNotFound = createError<[string]>('SECRET_NOT_FOUND', 'secret %s not found', 502);
export const SecretFieldMissing = createError<[string, string]>(
  'SECRET_FIELD_MISSING', 'secret %s has no field %s', 502);
export const MalformedCredentials = createError<[string]>('MALFORMED_CREDENTIALS', '%s', 502);
export const NoMatchingAuthEntry = createError<[string, string]>(
  'NO_MATCHING_AUTH_ENTRY', 'no entry of %s matches registry %s', 502);
export const EnvNotSet = createError<[string]>(
  'ENV_NOT_SET', 'environment variable %s is not set', 502);
export const ScriptFailed = createError<[string]>('SCRIPT_FAILED', '%s', 502);
export const ScriptTimeout = createError<[string, string]>(
  'SCRIPT_TIMEOUT', 'script %s did not finish within %s', 504);
export const KubernetesForbidden = createError<[string]>('KUBERNETES_FORBIDDEN', '%s', 502);
export const KubernetesUnavailable = createError<[string]>('KUBERNETES_UNAVAILABLE', '%s', 503);
export const ArgocdUnavailable = createError<[string]>('ARGOCD_UNAVAILABLE', '%s', 503);
// the pod's own cloud identity (ecr:, gcp:, acr:): missing or not allowed is an operator's fix
// on the service side (502, as KUBERNETES_FORBIDDEN); an unreachable provider is 503
export const CloudIdentityMissing = createError<[string]>('CLOUD_IDENTITY_MISSING', '%s', 502);
export const CloudAccessDenied = createError<[string]>('CLOUD_ACCESS_DENIED', '%s', 502);
export const CloudProviderUnavailable = createError<[string]>('CLOUD_PROVIDER_UNAVAILABLE', '%s', 503);
// the HTTP edge: answers Fastify or Node's HTTP parser would otherwise give without a code
export const MalformedRequest = createError<[string]>('MALFORMED_REQUEST', '%s', 400);
export const RequestTimeout = createError<[string]>('REQUEST_TIMEOUT', '%s', 408);
export const PayloadTooLarge = createError<[string]>('PAYLOAD_TOO_LARGE', '%s', 413);
export const UnsupportedMediaType = createError<[string]>('UNSUPPORTED_MEDIA_TYPE', '%s', 415);
export const HeadersTooLarge = createError<[string]>('HEADERS_TOO_LARGE', '%s', 431);
export const Internal = createError<[string]>('INTERNAL', '%s', 500);
export const Overloaded = createError<[string]>('OVERLOADED', '%s', 503);
export const ShuttingDown = createError<[string]>('SHUTTING_DOWN', '%s', 503);

/** Raised while loading settings, registries.conf or a policy: names the setting or key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor (readonly setting: string, message: string) {
    super(`${setting}: ${message}`);
  }
}

export interface CodedError extends Error { code: string; statusCode: number }

export function isCodedError (err: unknown): err is CodedError {
  return err instanceof Error &&
    typeof (err as Partial<CodedError>).code === 'string' &&
    typeof (err as Partial<CodedError>).statusCode === 'number';
}
