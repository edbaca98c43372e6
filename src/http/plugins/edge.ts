// The edge of every request (http/edge.ts): its id and one log line, the 503 while shutting
// down, load shedding, the request-duration metric, and the one error shape (http/errors.ts).
import fp from 'fastify-plugin';
import { registerOverload, registerRequestEdge } from '../edge.js';
import { registerErrorHandling } from '../errors.js';

export default fp(async (app) => {
  // first of all hooks, so that every answer carries the request id
  registerRequestEdge(app);
  await registerOverload(app, app.settings.overloadMaxEventLoopDelayMs);
  const { metrics } = app;
  // a callback hook: an async one costs a promise and a microtask turn on every answer
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  registerErrorHandling(app);
}, { name: 'edge', fastify: '5.x', dependencies: ['settings'] });
