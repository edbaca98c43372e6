// POST /v1/credentials/test against the real docker-registry through Debian's real tinyproxy
// (HTTPS_PROXY/HTTP_PROXY/NO_PROXY and registries.conf `proxy`), the proxy's own log saying
// which CONNECTs it served; and against a registry asking for client certificates
// (`http.tls.clientcas`), presented from files and from a rotated kubernetes.io/tls Secret.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { dockerConfigSecret, localApp } from '../helpers/app.js';
import { startProxy } from '../helpers/proxy.js';
import { startRegistry, type StartedRegistry } from '../helpers/registry.js';
import { requireTools } from '../helpers/tools.js';

const PASSWORD = 'egress-pw-4b1e9c';
const PROXY_SECRET = 'proxy-pw-e07d55';

interface Teardown { teardown: (fn: () => unknown) => void }

async function testImage (app: FastifyInstance, image: string): Promise<{ statusCode: number, body: string, json: () => any }> {
  return await app.inject({ method: 'POST', url: '/v1/credentials/test', payload: { image } });
}

async function registry (t: Teardown, repos: string[]): Promise<StartedRegistry> {
  const r = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD } });
  t.teardown(r.stop);
  for (const repo of repos) await r.push(repo, '1.0');
  return r;
}

t.test('a registry through the proxy: env proxy, NO_PROXY, registries.conf proxy and none, a refusing proxy', async (t) => {
  if (requireTools(t, 'docker-registry', 'skopeo', 'htpasswd', 'tinyproxy') === undefined) return;
  const reg = await registry(t, ['env/app', 'none/app', 'refused/app', 'down/app']);
  const proxy = await startProxy({ user: 'alice', password: PROXY_SECRET });
  t.teardown(proxy.stop);
  const entry = (path: string, extra = ''): string => `  - name: ${path}\n    prefix: ${reg.host}/${path}\n    api_url: ${reg.url}\n    insecure: true\n    credentials: pullsecret:argocd/local\n${extra}`;
  const conf = 'registries:\n' +
    entry('env') +
    entry('none', '    proxy: none\n') +
    entry('refused', `    proxy: http://${proxy.host}\n`) +
    entry('down', `    proxy: http://bob:${PROXY_SECRET}@127.0.0.1:1\n`);
  const secrets = { 'local.json': dockerConfigSecret('argocd', 'local', { [reg.host]: { username: 'alice', password: PASSWORD } }) };

  const { app, logs } = await localApp(t, { conf, secrets, settingsEnv: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url } });
  const viaEnv = await testImage(app, `${reg.host}/env/app:1.0`);
  t.match(viaEnv.json(), { ok: true, authScheme: 'basic', authenticated: true, tags: ['1.0'] }, 'HTTP_PROXY with credentials: the registry answers through the proxy');
  const tunnels = await proxy.requests();
  t.ok(tunnels.length >= 2 && tunnels.every((r) => r === reg.host), `tinyproxy's log shows the CONNECTs to ${reg.host} (${tunnels.length})`);

  const direct = await testImage(app, `${reg.host}/none/app:1.0`);
  t.match(direct.json(), { ok: true, tags: ['1.0'] }, 'proxy: none goes direct');
  t.equal((await proxy.requests()).length, tunnels.length, 'and the proxy saw nothing of it');

  const refused = await testImage(app, `${reg.host}/refused/app:1.0`);
  t.match(refused.json(), { ok: false, error: { code: 'REGISTRY_PROXY_FAILED', message: `proxy ${proxy.host} requires authentication (407) (registry ${reg.url})` } },
    'registries.conf proxy without credentials: the 407 is a coded error naming the proxy host');

  const down = await testImage(app, `${reg.host}/down/app:1.0`);
  t.match(down.json(), { ok: false, error: { code: 'REGISTRY_PROXY_FAILED', message: /^cannot connect through proxy 127\.0\.0\.1:1 \(ECONNREFUSED\)/ } });

  const listed = await app.inject({ method: 'GET', url: '/v1/registries' });
  t.same(listed.json().registries.map((r: { proxy?: string }) => r.proxy), [undefined, 'none', `http://${proxy.host}`, 'http://127.0.0.1:1'], '/v1/registries shows each proxy without its user info');
  for (const [what, text] of [['answers', viaEnv.body + refused.body + down.body + listed.body], ['log', logs.join('')]] as const) {
    t.notOk(text.includes(PROXY_SECRET), `no proxy password in the ${what}`);
    t.notOk(text.includes(PASSWORD), `no registry password in the ${what}`);
  }

  const bypass = await localApp(t, { conf, secrets, settingsEnv: { HTTP_PROXY: proxy.url, NO_PROXY: `example.com, ${reg.host}` } });
  const before = (await proxy.requests()).length;
  t.match((await testImage(bypass.app, `${reg.host}/env/app:1.0`)).json(), { ok: true, tags: ['1.0'] }, 'NO_PROXY host:port reached directly');
  t.equal((await proxy.requests()).length, before, 'the proxy log shows nothing');

  await t.rejects(localApp(t, { conf, secrets, settingsEnv: { HTTPS_PROXY: `ftp://carol:${PROXY_SECRET}@proxy` } }),
    { name: 'ConfigError', message: /^HTTPS_PROXY: must be an http/ }, 'a bad HTTPS_PROXY stops the start, naming the variable');
});
