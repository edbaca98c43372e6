// How widely and how long the kubelet may keep a credential provider answer. The kubelet looks
// its cache up by the image, then by the image's first path segment (the registry host), then a
// global key, before it calls the plugin again (docs/kubelet.md, docs/api.md "Commands").
import { registryCredentialSpec } from '../credentials/registry-credentials.js';
import { canonicalPrefix } from '../registry/names.js';
import type { RegistriesConfig } from '../registry/registries-conf.js';
import type { ResolveResult } from '../credentials/resolver.js';
import type { Endpoint } from '../registry/endpoints.js';
import type { ImageReference } from '../registry/image-ref.js';

export type KubeletCacheKeyType = 'Image' | 'Registry';
export type KubeletSource = Pick<ResolveResult['source'], 'type' | 'level'>;

export interface KubeletScopeInput {
  image: ImageReference
  endpoint: Endpoint
  /** the canonical hosts (`host[:port]`) that have a registries.conf prefix with a path */
  pathScopedHosts: ReadonlySet<string>
  /** the source that answered (or would have); undefined when nothing is configured */
  source?: KubeletSource
  /** the policy lets the caller resolve every image of the host, not only some paths of it */
  callerAllowedOnHost: boolean
}

export interface KubeletScope {
  cacheKeyType: KubeletCacheKeyType
  /** the auth key: the registry host for `Registry`, the image repository for `Image` */
  authKey: string
  /** why `Image` (for the debug log and tests); empty for `Registry` */
  reason: string
}

/** docker configs are matched per image: path-scoped keys (`ghcr.io/team-c`) and globs (`*.example.com`) */
const PER_IMAGE_SOURCES: ReadonlySet<string> = new Set(['pullsecret', 'serviceaccount']);

/**
 * `Registry` only when every image the kubelet would file under this host gets the same answer
 * from us: the image names its host, no registries.conf prefix on the host has a path, the
 * credential does not depend on the image's path (a Secret field, env:, ext:, at the registry
 * level), and the policy allows the caller on the whole host. Anything else is keyed by image.
 */
export function kubeletScope (input: KubeletScopeInput): KubeletScope {
  const { image, endpoint, source } = input;
  const host = image.host;
  const perImage = (reason: string): KubeletScope => ({ cacheKeyType: 'Image', authKey: image.name, reason });
  if (!image.explicitHost) return perImage('the image names no registry host, so its first path segment is not one');
  if (input.pathScopedHosts.has(host)) return perImage(`registries.conf has a path-scoped prefix on ${host}`);
  const specPrefix = endpoint.entry === undefined ? undefined : registryCredentialSpec(endpoint.entry)?.prefix;
  if (specPrefix !== undefined && canonicalPrefix(specPrefix).includes('/')) {
    return perImage('the registries.conf credentials apply to a path of the host');
  }
  if (source !== undefined) {
    if (source.level !== 'registry') return perImage(`the credentials were chosen at the ${source.level} level`);
    if (PER_IMAGE_SOURCES.has(source.type)) return perImage('a docker config is matched per image');
  }
  if (!input.callerAllowedOnHost) return perImage(`the policy allows the caller only on some paths of ${host}`);
  return { cacheKeyType: 'Registry', authKey: host, reason: '' };
}

const pathScopedCache = new WeakMap<RegistriesConfig, ReadonlySet<string>>();

/** The hosts with a path-scoped prefix, computed once per loaded registries.conf. */
export function pathScopedHosts (config: RegistriesConfig): ReadonlySet<string> {
  let hosts = pathScopedCache.get(config);
  if (hosts === undefined) {
    const set = new Set<string>();
    for (const r of config.registries) {
      const prefix = canonicalPrefix(r.prefix);
      const slash = prefix.indexOf('/');
      if (slash >= 0) set.add(prefix.slice(0, slash));
    }
    hosts = set;
    pathScopedCache.set(config, hosts);
  }
  return hosts;
}

/**
 * The cacheDuration in ms: half of the credential's remaining life (as the ECR plugin does),
 * its life ending at the earlier of its own expiry and its credsexpire counted from the fetch;
 * never below zero. `fallbackMs` when nothing says how long it lives.
 */
export function kubeletCacheDurationMs (o: {
  nowMs: number
  fetchedAtMs: number
  expiresAtMs: number | null
  credsExpireMs: number | undefined
  fallbackMs: number
}): number {
  let end = o.expiresAtMs ?? Number.POSITIVE_INFINITY;
  if (o.credsExpireMs !== undefined && o.credsExpireMs > 0) end = Math.min(end, o.fetchedAtMs + o.credsExpireMs);
  if (end === Number.POSITIVE_INFINITY) return o.fallbackMs;
  return Math.max(0, Math.floor((end - o.nowMs) / 2));
}

/** Go's time.Duration String() form in whole seconds, which the kubelet parses */
export function goDuration (ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}
