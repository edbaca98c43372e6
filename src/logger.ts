// pino for the service: JSON lines with one numeric `level` and an epoch-ms `time`, written to
// stdout in synchronous batches (memory stays bounded when stdout is slower than the requests),
// request logs without query strings, and redaction of the fields that can carry a secret, by
// exact path.
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

/** Lines are written in batches of this many bytes: one write(2) per batch, not per line. */
export const LOG_BATCH_BYTES = 4096;
/** A partial batch is written after at most this long, so a quiet service's lines are not held. */
export const LOG_FLUSH_MS = 200;

let stdoutDestination: ReturnType<typeof pinoDestination> | undefined;

/**
 * stdout, once per process: a write per line cost a system call and a wake-up of the log reader
 * on every request (the largest single cost of a cached answer). Writes stay synchronous, so the
 * buffer never grows past one batch, whatever the reader's speed; what is buffered is written
 * every LOG_FLUSH_MS, by flushLog() and when the process exits (also on process.exit()).
 */
function stdoutLog (): ReturnType<typeof pinoDestination> {
  if (stdoutDestination === undefined) {
    const dest = pinoDestination({ dest: 1, sync: true, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
    process.once('exit', () => { flushDestination(dest); });
    stdoutDestination = dest;
  }
  return stdoutDestination;
}

function flushDestination (dest: ReturnType<typeof pinoDestination>): void {
  try {
    dest.flushSync();
  } catch {
    // stdout closed (EPIPE): nothing left to write to
  }
}

/** Writes what the stdout log holds now (before other output on stdout, and before exiting). */
export function flushLog (): void {
  if (stdoutDestination !== undefined) flushDestination(stdoutDestination);
}

export function createLogger (level: string, destination?: DestinationStream, choice: LoggerChoice = {}): Logger {
  const opts = loggerOptions(level);
  if (destination !== undefined) return pino(opts, destination);
  const { pretty, missing } = prettyWanted(choice);
  if (pretty) {
    return pino({ ...opts, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  // synchronous batches: under overload a slow reader blocks the writer instead of growing a buffer
  const log = pino(opts, stdoutLog());
  if (missing) log.warn('LOG_PRETTY=true but pino-pretty is not installed (it is a development dependency); writing JSON');
  return log;
}
