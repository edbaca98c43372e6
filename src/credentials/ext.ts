// Runs an `ext:` credential script (docs/references.md "Reference types"): no shell, no arguments, bounded in time and
// output, killed with its process group; its stdout and stderr never reach a message or a log.
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { formatDuration } from '../config/duration.js';
import { MalformedCredentials, ScriptFailed, ScriptTimeout } from '../errors.js';
import type { Credential } from './types.js';
import { own } from '../own.js';

export type ExtOutcome = 'ok' | 'failed' | 'timeout' | 'malformed';

export interface ExtOptions {
  timeoutMs: number
  maxOutputBytes: number
  /** environment of the script; the service's own when unset */
  env?: NodeJS.ProcessEnv
  onRun?: (outcome: ExtOutcome) => void
}

const STDERR_CAP = 64 * 1024;
const EXIT_GRACE_MS = 250;
// An RFC 3339 date-time; Date.parse alone accepts far more than that.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export async function runExtScript (path: string, opts: ExtOptions): Promise<Credential> {
  try {
    await checkScript(path);
    const stdout = await run(path, opts);
    const credential = parseOutput(path, stdout);
    opts.onRun?.('ok');
    return credential;
  } catch (err) {
    opts.onRun?.(outcomeOf(err));
    throw err;
  }
}

function outcomeOf (err: unknown): ExtOutcome {
  if (err instanceof ScriptTimeout) return 'timeout';
  if (err instanceof MalformedCredentials) return 'malformed';
  return 'failed';
}

async function checkScript (path: string): Promise<void> {
  if (!isAbsolute(path)) throw new ScriptFailed(`script path ${path} is not absolute`);
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ScriptFailed(`script ${path} does not exist`);
    throw new ScriptFailed(`script ${path} cannot be read (${code ?? 'error'})`);
  }
  if (!info.isFile()) throw new ScriptFailed(`script ${path} is not a regular file`);
  try {
    await access(path, fsConstants.X_OK);
  } catch {
    throw new ScriptFailed(`script ${path} is not executable`);
  }
  // execvp would hand a file without either magic to /bin/sh: docs/references.md says no shell.
  const head = Buffer.alloc(4);
  const file = await open(path, 'r');
  try {
    await file.read(head, 0, 4, 0);
  } finally {
    await file.close();
  }
  if (head.subarray(0, 2).toString('latin1') !== '#!' && head.toString('latin1') !== '\x7fELF') {
    throw new ScriptFailed(`script ${path} has no #! line and is not an ELF executable`);
  }
}

/** Resolves with stdout when the script exits 0; rejects with ScriptFailed or ScriptTimeout. */
function run (path: string, opts: ExtOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(path, [], {
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env
    });
    const chunks: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let exit: { code: number | null, signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is already gone */ }
    };
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      // Our ends of the pipes are closed even when an escaped child still holds theirs.
      child.stdout.destroy();
      child.stderr.destroy();
      if (err !== undefined) reject(err);
      else resolve(Buffer.concat(chunks, outBytes));
    };

    const timer = setTimeout(() => {
      killGroup();
      finish(new ScriptTimeout(path, formatDuration(opts.timeoutMs)));
    }, opts.timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      if (settled) return;
      outBytes += chunk.length;
      if (outBytes > opts.maxOutputBytes) {
        killGroup();
        finish(new ScriptFailed(`script ${path} output exceeds ${opts.maxOutputBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    // stderr is drained so the script cannot block on it, and only counted.
    child.stderr.on('data', (chunk: Buffer) => { errBytes = Math.min(errBytes + chunk.length, STDERR_CAP + 1); });

    child.on('error', (err: NodeJS.ErrnoException) => {
      killGroup();
      finish(new ScriptFailed(`script ${path} could not be started (${err.code ?? 'error'})`));
    });
    const finishFromExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (code === 0) { finish(undefined); return; }
      const how = code !== null ? `exited with code ${code}` : `was killed by signal ${signal ?? 'unknown'}`;
      const errNote = errBytes > 0 ? ` (stderr: ${errBytes > STDERR_CAP ? `more than ${STDERR_CAP}` : errBytes} bytes)` : '';
      finish(new ScriptFailed(`script ${path} ${how}${errNote}`));
    };
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // A background child left in the group would hold stdout open; end it so 'close' comes.
      killGroup();
      // One that left the group (setsid) still could: settle with what was read by then.
      graceTimer = setTimeout(() => finishFromExit(code, signal), EXIT_GRACE_MS);
    });
    child.on('close', (code, signal) => {
      const status = exit ?? { code, signal };
      finishFromExit(status.code, status.signal);
    });
  });
}

/** The credential in a script's output. Messages describe the shape, never the content. */
export function parseOutput (path: string, output: Buffer): Credential {
  const text = output.toString('utf8');
  if (text.trim() === '') throw new MalformedCredentials(`script ${path} printed nothing`);
  if (text.trimStart().startsWith('{')) return parseJson(path, text);
  return parseLine(path, text);
}

function parseLine (path: string, text: string): Credential {
  let line = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line.includes('\n')) {
    throw new MalformedCredentials(`script ${path} printed ${line.split('\n').length} lines, expected one`);
  }
  const colon = line.indexOf(':');
  if (colon < 0) throw new MalformedCredentials(`script ${path} output has no ':' separator`);
  const username = line.slice(0, colon);
  const password = line.slice(colon + 1);
  checkValues(path, username, password);
  return { username, password, tokenType: 'basic', expiresAt: null };
}

function parseJson (path: string, text: string): Credential {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input: never pass it on.
    throw new MalformedCredentials(`script ${path} printed invalid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedCredentials(`script ${path} printed JSON that is not an object`);
  }
  const obj = value as Record<string, unknown>;
  const helperStyle = Object.hasOwn(obj, 'Username') || Object.hasOwn(obj, 'Secret');
  const [userKey, passKey] = helperStyle ? ['Username', 'Secret'] : ['username', 'password'];
  const username = own(obj, userKey);
  const password = own(obj, passKey);
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new MalformedCredentials(
      `script ${path} printed a JSON object without string fields "${userKey}" and "${passKey}"`);
  }
  checkValues(path, username, password);
  let expiresAt: Date | null = null;
  const raw = own(obj, 'expiresAt');
  if (raw !== undefined) {
    const ms = typeof raw === 'string' && RFC3339.test(raw) ? Date.parse(raw) : NaN;
    if (Number.isNaN(ms)) throw new MalformedCredentials(`script ${path} printed an expiresAt that is not an RFC 3339 date-time`);
    expiresAt = new Date(ms);
  }
  // docker-credential-helpers: the username "<token>" marks an identity token.
  const tokenType = helperStyle && username === '<token>' ? 'identitytoken' : 'basic';
  return { username, password, tokenType, expiresAt };
}

function checkValues (path: string, username: string, password: string): void {
  if (username === '') throw new MalformedCredentials(`script ${path} printed an empty username`);
  if (password === '') throw new MalformedCredentials(`script ${path} printed an empty password`);
  if (CONTROL.test(username)) throw new MalformedCredentials(`script ${path} printed a username with control characters`);
  if (CONTROL.test(password)) throw new MalformedCredentials(`script ${path} printed a password with control characters`);
}
