// pino for the service: JSON lines with one numeric `level` and an epoch-ms `time`, written
// synchronously (memory stays bounded when stdout is slower than the requests), request logs
// without query strings, and redaction of the fields that can carry a secret, by exact path.
import { createRequire } from 'node:module';
import { destination as pinoDestination, pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

// exact paths only: a wildcard costs on every line, and a bare `auth` once wiped every denial
// line's `{ auth: { caller, action, … } }`
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'password',
  'token',
  'identitytoken',
  'registrytoken',
  'Secret'
];

interface RawRequest { method?: string, url?: string, id?: string, ip?: string, socket?: { remoteAddress?: string } }
type LoggedError = Error & { code?: unknown, statusCode?: unknown }

export const serializers = {
  // the query string can carry an image name with credentials typed into it by mistake: never log it
  req: (req: RawRequest) => ({
    method: req.method,
    url: typeof req.url === 'string' ? req.url.split('?', 1)[0] : undefined,
    remoteAddress: req.ip ?? req.socket?.remoteAddress
  }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
  // named fields only: some errors (the Kubernetes client's ApiException) carry a whole
  // upstream answer in their other properties
  err: (err: LoggedError) => {
    if (!(err instanceof Error)) return err;
    return {
      type: err.constructor?.name !== undefined && err.constructor.name !== 'Error' && err.name === 'Error' ? err.constructor.name : err.name,
      ...(typeof err.code === 'string' ? { code: err.code } : {}),
      ...(typeof err.statusCode === 'number' ? { statusCode: err.statusCode } : {}),
      message: err.message,
      stack: err.stack
    };
  }
};

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    base: { service: 'credbroker' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers,
    timestamp: pino.stdTimeFunctions.epochTime
  };
}

export interface LoggerChoice {
  /** LOG_PRETTY: auto = pretty on a terminal when pino-pretty is installed */
  pretty?: 'auto' | 'true' | 'false'
  isTTY?: boolean
  /** how pino-pretty is looked up (tests simulate a production install without it) */
  resolve?: (id: string) => string
}

const localRequire = createRequire(import.meta.url);

/**
 * Whether to write pretty output: asked for (LOG_PRETTY=true, or auto on a terminal) and
 * pino-pretty resolvable. A production install has no devDependencies: then JSON, never a crash.
 */
export function prettyWanted (choice: LoggerChoice = {}): { pretty: boolean, missing: boolean } {
  const mode = choice.pretty ?? 'auto';
  const asked = mode === 'true' || (mode === 'auto' && (choice.isTTY ?? process.stdout.isTTY === true));
  if (!asked) return { pretty: false, missing: false };
  try {
    (choice.resolve ?? localRequire.resolve)('pino-pretty');
    return { pretty: true, missing: false };
  } catch {
    return { pretty: false, missing: mode === 'true' };
  }
}

export function createLogger (level: string, destination?: DestinationStream, choice: LoggerChoice = {}): Logger {
  const opts = loggerOptions(level);
  if (destination !== undefined) return pino(opts, destination);
  const { pretty, missing } = prettyWanted(choice);
  if (pretty) {
    return pino({ ...opts, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  // synchronous: under overload a slow reader blocks the writer instead of growing a buffer
  const log = pino(opts, pinoDestination({ dest: 1, sync: true }));
  if (missing) log.warn('LOG_PRETTY=true but pino-pretty is not installed (it is a development dependency); writing JSON');
  return log;
}
