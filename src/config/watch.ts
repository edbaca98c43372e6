// Watching a config file that editors replace by rename and Kubernetes swaps through symlinks
// (`..data` → timestamped dir), and reloading it with "a bad edit keeps the last good value".
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';

export const DEFAULT_MAX_BYTES = 1024 * 1024;
const CHUNK = 64 * 1024;

export interface WatchOptions {
  /** poll period; fs.watch events are seen sooner */
  intervalMs?: number
  /** quiet time after a change before onChange, so a half-written file is not reported */
  debounceMs?: number
}

export interface FileWatcher { close(): void }

const MISSING = 'missing';

/** stat() through symlinks: a ConfigMap swap changes the inode, an edit the mtime or size. */
function statKey (path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return MISSING;
  }
}

function contentKey (path: string, maxBytes: number): string {
  try {
    const text = readConfigFileSync(path, maxBytes);
    return createHash('sha256').update(text).digest('hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return MISSING;
    // unreadable or too large: fall back to the metadata so a later fix is still noticed
    return `stat:${statKey(path)}`;
  }
}

/** Why a config file could not be read: `code` is ENOENT, EFBIG, ENOTREG or the system's code. */
export class ConfigFileError extends Error {
  /** `reason` reads after the file's name: "is a FIFO, not a regular file" */
  constructor (readonly code: string, readonly path: string, readonly reason: string) { super(`${path} ${reason}`); }
}

/** A FIFO never blocks `open` with O_NONBLOCK; O_NOCTTY keeps a terminal device from becoming ours. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);

function kindOf (s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

function notRegular (path: string, s: Stats): ConfigFileError {
  const kind = kindOf(s);
  return new ConfigFileError('ENOTREG', path, kind === 'not a regular file' ? 'is not a regular file' : `is ${kind}, not a regular file`);
}

function tooLarge (path: string, maxBytes: number): ConfigFileError {
  return new ConfigFileError('EFBIG', path, `is larger than ${maxBytes} bytes`);
}

function openFailed (path: string, err: unknown): ConfigFileError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'ENOENT') return new ConfigFileError(code, path, 'not found');
  // a socket (and a device without a driver) cannot be opened at all: say what it is
  if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
    try { return notRegular(path, statSync(path)); } catch {}
  }
  return new ConfigFileError(code, path, `could not be read (${code})`);
}

/**
 * The one way to read a config file: a regular file after following links, at most maxBytes.
 * Anything else (a FIFO, a directory, a device, a socket) is refused without reading from it,
 * and the check is made on the opened handle, so a swap between check and read cannot slip through.
 */
export function readConfigFileSync (path: string, maxBytes = DEFAULT_MAX_BYTES): Buffer {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    throw openFailed(path, err);
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw notRegular(path, s);
    if (s.size > maxBytes) throw tooLarge(path, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    // read to the end, not to the size fstat saw: the file may grow meanwhile
    while (total <= maxBytes) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      total += n;
    }
    if (total > maxBytes) throw tooLarge(path, maxBytes);
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    throw openFailed(path, err);
  } finally {
    closeSync(fd);
  }
}

/** readConfigFileSync without holding the event loop (for files read on a request path). */
export async function readConfigFile (path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw openFailed(path, err);
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw notRegular(path, s);
    if (s.size > maxBytes) throw tooLarge(path, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) throw tooLarge(path, maxBytes);
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    throw openFailed(path, err);
  } finally {
    await handle.close();
  }
}

/**
 * Calls onChange once per change of the file's content (including vanishing and reappearing).
 * Watches the parent directory, which survives renames and symlink swaps, and polls as a backstop.
 */
export function watchFile (path: string, onChange: () => void, opts: WatchOptions & { maxBytes?: number } = {}): FileWatcher {
  const intervalMs = opts.intervalMs ?? 500;
  const debounceMs = opts.debounceMs ?? 100;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const dir = dirname(path);
  let closed = false;
  let lastStat = statKey(path);
  let lastContent = contentKey(path, maxBytes);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;

  const settle = (): void => {
    timer = undefined;
    if (closed) return;
    lastStat = statKey(path);
    const content = contentKey(path, maxBytes);
    if (content === lastContent) return;
    lastContent = content;
    try { onChange(); } catch { /* the listener owns its errors */ }
  };
  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(settle, debounceMs);
    timer.unref();
  };

  const startWatcher = (): void => {
    if (watcher !== undefined || closed) return;
    try {
      watcher = watch(dir, { persistent: false }, () => schedule());
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // the directory may not exist yet; polling goes on
    }
  };
  startWatcher();

  const poll = setInterval(() => {
    if (watcher === undefined) startWatcher();
    if (timer !== undefined) return;
    const s = statKey(path);
    if (s !== lastStat) {
      lastStat = s;
      schedule();
    }
  }, intervalMs);
  poll.unref();

  return {
    close () {
      closed = true;
      clearInterval(poll);
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      watcher?.close();
      watcher = undefined;
    }
  };
}

