// The image's entrypoint script and the bins it puts on PATH, run here without a Docker engine:
// once with stub commands on a fake PATH (what it routes where), once with the real built bins
// linked the way the Dockerfile links them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { root, tempDir } from './helm.js';

const entrypoint = join(root, 'scripts', 'docker-entrypoint.sh');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };

function run (args: string[], path: string, cwd?: string): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync('/bin/sh', [entrypoint, ...args], { encoding: 'utf8', env: { PATH: path, HOME: '/tmp' }, timeout: 20_000, ...(cwd !== undefined ? { cwd } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('the Dockerfile runs the entrypoint under tini, keeps the service as CMD, links the three bins', async (t) => {
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  t.same(JSON.parse(entry ?? 'null'), ['/usr/bin/tini', '--', 'credbroker-entrypoint']);
  t.match(dockerfile, /COPY\s[^\n]*--chmod=0?755[^\n]*scripts\/docker-entrypoint\.sh\s+\/usr\/local\/bin\/credbroker-entrypoint/, 'the script is copied executable onto PATH');
  const links = new Map([...dockerfile.matchAll(/ln -s \/app\/(\S+) \/usr\/local\/bin\/(\S+)/g)].map((m) => [m[2] as string, m[1] as string]));
  t.same(Object.fromEntries(links), pkg.bin, 'one link per package.json bin, to the same file');
  for (const file of Object.values(pkg.bin)) t.match(dockerfile, new RegExp(`chmod 0?755[^\\n]*${file.replace(/[.]/g, '\\.')}`), `${file} is made executable`);
});

t.test('routing, with stub commands on a fake PATH', async (t) => {
  const bin = tempDir(t, 'entrypoint-stubs-');
  for (const name of ['credbroker', 'node', 'sh-stub', 'docker-credential-credbroker', 'test']) {
    writeFileSync(join(bin, name), `#!/bin/sh\nprintf '%s' "${name}"\nfor a in "$@"; do printf ' [%s]' "$a"; done\necho\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const path = `${bin}:/usr/bin:/bin`;
  const cases: Array<[string[], string]> = [
    [['node', 'dist/main.js'], 'node [dist/main.js]'],
    [['test', 'nginx'], 'credbroker [test] [nginx]'],
    [['validate', 'secret:argocd/creds#token'], 'credbroker [validate] [secret:argocd/creds#token]'],
    [['validate', 'ext:/scripts/a b.sh'], 'credbroker [validate] [ext:/scripts/a b.sh]'],
    [['serve', '--port', '9090'], 'credbroker [serve] [--port] [9090]'],
    [['--help'], 'credbroker [--help]'],
    [['-V'], 'credbroker [-V]'],
    [['--port=9090'], 'credbroker [--port=9090]'],
    [['version'], 'credbroker [version]'],
    [['help'], 'credbroker [help]'],
    [['docker-credential-credbroker', 'get'], 'docker-credential-credbroker [get]'],
    [['sh-stub', '-c', 'echo hi'], 'sh-stub [-c] [echo hi]'],
    [['testing'], '']
  ];
  for (const [args, want] of cases) {
    const r = run(args, path);
    if (want === '') {
      t.not(r.status, 0, `${args.join(' ')}: not a credbroker command, run as given (and not found)`);
      continue;
    }
    t.equal(r.status, 0, `${args.join(' ')}: exit 0`);
    t.equal(r.stdout.trim(), want, `${JSON.stringify(args)} → ${want}`);
  }
  const none = run([], path);
  t.equal(none.status, 0, 'no arguments: nothing to run, exit 0 (the image always has a CMD)');
});

t.test('every command credbroker --help lists is routed to credbroker', async (t) => {
  const cli = join(root, 'dist', 'cli', 'credbroker.js');
  if (!existsSync(cli)) { t.fail('dist/cli/credbroker.js is missing: npm run build'); return; }
  const usage = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8', timeout: 20_000 }).stdout;
  const commands = new Set([...usage.matchAll(/^\s+credbroker \[?([a-z][a-z-]*)\]?/gm)].map((m) => m[1] as string));
  t.ok(commands.has('test') && commands.has('validate'), `commands found in the usage: ${[...commands].join(', ')}`);
  const routed = /case "\$\{1-\}" in\s*\n\s*([^)]*)\)/.exec(readFileSync(entrypoint, 'utf8'))?.[1]?.split('|').map((s) => s.trim()) ?? [];
  for (const c of commands) t.ok(routed.includes(c), `${c} is routed`);
  t.ok(routed.includes('-*'), 'flags are routed');
});

t.test('the real bins, linked onto PATH as in the image', async (t) => {
  for (const file of Object.values(pkg.bin)) {
    if (!existsSync(join(root, file))) { t.fail(`${file} is missing: npm run build`); return; }
  }
  const bin = tempDir(t, 'entrypoint-bin-');
  for (const [name, file] of Object.entries(pkg.bin)) symlinkSync(join(root, file), join(bin, name));
  const path = `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`;
  for (const file of Object.values(pkg.bin)) {
    t.equal(readFileSync(join(root, file), 'utf8').split('\n')[0], '#!/usr/bin/env node', `${file} starts with a node shebang`);
  }
  // the test runs the files through the links, so they must be executable as they are in the image
  for (const file of Object.values(pkg.bin)) chmodSync(join(root, file), 0o755);

  const valid = run(['validate', 'secret:argocd/creds#token'], path, root);
  t.equal(valid.status, 0, valid.stderr);
  t.match(valid.stdout, /secret/, 'credbroker validate answered');
  const invalid = run(['validate', 'bogus:thing'], path, root);
  t.equal(invalid.status, 2, 'an invalid reference exits 2, as credbroker validate does');
  const help = run(['test', '--help'], path, root);
  t.equal(help.status, 0);
  t.match(help.stdout, /credbroker test/, 'test --help is credbroker\'s, not /usr/bin/test');
  const helper = run(['docker-credential-credbroker', 'version'], path, root);
  t.equal(helper.status, 0, helper.stderr);
  const shell = run(['sh', '-c', 'echo from-sh'], path, tempDir(t, 'entrypoint-cwd-'));
  t.equal(shell.stdout.trim(), 'from-sh', 'other commands run as given');
});
