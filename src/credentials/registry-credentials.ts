// The `credentials` of registries.conf entries: kept as text by registry/registries-conf.ts,
// parsed here once per load (a bad spec fails the load, naming registry and key) and
// looked up per request without parsing again.
import { ConfigError } from '../errors.js';
import { entryLabel, type RegistriesConfig, type RegistryEntry } from '../registry/registries-conf.js';
import { parseCredentialSpec } from './reference.js';
import type { ParsedSpec } from './types.js';

const parsedSpecs = new WeakMap<RegistryEntry, ParsedSpec>();

/** Removes the spec text from a parser message: a mistyped spec may hold a password. */
function redact (message: string, spec: string): string {
  let out = message;
  const colon = spec.indexOf(':');
  for (const part of [spec, colon >= 0 ? spec.slice(colon + 1) : '']) {
    if (part.length >= 3) out = out.split(part).join('***');
  }
  return out;
}

/** Parses every entry's credentials; throws ConfigError for the first invalid one. Returns `config`. */
export function checkRegistryCredentials (config: RegistriesConfig): RegistriesConfig {
  config.registries.forEach((entry, index) => {
    if (entry.credentials === undefined) return;
    try {
      parsedSpecs.set(entry, parseCredentialSpec(entry.credentials, { allowRegistryPrefix: true }));
    } catch (e) {
      const inner = redact(e instanceof Error ? e.message : '', entry.credentials);
      const message = inner.startsWith('invalid credential reference') ? inner : `invalid credential reference: ${inner}`;
      throw new ConfigError(config.source, `${entryLabel(index, entry.name)}: credentials: ${message}`);
    }
  });
  return config;
}

/** The parsed credentials of an entry (parsed at load; parsed now for an entry that was not checked). */
export function registryCredentialSpec (entry: RegistryEntry): ParsedSpec | undefined {
  if (entry.credentials === undefined) return undefined;
  let spec = parsedSpecs.get(entry);
  if (spec === undefined) {
    spec = parseCredentialSpec(entry.credentials, { allowRegistryPrefix: true });
    parsedSpecs.set(entry, spec);
  }
  return spec;
}
