// Shapes shared by the credential domain: what a source yields and what a reference is.

import type { TokenType } from '../registry/token-type.js';

export type { TokenType };

/** A credential as a source yields it. `expiresAt` when the source says when it expires. */
export interface Credential {
  username: string
  password: string
  tokenType: TokenType
  expiresAt: Date | null
}

export type CredentialReference =
  | { type: 'pullsecret', namespace: string, name: string }
  | { type: 'secret', namespace: string, name: string, field: string }
  | { type: 'env', variable: string }
  | { type: 'ext', path: string }
  | { type: 'serviceaccount', namespace: string, name: string }
  | CloudReference;

/** `ecr:`, `gcp:` and `acr:` references: the pod's own cloud identity, with `key=value` options. */
export type CloudProvider = 'ecr' | 'gcp' | 'acr';
export const CLOUD_PROVIDERS: readonly CloudProvider[] = ['ecr', 'gcp', 'acr'];
export interface CloudReference { type: CloudProvider, options: Record<string, string> }
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
