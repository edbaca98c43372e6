// The committed API document passes the linters people run on OpenAPI documents: Redocly's
// recommended rules and Spectral's spectral:oas ruleset, with no error and no warning.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ROOT } from '../helpers/openapi.js';

const run = promisify(execFile);
const inCI = process.env.CI !== undefined && process.env.CI !== '';
const DOC = join(ROOT, 'openapi', 'openapi.json');

function tool (name: string): { bin: string, skip: string | false } {
  const bin = join(ROOT, 'node_modules', '.bin', name);
  const missing = !existsSync(bin);
  return { bin, skip: missing && !inCI ? `${name} is not installed: npm install (it is a devDependency)` : false };
}

const redocly = tool('redocly');
t.test('redocly lint (recommended rules): 0 errors, 0 warnings', { skip: redocly.skip }, async (t) => {
  const { stdout } = await run(redocly.bin, ['lint', '--config', join(ROOT, 'openapi', 'redocly.yaml'), '--format=json', DOC], { cwd: ROOT, maxBuffer: 16 << 20 })
    .catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const report = JSON.parse(stdout) as { totals: { errors: number, warnings: number }, problems: Array<{ ruleId: string, message: string }> };
  t.same(report.problems.map((p) => `${p.ruleId}: ${p.message}`), [], 'no problem reported');
  t.equal(report.totals.errors, 0, 'errors');
  t.equal(report.totals.warnings, 0, 'warnings');
});

const spectral = tool('spectral');
t.test('spectral lint (spectral:oas): no error, no warning', { skip: spectral.skip }, async (t) => {
  const { stdout } = await run(spectral.bin, ['lint', '-r', join(ROOT, 'openapi', '.spectral.yaml'), '-f', 'json', '-q', DOC], { cwd: ROOT, maxBuffer: 16 << 20 })
    .catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const results = JSON.parse(stdout) as Array<{ code: string, message: string, severity: number, path: string[] }>;
  // severity 0 is an error, 1 a warning; infos and hints are not counted
  t.same(results.filter((r) => r.severity <= 1).map((r) => `${r.code} at ${r.path.join('.')}: ${r.message}`), []);
});
