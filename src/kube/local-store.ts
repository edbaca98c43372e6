// The Secret store of local mode: Secret and ServiceAccount manifests in a folder
// (not its subfolders), held in memory and watched like the API.
import { createHmac, randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Type, type Static } from '@sinclair/typebox';
import { checkShape, isRecord } from '../config/schema.js';
import { ConfigFileError, readConfigFile } from '../config/watch.js';
import { ConfigError } from '../errors.js';
import { setOwn } from '../own.js';
import type {
  ChangeKind, ChangeListener, SecretObject, SecretStore, ServiceAccountObject, StoreStatus
} from './secret-store.js';

export interface StoreLogger {
  warn (obj: object, msg: string): void
  info? (obj: object, msg: string): void
}

export interface LocalSecretStoreOptions {
  dir: string
  defaultNamespace: string
  log?: StoreLogger
  /** polling interval, the fallback when fs.watch misses an event; 500 ms */
  intervalMs?: number
  /** use fs.watch besides polling; true */
  watch?: boolean
}

export const MAX_FILE_BYTES = 1024 * 1024;
const DEBOUNCE_MS = 50;
const EXTENSIONS = /\.(ya?ml|json)$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

interface Entry<T> { value: T, fingerprint: string, file: string }
interface FileObjects {
  secrets: Array<Entry<SecretObject>>
  serviceAccounts: Array<Entry<ServiceAccountObject>>
  problems: string[]
}
type FileResult = FileObjects | { unreadable: string, keepLast: boolean };

export class LocalSecretStore implements SecretStore {
  private readonly dir: string;
  private readonly defaultNamespace: string;
  private readonly log: StoreLogger | undefined;
  private readonly intervalMs: number;
  private readonly useWatch: boolean;
  private secrets = new Map<string, Entry<SecretObject>>();
  private serviceAccounts = new Map<string, Entry<ServiceAccountObject>>();
  /** what each file held when it last parsed, kept while a later version does not parse */
  private lastGood = new Map<string, FileObjects>();
  /** size, times and inode of each file when it last parsed: an unchanged file is not read again */
  private stamps = new Map<string, string>();
  private currentProblems: string[] = [];
  private readonly listeners = new Set<ChangeListener>();
  private started = false;
  private closed = false;
  private lastSyncAt: string | undefined;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private signature = '';
  private loading: Promise<void> | undefined;
  private reloadAgain = false;
  private version = 0;

  constructor (opts: LocalSecretStoreOptions) {
    this.dir = opts.dir;
    this.defaultNamespace = opts.defaultNamespace;
    this.log = opts.log;
    this.intervalMs = opts.intervalMs ?? 500;
    this.useWatch = opts.watch ?? true;
  }

  async start (): Promise<void> {
    let info;
    try {
      info = await stat(this.dir);
    } catch {
      throw new ConfigError('LOCAL_SECRETS_DIR', `folder ${this.dir} does not exist`);
    }
    if (!info.isDirectory()) throw new ConfigError('LOCAL_SECRETS_DIR', `${this.dir} is not a folder`);
    await this.reload();
    this.started = true;
    this.log?.info?.({ dir: this.dir, secrets: this.secrets.size, serviceAccounts: this.serviceAccounts.size },
      'local secret store loaded');
    if (this.closed) return;
    this.startWatch();
    this.pollTimer = setInterval(() => { void this.poll() }, this.intervalMs);
    this.pollTimer.unref();
  }

  async getSecret (namespace: string, name: string): Promise<SecretObject | undefined> {
    const entry = this.secrets.get(key(namespace, name));
    return entry?.value;
  }

  async getServiceAccount (namespace: string, name: string): Promise<ServiceAccountObject | undefined> {
    const entry = this.serviceAccounts.get(key(namespace, name));
    return entry === undefined ? undefined : { ...entry.value, imagePullSecrets: [...entry.value.imagePullSecrets] };
  }

