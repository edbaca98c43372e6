import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExtScript, type ExtOptions, type ExtOutcome } from '../../src/credentials/ext.js';

const SECRET = 'hunter2-Zq9-SECRET';
const dir = mkdtempSync(join(tmpdir(), 'credbroker-ext-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function script (body: string, mode = 0o755): string {
  const path = join(dir, `script-${++n}.sh`);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

const opts: ExtOptions = { timeoutMs: 5000, maxOutputBytes: 64 * 1024 };

async function failure (path: string, o: Partial<ExtOptions> = {}): Promise<{ err: Error & { code?: string }, outcome?: ExtOutcome }> {
  let outcome: ExtOutcome | undefined;
  try {
    await runExtScript(path, { ...opts, ...o, onRun: (x) => { outcome = x } });
  } catch (err) {
    return { err: err as Error & { code?: string }, outcome };
  }
  throw new Error('expected the script to fail');
}

function noSecret (t: Test, err: Error, ...secrets: string[]): void {
  for (const s of [SECRET, ...secrets]) {
    t.notMatch(err.message, s, 'message holds no script output');
    t.notMatch(String(err.stack), s, 'stack holds no script output');
  }
}

function alive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie is dead; nobody may reap it inside a container.
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function waitDead (pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

t.test('user:password line', async (t) => {
  let outcome: ExtOutcome | undefined;
  const cred = await runExtScript(script(`printf 'alice:${SECRET}'`), { ...opts, onRun: (x) => { outcome = x } });
  t.same(cred, { username: 'alice', password: SECRET, tokenType: 'basic', expiresAt: null });
  t.equal(outcome, 'ok');

  const nl = await runExtScript(script(`echo 'alice:${SECRET}'`), opts);
  t.equal(nl.password, SECRET, 'a trailing newline is allowed');
  const crlf = await runExtScript(script(`printf 'alice:${SECRET}\\r\\n'`), opts);
  t.equal(crlf.password, SECRET, 'a trailing CRLF is allowed');

  const colons = await runExtScript(script("echo 'bob:pa:ss:word'"), opts);
  t.equal(colons.username, 'bob');
  t.equal(colons.password, 'pa:ss:word', 'split at the first colon');
});

t.test('environment', async (t) => {
  const cred = await runExtScript(script('echo "$CRED_USER:$CRED_PASS"'),
    { ...opts, env: { CRED_USER: 'envuser', CRED_PASS: SECRET } });
  t.same([cred.username, cred.password], ['envuser', SECRET]);
});

t.test('JSON output', async (t) => {
  const helper = await runExtScript(script(
    `echo '{"ServerURL":"https://ghcr.io","Username":"robot","Secret":"${SECRET}"}'`), opts);
  t.same(helper, { username: 'robot', password: SECRET, tokenType: 'basic', expiresAt: null });

  const token = await runExtScript(script(
    `echo '{"Username":"<token>","Secret":"${SECRET}","expiresAt":"2030-01-02T03:04:05Z"}'`), opts);
  t.equal(token.tokenType, 'identitytoken', '<token> from a credential helper is an identity token');
  t.equal(token.expiresAt?.toISOString(), '2030-01-02T03:04:05.000Z');

  const lower = await runExtScript(script(`cat <<'EOF'
{
  "username": "AWS",
  "password": "${SECRET}",
  "expiresAt": "2030-06-01T12:00:00.5+02:00"
}
EOF`), opts);
  t.same([lower.username, lower.password, lower.tokenType], ['AWS', SECRET, 'basic']);
  t.equal(lower.expiresAt?.toISOString(), '2030-06-01T10:00:00.500Z', 'offset honoured');

  for (const [body, want] of [
    [`{"username":"u","password":"${SECRET}","expiresAt":"tomorrow"}`, /expiresAt that is not an RFC 3339/],
    [`{"username":"u","password":"${SECRET}","expiresAt":"2030-01-02"}`, /expiresAt that is not an RFC 3339/],
    [`{"username":"u","password":"${SECRET}","expiresAt":1893456000}`, /expiresAt that is not an RFC 3339/],
    [`{"username":"u","password":"${SECRET}`, /printed invalid JSON/],
    [`{"user":"u","pass":"${SECRET}"}`, /without string fields "username" and "password"/],
    [`{"Username":"u","password":"${SECRET}"}`, /without string fields "Username" and "Secret"/],
    [`{"username":"","password":"${SECRET}"}`, /empty username/],
    [`{"username":"u\\nv","password":"${SECRET}"}`, /username with control characters/],
    [`{"username":"u","password":"${SECRET}"} {"a":1}`, /printed invalid JSON/]
  ] as const) {
    const { err, outcome } = await failure(script(`cat <<'EOF'\n${body}\nEOF`));
    t.equal(err.code, 'MALFORMED_CREDENTIALS', body);
    t.match(err.message, want, body);
    t.equal(outcome, 'malformed');
    noSecret(t, err);
  }
});

t.test('malformed line output', async (t) => {
  const cases: Array<[string, RegExp]> = [
    [`printf 'a:${SECRET}\\nb:x\\nc\\n'`, /printed 3 lines, expected one$/],
    [`printf 'a:${SECRET}\\n\\n'`, /printed 2 lines, expected one$/],
    [`echo 'no-separator-${SECRET}'`, /output has no ':' separator$/],
    [`echo ':${SECRET}'`, /printed an empty username$/],
    ["echo 'user-only-SECRET:'", /printed an empty password$/],
    ['true', /printed nothing$/],
    ['echo', /printed nothing$/]
  ];
  for (const [body, want] of cases) {
    const path = script(body);
    const { err, outcome } = await failure(path);
    t.equal(err.code, 'MALFORMED_CREDENTIALS', body);
    t.equal(err.message.startsWith(`script ${path} `), true, 'the message names the script');
    t.match(err.message, want, body);
    t.equal(outcome, 'malformed');
    noSecret(t, err, 'no-separator', 'user-only-SECRET');
  }
});

t.test('script failures', async (t) => {
  const exit3 = script(`echo 'stderr-${SECRET}' >&2; echo 'u:${SECRET}'; exit 3`);
  const { err, outcome } = await failure(exit3);
  t.equal(err.code, 'SCRIPT_FAILED');
  t.match(err.message, `script ${exit3} exited with code 3`);
  t.match(err.message, /stderr: \d+ bytes/, 'stderr length may be reported');
  t.equal(outcome, 'failed');
  noSecret(t, err, 'stderr-');

  const killed = await failure(script(`echo 'u:${SECRET}'; kill -TERM $$; sleep 5`));
  t.match(killed.err.message, /was killed by signal SIGTERM$/);
  noSecret(t, killed.err);

  const big = await failure(script(`while :; do echo '${SECRET}${SECRET}${SECRET}'; done`), { maxOutputBytes: 1024 });
  t.equal(big.err.code, 'SCRIPT_FAILED');
  t.match(big.err.message, /output exceeds 1024 bytes$/);
  t.equal(big.outcome, 'failed');
  noSecret(t, big.err);

  const exact = await runExtScript(script("printf 'user:12345'"), { ...opts, maxOutputBytes: 10 });
  t.equal(exact.password, '12345', 'output of exactly maxOutputBytes is accepted');
});

t.test('checks before running', async (t) => {
  const notExec = script(`echo 'u:${SECRET}'`, 0o644);
  const a = await failure(notExec);
  t.equal(a.err.code, 'SCRIPT_FAILED');
  t.equal(a.err.message, `script ${notExec} is not executable`);
  t.equal(a.outcome, 'failed');

  const b = await failure('bin/creds.sh');
  t.equal(b.err.message, 'script path bin/creds.sh is not absolute');
  const c = await failure(join(dir, 'missing.sh'));
  t.equal(c.err.message, `script ${join(dir, 'missing.sh')} does not exist`);
  const sub = join(dir, 'a-directory');
  mkdirSync(sub);
  const d = await failure(sub);
  t.equal(d.err.message, `script ${sub} is not a regular file`);

  const noShebang = join(dir, 'no-shebang');
  writeFileSync(noShebang, `echo 'u:${SECRET}'\n`);
  chmodSync(noShebang, 0o755);
  const e = await failure(noShebang);
  t.equal(e.err.code, 'SCRIPT_FAILED');
  t.equal(e.err.message, `script ${noShebang} has no #! line and is not an ELF executable`, 'not handed to a shell');
  noSecret(t, e.err);
});

t.test('timeout kills the process group', async (t) => {
  const pidFile = join(dir, 'sleeper.pid');
  const path = script(`sleep 30 & echo $! > ${pidFile}; echo 'u:${SECRET}'; sleep 30`);
  const { err, outcome } = await failure(path, { timeoutMs: 300 });
  t.equal(err.code, 'SCRIPT_TIMEOUT');
  t.equal(err.message, `script ${path} did not finish within 300ms`);
  t.equal(outcome, 'timeout');
  noSecret(t, err);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.ok(await waitDead(pid), 'the background child is dead');
});

t.test('a background child holding stdout does not hold the answer', async (t) => {
  const pidFile = join(dir, 'holder.pid');
  const cred = await runExtScript(script(`sleep 30 & echo $! > ${pidFile}; echo 'u:${SECRET}'`), { ...opts, timeoutMs: 20_000 });
  t.equal(cred.password, SECRET, 'settled with the output once the script exited');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.ok(await waitDead(pid), 'the background child is dead');
});

t.test('a child that left the process group does not hold the answer either', async (t) => {
  const pidFile = join(dir, 'escaped.pid');
  const path = script(`setsid sleep 30 & echo $! > ${pidFile}; sleep 0.2; echo 'u:${SECRET}'`);
  const cred = await runExtScript(path, { ...opts, timeoutMs: 20_000 });
  t.equal(cred.password, SECRET, 'settled once the script exited');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ } });
});
