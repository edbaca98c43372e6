// A change of one manifest file reads and parses that file only: counted opens, never timings.
import fs, { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LocalSecretStore } from '../../src/kube/local-store.js';

const manifest = (name: string, value: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'argocd' }, stringData: { creds: value } });

t.test('a reload after one file changed opens that file only, and still sees every Secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'credbroker-reads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, `${n}.json`), manifest(n, `u:${n}`));

  // count the opens of manifest files (the one config-file reader opens through node:fs/promises)
  const opened: string[] = [];
  const realOpen = fs.promises.open;
  fs.promises.open = (async (path: fs.PathLike, ...rest: unknown[]) => {
    if (String(path).startsWith(dir)) opened.push(String(path).slice(dir.length + 1));
    return await (realOpen as (...a: unknown[]) => Promise<fs.promises.FileHandle>)(path, ...rest);
  }) as typeof fs.promises.open;
  syncBuiltinESMExports();
  t.teardown(() => { fs.promises.open = realOpen; syncBuiltinESMExports(); });

  const store = new LocalSecretStore({ dir, defaultNamespace: 'argocd' });
  const events: string[] = [];
  store.onChange((_kind, _ns, name) => { events.push(name); });
  t.teardown(() => store.close());
  await store.start();
  t.same(opened.sort(), ['a.json', 'b.json', 'c.json'], 'the first load reads every file');

  opened.length = 0;
  writeFileSync(join(dir, 'b.json.tmp'), manifest('b', 'u:b2'));
  renameSync(join(dir, 'b.json.tmp'), join(dir, 'b.json'));
  await store.reload();
  t.same(opened, ['b.json'], 'only the changed file is read again');
  t.same(events, ['b'], 'and only its Secret changed');
  t.equal((await store.getSecret('argocd', 'b'))?.data.creds?.toString(), 'u:b2');
  t.equal((await store.getSecret('argocd', 'a'))?.data.creds?.toString(), 'u:a', 'the unchanged files keep their Secrets');

  opened.length = 0;
  await store.reload();
  t.same(opened, [], 'nothing changed: nothing read');
  t.equal(store.status().synced, true);
});
