// Docker config (`.dockerconfigjson` / legacy `.dockercfg`) parsing and the kubelet
// keyring match (Kubernetes pkg/credentialprovider/keyring.go) of an image to its entries.
import { MalformedCredentials, NoMatchingAuthEntry, SecretFieldMissing } from '../errors.js';
import type { SecretObject } from '../kube/secret-store.js';
import type { Credential } from './types.js';
import { own } from '../own.js';
import { DOCKER_HUB, OFFICIAL_NAMESPACE, canonicalHost, isHostComponent, stripScheme } from '../registry/names.js';
import { isRecord } from '../config/schema.js';

export const MAX_DOCKER_CONFIG_BYTES = 1024 * 1024;

export type DockerConfigFormat = 'dockerconfigjson' | 'dockercfg';

export interface DockerConfigEntry {
  /** the key as written in the docker config, e.g. `https://index.docker.io/v1/` */
  key: string
  /** the keyring key: scheme and `/v1/`/`/v2/` removed, Docker Hub hosts folded to `docker.io`; null when the key cannot be parsed (never matches) */
  keyringKey: string | null
  credential: Credential
}

export interface DockerConfig {
  entries: DockerConfigEntry[]
}

export interface DockerConfigMatch {
  key: string
  keyringKey: string
  credential: Credential
}

interface KeyringURL {
  hostLabels: string[]
  port: string
  path: string
}

function hasOwn (obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

// Standard base64, padded or not (the kubelet tries both); the only characters skipped are
// \r and \n, as Go's decoder skips them (`base64` without -w0 wraps long tokens).
const BASE64_PADDED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_RAW = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2,3})?$/;

/** The decoded bytes of a docker config `auth`, or undefined when it is not base64. */
export function decodeAuthField (auth: string): Buffer | undefined {
  const encoded = auth.replace(/[\r\n]/g, '');
  const re = encoded.endsWith('=') ? BASE64_PADDED : BASE64_RAW;
  return re.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
}

/**
 * Parse a Docker config. `label` names its origin in errors (e.g. "secret argocd/x field
 * .dockerconfigjson"); messages name entry keys and fields, never a value.
 */
export function parseDockerConfig (data: Buffer | string, format: DockerConfigFormat, label: string): DockerConfig {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > MAX_DOCKER_CONFIG_BYTES) {
    throw new MalformedCredentials(`${label} is ${size} bytes, more than the ${MAX_DOCKER_CONFIG_BYTES} allowed`);
  }
  let text: string;
  try {
    text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new MalformedCredentials(`${label} is not valid UTF-8`);
  }
  if (text.trim() === '') throw new MalformedCredentials(`${label} is empty`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // SyntaxError messages quote the input; say where instead.
    throw new MalformedCredentials(`${label} is not valid JSON`);
  }
  if (!isRecord(doc)) throw new MalformedCredentials(`${label} is not a JSON object`);

  let auths: Record<string, unknown>;
  if (format === 'dockerconfigjson') {
    if (!hasOwn(doc, 'auths') || doc.auths === null) {
      throw new MalformedCredentials(`${label} has no "auths" object`);
    }
    if (!isRecord(doc.auths)) throw new MalformedCredentials(`${label}: "auths" is not an object`);
    auths = doc.auths;
  } else {
    auths = doc;
  }

  const entries: DockerConfigEntry[] = [];
  for (const [key, raw] of Object.entries(auths)) {
    const where = `${label} entry ${JSON.stringify(key)}`;
    if (!isRecord(raw)) throw new MalformedCredentials(`${where} is not an object`);
    entries.push({ key, keyringKey: keyringKey(key), credential: entryCredential(raw, where) });
  }
  return { entries };
}

function stringField (entry: Record<string, unknown>, field: string, where: string): string | undefined {
  const value = own(entry, field);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new MalformedCredentials(`${where}: "${field}" is not a string`);
  return value;
}

