// TypeBox schemas shared by the routes; they are the OpenAPI document's components.
import { Type, type Static } from '@sinclair/typebox';
import * as errors from '../errors.js';

// every code made with @fastify/error in errors.ts: the `code` enum of the OpenAPI document
const ERROR_CODES = (Object.values(errors) as unknown[])
  .filter((v): v is new () => { code: string } => typeof v === 'function' &&
    (v.prototype as Record<symbol, unknown> | undefined)?.[Symbol.for('fastify-error-generic')] === true)
  .map((E) => new E().code)
  .sort();

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable error code (README "Errors")', enum: ERROR_CODES }),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorResponse', description: 'Every error has this shape' });

export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, Type.Ref(ErrorResponse)]));

export const ImageString = Type.String({ minLength: 1, maxLength: 1024, description: 'image reference, e.g. ghcr.io/org/app:1.2' });
export const SpecString = Type.String({ minLength: 1, maxLength: 1024, description: 'credential reference, e.g. pullsecret:argocd/ghcr' });

export const ResolveBody = Type.Object({
  image: ImageString,
  credentials: Type.Optional(SpecString),
  application: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Argo CD Application name' })),
  applicationNamespace: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  refresh: Type.Optional(Type.Boolean({ description: 'refetch past the cache (at most once a second per reference)' }))
}, { additionalProperties: false, $id: 'ResolveRequest' });
export type ResolveBodyT = Static<typeof ResolveBody>;

export const RegistryView = Type.Object({
  name: Type.String(),
  prefix: Type.String(),
  apiUrl: Type.String(),
  configured: Type.Boolean()
});

const Level = Type.Union([Type.Literal('request'), Type.Literal('image'), Type.Literal('application'), Type.Literal('registry')]);
const SourceTypeT = Type.Union(['pullsecret', 'secret', 'env', 'ext', 'serviceaccount', 'ecr', 'gcp', 'acr'].map((s) => Type.Literal(s)));

export const Source = Type.Object({ type: SourceTypeT, ref: Type.String(), level: Level });

export const ResolveResponse = Type.Object({
  image: Type.String(),
  normalized: Type.String({ description: 'the image name after Docker normalization' }),
  registry: RegistryView,
  source: Source,
  username: Type.String(),
  password: Type.String(),
  tokenType: Type.Union([Type.Literal('basic'), Type.Literal('identitytoken'), Type.Literal('registrytoken')]),
  cached: Type.Boolean(),
  stale: Type.Boolean({ description: 'served from the cache while its source is unreachable' }),
  fetchedAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  matchedKey: Type.Optional(Type.String({ description: 'the docker-config key that matched' }))
}, { $id: 'ResolveResponse' });

export const ExplainStep = Type.Object({
  level: Level,
  ref: Type.Optional(Type.String()),
  taken: Type.Boolean(),
  reason: Type.String()
});

export const ExplainResponse = Type.Object({
  image: Type.Object({
    input: Type.String(),
    normalized: Type.String(),
    registry: Type.String(),
    repository: Type.String(),
    tag: Type.Optional(Type.String()),
    digest: Type.Optional(Type.String())
  }),
  endpoint: Type.Intersect([RegistryView, Type.Object({ reason: Type.String() })]),
  steps: Type.Array(ExplainStep),
  source: Type.Optional(Source),
  match: Type.Optional(Type.Object({ key: Type.String() })),
  cloud: Type.Optional(Type.Object({
    provider: Type.Union([Type.Literal('ecr'), Type.Literal('gcp'), Type.Literal('acr')]),
    identity: Type.String({ description: 'the kind of identity used: web-identity, pod-identity, instance-role, metadata-server, workload-identity, managed-identity, …' }),
    registry: Type.String(),
    region: Type.Optional(Type.String()),
    role: Type.Optional(Type.String()),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
  }, { description: 'ecr:, gcp: and acr: references: where the credential came from (never a secret)' })),
  cache: Type.Object({
    state: Type.Union([Type.Literal('hit'), Type.Literal('miss'), Type.Literal('stale'), Type.Literal('not-cached')]),
    fetchedAt: Type.Optional(Type.String()),
    freshUntil: Type.Optional(Type.Union([Type.String(), Type.Null()]))
  }),
  outcome: Type.Object({
    ok: Type.Boolean(),
    code: Type.Optional(Type.String()),
    message: Type.Optional(Type.String())
  })
}, { $id: 'ExplainResponse' });
