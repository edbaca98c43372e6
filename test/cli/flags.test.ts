// The three bins as built (node <build>/cli/*.js): -h/--help and -V/--version everywhere, usage
// printed once, --flag=value and --flag value alike, unknown flags one line and exit 2.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, buildOnce } from '../helpers/process.js';

t.setTimeout(300_000);

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Run { code: number | null, stdout: string, stderr: string }

let out: string;
async function run (bin: string, args: string[], stdin = ''): Promise<Run> {
  out ??= await buildOnce();
  return await new Promise((resolve) => {
    const child = execFile(process.execPath, [join(out, 'cli', `${bin}.js`), ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBE_MODE: 'local', LOG_LEVEL: 'silent', CREDBROKER_URL: 'http://127.0.0.1:9' },
      cwd: ROOT,
      timeout: 30_000
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');
const count = (s: string, word: string): number => s.split(word).length - 1;

const BINS: Array<{ bin: string, name: string, commands: string[][] }> = [
  { bin: 'credbroker', name: 'credbroker', commands: [[], ['serve'], ['validate'], ['test']] },
  { bin: 'docker-credential-credbroker', name: 'docker-credential-credbroker', commands: [[]] },
  { bin: 'kubelet-provider', name: 'credbroker-kubelet-provider', commands: [[]] }
];

t.test('-h and --help: exit 0, usage once on stdout, nothing on stderr', async (t) => {
  for (const { bin, commands } of BINS) {
    for (const command of commands) {
      for (const flag of ['-h', '--help']) {
        const label = [bin, ...command, flag].join(' ');
        const r = await run(bin, [...command, flag]);
        t.equal(r.code, 0, `${label}: exit 0`);
        t.equal(r.stderr, '', `${label}: nothing on stderr`);
        t.match(r.stdout, /^(Usage:|credbroker (serve|validate|test) |credbroker \S+: container-registry)/, `${label}: prints help`);
        t.ok(count(r.stdout, 'Usage:') <= 1, `${label}: usage at most once`);
      }
    }
  }
  const top = await run('credbroker', ['--help']);
  t.equal(count(top.stdout, 'Usage:'), 1, 'credbroker --help: the usage once');
  t.match(top.stdout, /-V, --version/);
  const serve = await run('credbroker', ['serve', '-h']);
  t.match(serve.stdout, /^credbroker serve/, 'serve -h is the serve help');
});

t.test('-V and --version print the version, exit 0', async (t) => {
  for (const { bin, name, commands } of BINS) {
    for (const command of commands) {
      for (const flag of ['-V', '--version']) {
        const label = [bin, ...command, flag].join(' ');
        const r = await run(bin, [...command, flag]);
        t.equal(r.code, 0, `${label}: exit 0`);
        t.equal(lines(r.stdout).length, 1, `${label}: one line`);
        t.match(r.stdout, new RegExp(`^${name}( \\(credbroker\\))? ${VERSION.replace(/\./g, '\\.')}\\n$`), `${label}: names the version`);
      }
    }
  }
});

t.test('an unknown flag: one line on stderr naming it, exit 2, no usage dump', async (t) => {
  for (const { bin, commands } of BINS) {
    for (const command of commands) {
      const label = [bin, ...command, '--frobnicate'].join(' ');
      const r = await run(bin, [...command, '--frobnicate', ...(command[0] === 'validate' || command[0] === 'test' ? ['x'] : [])]);
      t.equal(r.code, 2, `${label}: exit 2`);
      t.equal(lines(r.stderr).length, 1, `${label}: one line`);
      t.match(r.stderr, /unknown flag --frobnicate/, `${label}: names the flag`);
      t.equal(r.stdout, '', `${label}: nothing on stdout`);
    }
  }
  const short = await run('credbroker', ['validate', '-x', 'env:A']);
  t.equal(short.code, 2);
  t.match(short.stderr, /unknown flag -x/);
});

t.test('--flag=value and --flag value read alike', async (t) => {
  for (const args of [['--port=abc'], ['--port', 'abc'], ['serve', '--port=abc'], ['serve', '--port', 'abc']]) {
    const r = await run('credbroker', args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /^credbroker: invalid configuration: PORT: must be an integer, got "abc"\n$/, `${args.join(' ')}: the value reached PORT`);
  }
  for (const args of [['--credentials=notatype:x'], ['--credentials', 'notatype:x']]) {
    const r = await run('credbroker', ['test', 'docker.io/library/nginx', ...args]);
    t.equal(r.code, 1, `test ${args.join(' ')}: exit 1`);
    t.match(r.stdout, /result: +INVALID_CREDENTIAL_SPEC: .*unknown source type/, `test ${args.join(' ')}: the value reached --credentials`);
  }
  const missing = await run('credbroker', ['serve', '--port']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^credbroker: --port needs a value/);
  const noValue = await run('credbroker', ['validate', '--registry-prefix=yes', 'env:A']);
  t.equal(noValue.code, 2);
  t.match(noValue.stderr, /^credbroker: --registry-prefix takes no value/);
  const stray = await run('credbroker', ['serve', 'extra']);
  t.equal(stray.code, 2);
  t.match(stray.stderr, /unexpected argument "extra"/);
  const kubelet = await run('kubelet-provider', ['extra']);
  t.equal(kubelet.code, 2, 'the kubelet provider takes no arguments');
  t.equal(lines(kubelet.stderr).length, 1);
});
