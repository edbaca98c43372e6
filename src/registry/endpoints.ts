// Registry endpoint selection (README "How resolution works", step 2): longest configured
// prefix, else the default, else inferred. One Endpoint object per registries.conf entry and
// per inferred host: the images of a registry share it (each image's memo would otherwise
// hold its own copy).
import { LRUCache } from 'lru-cache';
import type { ImageDefaults, ImageReference } from './image-ref.js';
import { DOCKER_HUB, canonicalPrefix, inferApiUrl, splitPrefix } from './names.js';
import { DEFAULT_LIMIT, type RegistriesConfig, type RegistryEntry } from './registries-conf.js';

export interface Endpoint {
  name: string
  prefix: string
  /** base URL of the registry API, no trailing slash */
  apiUrl: string
  configured: boolean
  entry?: RegistryEntry
  insecure: boolean
  caFile?: string
  caData?: string
  limit: number
  credsExpireMs?: number
  /** the credential reference as written; credentials/ parses it */
  credentials?: string
  defaultns?: string
}

/** A prefix as canonical host and path segments, for whole-segment matching. */
function prefixSegments (prefix: string): { host: string, segments: string[] } {
  const { host, path } = splitPrefix(canonicalPrefix(prefix));
  return { host, segments: path === '' ? [] : path.split('/') };
}

/** The configured default prefix, as `parseImageReference` defaults; `{}` means Docker Hub. */
export function defaultPrefixOf (config: RegistriesConfig): ImageDefaults {
  const entry = config.registries.find((r) => r.default);
  if (entry === undefined) return {};
  return entry.defaultns !== undefined ? { prefix: entry.prefix, namespace: entry.defaultns } : { prefix: entry.prefix };
}

/** inferred endpoints kept per registries.conf (hosts come from callers: bounded) */
export const INFERRED_ENDPOINTS_MAX = 1000;

const byEntry = new WeakMap<RegistryEntry, Endpoint>();
const inferredByConfig = new WeakMap<RegistriesConfig, LRUCache<string, Endpoint>>();

function fromEntry (entry: RegistryEntry): Endpoint {
  let endpoint = byEntry.get(entry);
  if (endpoint === undefined) {
    endpoint = buildFromEntry(entry);
    byEntry.set(entry, endpoint);
  }
  return endpoint;
}

function inferred (config: RegistriesConfig, host: string): Endpoint {
  let memo = inferredByConfig.get(config);
  if (memo === undefined) {
    memo = new LRUCache({ max: INFERRED_ENDPOINTS_MAX });
    inferredByConfig.set(config, memo);
  }
  let endpoint = memo.get(host);
  if (endpoint === undefined) {
    endpoint = {
      name: host === DOCKER_HUB ? 'Docker Hub' : host,
      prefix: host,
      apiUrl: inferApiUrl(host),
      configured: false,
      insecure: false,
      limit: DEFAULT_LIMIT
    };
    memo.set(host, endpoint);
  }
  return endpoint;
}

/** how many inferred endpoints are kept for this registries.conf (tests) */
export function inferredEndpointCount (config: RegistriesConfig): number {
  return inferredByConfig.get(config)?.size ?? 0;
}

function buildFromEntry (entry: RegistryEntry): Endpoint {
  const endpoint: Endpoint = {
    name: entry.name,
    prefix: entry.prefix,
    apiUrl: entry.apiUrl ?? inferApiUrl(splitPrefix(entry.prefix).host),
    configured: true,
    entry,
    insecure: entry.insecure,
    limit: entry.limit
  };
  if (entry.caFile !== undefined) endpoint.caFile = entry.caFile;
  if (entry.caData !== undefined) endpoint.caData = entry.caData;
  if (entry.credsExpireMs !== undefined) endpoint.credsExpireMs = entry.credsExpireMs;
  if (entry.credentials !== undefined) endpoint.credentials = entry.credentials;
  if (entry.defaultns !== undefined) endpoint.defaultns = entry.defaultns;
  return endpoint;
}

/** How many path segments of `entry`'s prefix match the image, or -1 when it does not match. */
function matchLength (entry: RegistryEntry, host: string, path: string[]): number {
  const prefix = prefixSegments(entry.prefix);
  // host[:port] compared whole: a port must match exactly, and no port is not any port
  if (prefix.host !== host) return -1;
  if (prefix.segments.length > path.length) return -1;
  for (let i = 0; i < prefix.segments.length; i++) {
    if (prefix.segments[i] !== path[i]) return -1;
  }
  return prefix.segments.length;
}

/** The endpoint for an image; the same object for every image it serves (do not mutate it). */
export function findEndpoint (config: RegistriesConfig, image: ImageReference): Endpoint {
  const host = image.host;
  const path = image.repository.split('/');
  let best: RegistryEntry | undefined;
  let bestLength = -1;
  for (const entry of config.registries) {
    const length = matchLength(entry, host, path);
    if (length > bestLength) { best = entry; bestLength = length; }
  }
  if (best !== undefined) return fromEntry(best);

  if (!image.explicitHost) {
    const fallback = config.registries.find((r) => r.default);
    if (fallback !== undefined) return fromEntry(fallback);
  }

  return inferred(config, host);
}