  onChange (listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener) };
  }

  status (): StoreStatus {
    const namespaces: StoreStatus['namespaces'] = {};
    const seen = new Set([this.defaultNamespace]);
    for (const e of this.secrets.values()) seen.add(e.value.namespace);
    for (const e of this.serviceAccounts.values()) seen.add(e.value.namespace);
    for (const ns of [...seen].sort()) {
      namespaces[ns] = this.lastSyncAt === undefined
        ? { synced: this.started }
        : { synced: this.started, lastSyncAt: this.lastSyncAt };
    }
    return { kind: 'local', synced: this.started, namespaces };
  }

  /** Documents and files that were skipped at the last load, each naming file and document; never a value. */
  problems (): string[] {
    return [...this.currentProblems];
  }

  async close (): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    await this.loading;
  }

  /** Reads the folder again now; concurrent calls share one load and a call during a load queues one more. */
  async reload (): Promise<void> {
    if (this.loading !== undefined) {
      this.reloadAgain = true;
      return await this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          await this.load();
        } while (this.reloadAgain && !this.closed);
      } finally {
        this.loading = undefined;
      }
    })();
    return await this.loading;
  }

  private startWatch (): void {
    if (!this.useWatch || this.watcher !== undefined || this.closed) return;
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => { this.scheduleReload() });
      this.watcher.on('error', () => {
        // The folder went away or the platform gave up: polling carries on and re-arms the watch.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
  }

  private scheduleReload (): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => { void this.reload().catch(() => {}) }, DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private async poll (): Promise<void> {
    if (this.closed || this.loading !== undefined) return;
    const sig = await this.folderSignature();
    if (sig !== undefined && sig !== this.signature) this.scheduleReload();
    if (sig !== undefined) this.startWatch();
  }

  private async fileStamp (name: string): Promise<string | undefined> {
    try {
      const s = await stat(join(this.dir, name));
      return `${s.size}\0${s.mtimeMs}\0${s.ctimeMs}\0${s.ino}`;
    } catch {
      return undefined;
    }
  }

  /** Names, sizes and times of the manifest files: cheap to compare, no file is read. */
  private async folderSignature (): Promise<string | undefined> {
    let names: string[];
    try {
      names = manifestNames(await readdir(this.dir));
    } catch {
      return undefined;
    }
    const parts: string[] = [];
    for (const name of names) {
      try {
        const s = await stat(join(this.dir, name));
        parts.push(`${name}\0${s.size}\0${s.mtimeMs}\0${s.ctimeMs}\0${s.ino}`);
      } catch {
        parts.push(`${name}\0gone`);
      }
    }
    return parts.join('\n');
  }

  private async load (): Promise<void> {
    const problems: string[] = [];
    let names: string[];
    try {
      names = manifestNames(await readdir(this.dir));
    } catch (err) {
      const msg = `folder ${this.dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); the last loaded Secrets are kept`;
      this.log?.warn({ dir: this.dir }, msg);
      this.currentProblems = [msg];
      return;
    }
    const signature = await this.folderSignature();
    const secrets = new Map<string, Entry<SecretObject>>();
    const serviceAccounts = new Map<string, Entry<ServiceAccountObject>>();
    const lastGood = new Map<string, FileObjects>();
    const stamps = new Map<string, string>();
    for (const name of names) {
      // a file whose stamp has not changed since it parsed is not read nor parsed again: a change
      // of one Secret costs the parse of its own file only (taken before the read: a write in
      // between changes it again, so the next reload reads the file)
      const stamp = await this.fileStamp(name);
      const unchanged = stamp !== undefined && this.stamps.get(name) === stamp ? this.lastGood.get(name) : undefined;
      const result = unchanged ?? await this.readManifestFile(name);
      let objects: FileObjects;
      if ('unreadable' in result) {
        const kept = result.keepLast ? this.lastGood.get(name) : undefined;
        const msg = kept === undefined ? result.unreadable : `${result.unreadable}; its last loaded version is kept`;
        this.log?.warn({ file: name }, msg);
        problems.push(msg);
        if (kept === undefined) continue;
        objects = kept;
      } else {
        objects = result;
        if (stamp !== undefined) stamps.set(name, stamp);
        for (const p of objects.problems) { this.log?.warn({ file: name }, p); problems.push(p) }
      }
      lastGood.set(name, objects);
      for (const e of objects.secrets) this.put(secrets, e, 'Secret', problems);
      for (const e of objects.serviceAccounts) this.put(serviceAccounts, e, 'ServiceAccount', problems);
    }
    if (this.closed) return;
    this.assignVersions(this.secrets, secrets);
    this.assignVersions(this.serviceAccounts, serviceAccounts);
    const previousSecrets = this.secrets;
    const previousAccounts = this.serviceAccounts;
    this.secrets = secrets;
    this.serviceAccounts = serviceAccounts;
    this.lastGood = lastGood;
    this.stamps = stamps;
    this.currentProblems = problems;
    this.signature = signature ?? '';
    this.lastSyncAt = new Date().toISOString();
    if (this.started) {
      this.emitChanges('secret', previousSecrets, secrets);
      this.emitChanges('serviceaccount', previousAccounts, serviceAccounts);
    }
  }

  private put<T extends { namespace: string, name: string }> (
    map: Map<string, Entry<T>>, entry: Entry<T>, kind: string, problems: string[]): void {
    const k = key(entry.value.namespace, entry.value.name);
    const before = map.get(k);
    if (before !== undefined) {
      const msg = `${kind} ${k} is defined in ${before.file} and ${entry.file}; the one in ${entry.file} is used`;
      this.log?.warn({ namespace: entry.value.namespace, name: entry.value.name }, msg);
      problems.push(msg);
    }
    map.set(k, entry);
  }

  /** resourceVersion: a counter bumped when the content changes (a content hash could help guess a weak secret). */
  private assignVersions<T extends { resourceVersion?: string }> (before: Map<string, Entry<T>>, after: Map<string, Entry<T>>): void {
    for (const [k, e] of after) {
      const prev = before.get(k);
      const resourceVersion = prev !== undefined && prev.fingerprint === e.fingerprint
        ? prev.value.resourceVersion
        : String(++this.version);
      after.set(k, { ...e, value: { ...e.value, resourceVersion } });
    }
  }

  private emitChanges<T extends { namespace: string, name: string }> (
    kind: ChangeKind, before: Map<string, Entry<T>>, after: Map<string, Entry<T>>): void {
    const changed: Array<Entry<T>> = [];
    for (const [k, e] of after) if (before.get(k)?.fingerprint !== e.fingerprint) changed.push(e);
    for (const [k, e] of before) if (!after.has(k)) changed.push(e);
    for (const e of changed) {
      for (const listener of [...this.listeners]) {
        try {
          listener(kind, e.value.namespace, e.value.name);
        } catch {
          this.log?.warn({ kind, namespace: e.value.namespace, name: e.value.name }, 'a change listener failed');
        }
      }
    }
  }

  private async readManifestFile (name: string): Promise<FileResult> {
    const path = join(this.dir, name);
    let text: string;
    try {
      text = (await readConfigFile(path, MAX_FILE_BYTES)).toString('utf8');
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err;
      if (err.code === 'ENOENT') return { secrets: [], serviceAccounts: [], problems: [] };
      // a FIFO, a device or a directory is refused without reading it; the last good version stays
      const why = err.code === 'EFBIG' ? `${err.reason} and is skipped` : err.reason;
      return { unreadable: `file ${name} ${why}`, keepLast: true };
    }
    const docs = parseDocuments(name, text);
    if (!Array.isArray(docs)) return docs;
    // a large file's parse and its checks are separate turns of the event loop, not one
    await new Promise((resolve) => setImmediate(resolve));
    const out: FileObjects = { secrets: [], serviceAccounts: [], problems: [] };
    docs.forEach((doc, i) => { this.collect(out, name, `document ${i}`, doc, true) });
    // and the fingerprints a third turn
    await new Promise((resolve) => setImmediate(resolve));
    for (const e of out.secrets) e.fingerprint = fingerprintOf(e.value);
    for (const e of out.serviceAccounts) e.fingerprint = fingerprintOf(e.value);
    return out;
  }

  private collect (out: FileObjects, file: string, where: string, doc: unknown, listAllowed: boolean): void {
    const at = `file ${file} ${where}`;
    if (doc === null || doc === undefined) return;
    if (!isRecord(doc)) { out.problems.push(`${at}: not an object, skipped`); return }
    const kind = doc.kind;
    if (kind === 'List' && listAllowed) {
      if (!Array.isArray(doc.items)) { out.problems.push(`${at}: List without items, skipped`); return }
      doc.items.forEach((item, j) => { this.collect(out, file, `${where} item ${j}`, item, false) });
      return;
    }
    if (kind !== 'Secret' && kind !== 'ServiceAccount') return;
    // a null field is an absent one, as the API server reads it
    const manifest = withoutNulls(doc);
    let head: Static<typeof ManifestHead>;
    try {
      head = checkShape(ManifestHead, manifest, `${at}: ${kind}`);
    } catch (err) {
      out.problems.push(`${(err as Error).message}, skipped`);
      return;
    }
    const meta = { name: head.metadata.name };
    const namespace = head.metadata.namespace ?? this.defaultNamespace;
    const label = `${at}: ${kind} ${namespace}/${meta.name}`;
    if (kind === 'Secret') {
      const secret = toSecret(manifest, namespace, meta.name, label);
      if (typeof secret === 'string') { out.problems.push(`${secret}, skipped`); return }
      // read-only, so that reads hand it out without copying every field (as the API store does)
      Object.freeze(secret.data);
      out.secrets.push({ value: secret, fingerprint: '', file });
    } else {
      const account = toServiceAccount(manifest, namespace, meta.name, label);
      if (typeof account === 'string') { out.problems.push(`${account}, skipped`); return }
      out.serviceAccounts.push({ value: account, fingerprint: '', file });
    }
  }
}

