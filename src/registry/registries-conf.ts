// registries.conf, the upstream Argo CD Image Updater format: every field, its shape checked
// with one TypeBox schema, then its values. Credential specs stay text here; they are
// parsed by credentials/registry-credentials.ts.
import { X509Certificate } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { parseDuration } from '../config/duration.js';
import { readConfigFileSync } from '../config/watch.js';
import { ConfigError } from '../errors.js';
import { parseProxyUrl } from '../transport/proxy.js';
import { PATH_RE, canonicalPrefix, normalizePrefix } from './names.js';

export const MAX_REGISTRIES_CONF_BYTES = 1024 * 1024;
export const MAX_CA_BYTES = 1024 * 1024;
export const DEFAULT_LIMIT = 20;
export const TAG_SORT_MODES = ['latest-first', 'latest-last', 'none'] as const;
export type TagSortMode = typeof TAG_SORT_MODES[number];

export interface RegistryEntry {
  name: string
  /** host[:port][/path]; host lower-cased, no trailing slash (see names.ts) */
  prefix: string
  apiUrl?: string
  /** the credential reference as written; parsed in credentials/ */
  credentials?: string
  credsExpireMs?: number
  defaultns?: string
  default: boolean
  insecure: boolean
  /** TLS trust, checked to be PEM certificates at load; never set with `insecure` */
  caFile?: string
  caData?: string
  limit: number
  tagsortmode?: TagSortMode
  /** upstream's `ping` flag, kept for compatibility */
  ping?: boolean
  /** the proxy for this registry instead of HTTPS_PROXY/HTTP_PROXY: a URL (may carry user info: never shown), or `none` for direct */
  proxy?: string
}

export interface RegistriesConfig {
  source: string
  registries: RegistryEntry[]
}

// A scalar that upstream (yaml.v2) reads into a string field: its source text is taken.
const Text = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
const Flag = Type.Union([Type.Boolean(), Type.Null()]);

export const RegistryEntrySchema = Type.Object({
  name: Type.Optional(Text),
  prefix: Type.Optional(Text),
  api_url: Type.Optional(Text),
  credentials: Type.Optional(Text),
  credsexpire: Type.Optional(Type.Union([Type.String(), Type.Literal(0), Type.Null()])),
  defaultns: Type.Optional(Text),
  default: Type.Optional(Flag),
  insecure: Type.Optional(Flag),
  ca_file: Type.Optional(Text),
  ca_data: Type.Optional(Text),
  limit: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()])),
  tagsortmode: Type.Optional(Text),
  ping: Type.Optional(Flag),
  proxy: Type.Optional(Text)
}, { additionalProperties: false });

/** The file; an empty one (no document, or `registries:` with no list) is an empty configuration. */
export const RegistriesConfSchema = Type.Object({
  registries: Type.Optional(Type.Array(RegistryEntrySchema))
}, { additionalProperties: false });

type RawEntry = Static<typeof RegistryEntrySchema>;

const FIELD_SHAPE: Record<keyof RawEntry, string> = {
  name: 'must be a string',
  prefix: 'must be a string',
  api_url: 'must be a string',
  credentials: 'must be a string',
  credsexpire: 'must be a Go duration such as 90s, 5m or 12h',
  defaultns: 'must be a string',
  default: 'must be a boolean (true/false, yes/no)',
  insecure: 'must be a boolean (true/false, yes/no)',
  ca_file: 'must be a string',
  ca_data: 'must be a string',
  limit: 'must be an integer greater than 0 (requests per second)',
  tagsortmode: 'must be a string',
  ping: 'must be a boolean (true/false, yes/no)',
  proxy: 'must be a proxy URL such as http://proxy.example.com:3128, or none'
};

/** Shows a key or short value in a message, never long or multi-line text. */
function quote (text: string): string {
  const s = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(s);
}

