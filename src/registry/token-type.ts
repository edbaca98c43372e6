// How a registry credential is presented; the registry client and the credential domain share it.

/** Basic username/password, an identity (refresh) token, or a registry (bearer) token. */
export type TokenType = 'basic' | 'identitytoken' | 'registrytoken';
