// The import rules of .dependency-cruiser.cjs (README "Architecture"): src/ breaks none, and
// each rule catches the import it forbids when one is planted in a copy of src/.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, writeFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation { rule: { name: string }, from: string, to: string }
interface Cruise { summary: { violations: Violation[], totalCruised: number } }

async function cruise (cwd: string): Promise<Cruise> {
  const { stdout } = await promisify(execFile)(process.execPath,
    [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'src'],
    { cwd, maxBuffer: 64 * 1024 * 1024 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return JSON.parse(stdout) as Cruise;
}

t.test('src/ follows the import rules: no import runs back up, no cycle', async (t) => {
  const { summary } = await cruise(ROOT);
  t.ok(summary.totalCruised > 50, `every module is cruised (${summary.totalCruised})`);
  t.same(summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`), [], 'no violation');
});

t.test('each kind of import the rules forbid is caught', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-imports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  cpSync(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  cpSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const plant = (file: string, line: string): void => { appendFileSync(join(dir, 'src', file), `\n${line}\n`); };
  // a new module nothing imports, so that the import up makes no cycle as well
  writeFileSync(join(dir, 'src', 'argocd', 'planted.ts'), "import '../app.js';\n");
  // a type imported up counts as much as a value
  plant('config/duration.ts', "import type { Resolver } from '../credentials/resolver.js';");
  plant('registry/names.ts', "import '../kube/client.js';");
  plant('credentials/reference.ts', "import '../policy/policy.js';");
  plant('kube/client.ts', "import '../http/errors.js';");
  plant('errors.ts', "import './config/settings.js';");
  plant('policy/policy.ts', "import 'fastify';");
  mkdirSync(join(dir, 'src', 'unplaced'));
  writeFileSync(join(dir, 'src', 'unplaced', 'thing.ts'), 'export const thing = 1;\n');
  plant('http/errors.ts', "import '../unplaced/thing.js';");
  writeFileSync(join(dir, 'src', 'kube', 'planted-a.ts'), "import './planted-b.js';\n");
  writeFileSync(join(dir, 'src', 'kube', 'planted-b.ts'), "import './planted-a.js';\n");

  const { summary } = await cruise(dir);
  const found = new Set(summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to.replace(/^node_modules\/([^/]+)\/.*/, 'node_modules/$1')}`));
  for (const expected of [
    'lower-rooms-know-no-domain: src/config/duration.ts → src/credentials/resolver.ts',
    'registry-knows-no-siblings: src/registry/names.ts → src/kube/client.ts',
    'credentials-and-policy-are-siblings: src/credentials/reference.ts → src/policy/policy.ts',
    'domain-knows-no-http: src/kube/client.ts → src/http/errors.ts',
    'leaves-are-leaves: src/errors.ts → src/config/settings.ts',
    'domain-knows-no-fastify: src/policy/policy.ts → node_modules/fastify',
    'composition-root-on-top: src/argocd/planted.ts → src/app.ts',
    'every-room-is-placed: src/http/errors.ts → src/unplaced/thing.ts'
  ]) t.ok(found.has(expected), expected);
  t.ok(summary.violations.some((v) => v.rule.name === 'no-circular' && v.from === 'src/kube/planted-a.ts'), 'a module cycle');
});
