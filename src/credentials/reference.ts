// Credential references (docs/references.md): parsing and canonical text form of specs, and the
// `<username>:<password>` format that secret:, env: and ext: sources yield.
import { posix } from 'node:path';
import { InvalidCredentialSpec, MalformedCredentials } from '../errors.js';
import { formatCloudReference, parseCloudReference } from './cloud/options.js';
import { CLOUD_PROVIDERS, isCloudProvider, type CredentialReference, type ParsedSpec, type SourceType } from './types.js';

export const MAX_SPEC_LENGTH = 1024;

const TYPE_WORDS: readonly SourceType[] = ['pullsecret', 'secret', 'env', 'ext', 'serviceaccount', ...CLOUD_PROVIDERS];
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// A registries.conf prefix: host (DNS name, IPv4 or [IPv6]) with optional port and path.
const REGISTRY_PREFIX = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*)(:[0-9]{1,5})?(\/[-._a-z0-9]+)*\/?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid (message: string): Error {
  return new InvalidCredentialSpec(message);
}

/**
 * Parse a credential reference. With `allowRegistryPrefix` (registries.conf), a
 * `<prefix>=<spec>` form is accepted; the text before the first `=` is only taken for a
 * prefix when it is one, so that `ext:/opt/get=creds.sh` stays an ext path (upstream
 * splits at the first `=` unconditionally).
 */
export function parseCredentialSpec (spec: string, opts: { allowRegistryPrefix?: boolean } = {}): ParsedSpec {
  if (typeof spec !== 'string' || spec.length === 0) throw invalid('empty credential reference');
  if (spec.length > MAX_SPEC_LENGTH) {
    throw invalid(`credential reference is ${spec.length} characters long, at most ${MAX_SPEC_LENGTH} are allowed`);
  }
  if (CONTROL.test(spec)) throw invalid('the credential reference contains control characters');
  if (spec.trim() !== spec) throw invalid('the credential reference has leading or trailing whitespace');

  let prefix: string | undefined;
  let body = spec;
  const eq = spec.indexOf('=');
  if (eq >= 0) {
    const candidate = spec.slice(0, eq);
    const rest = spec.slice(eq + 1);
    if (eq === 0) throw invalid(`empty registry prefix before "="`);
    if (REGISTRY_PREFIX.test(candidate)) {
      if (opts.allowRegistryPrefix !== true) {
        throw invalid(`a registry prefix (<prefix>=<spec>) is only allowed in registries.conf`);
      }
      if (rest === '') throw invalid(`empty credential reference after "${candidate}="`);
      prefix = candidate;
      body = rest;
    }
  }

  const reference = parseReference(body);
  return prefix === undefined ? { reference } : { prefix, reference };
}

