import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/errors.js';
import { ReloadingFile, watchFile, type ReloadResult } from '../../src/config/watch.js';
import { parseRegistriesConf, type RegistriesConfig } from '../../src/registry/registries-conf.js';

type Tap = Test;
// generous: a missed change fails the test, no assertion is made on how fast it was seen
const WAIT_MS = 5000;
const QUIET_MS = 1200;

function tmp (t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Counts onChange calls and lets a test wait for the next one. */
function counter (t: Tap, path: string): { count: () => number, next: () => Promise<void> } {
  let count = 0;
  let waiters: Array<() => void> = [];
  const w = watchFile(path, () => {
    count++;
    const ws = waiters;
    waiters = [];
    for (const resolve of ws) resolve();
  });
  t.teardown(() => w.close());
  return {
    count: () => count,
    next: async () => await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no change seen')), WAIT_MS);
      waiters.push(() => { clearTimeout(timer); resolve(); });
    })
  };
}

t.test('in-place edit fires once', async (t) => {
  const file = join(tmp(t), 'registries.conf');
  writeFileSync(file, 'a: 1\n');
  const c = counter(t, file);
  const seen = c.next();
  writeFileSync(file, 'a: 2\n');
  await seen;
  await sleep(QUIET_MS);
  t.equal(c.count(), 1);
});

t.test('an editor\'s atomic rename', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'v1\n');
  const c = counter(t, file);
  const seen = c.next();
  writeFileSync(join(dir, '.policy.yaml.swp'), 'v2\n');
  renameSync(join(dir, '.policy.yaml.swp'), file);
  await seen;
  await sleep(QUIET_MS);
  t.equal(c.count(), 1);
});

t.test('a Kubernetes ConfigMap symlink swap', async (t) => {
  const dir = tmp(t);
  // the kubelet's atomic writer layout: file → ..data/file, ..data → ..<timestamp>
  mkdirSync(join(dir, '..2026_01_01_00_00_00.1'));
  writeFileSync(join(dir, '..2026_01_01_00_00_00.1', 'registries.conf'), 'registries: []\n');
  symlinkSync('..2026_01_01_00_00_00.1', join(dir, '..data'));
  symlinkSync('..data/registries.conf', join(dir, 'registries.conf'));
  const file = join(dir, 'registries.conf');
  const c = counter(t, file);

  const seen = c.next();
  mkdirSync(join(dir, '..2026_01_01_00_01_00.2'));
  writeFileSync(join(dir, '..2026_01_01_00_01_00.2', 'registries.conf'), 'registries:\n- {name: q, prefix: quay.io}\n');
  symlinkSync('..2026_01_01_00_01_00.2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, '..2026_01_01_00_00_00.1'), { recursive: true });
  await seen;
  await sleep(QUIET_MS);
  t.equal(c.count(), 1);
});

t.test('delete, then recreate', async (t) => {
  const file = join(tmp(t), 'token');
  writeFileSync(file, 'one');
  const c = counter(t, file);
  let seen = c.next();
  unlinkSync(file);
  await seen;
  t.equal(c.count(), 1, 'vanishing is a change');
  seen = c.next();
  writeFileSync(file, 'two');
  await seen;
  t.equal(c.count(), 2, 'reappearing is a change');
});

t.test('a touch without a content change does not fire; close stops it', async (t) => {
  const file = join(tmp(t), 'f');
  writeFileSync(file, 'same');
  const c = counter(t, file);
  const later = new Date(Date.now() + 10_000);
  utimesSync(file, later, later);
  writeFileSync(file, 'same');
  await sleep(QUIET_MS);
  t.equal(c.count(), 0);

  let fired = 0;
  const w = watchFile(file, () => { fired++; });
  w.close();
  writeFileSync(file, 'changed');
  await sleep(QUIET_MS);
  t.equal(fired, 0);
});

t.test('watching a file whose directory does not exist yet', async (t) => {
  const dir = join(tmp(t), 'later');
  const file = join(dir, 'f');
  const c = counter(t, file);
  const seen = c.next();
  mkdirSync(dir);
  writeFileSync(file, 'x');
  await seen;
  t.equal(c.count(), 1);
});

function reloading (t: Tap, path: string, opts: { missingOk?: boolean } = {}): {
  file: ReloadingFile<RegistriesConfig>, results: Array<[ReloadResult, ConfigError | undefined]>, next: () => Promise<void>
} {
  const results: Array<[ReloadResult, ConfigError | undefined]> = [];
  let waiters: Array<() => void> = [];
  const file = new ReloadingFile(path, (text) => parseRegistriesConf(text, path), {
    ...opts,
    onReload: (result, error) => {
      results.push([result, error]);
      const ws = waiters;
      waiters = [];
      for (const resolve of ws) resolve();
    }
  });
  t.teardown(() => file.close());
  return {
    file,
    results,
    next: async () => await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reload seen')), WAIT_MS);
      waiters.push(() => { clearTimeout(timer); resolve(); });
    })
  };
}