export type ReloadResult = 'success' | 'failure';

export interface ReloadStatus {
  result: ReloadResult
  at: Date
  error?: ConfigError
}

export interface ReloadingFileOptions<T> {
  /** called after every reload attempt that follows a change (not for the initial load) */
  onReload?: (result: ReloadResult, error?: ConfigError) => void
  /** a file missing at start yields `emptyValue` (or parse('')) instead of an error */
  missingOk?: boolean
  emptyValue?: T
  maxBytes?: number
  intervalMs?: number
  debounceMs?: number
  /** what ConfigError names, e.g. the setting; defaults to the path */
  setting?: string
}

/**
 * A parsed config file that follows its file: a change that parses replaces the value,
 * one that does not (or a file that vanished) keeps the last good value and reports failure.
 */
export class ReloadingFile<T> {
  private value: T | undefined;
  private loaded = false;
  /** the file did not exist at the last load (only with missingOk) */
  missing = false;
  private status: ReloadStatus | undefined;
  private watcher: FileWatcher | undefined;
  private readonly listeners = new Set<(value: T) => void>();
  private readonly setting: string;

  constructor (
    readonly path: string,
    private readonly parse: (text: string) => T,
    private readonly opts: ReloadingFileOptions<T> = {}
  ) {
    this.setting = opts.setting ?? path;
  }

  /** Reads and parses the file, then watches it. Throws ConfigError when it cannot be loaded. */
  load (): T {
    const value = this.read(this.opts.missingOk === true);
    this.value = value;
    this.loaded = true;
    this.status = { result: 'success', at: new Date() };
    if (this.watcher === undefined) {
      const watchOpts: WatchOptions & { maxBytes?: number } = {};
      if (this.opts.intervalMs !== undefined) watchOpts.intervalMs = this.opts.intervalMs;
      if (this.opts.debounceMs !== undefined) watchOpts.debounceMs = this.opts.debounceMs;
      if (this.opts.maxBytes !== undefined) watchOpts.maxBytes = this.opts.maxBytes;
      this.watcher = watchFile(this.path, () => this.reload(), watchOpts);
    }
    return value;
  }

  current (): T {
    if (!this.loaded) throw new Error(`${this.path} has not been loaded`);
    return this.value as T;
  }

  lastResult (): ReloadStatus | undefined {
    return this.status;
  }

  /** Subscribes to successful reloads; returns the unsubscribe function. */
  onChange (listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Re-reads the file now; returns whether the new content was taken. */
  reload (): boolean {
    let next: T;
    try {
      next = this.read(false);
    } catch (err) {
      const error = err instanceof ConfigError ? err : new ConfigError(this.setting, 'could not be loaded');
      this.status = { result: 'failure', at: new Date(), error };
      this.opts.onReload?.('failure', error);
      return false;
    }
    this.value = next;
    this.loaded = true;
    this.status = { result: 'success', at: new Date() };
    this.opts.onReload?.('success');
    for (const listener of this.listeners) {
      try { listener(next); } catch { /* a listener's failure is not the file's */ }
    }
    return true;
  }

  close (): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners.clear();
  }

  private read (missingOk: boolean): T {
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_BYTES;
    let text: string;
    try {
      text = readConfigFileSync(this.path, maxBytes).toString('utf8');
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err;
      if (err.code === 'ENOENT') {
        if (missingOk) {
          this.missing = true;
          return this.opts.emptyValue !== undefined ? this.opts.emptyValue : this.parseText('');
        }
        throw new ConfigError(this.setting, this.loaded ? `${this.path} is gone; keeping the last good value` : `${this.path} not found`);
      }
      throw new ConfigError(this.setting, err.message);
    }
    this.missing = false;
    return this.parseText(text);
  }

  private parseText (text: string): T {
    try {
      return this.parse(text);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      // a parser's own message may quote the content; say only that it is invalid
      throw new ConfigError(this.setting, `${this.path} is invalid${err instanceof Error && err.name !== 'Error' ? ` (${err.name})` : ''}`);
    }
  }
}