// Messages never quote the spec or an invalid part of it: a mistyped or pasted
// reference may be a `user:password` pair.
function parseReference (body: string): CredentialReference {
  const colon = body.indexOf(':');
  if (colon < 0) {
    throw invalid(`missing source type, expected <type>:<value> with type pullsecret, secret, env, ext, serviceaccount, ecr, gcp or acr`);
  }
  const word = body.slice(0, colon);
  const value = body.slice(colon + 1);
  if (word === '') throw invalid('empty source type before ":"');
  const type = word.toLowerCase() as SourceType;
  if (!TYPE_WORDS.includes(type)) {
    throw invalid(`unknown source type, expected pullsecret, secret, env, ext, serviceaccount, ecr, gcp or acr`);
  }
  // `ecr:`, `gcp:` and `acr:` stand alone or take key=value options
  if (isCloudProvider(type)) return parseCloudReference(type, value);
  if (value === '') throw invalid(`empty value after "${type}:"`);

  switch (type) {
    case 'pullsecret':
    case 'serviceaccount': {
      if (value.includes('#')) {
        throw invalid(`${type} takes <namespace>/<name> without a #field`);
      }
      const { namespace, name } = parseNamespacedName(value, type === 'pullsecret' ? 'Secret' : 'ServiceAccount');
      return { type, namespace, name };
    }
    case 'secret': {
      const hash = value.indexOf('#');
      if (hash < 0) throw invalid(`missing #<field>, expected secret:<namespace>/<name>#<field>`);
      const field = value.slice(hash + 1);
      if (field === '') throw invalid(`empty field after "#"`);
      if (field.includes('#')) throw invalid(`more than one "#"`);
      if (field.length > 253) throw invalid(`field name longer than 253 characters`);
      if (!SECRET_KEY.test(field) || field === '.' || field === '..') {
        throw invalid(`the field is not a valid Secret data key (letters, digits, "-", "_", ".")`);
      }
      const { namespace, name } = parseNamespacedName(value.slice(0, hash), 'Secret');
      return { type, namespace, name, field };
    }
    case 'env':
      if (!ENV_NAME.test(value)) {
        throw invalid(`the environment variable name is not valid ([A-Za-z_][A-Za-z0-9_]*)`);
      }
      return { type, variable: value };
    case 'ext':
      if (!value.startsWith('/')) throw invalid(`ext path must be absolute`);
      if (value === '/' || value.endsWith('/')) throw invalid(`ext path names a directory, not a file`);
      // policy globs match the path as written, so it must be the path that runs
      if (posix.normalize(value) !== value) throw invalid(`ext path is not normalized (no "." or ".." segments, no "//")`);
      return { type, path: value };
  }
}

function parseNamespacedName (value: string, kind: string): { namespace: string, name: string } {
  const slash = value.indexOf('/');
  if (slash < 0) throw invalid(`missing namespace, expected <namespace>/<name>`);
  const namespace = value.slice(0, slash);
  const name = value.slice(slash + 1);
  if (namespace === '') throw invalid(`empty namespace before "/"`);
  if (name === '') throw invalid(`empty ${kind} name after "/"`);
  if (name.includes('/')) throw invalid(`more than one "/", expected <namespace>/<name>`);
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
    throw invalid(`the namespace is not a valid DNS-1123 label (lower-case letters, digits, "-", at most 63)`);
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw invalid(`the ${kind} name is not a valid DNS-1123 subdomain (lower-case letters, digits, "-", ".", at most 253)`);
  }
  return { namespace, name };
}

/** Canonical text form of a reference: lower-case type word, as parseCredentialSpec accepts it. */
export function formatReference (ref: CredentialReference): string {
  switch (ref.type) {
    case 'pullsecret': return `pullsecret:${ref.namespace}/${ref.name}`;
    case 'secret': return `secret:${ref.namespace}/${ref.name}#${ref.field}`;
    case 'env': return `env:${ref.variable}`;
    case 'ext': return `ext:${ref.path}`;
    case 'serviceaccount': return `serviceaccount:${ref.namespace}/${ref.name}`;
    case 'ecr':
    case 'gcp':
    case 'acr': return formatCloudReference(ref);
  }
}

/**
 * Split `<username>:<password>` at the first `:` (the password may contain `:`), after
 * removing one trailing newline. `what` names the source in errors (e.g. "secret
 * argocd/x field creds"); the value itself never appears in a message.
 */
export function parseUserPass (value: string, what: string): { username: string, password: string } {
  let text = value;
  if (text.endsWith('\r\n')) text = text.slice(0, -2);
  else if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text === '') throw new MalformedCredentials(`${what} is empty, expected <username>:<password>`);
  if (text.includes('\n') || text.includes('\r')) {
    throw new MalformedCredentials(`${what} spans more than one line, expected <username>:<password>`);
  }
  const colon = text.indexOf(':');
  if (colon < 0) throw new MalformedCredentials(`${what} has no ":", expected <username>:<password>`);
  const username = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (username === '') throw new MalformedCredentials(`${what} has an empty username, expected <username>:<password>`);
  if (password === '') throw new MalformedCredentials(`${what} has an empty password, expected <username>:<password>`);
  return { username, password };
}
