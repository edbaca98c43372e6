// The one owner of registry names. Three words, three things:
//   host    `host[:port]`, lower-case, Docker Hub's aliases folded to `docker.io`
//   prefix  a host with an optional path (`ghcr.io/team-a`), as registries.conf and policy write it
//   image   a repository name on a host (`docker.io/library/nginx`), see image-ref.ts
// Docker Hub's hosts and URLs are written here and nowhere else.

/** Docker Hub's canonical host, as Docker names images (`docker.io/library/nginx`). */
export const DOCKER_HUB = 'docker.io';
/** Every host name that is Docker Hub: the canonical one, the legacy index, the API host. */
export const DOCKER_HUB_HOSTS: readonly string[] = [DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io'];
/** Docker Hub's registry API, where Docker sends `docker.io` requests. */
export const DOCKER_HUB_API_URL = 'https://registry-1.docker.io';
/** The key `docker login` writes for Docker Hub in a docker config. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';
/** The namespace Docker puts one-component Docker Hub names in (`nginx` → `library/nginx`). */
export const OFFICIAL_NAMESPACE = 'library';

const DOCKER_HUB_ALIASES = new Set(DOCKER_HUB_HOSTS);

// distribution/reference's grammar for hosts and repository paths
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;

/** `host[:port]` as distribution/reference accepts it (any case; IPv6 in brackets). */
export const HOST_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
/** A repository path: lower-case components separated by `/`. */
export const PATH_RE = new RegExp(`^${REMOTE_NAME}$`);

/**
 * The host key of `host[:port]`: lower-cased, and Docker Hub's aliases (without a port)
 * folded to `docker.io`, as the kubelet keyring and Docker treat them as one registry.
 */
export function canonicalHost (host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

/** Text without a leading `http://` or `https://` (any case). */
export function stripScheme (text: string): string {
  return text.replace(/^https?:\/\//i, '');
}

/**
 * Docker's rule (splitDockerDomain) for the first component of an image name: it is a
 * host when it holds `.` or `:`, is `localhost`, or is not lower-case; else the name is
 * a Docker Hub repository.
 */
export function isHostComponent (component: string): boolean {
  return component === 'localhost' || /[.:]/.test(component) || component.toLowerCase() !== component;
}

/** Splits `host[:port][/path]` at the first `/`. */
export function splitPrefix (prefix: string): { host: string, path: string } {
  const slash = prefix.indexOf('/');
  return slash < 0 ? { host: prefix, path: '' } : { host: prefix.slice(0, slash), path: prefix.slice(slash + 1) };
}

/**
 * A prefix as written (registries.conf, a policy rule, a request) checked and normalized:
 * surrounding space and trailing `/` removed, host lower-cased, Docker Hub's aliases kept
 * as written. Undefined when it is not `host[:port]` with an optional repository path.
 */
export function normalizePrefix (text: string): string | undefined {
  const { host, path } = splitPrefix(text.trim().replace(/\/+$/, ''));
  if (!HOST_RE.test(host)) return undefined;
  if (path !== '' && !PATH_RE.test(path)) return undefined;
  return path === '' ? host.toLowerCase() : `${host.toLowerCase()}/${path}`;
}

/**
 * The comparison key of a prefix, URL or host: scheme and trailing `/` removed, host
 * canonical (`https://Index.Docker.io/library/` → `docker.io/library`). Two prefixes name
 * the same images exactly when their keys are equal.
 */
export function canonicalPrefix (text: string): string {
  const { host, path } = splitPrefix(stripScheme(text.trim()).replace(/\/+$/, ''));
  const h = canonicalHost(host);
  return path === '' ? h : `${h}/${path}`;
}

/** The API URL Docker infers from a host: `https://<host>`, Docker Hub's at registry-1. */
export function inferApiUrl (host: string): string {
  const h = canonicalHost(host);
  return h === DOCKER_HUB ? DOCKER_HUB_API_URL : `https://${h}`;
}
