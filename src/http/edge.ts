// The edge of every request: its id (x-request-id), the one request log line, the 503 while
// shutting down, and load shedding (503 OVERLOADED with Retry-After) when the event loop lags.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import underPressure from '@fastify/under-pressure';
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Overloaded, ShuttingDown } from '../errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** set when the process is shutting down (preClose, or main.ts on a signal): /readyz answers 503 */
    closing: boolean
  }
  interface FastifyRequest {
    /** set once the request's audit line is written: that line is then the request's line */
    audited: boolean
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:@=+/-]{1,128}$/;

/** Fastify's genReqId: the caller's x-request-id when it is short and plain, else a new UUID. */
export function requestId (req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

// probes and scrapes come every few seconds from machines: debug, not a line each at info
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/** The request hooks; registered before every other hook so that all answers carry the id. */
export function registerRequestEdge (app: FastifyInstance): void {
  app.decorateRequest('audited', false);
  app.decorate('closing', false);

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (app.closing) {
      void reply.header('connection', 'close');
      // the probes answer for themselves: /readyz says 503 with its shutdown check
      if (!QUIET_ROUTES.has(request.routeOptions.url ?? '')) {
        done(new ShuttingDown('the service is shutting down; retry'));
        return;
      }
    }
    done();
  });

  app.addHook('preClose', (done) => {
    app.closing = true;
    done();
  });
}

/**
 * Fastify's request log lines, replaced by one line per request, written when the answer is
 * sent: none at info when the audit line was written (it is the request's line), probes,
 * scrapes and shed requests at debug.
 */
export class EdgeLogController extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const quiet = request.audited || QUIET_ROUTES.has(request.routeOptions.url ?? '') || status === 503;
    const level = quiet ? 'debug' : 'info';
    const log = reply.log as Partial<Logger>;
    if (log.isLevelEnabled?.(level) !== true) return;
    const fields = { req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 100) / 100 };
    if (error != null) (log as Logger).warn({ ...fields, err: error }, 'request errored');
    else (log as Logger)[level](fields, 'request completed');
  }
}

/** Load shedding on event-loop delay (OVERLOAD_MAX_EVENT_LOOP_DELAY; 0 turns it off). Probes pass. */
export async function registerOverload (app: FastifyInstance, maxEventLoopDelayMs: number, retryAfterSeconds = 2): Promise<void> {
  if (maxEventLoopDelayMs <= 0) return;
  let lastWarn = 0;
  let shed = 0;
  await app.register(underPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    // the mean delay over a window a few times the threshold: one GC pause does not trip it
    sampleInterval: Math.min(1000, Math.max(100, 5 * maxEventLoopDelayMs)),
    pressureHandler: async (request: FastifyRequest, reply: FastifyReply, _type: string, value: number | undefined) => {
      if (QUIET_ROUTES.has(request.routeOptions.url ?? '')) return;
      shed++;
      const now = Date.now();
      if (now - lastWarn >= 10_000) {
        app.log.warn({ eventLoopDelayMs: Math.round(value ?? 0), shed }, 'overloaded: shedding requests with 503 OVERLOADED');
        lastWarn = now;
        shed = 0;
      }
      void reply.header('Retry-After', String(retryAfterSeconds));
      throw new Overloaded(`the service is overloaded; retry after ${retryAfterSeconds}s`);
    }
  });
}
