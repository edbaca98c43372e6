// What a cloud provider hands back: a registry credential with its true expiry, and what
// explain may show about where it came from (never a secret).
import type { CloudProvider } from '../types.js';

export interface CloudToken {
  username: string
  password: string
  expiresAt: Date
  /** the kind of identity used, e.g. web-identity, metadata-server, workload-identity */
  identity: string
}

/** where a cloud credential came from, as explain shows it (declared with the explain result) */
export type { CloudDetail } from '../results.js';

/** a bounded outcome word for metrics */
export type CloudOutcome = 'ok' | 'CLOUD_IDENTITY_MISSING' | 'CLOUD_ACCESS_DENIED' | 'CLOUD_PROVIDER_UNAVAILABLE' | 'MALFORMED_CREDENTIALS';

export const FETCH_TIMEOUT_MS = 10_000;
/** largest provider answer read (an ACR exchange answer) */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** an error's code as a short safe word (AWS error names, errno codes), never a message */
export function safeName (v: unknown): string | undefined {
  return typeof v === 'string' && /^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(v) ? v : undefined;
}
