// registries.conf, the upstream Argo CD Image Updater format: every field, parsed strictly.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Pair } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseDuration } from './duration.js';
import { parseCredentialSpec } from '../credentials/reference.js';
import type { ParsedSpec } from '../credentials/types.js';
import { canonicalRegistry, DOMAIN_RE, PATH_RE } from '../registry/image-ref.js';

export const MAX_REGISTRIES_CONF_BYTES = 1024 * 1024;
export const DEFAULT_LIMIT = 20;
export const TAG_SORT_MODES = ['latest-first', 'latest-last', 'none'] as const;
export type TagSortMode = typeof TAG_SORT_MODES[number];

export interface RegistryEntry {
  name: string
  /** host[:port][/path]; host lower-cased, no trailing slash */
  prefix: string
  apiUrl?: string
  /** the credential reference as written */
  credentials?: string
  credentialSpec?: ParsedSpec
  credsExpireMs?: number
  defaultns?: string
  default: boolean
  insecure: boolean
  caFile?: string
  caData?: string
  limit: number
  tagsortmode?: TagSortMode
  /** upstream's `ping` flag, kept for compatibility */
  ping?: boolean
}

export interface RegistriesConfig {
  source: string
  registries: RegistryEntry[]
}

const KEYS = new Set([
  'name', 'prefix', 'api_url', 'credentials', 'credsexpire', 'defaultns', 'default',
  'insecure', 'ca_file', 'ca_data', 'limit', 'tagsortmode', 'ping'
]);

/** Shows a key or short value in a message, never long or multi-line text. */
function quote (text: string): string {
  const s = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(s);
}

/** Removes the spec text from a parser message: a mistyped spec may hold a password. */
function redact (message: string, spec: string): string {
  let out = message;
  const colon = spec.indexOf(':');
  for (const part of [spec, colon >= 0 ? spec.slice(colon + 1) : '']) {
    if (part.length >= 3) out = out.split(part).join('***');
  }
  return out;
}

/** Splits and checks a prefix: host[:port] with an optional path of repository components. */
export function normalizePrefix (prefix: string): string | undefined {
  const trimmed = prefix.trim().replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const host = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const path = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (!DOMAIN_RE.test(host)) return undefined;
  if (path !== '' && !PATH_RE.test(path)) return undefined;
  return path === '' ? host.toLowerCase() : `${host.toLowerCase()}/${path}`;
}

/** The prefix with Docker Hub's aliases folded, for comparing prefixes. */
export function canonicalPrefix (prefix: string): string {
  const slash = prefix.indexOf('/');
  const host = slash < 0 ? prefix : prefix.slice(0, slash);
  const rest = slash < 0 ? '' : prefix.slice(slash);
  const h = canonicalRegistry(host);
  return (h === 'registry-1.docker.io' ? 'docker.io' : h) + rest;
}

