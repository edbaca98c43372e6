// PLACEHOLDER: being written (credential reference parsing, SPEC §1).
import type { CredentialReference, ParsedSpec } from './types.js';

export function parseCredentialSpec (_spec: string, _opts: { allowRegistryPrefix?: boolean } = {}): ParsedSpec {
  throw new Error('not implemented');
}

export function formatReference (_ref: CredentialReference): string {
  throw new Error('not implemented');
}