function key (namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function manifestNames (names: string[]): string[] {
  // Dot files are editor leftovers and the `..data` links of mounted volumes.
  return names.filter((n) => !n.startsWith('.') && EXTENSIONS.test(n)).sort();
}

const Metadata = Type.Object({
  name: Type.String({ minLength: 1 }),
  namespace: Type.Optional(Type.String({ minLength: 1 }))
}, { description: 'with a name' });

/** What every Secret and ServiceAccount manifest has; other fields are allowed and ignored. */
const ManifestHead = Type.Object({
  apiVersion: Type.Optional(Type.Literal('v1')),
  metadata: Metadata
});

const SecretManifest = Type.Object({
  type: Type.Optional(Type.String()),
  data: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: BASE64.source, description: 'base64' }))),
  stringData: Type.Optional(Type.Record(Type.String(), Type.String()))
});

const ServiceAccountManifest = Type.Object({
  imagePullSecrets: Type.Optional(Type.Array(Type.Object({ name: Type.String() }, { description: 'with a name' })))
});

function withoutNulls (doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (v === null) continue;
    out[k] = k === 'metadata' && isRecord(v) ? withoutNulls(v) : v;
  }
  return out;
}

/** The documents of a file, or why it does not parse; parser messages quote the file, so only codes and lines are kept. */
function parseDocuments (name: string, text: string): unknown[] | { unreadable: string, keepLast: boolean } {
  if (/\.json$/i.test(name)) {
    try {
      return [JSON.parse(text)];
    } catch {
      return { unreadable: `file ${name} is not valid JSON`, keepLast: true };
    }
  }
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  const out: unknown[] = [];
  for (const [i, doc] of docs.entries()) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const line = err.linePos?.[0]?.line;
      return { unreadable: `file ${name} document ${i} is not valid YAML (${err.code}${line === undefined ? '' : ` at line ${line}`})`, keepLast: true };
    }
    try {
      out.push(doc.toJS({ maxAliasCount: 100 }));
    } catch {
      return { unreadable: `file ${name} document ${i} cannot be read (too many aliases?)`, keepLast: true };
    }
  }
  return out;
}

