// Route schemas compile on first use: counted compilations, the same answers as Fastify's defaults.
import Fastify from 'fastify';
import t from 'tap';
import { lazyCompilers } from '../../src/http/lazy-compilers.js';

async function build (lazy: boolean) {
  const compilers = lazyCompilers();
  const app = Fastify(lazy ? { schemaController: compilers.schemaController } : {});
  app.addSchema({ $id: 'Err', type: 'object', properties: { message: { type: 'string' } } });
  app.post('/a', {
    schema: {
      body: { type: 'object', properties: { image: { type: 'string', minLength: 1 }, n: { type: 'integer', default: 3 } }, required: ['image'], additionalProperties: false },
      response: { 200: { type: 'object', properties: { image: { type: 'string' }, n: { type: 'integer' } } }, 400: { $ref: 'Err#' } }
    }
  }, async (request) => ({ ...(request.body as object), secret: 'never serialized' }));
  app.get('/b', { schema: { querystring: { type: 'object', properties: { q: { type: 'string' } } }, response: { 200: { type: 'object', properties: { q: { type: 'string' } } } } } },
    async (request) => request.query);
  await app.ready();
  return { app, compilers };
}

t.test('nothing compiles before a route is used; then that route only; warmUp does the rest', async (t) => {
  const { app, compilers } = await build(true);
  t.teardown(() => app.close());
  const total = compilers.stats().pending;
  t.ok(total >= 4, 'each route part is pending');
  t.equal(compilers.stats().compiled, 0, 'ready, and nothing compiled');
  const a = await app.inject({ method: 'POST', url: '/a', payload: { image: 'x' } });
  t.same(a.json(), { image: 'x', n: 3 }, 'validated (with its default) and serialized by the schema');
  const afterA = compilers.stats().compiled;
  t.ok(afterA >= 2 && afterA < total, `only route /a's parts compiled (${afterA} of ${total})`);
  for (let i = 0; i < 5; i++) await app.inject({ method: 'POST', url: '/a', payload: { image: 'x' } });
  t.equal(compilers.stats().compiled, afterA, 'compiled once, whatever the number of requests');
  await compilers.warmUp();
  t.same(compilers.stats(), { compiled: total, pending: 0 }, 'warmUp compiles what is left');
  t.same((await app.inject({ url: '/b?q=1' })).json(), { q: '1' });
  t.equal(compilers.stats().compiled, total);
});

t.test('the same answers as the default compilers, errors included', async (t) => {
  const lazy = await build(true);
  const eager = await build(false);
  t.teardown(async () => { await lazy.app.close(); await eager.app.close(); });
  for (const payload of [{ image: 'x' }, { image: '' }, { image: 'x', extra: 1 }, {}, { image: 5 }]) {
    const [l, e] = await Promise.all([lazy, eager].map(async ({ app }) => await app.inject({ method: 'POST', url: '/a', payload })));
    t.equal(l?.statusCode, e?.statusCode, JSON.stringify(payload));
    t.same(l?.json(), e?.json());
  }
});
