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
  t.match(docs.body, /<title>credbroker<\/title>/, '/docs is titled credbroker');
});

t.test('what the linters and the /docs UI need: ids, descriptions, tags, security, headers, codes', async (t) => {
  const { app } = await localApp(t);
  const doc = (await app.inject('/openapi.json')).json();
  t.equal(doc.info.license.name, 'Apache-2.0');
  t.ok(doc.servers.length > 0, 'servers');
  t.same(doc.security, [{ bearer: [] }], 'the bearer scheme applies by default');
  const tags = new Map((doc.tags as Array<{ name: string, description: string }>).map((x) => [x.name, x.description]));
  const ids = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Record<string, any>>>)) {
    for (const [method, op] of Object.entries(ops)) {
      const name = `${method.toUpperCase()} ${path}`;
      t.ok(op.operationId !== undefined && !ids.has(op.operationId), `${name} has a unique operationId`);
      ids.add(op.operationId);
      t.ok(op.summary && op.description, `${name} has a summary and a description`);
      for (const tag of op.tags) t.ok(tags.get(tag), `${name}: tag ${tag} is defined with a description`);
      if (['/healthz', '/readyz', '/metrics'].includes(path)) t.same(op.security, [], `${name} needs no token`);
      else t.equal(op.security, undefined, `${name} takes the global bearer scheme`);
      const limited = op.responses['429'];
      if (limited !== undefined) {
        for (const h of ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']) t.ok(limited.headers?.[h], `${name} 429 documents ${h}`);
      }
      if (op.responses['503']?.content?.['application/json']?.schema?.$ref !== undefined) t.ok(op.responses['503'].headers?.['Retry-After'], `${name} 503 documents Retry-After`);
    }
  }
  // the code enum is every code errors.ts makes (read from its text): a new error shows up without an edit here
  const codes = [...readFileSync(join(ROOT, 'src', 'errors.ts'), 'utf8').matchAll(/createError(?:<[^>]*>)?\(\s*'([A-Z_]+)'/g)].map((m) => m[1] as string);
  t.ok(codes.includes('NO_CREDENTIALS_CONFIGURED') && codes.includes('OVERLOADED'));
  t.same([...doc.components.schemas.ErrorResponse.properties.code.enum].sort(), [...new Set(codes)].sort());
});
