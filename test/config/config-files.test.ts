// Every config file (registries.conf, the policy, the tokens file, the Argo CD token file, the
// local Secret manifests) refuses what is not a regular file: a FIFO, a directory, a device behind
// a symlink, a socket, a file over its size bound. Nothing blocks the process (each test has a
// short timeout), start fails with one line, and a bad reload keeps the last good config.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ArgocdClient } from '../../src/argocd/client.js';
import { ConfigFileError, readConfigFile, readConfigFileSync, ReloadingFile } from '../../src/config/watch.js';
import { openTokensFile, MAX_TOKENS_BYTES } from '../../src/config/tokens.js';
import { openPolicyFile } from '../../src/policy/policy.js';
import { LocalSecretStore, MAX_FILE_BYTES } from '../../src/kube/local-store.js';
import { parseRegistriesConf } from '../../src/registry/registries-conf.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { eventually, localApp, secretManifest, tmpDir } from '../helpers/app.js';
import { FakeArgocd } from '../helpers/fake-argocd.js';

const TIMEOUT_MS = 15_000;
const SECRET = 'planted-S3CRET-value-7731';

interface BadKind {
  name: string
  /** what the refusal says */
  message: RegExp
  /** puts the bad thing at `path` (which does not exist); returns a cleanup */
  make (t: Test, path: string, maxBytes: number, good: string): void
}

const BAD_KINDS: BadKind[] = [
  {
    name: 'a FIFO',
    message: /is a FIFO, not a regular file/,
    make: (_t, path) => { execFileSync('mkfifo', [path]); }
  },
  {
    name: 'a directory',
    message: /is a directory, not a regular file/,
    make: (_t, path) => { mkdirSync(path); }
  },
  {
    name: 'a symlink to /dev/zero',
    message: /is a character device, not a regular file/,
    make: (_t, path) => { symlinkSync('/dev/zero', path); }
  },
  {
    name: 'a socket',
    message: /is a socket, not a regular file/,
    make: (t, path) => {
      const server: Server = createServer();
      server.listen(path);
      t.teardown(() => { server.close(); });
    }
  },
  {
    name: 'an oversized file',
    message: /is larger than \d+ bytes/,
    // valid content padded with a comment: only the size bound can refuse it
    make: (_t, path, maxBytes, good) => { writeFileSync(path, `${good}\n#${'x'.repeat(maxBytes)}\n`); }
  }
];

/** Puts a bad kind in place of `path` the way an operator would: built beside it, renamed over it. */
function replaceWith (t: Test, kind: BadKind, path: string, maxBytes: number, good: string): void {
  if (kind.name === 'a directory' || kind.name === 'a socket') {
    unlinkSync(path);
    kind.make(t, path, maxBytes, good);
    return;
  }
  const side = `${path}.new`;
  kind.make(t, side, maxBytes, good);
  renameSync(side, path);
}

async function counter (metrics: Metrics, file: string, result: string): Promise<number> {
  const m = await metrics.configReloads.get();
  return m.values.find((v) => v.labels.file === file && v.labels.result === result)?.value ?? 0;
}

t.test('the reader refuses each kind without blocking', async (t) => {
  t.setTimeout(TIMEOUT_MS);
  for (const kind of BAD_KINDS) {
    await t.test(kind.name, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const path = join(tmpDir(t), 'file');
      kind.make(t, path, 1024, 'a: 1');
      await new Promise((resolve) => setTimeout(resolve, 20)); // the socket listens
      t.throws(() => readConfigFileSync(path, 1024), kind.message, 'sync');
      const err = await readConfigFile(path, 1024).then(() => undefined, (e: unknown) => e);
      t.ok(err instanceof ConfigFileError, 'async: a ConfigFileError');
      t.match((err as Error).message, kind.message, 'async');
    });
  }
  await t.test('a regular file behind a symlink is read', async (t) => {
    const dir = tmpDir(t);
    writeFileSync(join(dir, 'real'), 'a: 1\n');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    t.equal(readConfigFileSync(join(dir, 'link')).toString(), 'a: 1\n');
    t.equal((await readConfigFile(join(dir, 'link'))).toString(), 'a: 1\n');
    writeFileSync(join(dir, 'exact'), 'x'.repeat(1024));
    t.equal(readConfigFileSync(join(dir, 'exact'), 1024).length, 1024, 'exactly the bound is allowed');
  });
});

