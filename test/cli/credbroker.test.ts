// The credbroker command as a user runs it: validate, help, unknown commands (test <image>: credbroker-test.test.ts).
import t from 'tap';
import { cleanEnv, runCli, type CliResult } from '../helpers/process.js';

// each test starts real processes (a few seconds apiece on a busy machine), and the first one builds src/
t.setTimeout(300_000);

function lines (text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

t.test('validate prints the parsed reference and exits 0', async (t) => {
  const env = cleanEnv(t);
  const r = await runCli(t, ['validate', 'Secret:argocd/ghcr#creds'], { env });
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { valid: true, canonical: 'secret:argocd/ghcr#creds', reference: { type: 'secret', namespace: 'argocd', name: 'ghcr', field: 'creds' } });
  t.equal(r.stderr, '');

  // the registries.conf form <prefix>=<spec> is accepted and its prefix printed
  const prefixed = await runCli(t, ['validate', 'ghcr.io/team-a=pullsecret:argocd/x'], { env });
  t.equal(prefixed.code, 0, prefixed.stderr);
  t.same(JSON.parse(prefixed.stdout), { valid: true, canonical: 'pullsecret:argocd/x', prefix: 'ghcr.io/team-a', reference: { type: 'pullsecret', namespace: 'argocd', name: 'x' } });
  const flagged = await runCli(t, ['validate', '--registry-prefix', 'ghcr.io=pullsecret:argocd/x'], { env });
  t.equal(flagged.code, 0, 'the old flag is still accepted');
  t.match(JSON.parse(flagged.stdout), { prefix: 'ghcr.io' });
});

t.test('validate: a bad spec exits 2 with one line naming the problem', async (t) => {
  const env = cleanEnv(t);
  const cases: Array<[string[], RegExp]> = [
    [['validate', 'secret:argocd/ghcr'], /INVALID_CREDENTIAL_SPEC.*field|field.*INVALID_CREDENTIAL_SPEC/i],
    [['validate', 'nonsense:foo'], /INVALID_CREDENTIAL_SPEC/],
    [['validate', 'ext:relative/path'], /INVALID_CREDENTIAL_SPEC.*absolute/i],
    [['validate', 'ghcr.io='], /INVALID_CREDENTIAL_SPEC/],
    [['validate', 'ext:/opt/h/../get-creds'], /INVALID_CREDENTIAL_SPEC.*not normalized/],
    [['validate'], /exactly one/],
    [['validate', 'env:A', 'env:B'], /exactly one/]
  ];
  const results = await Promise.all(cases.map(async ([args]) => await runCli(t, args, { env })));
  for (const [i, [args, problem]] of cases.entries()) {
    const r = results[i] as CliResult;
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.equal(lines(r.stderr).length, 1, `${args.join(' ')}: one line`);
    t.match(r.stderr, problem, `${args.join(' ')}: names the problem`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

t.test('--help on each command and at the top', async (t) => {
  const env = cleanEnv(t);
  const top = await runCli(t, ['--help'], { env });
  t.equal(top.code, 0);
  t.match(top.stdout, /Usage:/);
  for (const word of ['serve', 'validate', 'test', '--port', 'PORT', '--secret-namespaces', '--auth-mode']) t.match(top.stdout, word, `top-level help names ${word}`);
  const help = await runCli(t, ['help'], { env });
  t.equal(help.code, 0);
  t.equal(help.stdout, top.stdout, '`help` is `--help`');
  const expect: Record<string, RegExp> = {
    serve: /credbroker serve.*local mode/s,
    validate: /credbroker validate <spec>.*pullsecret:<namespace>\/<name>.*Exit 0 when valid, 2 when not/s,
    test: /credbroker test <image>.*Exit 0 when the registry accepted/s
  };
  const results = await Promise.all(Object.keys(expect).map(async (command) => await runCli(t, [command, '--help'], { env })));
  for (const [i, [command, text]] of Object.entries(expect).entries()) {
    const r = results[i] as CliResult;
    t.equal(r.code, 0, `${command} --help: exit 0`);
    t.match(r.stdout, text, `${command} --help: its own help`);
    t.equal(r.stderr, '');
  }
});

t.test('an unknown command exits 2', async (t) => {
  const env = cleanEnv(t);
  const cases = [['frobnicate'], ['frobnicate', '--help'], ['tset', 'nginx']];
  const results = await Promise.all(cases.map(async (args) => await runCli(t, args, { env })));
  for (const [i, args] of cases.entries()) {
    const r = results[i] as CliResult;
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, `unknown command "${args[0] as string}"`);
  }
  const flag = await runCli(t, ['test', 'nginx', '--no-such-flag', 'x'], { env });
  t.equal(flag.code, 2, 'an unknown flag: exit 2');
  t.match(flag.stderr, '--no-such-flag');
});
