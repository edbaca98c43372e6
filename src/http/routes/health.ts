// /healthz (liveness), /readyz (readiness, each check reported) and /metrics; open to all.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses, withExamples } from '../schemas.js';
import { EXAMPLES } from './examples.js';

const Check = Type.Object({
  ok: Type.Boolean(),
  detail: Type.Optional(Type.Unknown())
});

const Readiness = Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) }, { description: 'Ready: every check passes' });

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', {
    schema: {
      tags: ['health'],
      operationId: 'liveness',
      summary: 'Liveness: the event loop answers',
      description: 'The liveness probe. Open to all: no token, no rate limit, never shed.',
      security: [],
      response: { 200: withExamples(Type.Object({ status: Type.Literal('ok') }), { status: 'ok' }), ...errorResponses(431) }
    }
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      tags: ['health'],
      operationId: 'readiness',
      summary: 'Readiness: config loaded and the secret store synced',
      description: 'The readiness probe: each check with its detail. 503 until registries.conf is loaded and the Secret store has synced (a namespace the API refuses is reported, not waited for), and while shutting down. Open to all.',
      security: [],
      response: {
        200: withExamples(Readiness, ...EXAMPLES.readyz.response),
        503: { ...Readiness, description: 'Not ready: the checks say which and why' },
        ...errorResponses(431)
      }
    }
  }, async (_request, reply) => {
    const reload = app.registries.lastResult();
    const store = app.secretStore.status();
    const namespaces = Object.entries(store.namespaces);
    // a namespace the API refuses (403) is reported but does not make the service unready
    const storeOk = store.synced || namespaces.every(([, s]) => s.synced || s.forbidden === true);
    const checks = {
      config: {
        ok: reload !== undefined,
        detail: {
          path: app.settings.registriesConfPath,
          lastReload: reload?.result ?? 'not-loaded',
          ...(reload?.error !== undefined ? { error: reload.error.message } : {})
        }
      },
      secretStore: { ok: storeOk, detail: store },
      shutdown: { ok: !app.closing, ...(app.closing ? { detail: 'closing' } : {}) }
    };
    const ready = Object.values(checks).every((c) => c.ok);
    void reply.code(ready ? 200 : 503);
    return { ready, checks };
  });

  app.get('/metrics', {
    schema: {
      tags: ['health'],
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      description: 'The Prometheus text exposition format (README "Metrics"). Open to all.',
      security: [],
      produces: ['text/plain'],
      response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }), ...errorResponses(431) }
    }
  }, async (_request, reply) => {
    void reply.header('content-type', app.metrics.registry.contentType);
    return await app.metrics.registry.metrics();
  });
};

export default routes;
