// acr: references, end to end through the real service process: @azure/identity's
// WorkloadIdentityCredential against a loopback Microsoft Entra token endpoint over TLS (its CA
// through NODE_EXTRA_CA_CERTS, read at process start, hence the child process), then the
// ACR /oauth2/exchange of the entry's API URL.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../../helpers/app.js';
import { jwt, selfSignedTls, startFakeAcrExchange, startFakeEntra, type FakeAcrExchange } from '../../helpers/fake-cloud.js';
import { cleanEnv, listeningUrl, request, spawnService } from '../../helpers/process.js';
import { requireTool } from '../../helpers/tools.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '2a4f0c1e-3b5d-4e6f-8a7b-9c0d1e2f3a4b';
const OTHER_CLIENT = '11111111-2222-3333-4444-555555555555';
const FEDERATED = jwt({ iss: 'https://oidc.example', sub: 'system:serviceaccount:argocd:credbroker', aud: 'api://AzureADTokenExchange', exp: Math.floor(Date.now() / 1000) + 3600 });
const ACR_USER = '00000000-0000-0000-0000-000000000000';

interface Resolved { username: string, password: string, cached: boolean, stale: boolean, expiresAt: string }

t.test('acr: through the service process', async (t) => {
  if (requireTool(t, 'openssl') === undefined) return;
  const tls = await selfSignedTls(t);
  const entra = await startFakeEntra(t, tls);
  entra.assertions.add(FEDERATED);
  const accepts = (aad: string): boolean => entra.issued.has(aad);
  const acr = await startFakeAcrExchange(t, accepts);
  const denying = await startFakeAcrExchange(t, accepts);
  denying.mode = 'deny';
  const flaky = await startFakeAcrExchange(t, accepts);
  flaky.lifetimeSec = 3;

  const dir = tmpDir(t);
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'federated-token'), FEDERATED);
  const entry = (name: string, prefix: string, ex: FakeAcrExchange, spec = 'acr:'): string =>
    `  - name: ${name}\n    prefix: ${prefix}\n    api_url: ${ex.url}\n    credentials: "${spec}"\n`;
  writeFileSync(join(dir, 'registries.conf'), 'registries:\n' +
    entry('main', 'contosoregistry.azurecr.io', acr) +
    entry('denied', 'deniedregistry.azurecr.io', denying) +
    entry('flaky', 'flakyregistry.azurecr.io', flaky) +
    entry('proxy', 'mirror.example.com', acr, `acr:tenant=${TENANT},clientId=${CLIENT}`) +
    entry('stranger', 'strangerregistry.azurecr.io', acr, `acr:clientId=${OTHER_CLIENT}`));
  const p = await spawnService(t, [], {
    env: cleanEnv(t, {
      PORT: '0',
      REGISTRIES_CONF_PATH: join(dir, 'registries.conf'),
      LOCAL_SECRETS_DIR: join(dir, 'secrets'),
      LOG_LEVEL: 'debug',
      NODE_EXTRA_CA_CERTS: tls.certPath,
      AZURE_AUTHORITY_HOST: entra.url,
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: CLIENT,
      AZURE_FEDERATED_TOKEN_FILE: join(dir, 'federated-token')
    })
  });
  t.ok(await p.waitFor(/credbroker listening on http/, 60_000), 'listening');
  const base = listeningUrl(p.stdout());
  if (base === undefined) { t.fail(p.stdout() + p.stderr()); return; }
  const post = async (path: string, image: string) => {
    const r = await request(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image }), ms: 30_000 });
    return { status: r.status, body: r.body, json: JSON.parse(r.body) as Record<string, unknown> };
  };

  await t.test('50 concurrent misses: one Entra token, one exchange, the refresh token\'s own expiry', async (t) => {
    const all = await Promise.all(Array.from({ length: 50 }, async () => await post('/v1/credentials/resolve', 'contosoregistry.azurecr.io/team/app:1')));
    t.same(new Set(all.map((r) => r.status)), new Set([200]), all[0]?.body ?? '');
    t.equal(entra.tokenCalls, 1);
    t.equal(acr.exchanges, 1);
    const r = all[0]?.json as unknown as Resolved;
    t.equal(r.username, ACR_USER);
    t.equal(r.password, acr.issued[0]);
    const exp = (JSON.parse(Buffer.from((acr.issued[0] ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number }).exp;
    t.equal(Date.parse(r.expiresAt), exp * 1000, 'expiry from the refresh token\'s exp');
    t.same(acr.lastForm, { grant_type: 'access_token', service: 'contosoregistry.azurecr.io', access_token: '(redacted)', tenant: TENANT });
    t.equal(entra.lastClientId, CLIENT);
    t.equal(entra.lastScope, 'https://management.azure.com/.default');
  });

  await t.test('explain names the provider, the workload identity and the expiry', async (t) => {
    const x = await post('/v1/credentials/explain', 'contosoregistry.azurecr.io/team/app:1');
    t.match(x.json, { cloud: { provider: 'acr', identity: 'workload-identity', registry: 'contosoregistry.azurecr.io' }, cache: { state: 'hit' } });
  });

  await t.test('behind a proxy: the exchange\'s service is the API URL\'s host', async (t) => {
    const r = await post('/v1/credentials/resolve', 'mirror.example.com/team/app:1');
    t.equal(r.status, 200, r.body);
    t.equal(acr.lastForm?.service, new URL(acr.url).host);
  });

  await t.test('ACR refuses the Entra token: CLOUD_ACCESS_DENIED naming AcrPull', async (t) => {
    const r = await post('/v1/credentials/resolve', 'deniedregistry.azurecr.io/team/app:1');
    t.equal(r.status, 502, r.body);
    t.match(r.json, { code: 'CLOUD_ACCESS_DENIED', message: /AcrPull/ });
  });

  await t.test('Entra refuses the identity: CLOUD_ACCESS_DENIED naming the federated credential', async (t) => {
    entra.mode = 'deny';
    t.teardown(() => { entra.mode = 'ok'; });
    const r = await post('/v1/credentials/resolve', 'strangerregistry.azurecr.io/team/app:1');
    t.equal(r.status, 502, r.body);
    t.match(r.json, { code: 'CLOUD_ACCESS_DENIED', message: /federated identity credential/ });
  });

  await t.test('the exchange is down with a cached token: stale served, then the expiry ends it', async (t) => {
    const first = await post('/v1/credentials/resolve', 'flakyregistry.azurecr.io/team/app:1');
    t.equal(first.status, 200, first.body);
    const expiresAt = Date.parse((first.json as unknown as Resolved).expiresAt);
    flaky.mode = 'down';
    const x = await post('/v1/credentials/explain', 'flakyregistry.azurecr.io/team/app:1');
    const freshUntil = Date.parse((x.json.cache as { freshUntil: string }).freshUntil);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, freshUntil + 20 - Date.now())));
    if (Date.now() < expiresAt - 50) {
      const stale = await post('/v1/credentials/resolve', 'flakyregistry.azurecr.io/team/app:1');
      t.equal(stale.status, 200, stale.body);
      t.match(stale.json, { stale: true, password: flaky.issued[0] });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt + 20 - Date.now())));
    const gone = await post('/v1/credentials/resolve', 'flakyregistry.azurecr.io/team/app:1');
    t.equal(gone.status, 503, gone.body);
    t.match(gone.json, { code: 'CLOUD_PROVIDER_UNAVAILABLE' });
  });

  await t.test('no secret in the service\'s output', async (t) => {
    const out = p.stdout() + p.stderr();
    for (const s of [...acr.issued, ...flaky.issued, ...entra.issued, FEDERATED]) t.notOk(out.includes(s), 'no token in the log');
    t.notOk(out.includes('planted-'), 'no provider response body in the log');
    t.notOk(out.includes('AADSTS'), 'no Entra error text in the log');
  });
});
