// Docker image references: the grammar and normalization of github.com/distribution/reference,
// with a configurable default prefix and namespace (registries.conf `default`/`defaultns`).
import { InvalidImageReference } from '../errors.js';
import { DOCKER_HUB, HOST_RE, OFFICIAL_NAMESPACE, PATH_RE, canonicalHost, isHostComponent, splitPrefix } from './names.js';

export interface ImageReference {
  input: string
  /** host[:port], lower-case; `docker.io` for Docker Hub (see names.ts) */
  host: string
  /** the repository path on the host, e.g. `library/nginx` */
  repository: string
  /** host/repository: the image name */
  name: string
  tag?: string
  digest?: string
  /** whether the input named its host */
  explicitHost: boolean
}

export interface ImageDefaults {
  /** the prefix of prefix-less names: host[:port] with an optional path, e.g. `quay.io` or `registry.example.com/mirror` */
  prefix?: string
  namespace?: string
}

export const MAX_INPUT_LENGTH = 1024;
/** distribution/reference's RepositoryNameTotalLengthMax: the path, without the host */
export const MAX_NAME_LENGTH = 255;

const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
// go-digest's registered algorithms and their encoded lengths (lower-case hex only)
const DIGEST_LENGTHS = new Map([['sha256', 64], ['sha384', 96], ['sha512', 128]]);

function fail (input: string, reason: string): never {
  const shown = input.length > 300 ? `${input.slice(0, 300)}…` : input;
  throw new InvalidImageReference(JSON.stringify(shown), reason);
}

/** Splits a configured default prefix (`host[:port][/path]`) into its canonical host and path. */
function splitDefault (prefix: string): { host: string, path: string } {
  const { host, path } = splitPrefix(prefix);
  return { host: canonicalHost(host), path: path.replace(/\/+$/, '') };
}

function checkDigest (input: string, digest: string): void {
  const m = DIGEST_RE.exec(digest);
  if (m === null) fail(input, 'invalid digest format');
  const algorithm = m[1] as string;
  const encoded = m[2] as string;
  const length = DIGEST_LENGTHS.get(algorithm);
  if (length === undefined) fail(input, `unsupported digest algorithm ${algorithm}`);
  if (encoded.length !== length) fail(input, `invalid digest length for ${algorithm}`);
  if (encoded !== encoded.toLowerCase()) fail(input, 'digest must be lower-case hex');
}

/**
 * Parses and normalizes an image reference the way Docker does (`nginx` → `docker.io/library/nginx`).
 * Throws InvalidImageReference (400) for anything that is not a valid reference.
 */
export function parseImageReference (input: string, defaults: ImageDefaults = {}): ImageReference {
  if (typeof input !== 'string') fail(String(input), 'must be a string');
  if (input.length === 0) fail(input, 'repository name must have at least one component');
  if (input.length > MAX_INPUT_LENGTH) fail(input, `longer than ${MAX_INPUT_LENGTH} characters`);
  if (IDENTIFIER_RE.test(input)) fail(input, 'cannot specify 64-byte hexadecimal strings');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(input, digest);
  }

  // The first component is a host when it looks like one (docker's splitDockerDomain)
  let explicit: string | undefined;
  let remainder = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (isHostComponent(first)) {
      explicit = first;
      remainder = rest.slice(slash + 1);
    }
  }

  let path = remainder;
  let tag: string | undefined;
  const colon = remainder.indexOf(':');
  if (colon >= 0) {
    path = remainder.slice(0, colon);
    tag = remainder.slice(colon + 1);
    if (!TAG_RE.test(tag)) fail(input, 'invalid tag format');
  }

  if (explicit !== undefined && !HOST_RE.test(explicit)) fail(input, 'invalid registry host');
  if (path === '') fail(input, 'repository name must have at least one component');
  if (!PATH_RE.test(path)) {
    if (path !== path.toLowerCase() && PATH_RE.test(path.toLowerCase())) {
      fail(input, 'repository name must be lowercase');
    }
    fail(input, 'invalid reference format');
  }

  let host: string;
  let repository = path;
  const fallback = splitDefault(defaults.prefix !== undefined && defaults.prefix !== '' ? defaults.prefix : DOCKER_HUB);
  if (explicit !== undefined) {
    host = canonicalHost(explicit);
  } else {
    host = fallback.host;
    if (fallback.path !== '') repository = `${fallback.path}/${repository}`;
  }

  if (!repository.includes('/')) {
    const isDefault = host === fallback.host && fallback.path === '';
    const namespace = isDefault && defaults.namespace !== undefined && defaults.namespace !== ''
      ? defaults.namespace
      : host === DOCKER_HUB ? OFFICIAL_NAMESPACE : undefined;
    if (namespace !== undefined) repository = `${namespace.replace(/^\/+|\/+$/g, '')}/${repository}`;
  }
  if (!PATH_RE.test(repository)) fail(input, 'invalid repository after applying the default prefix or namespace');

  // distribution/reference (since v0.6) bounds the repository path, not host plus path
  if (repository.length > MAX_NAME_LENGTH) fail(input, `repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  const joined = `${host}/${repository}`;
  // the input itself when it is already the normalized name: one string, not two (memos keep both)
  const name = joined === input ? input : joined;

  const ref: ImageReference = { input, host, repository, name, explicitHost: explicit !== undefined };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The normalized reference as text: `name[:tag][@digest]`. */
export function formatImageReference (ref: Pick<ImageReference, 'name' | 'tag' | 'digest'>): string {
  return ref.name + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}