function entryCredential (entry: Record<string, unknown>, where: string): Credential {
  let username = stringField(entry, 'username', where) ?? '';
  let password = stringField(entry, 'password', where) ?? '';
  const auth = stringField(entry, 'auth', where) ?? '';
  const identityToken = stringField(entry, 'identitytoken', where) ?? '';
  const registryToken = stringField(entry, 'registrytoken', where) ?? '';

  // As docker and the kubelet do, a non-empty `auth` takes precedence over username/password.
  if (auth !== '') {
    const bytes = decodeAuthField(auth);
    if (bytes === undefined) throw new MalformedCredentials(`${where}: "auth" is not valid base64`);
    let decoded: string;
    try {
      decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new MalformedCredentials(`${where}: "auth" does not decode to UTF-8 text`);
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new MalformedCredentials(`${where}: "auth" does not decode to <username>:<password>`);
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }

  if (registryToken !== '') {
    return { username, password: registryToken, tokenType: 'registrytoken', expiresAt: null };
  }
  if (identityToken !== '') {
    return { username: username === '' ? '<token>' : username, password: identityToken, tokenType: 'identitytoken', expiresAt: null };
  }
  const origin = auth !== '' ? '"auth"' : 'username/password';
  if (username === '' && password === '') {
    throw new MalformedCredentials(`${where} has no credentials (auth, username/password, identitytoken or registrytoken)`);
  }
  if (username === '') throw new MalformedCredentials(`${where}: ${origin} has an empty username`);
  if (password === '') throw new MalformedCredentials(`${where}: ${origin} has an empty password`);
  return { username, password, tokenType: 'basic', expiresAt: null };
}

/**
 * Split `host[:port][/path]` (no scheme) like Go's url.Parse + net.SplitHostPort do for
 * the kubelet. Host labels are lower-cased and Docker Hub hosts folded to `docker.io`.
 */
export function parseSchemelessURL (text: string): KeyringURL | null {
  let rest = text;
  const end = rest.search(/[?#]/);
  if (end >= 0) rest = rest.slice(0, end);
  const slash = rest.indexOf('/');
  const hostport = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (hostport === '' || /[\s@\\]/.test(hostport)) return null;

  let host: string;
  let port = '';
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) return null;
    host = hostport.slice(1, close);
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return null;
      port = after.slice(1);
    }
  } else {
    const colon = hostport.indexOf(':');
    if (colon >= 0 && colon === hostport.lastIndexOf(':')) {
      host = hostport.slice(0, colon);
      port = hostport.slice(colon + 1);
    } else if (colon >= 0) {
      return null;
    } else {
      host = hostport;
    }
  }
  if (!/^[0-9]*$/.test(port) || host === '') return null;
  host = port === '' ? canonicalHost(host) : host.toLowerCase();
  return { hostLabels: host.split('.'), port, path };
}

/**
 * The keyring key of a docker config key, as BasicDockerKeyring.Add computes it: scheme
 * removed, a leading `/v1/` or `/v2/` reduced to `/`, a bare `/` path dropped.
 */
export function keyringKey (key: string): string | null {
  const schemeless = stripScheme(key);
  const parsed = parseSchemelessURL(schemeless);
  if (parsed === null) return null;
  let path = parsed.path;
  if (path.startsWith('/v2/') || path.startsWith('/v1/')) path = path.slice(3);
  const joined = parsed.hostLabels.join('.');
  const host = joined.includes(':') ? `[${joined}]` : joined;
  const hostport = parsed.port === '' ? host : `${host}:${parsed.port}`;
  return path !== '' && path !== '/' ? hostport + path : hostport;
}

/** Go's path.Match for one host label ('*', '?', '[...]' classes, '\\' escapes); a bad pattern never matches. */
export function globMatch (pattern: string, name: string): boolean {
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '\\') {
      i++;
      if (i >= pattern.length) return false;
      source += escapeRegExp(pattern[i] as string);
    } else if (c === '[') {
      i++;
      let cls = '';
      if (pattern[i] === '^') { cls += '^'; i++; }
      let items = 0;
      while (i < pattern.length && (pattern[i] !== ']' || items === 0)) {
        let lo = pattern[i] as string;
        if (lo === '\\') { i++; if (i >= pattern.length) return false; lo = pattern[i] as string; }
        if ((lo === ']' || lo === '-') && items === 0) return false;
        i++;
        if (pattern[i] === '-' && i + 1 < pattern.length && pattern[i + 1] !== ']') {
          i++;
          let hi = pattern[i] as string;
          if (hi === '\\') { i++; if (i >= pattern.length) return false; hi = pattern[i] as string; }
          if (hi < lo) return false;
          i++;
          cls += `${escapeClass(lo)}-${escapeClass(hi)}`;
        } else {
          cls += escapeClass(lo);
        }
        items++;
      }
      if (i >= pattern.length || items === 0) return false;
      source += `[${cls}]`;
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(source + '$').test(name);
}

