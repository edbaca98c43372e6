// The kubelet's side of the credential provider protocol, for tests: the strict decoding of a
// credentialprovider.kubelet.k8s.io/v1 CredentialProviderResponse (k8s.io/kubelet
// pkg/apis/credentialprovider/v1 types) and the plugin cache of pkg/credentialprovider/plugin
// (lookup by image, then the image's first path segment, then a global key), followed by the
// keyring match of the cached auth keys against the image.
import { urlsMatchStr } from '../../src/credentials/dockerconfig.js';

export const KUBELET_API = 'credentialprovider.kubelet.k8s.io/v1';

export interface AuthConfig { username: string, password: string }
export interface CredentialProviderResponse {
  apiVersion: string
  kind: 'CredentialProviderResponse'
  cacheKeyType: 'Image' | 'Registry' | 'Global'
  cacheDuration?: string
  auth?: Record<string, AuthConfig>
}

const RESPONSE_FIELDS = new Set(['apiVersion', 'kind', 'cacheKeyType', 'cacheDuration', 'auth']);
const AUTH_FIELDS = new Set(['username', 'password']);
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in ms; throws on what Go refuses. */
export function parseGoDuration (text: string): number {
  if (text === '0' || text === '+0' || text === '-0') return 0;
  const m = /^([-+]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (m === null) throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let ms = 0;
  for (const part of (m[2] as string).matchAll(/([0-9.]+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    ms += Number(part[1]) * (UNIT_MS[part[2] as string] as number);
  }
  return m[1] === '-' ? -ms : ms;
}

/** The kubelet's strict decode: unknown or mistyped fields anywhere make the answer unusable. */
export function decodeStrict (text: string): CredentialProviderResponse {
  const v = JSON.parse(text) as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
  for (const k of Object.keys(v)) if (!RESPONSE_FIELDS.has(k)) throw new Error(`strict decoding error: unknown field "${k}"`);
  if (v.apiVersion !== KUBELET_API) throw new Error(`apiVersion ${String(v.apiVersion)}`);
  if (v.kind !== 'CredentialProviderResponse') throw new Error(`kind ${String(v.kind)}`);
  if (!['Image', 'Registry', 'Global'].includes(v.cacheKeyType as string)) throw new Error(`invalid cacheKeyType ${String(v.cacheKeyType)}`);
  if (v.cacheDuration !== undefined) {
    if (typeof v.cacheDuration !== 'string') throw new Error('cacheDuration is not a string');
    parseGoDuration(v.cacheDuration);
  }
  if (v.auth !== undefined && v.auth !== null) {
    if (typeof v.auth !== 'object' || Array.isArray(v.auth)) throw new Error('auth is not a map');
    for (const [key, entry] of Object.entries(v.auth as Record<string, unknown>)) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`auth ${key} is not an object`);
      for (const [f, fv] of Object.entries(entry)) {
        if (!AUTH_FIELDS.has(f)) throw new Error(`strict decoding error: unknown field "auth[${key}].${f}"`);
        if (typeof fv !== 'string') throw new Error(`auth ${key}.${f} is not a string`);
      }
    }
  }
  return v as unknown as CredentialProviderResponse;
}

/** parseRegistry of the kubelet: the image's first path segment, whatever it is */
export function parseRegistry (image: string): string {
  return image.split('/')[0] as string;
}

/** The kubelet's plugin provider: its cache and its calls to the plugin. */
export class SimulatedKubelet {
  calls = 0;
  private readonly cache = new Map<string, { auth: Record<string, AuthConfig>, expiresAt: number }>();

  constructor (
    private readonly plugin: (image: string) => Promise<CredentialProviderResponse>,
    private readonly defaultCacheDurationMs = 0,
    private readonly now: () => number = Date.now
  ) {}

  private cached (key: string): Record<string, AuthConfig> | undefined {
    const e = this.cache.get(key);
    if (e === undefined) return undefined;
    if (this.now() > e.expiresAt) { this.cache.delete(key); return undefined; }
    return e.auth;
  }

  /** the docker config the plugin provider hands the keyring for this image */
  async provide (image: string): Promise<Record<string, AuthConfig>> {
    const hit = this.cached(image) ?? this.cached(parseRegistry(image)) ?? this.cached('global');
    if (hit !== undefined) return hit;
    this.calls++;
    const res = await this.plugin(image);
    const key = res.cacheKeyType === 'Image' ? image : res.cacheKeyType === 'Registry' ? parseRegistry(image) : 'global';
    const auth = res.auth ?? {};
    const duration = res.cacheDuration === undefined ? this.defaultCacheDurationMs : parseGoDuration(res.cacheDuration);
    if (duration === 0) return auth;
    this.cache.set(key, { auth, expiresAt: this.now() + duration });
    return auth;
  }

  /** the credentials the kubelet then tries for the image: auth keys matching it, most specific first */
  async credentialsFor (image: string): Promise<AuthConfig[]> {
    const auth = await this.provide(image);
    return Object.keys(auth).sort().reverse()
      .filter((k) => urlsMatchStr(k, image))
      .map((k) => auth[k] as AuthConfig);
  }
}
