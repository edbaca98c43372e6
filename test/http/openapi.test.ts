import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, openapiDocument } from '../helpers/openapi.js';
import { localApp } from '../helpers/app.js';

t.test('openapi/openapi.json is what the app serves (run `npm run openapi` after changing a route)', async (t) => {
  const committed = readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8');
  t.equal(await openapiDocument(), committed);
});

t.test('the document covers every /v1 route with error responses, and /docs serves the UI', async (t) => {
  const { app } = await localApp(t);
  const doc = (await app.inject('/openapi.json')).json();
  const paths = Object.keys(doc.paths);
  for (const p of [
    '/v1/credentials/resolve', '/v1/credentials', '/v1/credentials/explain', '/v1/credentials/test',
    '/v1/credential-specs/validate', '/v1/registries', '/v1/cache/invalidate', '/v1/auth/status',
    '/v1/docker-credential-helper/get', '/v1/kubelet/credential-provider', '/healthz', '/readyz', '/metrics'
  ]) t.ok(paths.includes(p), `documents ${p}`);
  const resolve = doc.paths['/v1/credentials/resolve'].post;
  t.ok(resolve.requestBody, 'resolve has a request body schema');
  for (const status of ['200', '400', '403', '404', '502']) t.ok(resolve.responses[status], `resolve documents ${status}`);
  t.ok(doc.components.schemas.ErrorResponse, 'error shape is a component');
  const docs = await app.inject('/docs/');
  t.equal(docs.statusCode, 200);
  t.match(docs.headers['content-type'], /html/);
});