const GOOD_CONF = 'registries:\n  - name: Good\n    prefix: good.example.com\n    api_url: https://good.example.com\n';

t.test('registries.conf', async (t) => {
  t.setTimeout(TIMEOUT_MS * 3);
  for (const kind of BAD_KINDS) {
    await t.test(`${kind.name} fails start with one clear line`, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const dir = tmpDir(t);
      const path = join(dir, 'registries.conf');
      kind.make(t, path, 1024 * 1024, GOOD_CONF);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await t.rejects(localApp(t, { settingsEnv: { REGISTRIES_CONF_PATH: path } }), {
        name: 'ConfigError',
        message: new RegExp(`^REGISTRIES_CONF_PATH: .*registries\\.conf ${kind.message.source}$`)
      });
    });
  }
  for (const kind of BAD_KINDS) {
    await t.test(`${kind.name} on reload: reported, the last good config kept`, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const { app, confPath, metrics, logs } = await localApp(t, { conf: GOOD_CONF });
      replaceWith(t, kind, confPath, 1024 * 1024, GOOD_CONF.replace('Good', 'Other'));
      t.ok(await eventually(async () => await counter(metrics, 'registries', 'failure') === 1), 'one failed reload counted');
      const ready = (await app.inject('/readyz')).json<{ checks: { config: { detail: { lastReload: string, error?: string } } } }>();
      t.equal(ready.checks.config.detail.lastReload, 'failure');
      t.match(ready.checks.config.detail.error, kind.message, '/readyz says why');
      const regs = (await app.inject('/v1/registries')).json<{ registries: Array<{ name: string }> }>();
      t.ok(regs.registries.some((r) => r.name === 'Good'), 'the last good registries.conf is still served');
      t.ok(logs.some((l) => /reload failed; keeping the last good version/.test(l) && kind.message.test(l)), 'logged');
      t.equal(await counter(metrics, 'registries', 'success'), 0);
    });
  }
});

t.test('a registries.conf ca_file that is not a regular file is refused without blocking', async (t) => {
  t.setTimeout(TIMEOUT_MS);
  for (const kind of BAD_KINDS.filter((k) => k.name !== 'an oversized file')) {
    const path = join(tmpDir(t), 'ca.pem');
    kind.make(t, path, 1024 * 1024, '');
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.throws(() => parseRegistriesConf(`registries:\n- name: Corp\n  prefix: corp.example\n  ca_file: ${path}\n`, 'registries.conf'),
      { name: 'ConfigError', message: new RegExp(`ca_file: .*ca\\.pem ${kind.message.source}`) }, kind.name);
  }
});

t.test('REGISTRIES_CONF_PATH naming a missing file: a warning naming the path, an empty configuration', async (t) => {
  const dir = tmpDir(t);
  const missing = join(dir, 'registires.conf');
  const { app, logs } = await localApp(t, { settingsEnv: { REGISTRIES_CONF_PATH: missing } });
  const warning = logs.map((l) => JSON.parse(l) as { level: number, msg: string, path?: string }).filter((l) => l.level === 40 && l.msg.includes(missing));
  t.equal(warning.length, 1, 'one warning line');
  t.equal(warning[0]?.path, missing);
  t.match(warning[0]?.msg, /does not exist/);
  const regs = (await app.inject('/v1/registries')).json<{ registries: unknown[] }>();
  t.ok(Array.isArray(regs.registries), 'the service answers with an empty configuration');

  const present = await localApp(t, { conf: GOOD_CONF });
  t.notOk(present.logs.some((l) => /does not exist/.test(l)), 'no warning when the file is there');
});