export function parseRegistriesConf (text: string, source: string): RegistriesConfig {
  const bad = (message: string): never => { throw new ConfigError(source, message); };
  if (Buffer.byteLength(text, 'utf8') > MAX_REGISTRIES_CONF_BYTES) bad('file is larger than 1 MiB');

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', prettyErrors: false, lineCounter, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    // YAML's own messages quote no source text with prettyErrors off; add the position only
    const pos = lineCounter.linePos(firstError.pos[0]);
    bad(`invalid YAML at line ${pos.line}, column ${pos.col}: ${firstError.message}`);
  }
  const lineOf = (node: YamlNode | null | undefined): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? '' : ` (line ${lineCounter.linePos(offset).line})`;
  };

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    return { source, registries: [] };
  }
  if (!isMap(root)) bad('the top level must be a mapping with a "registries" key');
  let list: YamlNode | null = null;
  for (const pair of (root as { items: Pair[] }).items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '?';
    if (key !== 'registries') bad(`unknown top-level key ${quote(key)}${lineOf(pair.key as YamlNode)}`);
    list = pair.value as YamlNode | null;
  }
  if (list === null || (isScalar(list) && list.value === null)) return { source, registries: [] };
  if (!isSeq(list)) bad('"registries" must be a list');

  const registries: RegistryEntry[] = [];
  const prefixes = new Map<string, string>();
  let defaultName: string | undefined;
  (list as { items: unknown[] }).items.forEach((item, index) => {
    const node = item as YamlNode;
    if (!isMap(node)) bad(`registries[${index}]: must be a mapping${lineOf(node)}`);
    const pairs = (node as { items: Pair[] }).items;
    const nameNode = pairs.find((p) => isScalar(p.key) && p.key.value === 'name')?.value;
    const label = isScalar(nameNode) && nameNode.value !== null
      ? `registries[${index}] (${quote(String(nameNode.value))})`
      : `registries[${index}]`;
    const err = (key: string, message: string, at?: YamlNode | null): never =>
      bad(`${label}: ${key}: ${message}${lineOf(at ?? node)}`);

    const values = new Map<string, YamlNode | null>();
    for (const pair of pairs) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (!KEYS.has(key)) bad(`${label}: unknown key ${quote(key)}${lineOf(pair.key as YamlNode)}`);
      values.set(key, pair.value as YamlNode | null);
    }

    // Scalars become strings from their source text, as Go's yaml.v2 does for string fields
    const str = (key: string): string | undefined => {
      const v = values.get(key);
      if (v === undefined || v === null) return undefined;
      if (!isScalar(v)) return err(key, 'must be a string', v);
      if (v.value === null) return undefined;
      return typeof v.value === 'string' ? v.value : (v.source ?? String(v.value));
    };
    const bool = (key: string): boolean => {
      const v = values.get(key);
      if (v === undefined || v === null || (isScalar(v) && v.value === null)) return false;
      if (!isScalar(v) || typeof v.value !== 'boolean') return err(key, 'must be a boolean (true/false, yes/no)', v);
      return v.value;
    };

    const name = str('name');
    if (name === undefined || name.trim() === '') return err('name', 'is required');
    const rawPrefix = str('prefix');
    if (rawPrefix === undefined || rawPrefix.trim() === '') return err('prefix', 'is required');
    const prefix = normalizePrefix(rawPrefix);
    if (prefix === undefined) {
      return err('prefix', 'must be a registry host with an optional port and path, e.g. ghcr.io or registry.example.com:5000/team', values.get('prefix'));
    }
    const canonical = canonicalPrefix(prefix);
    const other = prefixes.get(canonical);
    if (other !== undefined) return err('prefix', `must be unique; ${other} has the same prefix`, values.get('prefix'));
    prefixes.set(canonical, label);

    const entry: RegistryEntry = { name, prefix, default: bool('default'), insecure: bool('insecure'), limit: DEFAULT_LIMIT };

    const apiUrl = str('api_url');
    if (apiUrl !== undefined && apiUrl !== '') {
      let url: URL | undefined;
      try { url = new URL(apiUrl); } catch { url = undefined; }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
        return err('api_url', 'must be an http or https URL', values.get('api_url'));
      }
      if (url.username !== '' || url.password !== '') return err('api_url', 'must not carry user info', values.get('api_url'));
      if (url.search !== '' || url.hash !== '') return err('api_url', 'must not carry a query or fragment', values.get('api_url'));
      entry.apiUrl = `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
    }

    const credentials = str('credentials');
    if (credentials !== undefined && credentials !== '') {
      try {
        entry.credentialSpec = parseCredentialSpec(credentials, { allowRegistryPrefix: true });
      } catch (e) {
        const inner = redact(e instanceof Error ? e.message : '', credentials);
        const message = inner.startsWith('invalid credential reference') ? inner : `invalid credential reference: ${inner}`;
        return err('credentials', message, values.get('credentials'));
      }
      entry.credentials = credentials;
    }

    const credsexpire = values.get('credsexpire');
    if (credsexpire !== undefined && credsexpire !== null && !(isScalar(credsexpire) && credsexpire.value === null)) {
      let ms: number | undefined;
      if (isScalar(credsexpire) && typeof credsexpire.value === 'string') {
        try { ms = parseDuration(credsexpire.value); } catch { ms = undefined; }
      } else if (isScalar(credsexpire) && credsexpire.value === 0) {
        ms = 0;
      }
      if (ms === undefined) return err('credsexpire', 'must be a Go duration such as 90s, 5m or 12h', credsexpire);
      if (ms > 0) entry.credsExpireMs = ms;
    }

    const defaultns = str('defaultns');
    if (defaultns !== undefined && defaultns !== '') {
      if (!PATH_RE.test(defaultns)) return err('defaultns', 'must be a repository namespace such as library', values.get('defaultns'));
      entry.defaultns = defaultns;
    }
    const caFile = str('ca_file');
    if (caFile !== undefined && caFile !== '') entry.caFile = caFile;
    const caData = str('ca_data');
    if (caData !== undefined && caData !== '') entry.caData = caData;

    const limit = values.get('limit');
    if (limit !== undefined && limit !== null && !(isScalar(limit) && limit.value === null)) {
      if (!isScalar(limit) || typeof limit.value !== 'number' || !Number.isSafeInteger(limit.value) || limit.value <= 0) {
        return err('limit', 'must be an integer greater than 0 (requests per second)', limit);
      }
      entry.limit = limit.value;
    }

    const tagsortmode = str('tagsortmode');
    if (tagsortmode !== undefined && tagsortmode !== '') {
      const mode = tagsortmode.toLowerCase();
      if (!(TAG_SORT_MODES as readonly string[]).includes(mode)) {
        return err('tagsortmode', `unknown value ${quote(tagsortmode)} (use ${TAG_SORT_MODES.join(', ')})`, values.get('tagsortmode'));
      }
      entry.tagsortmode = mode as TagSortMode;
    }

    if (values.has('ping')) entry.ping = bool('ping');

    if (entry.default) {
      if (defaultName !== undefined) return err('default', `only one registry may be the default; ${defaultName} already is`, values.get('default'));
      defaultName = label;
    }
    registries.push(entry);
  });
  return { source, registries };
}
