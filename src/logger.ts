// pino for the service: JSON lines (pretty only on a TTY), request logs without query
// strings, and redaction of every header and field that can carry a secret.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'password',
  '*.password',
  'Secret',
  '*.Secret',
  'token',
  '*.token',
  'identitytoken',
  '*.identitytoken',
  'auth',
  '*.auth'
];

interface RawRequest { method?: string, url?: string, id?: string, ip?: string, socket?: { remoteAddress?: string } }

export const serializers = {
  // the query string can carry an image name with credentials typed into it by mistake: never log it
  req: (req: RawRequest) => ({
    method: req.method,
    url: typeof req.url === 'string' ? req.url.split('?')[0] : undefined,
    reqId: req.id,
    remoteAddress: req.ip ?? req.socket?.remoteAddress
  }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
  err: (err: Error & { code?: string, statusCode?: number }) => ({
    type: err.name,
    code: err.code,
    statusCode: err.statusCode,
    message: err.message
  })
};

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    base: { service: 'credbroker' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers,
    timestamp: pino.stdTimeFunctions.isoTime
  };
}

export function createLogger (level: string, destination?: DestinationStream): Logger {
  const opts = loggerOptions(level);
  if (destination !== undefined) return pino(opts, destination);
  if (process.stdout.isTTY === true) {
    return pino({ ...opts, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  return pino(opts);
}
