// /healthz (liveness), /readyz (readiness, each check reported) and /metrics; open to all.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';

const Check = Type.Object({
  ok: Type.Boolean(),
  detail: Type.Optional(Type.Unknown())
});

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const b = app.broker;

  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness: the event loop answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: config loaded and the secret store synced',
      response: {
        200: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) }),
        503: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) })
      }
    }
  }, async (_request, reply) => {
    const reload = b.registries.lastResult();
    const store = b.store.status();
    const namespaces = Object.entries(store.namespaces);
    // a namespace the API refuses (403) is reported but does not make the service unready
    const storeOk = store.synced || namespaces.every(([, s]) => s.synced || s.forbidden === true);
    const checks = {
      config: {
        ok: reload !== undefined,
        detail: {
          path: b.settings.registriesConfPath,
          lastReload: reload?.result ?? 'not-loaded',
          ...(reload?.error !== undefined ? { error: reload.error.message } : {})
        }
      },
      secretStore: { ok: storeOk, detail: store },
      shutdown: { ok: !b.closing, ...(b.closing ? { detail: 'closing' } : {}) }
    };
    const ready = Object.values(checks).every((c) => c.ok);
    void reply.code(ready ? 200 : 503);
    return { ready, checks };
  });

  app.get('/metrics', {
    schema: { tags: ['health'], summary: 'Prometheus metrics', produces: ['text/plain'], response: { 200: Type.String() } }
  }, async (_request, reply) => {
    void reply.header('content-type', b.metrics.registry.contentType);
    return await b.metrics.registry.metrics();
  });
};

export default routes;
