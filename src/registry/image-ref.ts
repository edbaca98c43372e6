// Docker image references: the grammar and normalization of github.com/distribution/reference,
// with a configurable default registry and namespace (registries.conf `default`/`defaultns`).
import { InvalidImageReference } from '../errors.js';

export interface ImageReference {
  input: string
  /** host[:port], lower-case; `docker.io` for Docker Hub */
  registry: string
  /** the path inside the registry, e.g. `library/nginx` */
  repository: string
  /** registry/repository */
  name: string
  tag?: string
  digest?: string
  /** whether the input named its registry */
  explicitRegistry: boolean
}

export interface ImageDefaults {
  /** host[:port] with an optional path, e.g. `quay.io` or `registry.example.com/mirror` */
  registry?: string
  namespace?: string
}

export const DOCKER_HUB = 'docker.io';
export const MAX_INPUT_LENGTH = 1024;
export const MAX_NAME_LENGTH = 255;
const LEGACY_DOCKER_HUB = 'index.docker.io';
const OFFICIAL_NAMESPACE = 'library';

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;

export const DOMAIN_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
export const PATH_RE = new RegExp(`^${REMOTE_NAME}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
// go-digest's registered algorithms and their encoded lengths (lower-case hex only)
const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

function fail (input: string, reason: string): never {
  const shown = input.length > 300 ? `${input.slice(0, 300)}…` : input;
  throw new InvalidImageReference(JSON.stringify(shown), reason);
}

/** Splits a configured default registry (`host[:port][/path]`) into its host and path prefix. */
function splitDefault (registry: string): { host: string, path: string } {
  const slash = registry.indexOf('/');
  const host = slash < 0 ? registry : registry.slice(0, slash);
  const path = slash < 0 ? '' : registry.slice(slash + 1).replace(/\/+$/, '');
  return { host: canonicalRegistry(host), path };
}

/** Lower-cases a registry host and folds `index.docker.io` into `docker.io`. */
export function canonicalRegistry (host: string): string {
  const h = host.toLowerCase();
  return h === LEGACY_DOCKER_HUB ? DOCKER_HUB : h;
}

function checkDigest (input: string, digest: string): void {
  const m = DIGEST_RE.exec(digest);
  if (m === null) fail(input, 'invalid digest format');
  const algorithm = m[1] as string;
  const encoded = m[2] as string;
  const length = DIGEST_LENGTHS[algorithm];
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

  // The first component is a registry when it looks like a host (docker's splitDockerDomain)
  let domain: string | undefined;
  let remainder = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
      domain = first;
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

  if (domain !== undefined && !DOMAIN_RE.test(domain)) fail(input, 'invalid registry host');
  if (path === '') fail(input, 'repository name must have at least one component');
  if (!PATH_RE.test(path)) {
    if (path !== path.toLowerCase() && PATH_RE.test(path.toLowerCase())) {
      fail(input, 'repository name must be lowercase');
    }
    fail(input, 'invalid reference format');
  }

  let registry: string;
  let repository = path;
  const explicitRegistry = domain !== undefined;
  const fallback = splitDefault(defaults.registry !== undefined && defaults.registry !== '' ? defaults.registry : DOCKER_HUB);
  if (domain !== undefined) {
    registry = canonicalRegistry(domain);
  } else {
    registry = fallback.host;
    if (fallback.path !== '') repository = `${fallback.path}/${repository}`;
  }

  if (!repository.includes('/')) {
    const isDefault = registry === fallback.host && fallback.path === '';
    const namespace = isDefault && defaults.namespace !== undefined && defaults.namespace !== ''
      ? defaults.namespace
      : registry === DOCKER_HUB ? OFFICIAL_NAMESPACE : undefined;
    if (namespace !== undefined) repository = `${namespace.replace(/^\/+|\/+$/g, '')}/${repository}`;
  }
  if (!PATH_RE.test(repository)) fail(input, 'invalid repository after applying the default registry or namespace');

  const name = `${registry}/${repository}`;
  if (name.length > MAX_NAME_LENGTH) fail(input, `repository name must not be more than ${MAX_NAME_LENGTH} characters`);

  const ref: ImageReference = { input, registry, repository, name, explicitRegistry };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The normalized reference as text: `name[:tag][@digest]`. */
export function formatImageReference (ref: Pick<ImageReference, 'name' | 'tag' | 'digest'>): string {
  return ref.name + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}