const GOOD_POLICY = 'rules:\n  - subjects: ["static:ci"]\n    actions: ["resolve"]\n    registries: ["*"]\n';
const TOKEN_DIGEST = 'a'.repeat(64);
const GOOD_TOKENS = `tokens:\n  - name: ci\n    sha256: ${TOKEN_DIGEST}\n`;

interface FileCase {
  name: string
  setting: string
  good: string
  maxBytes: number
  open (path: string, metrics: Metrics, logs: string[]): Pick<ReloadingFile<unknown>, 'current' | 'lastResult' | 'close'>
}

const FILE_CASES: FileCase[] = [
  {
    name: 'policy',
    setting: 'AUTH_POLICY_PATH',
    good: GOOD_POLICY,
    maxBytes: 1024 * 1024,
    open: (path, metrics, logs) => openPolicyFile(path, { metrics, log: { info: () => {}, error: (_o, m) => { logs.push(m); } }, intervalMs: 50, debounceMs: 20 })
  },
  {
    name: 'tokens',
    setting: 'AUTH_TOKENS_FILE',
    good: GOOD_TOKENS,
    maxBytes: MAX_TOKENS_BYTES,
    open: (path, metrics, logs) => openTokensFile(path, { metrics, log: { info: () => {}, error: (_o, m) => { logs.push(m); } }, intervalMs: 50, debounceMs: 20 })
  }
];

for (const fc of FILE_CASES) {
  t.test(`the ${fc.name} file`, async (t) => {
    t.setTimeout(TIMEOUT_MS * 3);
    for (const kind of BAD_KINDS) {
      await t.test(`${kind.name} at start`, async (t) => {
        t.setTimeout(TIMEOUT_MS);
        const path = join(tmpDir(t), 'file.yaml');
        kind.make(t, path, fc.maxBytes, fc.good);
        await new Promise((resolve) => setTimeout(resolve, 20));
        t.throws(() => fc.open(path, createMetrics({ defaultMetrics: false }), []),
          { name: 'ConfigError', message: new RegExp(`^${fc.setting}: .*file\\.yaml ${kind.message.source}$`) });
      });
      await t.test(`${kind.name} on reload`, async (t) => {
        t.setTimeout(TIMEOUT_MS);
        const path = join(tmpDir(t), 'file.yaml');
        writeFileSync(path, fc.good);
        const metrics = createMetrics({ defaultMetrics: false });
        const logs: string[] = [];
        const file = fc.open(path, metrics, logs);
        t.teardown(() => file.close());
        const before = file.current();
        replaceWith(t, kind, path, fc.maxBytes, fc.good);
        t.ok(await eventually(async () => await counter(metrics, fc.name, 'failure') >= 1), 'the failed reload is counted');
        t.equal(file.current(), before, 'the last good value is kept');
        t.equal(file.lastResult()?.result, 'failure');
        t.match(file.lastResult()?.error?.message, kind.message);
        t.ok(logs.some((m) => /keeping the last good version/.test(m)), 'logged');
      });
    }
  });
}

t.test('the Argo CD token file', async (t) => {
  t.setTimeout(TIMEOUT_MS * 3);
  for (const kind of BAD_KINDS) {
    await t.test(kind.name, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const dir = tmpDir(t);
      const path = join(dir, 'token');
      kind.make(t, path, 64 * 1024, SECRET);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // nothing listens there: the token is read before any request is made
      const metrics = createMetrics({ defaultMetrics: false });
      const client = new ArgocdClient({ server: '127.0.0.1:9', plaintext: true, tokenFile: path, backoffMs: 1, metrics, tokenRecheckMs: 0 });
      t.teardown(() => client.close());
      const err = await client.userInfo().then(() => undefined, (e: unknown) => e as Error);
      t.match(err?.message, new RegExp(`the Argo CD token file .*token ${kind.message.source}`));
      t.notOk(String(err?.message).includes(SECRET), 'no token in the message');
    });
  }
});

