// Builds dist/bin/credbroker-kubelet-provider: the kubelet credential provider as one
// self-contained executable (a Node single executable application), so that a node needs
// neither Node nor dist/ nor package.json. Steps: bundle the bin into one CommonJS file
// (esbuild), write the SEA blob (node --experimental-sea-config), inject it into a copy of
// this Node binary (postject). Runs on the Node that runs this script; Linux only.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inject } from 'postject';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'dist', 'sea');
const out = join(root, 'dist', 'bin', 'credbroker-kubelet-provider');
const bundle = join(work, 'kubelet-provider.cjs');
const blob = join(work, 'kubelet-provider.blob');
const seaConfig = join(work, 'sea-config.json');
// the fuse Node's binary carries to say it may hold a SEA blob (nodejs.org/api/single-executable-applications.html)
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

if (process.platform !== 'linux') {
  console.error(`build:kubelet-provider builds a Linux executable; this is ${process.platform}`);
  process.exit(1);
}
if (!readFileSync(process.execPath).includes(FUSE)) {
  console.error(`${process.execPath} was built without single executable application support`);
  process.exit(1);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(dirname(out), { recursive: true });

await build({
  entryPoints: [join(root, 'src', 'cli', 'kubelet-provider.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: `node${process.versions.node.split('.')[0]}`,
  format: 'cjs',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning'
});

writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true }));
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

const tmp = `${out}.tmp`;
copyFileSync(process.execPath, tmp);
chmodSync(tmp, 0o755);
await inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: FUSE });
// rename: a kubelet running the old file never sees a half-written one
renameSync(tmp, out);
rmSync(work, { recursive: true, force: true });
console.log(`wrote ${out} (Node ${process.versions.node}, ${process.arch})`);