t.test('ReloadingFile: a bad edit keeps the last good value', async (t) => {
  const path = join(tmp(t), 'registries.conf');
  writeFileSync(path, 'registries:\n- {name: a, prefix: a.io}\n');
  const r = reloading(t, path);
  const initial = r.file.load();
  t.equal(initial.registries[0]?.name, 'a');
  t.equal(r.file.lastResult()?.result, 'success');

  let changed: RegistriesConfig | undefined;
  r.file.onChange((value) => { changed = value; });

  let seen = r.next();
  writeFileSync(path, 'registries:\n- {name: b, prefix: b.io}\n');
  await seen;
  t.same(r.results.map(([res]) => res), ['success']);
  t.equal(r.file.current().registries[0]?.name, 'b');
  t.equal(changed?.registries[0]?.name, 'b', 'listeners get the new value');

  seen = r.next();
  writeFileSync(path, 'registries:\n- {name: c, prefix: c.io, bogus: 1}\n');
  await seen;
  t.equal(r.results.at(-1)?.[0], 'failure');
  t.ok(r.results.at(-1)?.[1] instanceof ConfigError);
  t.match(r.results.at(-1)?.[1]?.message, /unknown key "bogus"/);
  t.equal(r.file.current().registries[0]?.name, 'b', 'still the last good value');
  t.equal(r.file.lastResult()?.result, 'failure');
  t.equal(changed?.registries[0]?.name, 'b', 'listeners are not told about a bad edit');

  seen = r.next();
  unlinkSync(path);
  await seen;
  t.equal(r.results.at(-1)?.[0], 'failure', 'a vanished file is a failure');
  t.equal(r.file.current().registries[0]?.name, 'b');

  seen = r.next();
  writeFileSync(path, 'registries:\n- {name: d, prefix: d.io}\n');
  await seen;
  t.equal(r.results.at(-1)?.[0], 'success');
  t.equal(r.file.current().registries[0]?.name, 'd');
  t.equal(r.file.lastResult()?.error, undefined);
});

t.test('ReloadingFile: initial load errors, missing files, size bound', async (t) => {
  const dir = tmp(t);
  const missing = join(dir, 'absent.conf');
  t.throws(() => reloading(t, missing).file.load(), ConfigError);
  const empty = reloading(t, missing, { missingOk: true });
  t.same(empty.file.load().registries, [], 'missingOk: parse("") stands in');

  const seen = empty.next();
  writeFileSync(missing, 'registries:\n- {name: late, prefix: late.io}\n');
  await seen;
  t.equal(empty.file.current().registries[0]?.name, 'late', 'a file that appears later is loaded');

  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'registries: {}\n');
  t.throws(() => reloading(t, bad).file.load(), { name: 'ConfigError', message: /must be a list/ });

  const big = join(dir, 'big.conf');
  writeFileSync(big, 'x'.repeat(2 * 1024 * 1024));
  t.throws(() => reloading(t, big).file.load(), { message: /larger than/ });

  t.throws(() => new ReloadingFile(dir, (x) => x).load(), { message: /not a regular file/ });
  t.throws(() => new ReloadingFile(big, (x) => x).current(), /not been loaded/);

  const withEmpty = new ReloadingFile(missing + '.nope', (x) => x.trim(), { missingOk: true, emptyValue: 'EMPTY' });
  t.teardown(() => withEmpty.close());
  t.equal(withEmpty.load(), 'EMPTY');
});

t.test('ReloadingFile: a parser\'s own error text never reaches the message (secrets)', async (t) => {
  const path = join(tmp(t), 'token');
  const secret = 'tok-9f8e7d6c5b4a';
  writeFileSync(path, secret);
  const file = new ReloadingFile(path, (text) => {
    throw new TypeError(`cannot use ${text}`);
  }, { setting: 'ARGOCD_TOKEN_FILE' });
  t.teardown(() => file.close());
  try {
    file.load();
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.equal((err as ConfigError).setting, 'ARGOCD_TOKEN_FILE');
    t.notMatch((err as Error).message, secret);
  }
});
