// The external programs some tests run (the real registry, skopeo, helm, ...), found once per
// process. On a machine without one, a test that needs it skips with one line naming what to
// install; in CI (CI set and not empty) it fails instead, so a CI runner cannot go green
// without running it. scripts/test-fresh-machine.sh checks the skip side.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** scripts/install-helm.sh and scripts/install-promtool.sh put their tools here; an empty value turns the folder off. */
const LOCAL_BIN = process.env.CREDBROKER_TOOLS_BIN ?? join(ROOT, '.tools', 'bin');

interface ToolInfo {
  /** what to run to get it */
  install: string
  /** arguments a working copy answers with exit 0 */
  check: string[]
  /** not installed by .ci/run either: skipped when missing, in CI too */
  optional?: boolean
}

export const TOOLS = {
  'docker-registry': { install: 'apt-get install docker-registry', check: ['--version'] },
  skopeo: { install: 'apt-get install skopeo', check: ['--version'] },
  htpasswd: { install: 'apt-get install apache2-utils', check: ['-nbB', 'u', 'p'] },
  openssl: { install: 'apt-get install openssl', check: ['version'] },
  tinyproxy: { install: 'apt-get install tinyproxy', check: ['-v'] },
  script: { install: 'apt-get install bsdutils (script from util-linux)', check: ['--version'] },
  helm: { install: 'bash scripts/install-helm.sh', check: ['version', '--short'] },
  promtool: { install: 'bash scripts/install-promtool.sh', check: ['--version'] },
  docker: { install: 'the docker CLI (no engine needed)', check: ['--version'], optional: true }
} satisfies Record<string, ToolInfo>;

export type Tool = keyof typeof TOOLS;

const found = new Map<Tool, string | undefined>();

/** The tool's path (the local tools folder first, then PATH) if it is there and runs, else undefined. */
export function findTool (name: Tool): string | undefined {
  if (found.has(name)) return found.get(name);
  const dirs = [...(LOCAL_BIN !== '' ? [LOCAL_BIN] : []), ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  let path: string | undefined;
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try { accessSync(candidate, constants.X_OK); } catch { continue; }
    if (spawnSync(candidate, TOOLS[name].check, { stdio: 'ignore', timeout: 20_000 }).status === 0) { path = candidate; break; }
  }
  found.set(name, path);
  return path;
}

export const inCI = (): boolean => process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** The one line missing tools get: `needs skopeo, htpasswd (not found on PATH): install them with apt-get install skopeo apache2-utils` */
export function missingLine (names: Tool[]): string {
  const apt = names.map((n) => TOOLS[n].install).filter((i) => i.startsWith('apt-get install ')).map((i) => i.slice('apt-get install '.length));
  const other = names.map((n) => TOOLS[n].install).filter((i) => !i.startsWith('apt-get install '));
  const how = [...(apt.length > 0 ? [`apt-get install ${apt.join(' ')}`] : []), ...other].join(' and ');
  return `needs ${names.join(', ')} (not found on PATH): install ${names.length > 1 ? 'them' : 'it'} with ${how}`;
}

interface TestLike {
  fail: (message: string) => unknown
  plan: (n: number, comment?: string) => unknown
}

/**
 * Every named tool's path, or undefined when one is missing: then, outside CI, the test is
 * marked skipped with one line saying what to install; in CI it fails. Call it first in a
 * test and return when it answers undefined:
 *
 *   const tools = requireTools(t, 'skopeo', 'docker-registry'); if (tools === undefined) return;
 */
export function requireTools<N extends Tool> (t: TestLike, ...names: N[]): Record<N, string> | undefined {
  const paths = {} as Record<N, string>;
  const missing: N[] = [];
  for (const name of names) {
    const path = findTool(name);
    if (path === undefined) missing.push(name);
    else paths[name] = path;
  }
  if (missing.length === 0) return paths;
  const line = missingLine(missing);
  if (inCI() && !missing.every((m) => (TOOLS[m] as ToolInfo).optional === true)) t.fail(line);
  else t.plan(0, line);
  return undefined;
}

/** One tool's path, or undefined after skipping (outside CI) or failing (in CI) the test; see requireTools. */
export function requireTool (t: TestLike, name: Tool): string | undefined {
  return requireTools(t, name)?.[name];
}

/** What the real registry helper (test/helpers/registry.ts) runs for each auth mode, and skopeo to push. */
export const REGISTRY_TOOLS = {
  none: ['docker-registry', 'skopeo'],
  htpasswd: ['docker-registry', 'skopeo', 'htpasswd'],
  token: ['docker-registry', 'skopeo', 'openssl']
} as const satisfies Record<string, Tool[]>;

/** Every tool the real registry helper can run, for a test that starts several kinds. */
export const ALL_REGISTRY_TOOLS = ['docker-registry', 'skopeo', 'htpasswd', 'openssl'] as const satisfies Tool[];

interface RootLike { test: (name: string, fn: (t: TestLike) => Promise<void>) => unknown }

/**
 * For a file whose tests all need `name`, at module level: its path, or undefined after adding
 * one test that skips (outside CI) or fails (in CI) as requireTool does.
 *
 *   const helm = needTool(t, 'helm'); if (helm !== undefined) { t.test(...) }
 */
export function needTool (t: RootLike, name: Tool): string | undefined {
  const path = findTool(name);
  if (path === undefined) t.test(`needs ${name}`, async (t) => { requireTool(t, name); });
  return path;
}
