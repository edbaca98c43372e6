// Shapes shared by the credential domain: what a source yields and what a reference is.

import { Type, type Static } from '@sinclair/typebox';
import type { TokenType } from '../registry/token-type.js';

export type { TokenType };

/** A credential as a source yields it. `expiresAt` when the source says when it expires. */
export interface Credential {
  username: string
  password: string
  tokenType: TokenType
  expiresAt: Date | null
}

/** `ecr:`, `gcp:` and `acr:` references: the pod's own cloud identity, with `key=value` options. */
export const CLOUD_PROVIDERS = ['ecr', 'gcp', 'acr'] as const;
export type CloudProvider = typeof CLOUD_PROVIDERS[number];
export const CloudReference = Type.Object({
  type: Type.Union(CLOUD_PROVIDERS.map((p) => Type.Literal(p))),
  options: Type.Record(Type.String(), Type.String(), { description: 'ecr:, gcp:, acr: the key=value options' })
});
export type CloudReference = Static<typeof CloudReference>;

/** A parsed credential reference (README "Credential references"); the API serves it as it is. */
export const CredentialReference = Type.Union([
  Type.Object({ type: Type.Literal('pullsecret'), namespace: Type.String(), name: Type.String() }),
  Type.Object({ type: Type.Literal('secret'), namespace: Type.String(), name: Type.String(), field: Type.String() }),
  Type.Object({ type: Type.Literal('env'), variable: Type.String() }),
  Type.Object({ type: Type.Literal('ext'), path: Type.String() }),
  Type.Object({ type: Type.Literal('serviceaccount'), namespace: Type.String(), name: Type.String() }),
  CloudReference
]);
export type CredentialReference = Static<typeof CredentialReference>;
export function isCloudProvider (type: string): type is CloudProvider {
  return (CLOUD_PROVIDERS as readonly string[]).includes(type);
}

export type SourceType = CredentialReference['type'];
export const SOURCE_TYPES: readonly SourceType[] = ['pullsecret', 'secret', 'env', 'ext', 'serviceaccount', ...CLOUD_PROVIDERS];

/** A registries.conf spec may carry a prefix: `<prefix>=<spec>` applies to images under it. */
export interface ParsedSpec {
  prefix?: string
  reference: CredentialReference
}
