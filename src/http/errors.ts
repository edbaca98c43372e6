// The one root error handler: every error leaves in the SPEC §4 shape with a stable code.
// 4xx messages pass through; 5xx carry our code and our message, never an upstream body.
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { isCodedError } from '../errors.js';

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST'
};

export function errorBody (statusCode: number, code: string, message: string) {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

export function registerErrorHandling (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation !== undefined) {
      return reply.code(400).send(errorBody(400, 'INVALID_REQUEST', `${err.validationContext ?? 'request'}${err.message.replace(/^(body|querystring|params|headers)/, '')}`));
    }
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err instanceof SyntaxError && err.statusCode === 400)) {
      return reply.code(400).send(errorBody(400, 'INVALID_REQUEST', 'the body is not valid JSON'));
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (isCodedError(err) && !err.code.startsWith('FST_') && status >= 400) {
      if (status >= 500) request.log.warn({ code: err.code }, err.message);
      if (err.code === 'RATE_LIMITED' || status === 401) {
        // headers set by the auth hook (Retry-After, WWW-Authenticate) stay
      }
      return reply.code(status).send(errorBody(status, err.code, err.message));
    }
    if (status >= 400 && status < 500) {
      const code = FASTIFY_CODES[err.code] ?? 'INVALID_REQUEST';
      return reply.code(status).send(errorBody(status, code, err.message));
    }
    request.log.error({ err: { type: err.name, code: err.code, stack: err.stack } }, 'unexpected error');
    return reply.code(500).send(errorBody(500, 'INTERNAL', 'internal error; see the service log'));
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