t.test('the Argo CD token file replaced on a running client: the last good token is kept', async (t) => {
  t.setTimeout(TIMEOUT_MS * 3);
  for (const kind of BAD_KINDS) {
    await t.test(kind.name, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const path = join(tmpDir(t), 'token');
      writeFileSync(path, `${SECRET}\n`);
      const fake = await FakeArgocd.start({ tokens: [SECRET] });
      const metrics = createMetrics({ defaultMetrics: false });
      const client = new ArgocdClient({ server: fake.address, plaintext: true, tokenFile: path, backoffMs: 1, metrics, tokenRecheckMs: 0 });
      t.teardown(async () => { client.close(); await fake.close(); });
      t.ok((await client.userInfo()).loggedIn, 'the first token works');
      replaceWith(t, kind, path, 64 * 1024, SECRET);
      await new Promise((resolve) => setTimeout(resolve, 20));
      t.ok((await client.userInfo()).loggedIn, 'still logged in with the last good token');
      t.equal(fake.requests.at(-1)?.token, SECRET);
      t.equal(await counter(metrics, 'argocd-token', 'failure'), 1, 'the failed re-read is counted');
    });
  }
});

t.test('local Secret manifests', async (t) => {
  t.setTimeout(TIMEOUT_MS * 3);
  const manifest = secretManifest('argocd', 'creds', { creds: `u:${SECRET}` });
  for (const kind of BAD_KINDS) {
    await t.test(`${kind.name} at start is reported and skipped`, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const dir = tmpDir(t);
      writeFileSync(join(dir, 'ok.json'), secretManifest('argocd', 'ok', { creds: 'u:p' }));
      kind.make(t, join(dir, 'bad.json'), MAX_FILE_BYTES, manifest);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const warnings: string[] = [];
      const store = new LocalSecretStore({ dir, defaultNamespace: 'argocd', log: { warn: (_o, m) => { warnings.push(m); } }, intervalMs: 50 });
      t.teardown(() => store.close());
      await store.start();
      t.ok(await store.getSecret('argocd', 'ok'), 'the other files load');
      t.equal(await store.getSecret('argocd', 'creds'), undefined);
      t.match(store.problems(), [new RegExp(`^file bad\\.json ${kind.message.source}`)]);
      t.ok(warnings.some((w) => kind.message.test(w)), 'logged');
      t.notOk(warnings.join('\n').includes(SECRET));
    });
    await t.test(`${kind.name} on reload keeps the last loaded version`, async (t) => {
      t.setTimeout(TIMEOUT_MS);
      const dir = tmpDir(t);
      const path = join(dir, 'creds.json');
      writeFileSync(path, manifest);
      const store = new LocalSecretStore({ dir, defaultNamespace: 'argocd', intervalMs: 50 });
      t.teardown(() => store.close());
      await store.start();
      replaceWith(t, kind, path, MAX_FILE_BYTES, manifest);
      t.ok(await eventually(() => store.problems().some((p) => kind.message.test(p))), 'the bad file is reported');
      t.match(store.problems(), [/its last loaded version is kept$/]);
      t.equal((await store.getSecret('argocd', 'creds'))?.data.creds?.toString(), `u:${SECRET}`, 'the last loaded Secret is still served');
    });
  }
});

t.test('a service started on a FIFO registries.conf exits 2 with one line', async (t) => {
  t.setTimeout(TIMEOUT_MS * 2);
  const dir = tmpDir(t);
  const conf = join(dir, 'registries.conf');
  execFileSync('mkfifo', [conf]);
  mkdirSync(join(dir, 'secrets'));
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/credbroker.ts', 'serve'], {
    env: { ...process.env, KUBE_MODE: 'local', REGISTRIES_CONF_PATH: conf, LOCAL_SECRETS_DIR: join(dir, 'secrets'), PORT: '0', LOG_LEVEL: 'info' },
    encoding: 'utf8',
    timeout: TIMEOUT_MS
  });
  t.equal(r.status, 2, 'exit code 2');
  const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /cannot start: REGISTRIES_CONF_PATH: .*registries\.conf is a FIFO, not a regular file/);
  rmSync(conf);
});
