// How a registry credential is presented; the registry client and the credential domain share it.

/** Basic username/password, an identity (refresh) token, or a registry (bearer) token. */
export const TOKEN_TYPES = ['basic', 'identitytoken', 'registrytoken'] as const;
export type TokenType = typeof TOKEN_TYPES[number];
