// What a registry test finds (POST /v1/credentials/test serves it as part of its answer),
// declared once: the TypeBox schema is the type (Static<>) and the API's shape.
import { Type, type Static } from '@sinclair/typebox';

export const REGISTRY_ERROR_CODES = [
  'REGISTRY_UNAUTHORIZED', // 401/403 with our credential (or none where one is needed)
  'REGISTRY_REPOSITORY_NOT_FOUND',
  'REGISTRY_TOKEN_FAILED', // token server unusable (not a credential problem)
  'REGISTRY_BAD_RESPONSE',
  'REGISTRY_TLS_ERROR',
  'REGISTRY_TIMEOUT',
  'REGISTRY_UNREACHABLE',
  'REGISTRY_PROXY_FAILED', // the proxy refused, asked for credentials (407) or could not reach the registry; names the proxy host
  'REGISTRY_CONFIG_ERROR'
] as const;
export type RegistryErrorCode = typeof REGISTRY_ERROR_CODES[number];

export const RegistryTestResult = Type.Object({
  ok: Type.Boolean(),
  authScheme: Type.Union([Type.Literal('none'), Type.Literal('basic'), Type.Literal('bearer')]),
  authenticated: Type.Boolean(),
  status: Type.Optional(Type.Integer({ description: 'the HTTP status of the last registry answer' })),
  tags: Type.Array(Type.String(), { maxItems: 10 }),
  durationMs: Type.Integer(),
  error: Type.Optional(Type.Object({
    code: Type.Union(REGISTRY_ERROR_CODES.map((c) => Type.Literal(c))),
    message: Type.String()
  }))
});
export type RegistryTestResult = Static<typeof RegistryTestResult>;
