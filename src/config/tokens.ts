// The static-mode token file (AUTH_TOKENS_FILE): YAML `tokens: [{ name, sha256 }]`, and the
// constant-time lookup of a presented bearer token by its SHA-256.
import { createHash, timingSafeEqual } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { Type } from '@sinclair/typebox';
import { ConfigError } from '../errors.js';
import { checkShape } from './schema.js';
import { openConfigFile, type ConfigFileOptions } from './reload.js';
import type { ReloadingFile } from './watch.js';

export const MAX_TOKENS_BYTES = 256 * 1024;
const MAX_TOKENS = 10_000;

export const TokensFileSchema = Type.Object({
  tokens: Type.Array(Type.Object({
    name: Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$', description: '1-128 letters, digits, ".", "_" or "-"' }),
    sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'the 64 hex digits of the SHA-256 of the token' })
  }, { additionalProperties: false, description: 'a token has a name and a sha256' }), { maxItems: MAX_TOKENS })
}, { additionalProperties: false, description: 'the file has a tokens list' });

export interface StaticTokenEntry {
  name: string
  digest: Buffer
}

export interface StaticTokens {
  readonly entries: readonly StaticTokenEntry[]
}

/** Parse the token file's text; throws ConfigError naming the entry and key. Never quotes a digest. */
export function parseTokens (text: string, label = 'tokens file'): StaticTokens {
  if (Buffer.byteLength(text) > MAX_TOKENS_BYTES) throw new ConfigError(label, `larger than ${MAX_TOKENS_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (err) {
    throw new ConfigError(label, `not valid YAML: ${String((err as Error).message).split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) throw new ConfigError(label, 'is empty (write "tokens: []" to refuse every token)');
  const { tokens } = checkShape(TokensFileSchema, doc, label);
  const names = new Set<string>();
  const digests = new Set<string>();
  const entries = tokens.map(({ name, sha256 }, i): StaticTokenEntry => {
    const at = (k: string): string => `${label} tokens[${i}].${k}`;
    if (names.has(name)) throw new ConfigError(at('name'), `"${name}" appears twice`);
    const hex = sha256.toLowerCase();
    if (digests.has(hex)) throw new ConfigError(at('sha256'), 'the same token is listed twice');
    names.add(name);
    digests.add(hex);
    return { name, digest: Buffer.from(hex, 'hex') };
  });
  return { entries };
}

/**
 * The name of the entry whose digest is the SHA-256 of `token`, else undefined. Compares
 * with every entry, each in constant time, so the answer's timing says nothing about which.
 */
export function lookupToken (tokens: StaticTokens, token: string): string | undefined {
  const digest = createHash('sha256').update(token, 'utf8').digest();
  let found: string | undefined;
  for (const entry of tokens.entries) {
    if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry.name;
  }
  return found;
}

/** Loads AUTH_TOKENS_FILE (throws ConfigError at start) and follows its changes. */
export function openTokensFile (path: string, opts: ConfigFileOptions = {}): ReloadingFile<StaticTokens> {
  return openConfigFile(path, {
    file: 'tokens',
    setting: 'AUTH_TOKENS_FILE',
    parse: (text) => parseTokens(text, `AUTH_TOKENS_FILE ${path}`),
    maxBytes: MAX_TOKENS_BYTES
  }, opts);
}
