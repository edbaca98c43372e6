// The credential domain's answers, declared once: each TypeBox schema here is both the TS type
// (Static<>) the resolver returns and the shape the HTTP API serves (http/schemas.ts re-uses them).
import { Type, type Static } from '@sinclair/typebox';
import { TOKEN_TYPES } from '../registry/token-type.js';
import { CLOUD_PROVIDERS, SOURCE_TYPES } from './types.js';

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

/** where a credential reference was found, most specific first */
export const LEVELS = ['request', 'image', 'application', 'registry'] as const;
export const Level = literals(LEVELS);
export type Level = Static<typeof Level>;

export const ImageString = Type.String({ minLength: 1, maxLength: 1024, description: 'image reference, e.g. ghcr.io/org/app:1.2' });
export const SpecString = Type.String({ minLength: 1, maxLength: 1024, description: 'credential reference, e.g. pullsecret:argocd/ghcr' });

/** What a request asks for: an image, optionally the credentials and the Application to use. */
export const ResolveRequest = Type.Object({
  image: ImageString,
  credentials: Type.Optional(SpecString),
  application: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Argo CD Application name' })),
  applicationNamespace: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  refresh: Type.Optional(Type.Boolean({ description: 'refetch past the cache (at most once a second per reference)' }))
}, { additionalProperties: false });
export type ResolveRequest = Static<typeof ResolveRequest>;

/** The endpoint an image resolved to: a registries.conf entry, or one inferred from the host. */
export const EndpointView = Type.Object({
  name: Type.String(),
  prefix: Type.String({ description: 'the endpoint prefix (registries.conf `prefix`)' }),
  apiUrl: Type.String(),
  configured: Type.Boolean({ description: 'false when no registries.conf prefix matches and the endpoint is inferred' })
});
export type EndpointView = Static<typeof EndpointView>;

/** The credential reference that was used, and the level it was found at. */
export const SourceView = Type.Object({
  type: literals(SOURCE_TYPES),
  ref: Type.String({ description: 'the reference in canonical form, never a value' }),
  level: Level
});
export type SourceView = Static<typeof SourceView>;

export const ResolveResult = Type.Object({
  image: Type.String(),
  normalized: Type.String({ description: 'the image name after Docker normalization' }),
  registry: EndpointView,
  source: SourceView,
  username: Type.String(),
  password: Type.String(),
  tokenType: literals(TOKEN_TYPES),
  cached: Type.Boolean(),
  stale: Type.Boolean({ description: 'served from the cache while its source is unreachable' }),
  fetchedAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  matchedKey: Type.Optional(Type.String({ description: 'the docker-config key that matched' }))
});
export type ResolveResult = Static<typeof ResolveResult>;

export const ExplainStep = Type.Object({
  level: Level,
  ref: Type.Optional(Type.String()),
  taken: Type.Boolean(),
  reason: Type.String()
});
export type ExplainStep = Static<typeof ExplainStep>;

export const CloudDetail = Type.Object({
  provider: literals(CLOUD_PROVIDERS),
  identity: Type.String({ description: 'the kind of identity used: web-identity, pod-identity, instance-role, metadata-server, workload-identity, managed-identity, …' }),
  registry: Type.String({ description: 'the registry host the credential is for (the ACR service, the ECR registry)' }),
  region: Type.Optional(Type.String()),
  role: Type.Optional(Type.String())
}, { description: 'ecr:, gcp: and acr: references: where the credential came from (never a secret)' });
export type CloudDetail = Static<typeof CloudDetail>;

export const ExplainResult = Type.Object({
  image: Type.Object({
    input: Type.String(),
    normalized: Type.String(),
    registry: Type.String(),
    repository: Type.String(),
    tag: Type.Optional(Type.String()),
    digest: Type.Optional(Type.String())
  }),
  endpoint: Type.Composite([EndpointView, Type.Object({ reason: Type.String() })]),
  steps: Type.Array(ExplainStep),
  source: Type.Optional(SourceView),
  match: Type.Optional(Type.Object({ key: Type.String() })),
  cloud: Type.Optional(Type.Composite([
    CloudDetail,
    Type.Object({ expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) })
  ], { description: CloudDetail.description })),
  cache: Type.Object({
    state: literals(['hit', 'miss', 'stale', 'not-cached'] as const),
    fetchedAt: Type.Optional(Type.String()),
    freshUntil: Type.Optional(Type.Union([Type.String(), Type.Null()]))
  }),
  outcome: Type.Union([
    Type.Object({ ok: Type.Literal(true) }),
    Type.Object({ ok: Type.Literal(false), code: Type.String({ description: 'the error code resolution stopped at (README "Errors")' }), message: Type.String() })
  ])
});
export type ExplainResult = Static<typeof ExplainResult>;
