// Shapes shared by the credential domain: what a source yields and what a reference is.

export type TokenType = 'basic' | 'identitytoken' | 'registrytoken';

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
  | { type: 'serviceaccount', namespace: string, name: string };

export type SourceType = CredentialReference['type'];
export const SOURCE_TYPES: readonly SourceType[] = ['pullsecret', 'secret', 'env', 'ext', 'serviceaccount'];

/** A registries.conf spec may carry a registry prefix: `<registry>=<spec>`. */
export interface ParsedSpec {
  registry?: string
  reference: CredentialReference
}