/** How an entry is named in messages: `registries[1] ("Quay")`. */
export function entryLabel (index: number, name: unknown): string {
  return typeof name === 'string' || typeof name === 'number' ? `registries[${index}] (${quote(String(name))})` : `registries[${index}]`;
}

/** Whether text is one or more PEM certificates and nothing else. */
function isPemCertificates (pem: string): boolean {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks === null) return false;
  if (pem.replace(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g, '').trim() !== '') return false;
  try {
    for (const block of blocks) new X509Certificate(block);
    return true;
  } catch {
    return false;
  }
}

/** Reads a CA file (a regular file, bounded) and checks it; returns what is wrong, never its content. */
function checkCaFile (path: string): string | undefined {
  if (!isAbsolute(path)) return 'must be an absolute path';
  let text: string;
  try {
    text = readConfigFileSync(path, MAX_CA_BYTES).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTREG') return (err as Error).message;
    return code === 'EFBIG' ? `${path} is larger than 1 MiB` : `cannot read ${path} (${code ?? 'error'})`;
  }
  return isPemCertificates(text) ? undefined : `${path} does not hold PEM certificates`;
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
  const lineOf = (path: Array<string | number>, key = false): string => {
    const node = nodeAt(doc, path, key);
    const offset = node?.range?.[0];
    return offset === undefined ? '' : ` (line ${lineCounter.linePos(offset).line})`;
  };

  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? null;
  if (raw === null || raw === '') return { source, registries: [] };
  if (typeof raw === 'object' && (raw as { registries?: unknown }).registries === null) delete (raw as { registries?: unknown }).registries;
  const error = Value.Errors(RegistriesConfSchema, raw).First();
  if (error !== undefined) bad(shapeMessage(error.path, raw, lineOf));
  const list = (raw as Static<typeof RegistriesConfSchema>).registries ?? [];

  const registries: RegistryEntry[] = [];
  const prefixes = new Map<string, string>();
  let defaultName: string | undefined;
  list.forEach((item, index) => {
    const label = entryLabel(index, item.name);
    const err = (key: keyof RawEntry, message: string): never => bad(`${label}: ${key}: ${message}${lineOf(['registries', index, key])}`);
    // a non-string scalar in a string field is read from its source text, as yaml.v2 does
    const str = (key: keyof RawEntry): string | undefined => {
      const v = item[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v === 'string') return v;
      return (nodeAt(doc, ['registries', index, key]) as { source?: string } | undefined)?.source ?? String(v);
    };

    const name = str('name');
    if (name === undefined || name.trim() === '') return err('name', 'is required');
    const rawPrefix = str('prefix');
    if (rawPrefix === undefined || rawPrefix.trim() === '') return err('prefix', 'is required');
    const prefix = normalizePrefix(rawPrefix);
    if (prefix === undefined) {
      return err('prefix', 'must be a registry host with an optional port and path, e.g. ghcr.io or registry.example.com:5000/team');
    }
    const key = canonicalPrefix(prefix);
    const other = prefixes.get(key);
    if (other !== undefined) return err('prefix', `must be unique; ${other} has the same prefix`);
    prefixes.set(key, label);

    const entry: RegistryEntry = { name, prefix, default: item.default === true, insecure: item.insecure === true, limit: item.limit ?? DEFAULT_LIMIT };

    const apiUrl = str('api_url');
    if (apiUrl !== undefined && apiUrl !== '') {
      let url: URL | undefined;
      try { url = new URL(apiUrl); } catch { url = undefined; }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
        return err('api_url', 'must be an http or https URL');
      }
      if (url.username !== '' || url.password !== '') return err('api_url', 'must not carry user info');
      if (url.search !== '' || url.hash !== '') return err('api_url', 'must not carry a query or fragment');
      entry.apiUrl = `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
    }

    const credentials = str('credentials');
    if (credentials !== undefined && credentials !== '') entry.credentials = credentials;

    if (item.credsexpire !== undefined && item.credsexpire !== null) {
      let ms: number | undefined;
      try { ms = parseDuration(String(item.credsexpire)); } catch { ms = undefined; }
      if (ms === undefined) return err('credsexpire', FIELD_SHAPE.credsexpire);
      if (ms > 0) entry.credsExpireMs = ms;
    }

    const defaultns = str('defaultns');
    if (defaultns !== undefined && defaultns !== '') {
      if (!PATH_RE.test(defaultns)) return err('defaultns', 'must be a repository namespace such as library');
      entry.defaultns = defaultns;
    }

    // TLS trust is checked now, so that a bad CA fails the load and not a later request;
    // with `insecure` nothing is verified, so nothing is read
    if (!entry.insecure) {
      const caFile = str('ca_file');
      if (caFile !== undefined && caFile !== '') {
        const problem = checkCaFile(caFile);
        if (problem !== undefined) return err('ca_file', problem);
        entry.caFile = caFile;
      }
      const caData = str('ca_data');
      if (caData !== undefined && caData !== '') {
        if (!isPemCertificates(caData)) return err('ca_data', 'must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)');
        entry.caData = caData;
      }
    }

    const tagsortmode = str('tagsortmode');
    if (tagsortmode !== undefined && tagsortmode !== '') {
      const mode = tagsortmode.toLowerCase();
      if (!(TAG_SORT_MODES as readonly string[]).includes(mode)) {
        return err('tagsortmode', `unknown value ${quote(tagsortmode)} (use ${TAG_SORT_MODES.join(', ')})`);
      }
      entry.tagsortmode = mode as TagSortMode;
    }

    if (item.ping !== undefined) entry.ping = item.ping === true;

    const proxy = str('proxy');
    if (proxy !== undefined && proxy.trim() !== '') {
      if (proxy.trim().toLowerCase() === 'none') entry.proxy = 'none';
      else {
        try { entry.proxy = parseProxyUrl(proxy.trim()).href.replace(/\/$/, ''); } catch (e) { return err('proxy', (e as Error).message); }
      }
    }

    if (entry.default) {
      if (defaultName !== undefined) return err('default', `only one registry may be the default; ${defaultName} already is`);
      defaultName = label;
    }
    registries.push(entry);
  });
  return { source, registries };
}

function nodeAt (doc: Document, path: Array<string | number>, key = false): { range?: [number, number, number] | null } | undefined {
  if (!key) return doc.getIn(path, true) as { range?: [number, number, number] | null } | undefined;
  // the key node of the last segment, to point at an unknown key
  const parent = doc.getIn(path.slice(0, -1), true) as { items?: Array<{ key?: { value?: unknown, range?: [number, number, number] } }> } | undefined;
  return parent?.items?.find((p) => p.key?.value === path[path.length - 1])?.key;
}

/** The message for the first place the file does not fit the schema, naming key and registry. */
function shapeMessage (pointer: string, doc: unknown, lineOf: (path: Array<string | number>, key?: boolean) => string): string {
  const path = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'the top level must be a mapping with a "registries" key';
  const [top, index, key] = path;
  if (top !== 'registries') return `unknown top-level key ${quote(top ?? '?')}${lineOf([top ?? ''], true)}`;
  if (index === undefined) return '"registries" must be a list';
  const i = Number(index);
  const entry = (doc as { registries: unknown[] }).registries[i];
  if (key === undefined || typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return `registries[${i}]: must be a mapping${lineOf(['registries', i])}`;
  }
  const label = entryLabel(i, (entry as { name?: unknown }).name);
  if (!Object.hasOwn(FIELD_SHAPE, key)) return `${label}: unknown key ${quote(key)}${lineOf(['registries', i, key], true)}`;
  return `${label}: ${key}: ${FIELD_SHAPE[key as keyof RawEntry]}${lineOf(['registries', i, key])}`;
}