function escapeRegExp (c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function escapeClass (c: string): string {
  return c.replace(/[\\\]^[-]/g, '\\$&');
}

function urlsMatch (glob: KeyringURL, target: KeyringURL): boolean {
  if (glob.port !== target.port) return false;
  if (glob.hostLabels.length !== target.hostLabels.length) return false;
  if (!target.path.startsWith(glob.path)) return false;
  return glob.hostLabels.every((label, i) => globMatch(label, target.hostLabels[i] as string));
}

/**
 * URLsMatchStr of the kubelet: the glob key matches the target when ports are equal, the
 * hosts have as many labels and each label matches, and the key's path is a prefix.
 */
export function urlsMatchStr (glob: string, target: string): boolean {
  const g = parseSchemelessURL(glob);
  const t = parseSchemelessURL(target);
  return g !== null && t !== null && urlsMatch(g, t);
}

/**
 * Docker's normalization of the registry part: a first path component without `.` or
 * `:` (and not `localhost`, not upper-case) is a Docker Hub repository (`nginx` →
 * docker.io/library/nginx). Unlike Docker, a lone `host.name` or `host:port` is taken
 * for a registry host, as the kubelet keyring does.
 */
export function normalizeImageRepository (image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? image : image.slice(0, slash);
  const nameAndTag = slash < 0 && /^[^.:]+:[^:]*[^0-9:][^:]*$/.test(image);
  if (!nameAndTag && isHostComponent(first)) return image;
  return slash < 0 ? `${DOCKER_HUB}/${OFFICIAL_NAMESPACE}/${image}` : `${DOCKER_HUB}/${image}`;
}

function specificity (url: KeyringURL): [number, number] {
  const globLabels = url.hostLabels.filter((l) => /[*?[\\]/.test(l)).length;
  return [url.path.length, globLabels];
}

/**
 * Every entry whose key matches the image repository (`host[:port]/path`; a Docker Hub
 * short name is normalized first), most specific first: the longer key path, then fewer
 * glob host labels, then the kubelet's reverse-sorted key order; entries with the same
 * keyring key (`docker.io` and `https://index.docker.io/v1/`) keep their order in the
 * config, so a keyring merged from several pull secrets tries them in turn.
 */
export function lookupDockerConfig (config: DockerConfig, image: string): DockerConfigMatch[] {
  if (image === '') return [];
  const target = parseSchemelessURL(normalizeImageRepository(image));
  if (target === null) return [];
  const found: Array<{ match: DockerConfigMatch, rank: [number, number] }> = [];
  for (const entry of config.entries) {
    if (entry.keyringKey === null) continue;
    const glob = parseSchemelessURL(entry.keyringKey);
    if (glob === null || !urlsMatch(glob, target)) continue;
    found.push({
      match: { key: entry.key, keyringKey: entry.keyringKey, credential: entry.credential },
      rank: specificity(glob)
    });
  }
  found.sort((a, b) =>
    (b.rank[0] - a.rank[0]) ||
    (a.rank[1] - b.rank[1]) ||
    compareStrings(b.match.keyringKey, a.match.keyringKey));
  return found.map((f) => f.match);
}

function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The registry host[:port] of an image repository, as NoMatchingAuthEntry names it. */
export function registryHostOf (image: string): string {
  const normalized = normalizeImageRepository(image);
  const slash = normalized.indexOf('/');
  return slash < 0 ? normalized : normalized.slice(0, slash);
}

/**
 * The Docker config of a pull secret's data: `.dockerconfigjson`, else `.dockercfg`.
 * `id` is `<namespace>/<name>` for errors.
 */
export function dockerConfigFromSecretData (data: Record<string, Buffer>, id: string): DockerConfig {
  const json = own(data, '.dockerconfigjson');
  const cfg = own(data, '.dockercfg');
  if (json === undefined && cfg === undefined) {
    throw new SecretFieldMissing(id, '.dockerconfigjson (nor .dockercfg)');
  }
  // Like the kubelet, an empty .dockerconfigjson gives way to a .dockercfg beside it.
  return json !== undefined && (json.length > 0 || cfg === undefined)
    ? parseDockerConfig(json, 'dockerconfigjson', `secret ${id} field .dockerconfigjson`)
    : parseDockerConfig(cfg as Buffer, 'dockercfg', `secret ${id} field .dockercfg`);
}

/**
 * The best-matching credential of a pull secret. `label` names the Secret in errors
 * (default "secret <namespace>/<name>").
 */
export function credentialFromSecret (secret: SecretObject, image: string, label?: string): DockerConfigMatch {
  const id = `${secret.namespace}/${secret.name}`;
  const best = lookupDockerConfig(dockerConfigFromSecretData(secret.data, id), image)[0];
  if (best === undefined) throw new NoMatchingAuthEntry(label ?? `secret ${id}`, registryHostOf(image));
  return best;
}
