// Spawns the real service and CLI with a clean environment and captures their output.
// They run compiled: src/ is built once per content into a private folder (not the shared
// dist/, which others may be writing), since tsx costs seconds per start on a busy machine.
// CREDBROKER_TEST_TSX=1 runs them with `node --import tsx src/...ts` instead.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { eventually } from './poll.js';

interface Teardown { teardown (fn: () => unknown): void }

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// absolute, so that a child started in another folder still finds the loader
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
// under the project, so that the compiled files resolve its node_modules
const BUILD_CACHE = join(ROOT, 'node_modules', '.cache', 'credbroker-test-build');

export type Entry = 'main' | 'cli/credbroker';

function sourceHash (): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else h.update(`${path}\0${st.size}\0${st.mtimeMs}\n`);
    }
  };
  walk(join(ROOT, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json']) h.update(`${f}\0${statSync(join(ROOT, f)).mtimeMs}\n`);
  return h.digest('hex').slice(0, 16);
}

let built: Promise<string> | undefined;

/** The folder holding main.js and cli/credbroker.js compiled from the current src/. */
export async function buildOnce (): Promise<string> {
  built ??= (async () => {
    const hash = sourceHash();
    const out = join(BUILD_CACHE, hash);
    const done = (): boolean => existsSync(join(out, 'main.js')) && existsSync(join(out, 'cli', 'credbroker.js'));
    if (done()) return out;
    mkdirSync(BUILD_CACHE, { recursive: true });
    // test files run in parallel: one of them compiles, the others wait for its output
    const lock = join(BUILD_CACHE, `${hash}.lock`);
    const stale = (): boolean => { try { return Date.now() - statSync(lock).mtimeMs > 180_000; } catch { return true; } };
    for (;;) {
      try { mkdirSync(lock); break; } catch {}
      if (stale()) { rmSync(lock, { recursive: true, force: true }); continue; }
      if (await eventually(() => done() || !existsSync(lock), 180_000, 100) && done()) return out;
    }
    try {
      return await compile(hash, out);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  })();
  return await built;
}

async function compile (hash: string, out: string): Promise<string> {
  const tmp = mkdtempSync(join(BUILD_CACHE, `${hash}.tmp-`));
  // type errors in files being edited elsewhere still emit; only missing output is fatal
  await new Promise<void>((resolve) => {
    execFile(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', tmp, '--sourceMap', 'false'],
      { cwd: ROOT, timeout: 120_000 }, () => resolve());
  });
  if (!existsSync(join(tmp, 'main.js')) || !existsSync(join(tmp, 'cli', 'credbroker.js'))) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error('tsc produced no main.js / cli/credbroker.js');
  }
  try {
    renameSync(tmp, out);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // a concurrent run got there first
  }
  // older builds (other contents) are dropped once they are ten minutes old
  for (const name of readdirSync(BUILD_CACHE)) {
    const path = join(BUILD_CACHE, name);
    if (name !== hash && Date.now() - statSync(path).mtimeMs > 600_000) rmSync(path, { recursive: true, force: true });
  }
  return out;
}

async function commandFor (entry: Entry): Promise<string[]> {
  if (process.env.CREDBROKER_TEST_TSX === '1') return ['--import', TSX, join(ROOT, 'src', `${entry}.ts`)];
  return [join(await buildOnce(), `${entry}.js`)];
}

export interface Spawned {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** how many reads stdout arrived in (a read per write(2) when the reader keeps up) */
  stdoutReads: () => number
  /** resolves when the process has exited */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** waits until stdout+stderr match, or the process exits, or `ms` pass */
  waitFor: (pattern: RegExp, ms?: number) => Promise<boolean>
}

/**
 * A minimal environment: no KUBECONFIG, HOME in an empty folder (no ~/.kube/config),
 * no NODE_OPTIONS inherited from the test runner, no load shedding; `extra` is added on top.
 */
export function cleanEnv (t: Teardown, extra: Record<string, string> = {}): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'credbroker-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  // a busy test machine (files run in parallel) must not make the service shed requests with 503
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C', OVERLOAD_MAX_EVENT_LOOP_DELAY: '0', ...extra };
}

export async function spawnEntry (t: Teardown, entry: Entry, args: string[], opts: { env: Record<string, string>, cwd?: string }): Promise<Spawned> {
  const child = spawn(process.execPath, [...await commandFor(entry), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let out = '';
  let err = '';
  let reads = 0;
  const waiters = new Set<() => void>();
  const poke = (): void => { for (const w of waiters) w(); };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; reads++; poke(); });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d; poke(); });
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => { poke(); resolve({ code, signal }); });
  });
  let done = false;
  void exited.then(() => { done = true; });
  t.teardown(async () => {
    if (!done && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const waitFor = async (pattern: RegExp, ms = 20_000): Promise<boolean> => {
    if (pattern.test(out + err)) return true;
    return await new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (pattern.test(out + err)) finish(true);
        else if (done || child.exitCode !== null) finish(pattern.test(out + err));
      };
      const timer = setTimeout(() => finish(false), ms);
      function finish (v: boolean): void { clearTimeout(timer); waiters.delete(check); resolve(v); }
      waiters.add(check);
      void exited.then(check);
    });
  };
  return { child, stdout: () => out, stderr: () => err, stdoutReads: () => reads, exited, waitFor };
}

/** The service, as `npm start` runs it (node dist/main.js). */
export async function spawnService (t: Teardown, args: string[], opts: { env: Record<string, string>, cwd?: string }): Promise<Spawned> {
  return await spawnEntry(t, 'main', args, opts);
}

export interface CliResult { code: number | null, stdout: string, stderr: string }

/** Runs the credbroker CLI to completion (killed after `ms`). */
export async function runCli (t: Teardown, args: string[], opts: { env: Record<string, string>, cwd?: string, ms?: number }): Promise<CliResult> {
  const p = await spawnEntry(t, 'cli/credbroker', args, opts);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), opts.ms ?? 30_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** A port that was free a moment ago (for processes that must be told their port). */
export async function freePort (): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A port on which nothing listens: bound, then closed. */
export const closedPort = freePort;

export interface HttpAnswer { status: number, headers: http.IncomingHttpHeaders, body: string }

/** One HTTP request on a fresh connection (no keep-alive), bounded in time. */
export async function request (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string, ms?: number } = {}): Promise<HttpAnswer> {
  return await new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: opts.ms ?? 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The http://127.0.0.1:PORT the service says it listens on. */
export function listeningUrl (output: string): string | undefined {
  return /credbroker listening on (http:\/\/[^"\s]+)/.exec(output)?.[1];
}
