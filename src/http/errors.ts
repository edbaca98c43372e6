// The one error shape: every answer that is an error carries `{ statusCode, code, error, message }`
// with a stable code (docs/api.md "Errors"), whether it comes from our code, from Fastify, or from
// Node's HTTP parser before Fastify sees a request. 4xx messages pass through; 5xx carry our
// code and our message, never an upstream body.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isCodedError } from '../errors.js';

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST'
};

// expected under load or at shutdown: the request line says it, a warning per answer would not help
const QUIET_5XX = new Set(['OVERLOADED', 'SHUTTING_DOWN']);

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
      // headers set before the throw (Retry-After, WWW-Authenticate) stay
      if (status >= 500 && !QUIET_5XX.has(err.code)) request.log.warn({ code: err.code }, err.message);
      return reply.code(status).send(errorBody(status, err.code, err.message));
    }
    if (status >= 400 && status < 500) {
      const code = FASTIFY_CODES[err.code] ?? 'INVALID_REQUEST';
      return reply.code(status).send(errorBody(status, code, err.message));
    }
    request.log.error({ err }, 'unexpected error');
    return reply.code(500).send(errorBody(500, 'INTERNAL', 'internal error; see the service log'));
  });

  app.setNotFoundHandler(notFound);
}

/** The 404 of a path no route answers (also /v1's own, behind its caller-auth hook). */
export function notFound (request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send(errorBody(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?', 1)[0] ?? ''}`));
}

/** Fastify's `frameworkErrors`: a URL whose parameters cannot be decoded. */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(400).header('x-request-id', request.id).send(errorBody(400, 'INVALID_REQUEST', err.message));
}

interface ParserError extends Error { code?: string, reason?: string }

function classify (err: ParserError): [number, string, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return [408, 'REQUEST_TIMEOUT', 'the request was not received in time'];
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return [400, 'MALFORMED_REQUEST', 'a request may not have both Content-Length and Transfer-Encoding'];
    case 'HPE_INVALID_CHUNK_SIZE':
      return [400, 'MALFORMED_REQUEST', 'the chunked body has an invalid chunk size'];
    default:
      // llhttp's reason is one of its fixed texts, never request data
      return [400, 'MALFORMED_REQUEST', `malformed HTTP request${err.code?.startsWith('HPE_') === true && typeof err.reason === 'string' ? `: ${err.reason}` : ''}`];
  }
}

/**
 * Node's `clientError`: the parser refused the bytes (or they came too slowly) before Fastify
 * had a request. Answer in the error shape and close, unless an answer is already on its way.
 */
export function clientErrorHandler (this: FastifyInstance, err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = classify(err);
  const id = randomUUID();
  this.log.info({ reqId: id, res: { statusCode: status }, code, parserError: err.code, remoteAddress: socket.remoteAddress }, 'request refused by the HTTP parser');
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(status, code, message));
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${id}\r\n` +
    'Connection: close\r\n\r\n' + body, () => socket.destroy());
}
