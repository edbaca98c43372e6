// Every request example of the API document, sent to an app built on examples/ (local mode, as
// `npm start` runs it and the /docs "Try it out" sends them), gets the documented success status.
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { loadSettings } from '../../src/config/settings.js';
import { NOT_FOUND_TEXT } from '../../src/http/routes/helper.js';
import { ROOT } from '../helpers/openapi.js';

interface Media { example?: unknown, examples?: Record<string, { value: unknown }> }
interface Operation {
  operationId: string
  parameters?: Array<{ in: string, name: string, example?: unknown }>
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { content?: Record<string, Media> }>
}

const examplesOf = (media: Media): unknown[] =>
  media.example !== undefined ? [media.example] : Object.values(media.examples ?? {}).map((e) => e.value);

t.test('each request example gets its documented 2xx against the local-mode examples', async (t) => {
  const settings = loadSettings({ env: { KUBE_MODE: 'local', OVERLOAD_MAX_EVENT_LOOP_DELAY: '0', RATE_LIMIT_PER_MINUTE: '0' }, cwd: ROOT });
  const app = await buildApp({ settings });
  t.teardown(() => app.close());
  const doc = (await app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, Operation>> };
  let sent = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const success = Object.keys(op.responses).find((s) => s.startsWith('2'));
      t.ok(success, `${op.operationId} documents a success status`);
      const query = new URLSearchParams();
      for (const p of op.parameters ?? []) {
        if (p.in === 'query' && p.example !== undefined) query.set(p.name, String(p.example));
      }
      const url = query.size > 0 ? `${path}?${query.toString()}` : path;
      const bodies = Object.entries(op.requestBody?.content ?? {})
        .flatMap(([type, media]) => examplesOf(media).map((value) => ({ type, value })));
      if (op.requestBody !== undefined) t.ok(bodies.length > 0, `${op.operationId} has a request example`);
      const requests = bodies.length > 0 ? bodies : query.size > 0 ? [undefined] : [];
      for (const body of requests) {
        const res = await app.inject({
          method: method.toUpperCase() as 'GET',
          url,
          ...(body !== undefined
            ? { headers: { 'content-type': body.type }, payload: typeof body.value === 'string' ? body.value : JSON.stringify(body.value) }
            : {})
        });
        sent++;
        t.equal(String(res.statusCode), success, `${op.operationId} ${JSON.stringify(body?.value ?? url)} answers ${success}: ${res.body.slice(0, 300)}`);
        // the documented response example has the fields the real answer has
        const documented = examplesOf(op.responses[success as string]?.content?.['application/json'] ?? {})[0];
        if (documented !== null && typeof documented === 'object' && String(res.headers['content-type']).includes('json')) {
          const real = res.json() as Record<string, unknown>;
          for (const key of Object.keys(documented)) {
            if (op.operationId !== 'dockerCredentialHelperList') t.ok(key in real, `${op.operationId}: the documented field ${key} is in the answer`);
          }
        }
      }
    }
  }
  t.ok(sent >= 10, `sent ${sent} documented requests`);
});

t.test("the docker credential helper's not-found answer is the text/plain one documented", async (t) => {
  const settings = loadSettings({ env: { KUBE_MODE: 'local', OVERLOAD_MAX_EVENT_LOOP_DELAY: '0', RATE_LIMIT_PER_MINUTE: '0' }, cwd: ROOT });
  const app = await buildApp({ settings });
  t.teardown(() => app.close());
  const doc = (await app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, Operation>> };
  const documented = doc.paths['/v1/docker-credential-helper/get']?.post?.responses['404']?.content;
  t.same(Object.keys(documented ?? {}), ['text/plain']);
  const res = await app.inject({ method: 'POST', url: '/v1/docker-credential-helper/get', headers: { 'content-type': 'text/plain' }, payload: 'registry.gitlab.com' });
  t.equal(res.statusCode, 404);
  t.match(res.headers['content-type'], /^text\/plain/);
  t.equal(res.body, NOT_FOUND_TEXT);
});