/** The Secret, or what is wrong with it (naming keys, never values). */
function toSecret (doc: Record<string, unknown>, namespace: string, name: string, label: string): Omit<SecretObject, 'resourceVersion'> | string {
  let shape: Static<typeof SecretManifest>;
  try {
    shape = checkShape(SecretManifest, doc, label);
  } catch (err) {
    return (err as Error).message;
  }
  const data: Record<string, Buffer> = {};
  for (const field of ['data', 'stringData'] as const) {
    for (const [k, v] of Object.entries(shape[field] ?? {})) {
      if (!DATA_KEY.test(k)) return `${label} has an invalid ${field} key`;
      data[k] = Buffer.from(v, field === 'data' ? 'base64' : 'utf8');
    }
  }
  const secret: Omit<SecretObject, 'resourceVersion'> = { namespace, name, data };
  if (shape.type !== undefined) secret.type = shape.type;
  return secret;
}

function toServiceAccount (doc: Record<string, unknown>, namespace: string, name: string, label: string): Omit<ServiceAccountObject, 'resourceVersion'> | string {
  let shape: Static<typeof ServiceAccountManifest>;
  try {
    shape = checkShape(ServiceAccountManifest, doc, label);
  } catch (err) {
    return (err as Error).message;
  }
  const imagePullSecrets = (shape.imagePullSecrets ?? []).map((ref) => ref.name).filter((n) => n !== '');
  return { namespace, name, imagePullSecrets };
}

// Keyed per process so that a fingerprint says nothing about the content.
const FINGERPRINT_KEY = randomBytes(32);

function fingerprintOf (obj: { data?: Record<string, Buffer>, type?: string, imagePullSecrets?: string[] }): string {
  const hash = createHmac('sha256', FINGERPRINT_KEY);
  hash.update(obj.type ?? '\0');
  const data = obj.data ?? {};
  // the default sort orders by UTF-16 code units, as `<` does, without a call per comparison
  for (const k of Object.keys(data).sort()) {
    const v = data[k] as Buffer;
    hash.update(`\0${k}\0${v.length}\0`);
    hash.update(v);
  }
  for (const s of obj.imagePullSecrets ?? []) hash.update(`\0${s}`);
  return hash.digest('hex');
}
