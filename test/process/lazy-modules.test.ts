// Load only what is used: in local mode, building the app never loads @kubernetes/client-node
// (it costs tens of MB and most of a second). Every module the child process resolves is recorded
// by a resolve hook, so the test sees the real module graph, not a guess.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { tmpDir } from '../helpers/app.js';
import { buildOnce } from '../helpers/process.js';

t.setTimeout(300_000);

async function loadedModules (t: { teardown (fn: () => unknown): void }, env: Record<string, string>): Promise<string[]> {
  const out = await buildOnce();
  const dir = tmpDir(t);
  const log = join(dir, 'modules.log');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve (specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});
`);
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'registries.conf'), 'registries: []\n');
  const script = `
const { buildApp } = await import(${JSON.stringify(pathToFileURL(join(out, 'app.js')).href)});
const { loadSettings } = await import(${JSON.stringify(pathToFileURL(join(out, 'config', 'settings.js')).href)});
const app = await buildApp({ settings: loadSettings(process.env, []) });
await app.close();
`;
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, REGISTRIES_CONF_PATH: join(dir, 'registries.conf'), LOCAL_SECRETS_DIR: join(dir, 'secrets'), POD_NAMESPACE: 'argocd', ...env },
      timeout: 120_000
    }, (err, _stdout, stderr) => { if (err !== null) reject(new Error(`${err.message}\n${stderr}`)); else resolve(); });
  });
  return readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
}

t.test('local mode: @kubernetes/client-node is not in the module graph after buildApp', async (t) => {
  const modules = await loadedModules(t, { KUBE_MODE: 'local', AUTH_MODE: 'none' });
  t.ok(modules.some((m) => m.endsWith('/app.js')), 'the hook saw the app load');
  t.ok(modules.some((m) => m.includes('/node_modules/fastify/')), 'and its dependencies');
  t.same(modules.filter((m) => m.includes('@kubernetes/client-node')), [], 'no @kubernetes/client-node');
  t.same(modules.filter((m) => /\/kube\/(client|api-store|reviews)\.js$|kube-applications\.js$/.test(m)), [], 'nor the modules that use it');
});

t.test('the control: a kubeconfig mode does load it', async (t) => {
  const dir = tmpDir(t);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: argocd } }]
current-context: x
`);
  const modules = await loadedModules(t, { KUBE_MODE: 'kubeconfig', KUBECONFIG: kubeconfig, AUTH_MODE: 'none' });
  t.ok(modules.some((m) => m.includes('@kubernetes/client-node')), 'the test can see it when it is loaded');
});
