// Everything under /v1 needs a caller because it is registered in one plugin that carries the
// caller-auth hook (src/http/routes/v1.ts), not because of a path check: every route of the
// API document under /v1, and /v1's own 404, refuse an anonymous request; the probes, the
// metrics and the API document stay open.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { localApp, tmpDir } from '../helpers/app.js';

const TOKEN = 'v1-plugin-token';

t.test('every /v1 route and /v1 404 need a caller; the rest stays open', async (t) => {
  const dir = tmpDir(t);
  const tokens = join(dir, 'tokens.yaml');
  writeFileSync(tokens, `tokens:\n  - name: ci\n    sha256: ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
  const { app, logs } = await localApp(t, { settingsEnv: { AUTH_MODE: 'static', AUTH_TOKENS_FILE: tokens } });

  const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
  const v1 = Object.entries(doc.paths).filter(([path]) => path.startsWith('/v1/'))
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ path, method: method.toUpperCase() })));
  t.ok(v1.length >= 11, `the document lists the /v1 operations (${v1.length})`);
  for (const { path, method } of v1) {
    const res = await app.inject({ method: method as 'GET', url: path });
    t.equal(res.statusCode, 401, `${method} ${path} without a token`);
    t.equal(res.json<{ code: string }>().code, 'UNAUTHENTICATED');
  }
  // each refusal line names the route's policy action
  const refused = logs.join('').split('\n').filter((l) => l.includes('caller not authenticated'))
    .map((l) => (JSON.parse(l) as { auth: { action: string | null, route: string } }).auth);
  t.equal(refused.length, v1.length, 'one line per refusal');
  t.same(refused.filter((a) => a.action === null).map((a) => a.route), [], 'every /v1 route names its action');

  const unknown = await app.inject({ url: '/v1/nothing-here' });
  t.equal(unknown.statusCode, 401, 'an unknown /v1 path needs a token too');
  t.match(unknown.headers['www-authenticate'], /^Bearer realm="credbroker"/);
  const known = await app.inject({ url: '/v1/nothing-here', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(known.statusCode, 404, 'with a token it is a 404');
  t.equal(known.json<{ code: string }>().code, 'NOT_FOUND');

  for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs/', '/nothing-here']) {
    const res = await app.inject({ url });
    t.not(res.statusCode, 401, `${url} needs no token`);
  }
});
