// What the protocol bins (docker credential helper, kubelet provider) share: reading stdin,
// calling the credbroker service at CREDBROKER_URL with its token, and one-line errors.
import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../config/argv.js';
import { parseDuration } from '../config/duration.js';
import { TransportError, request } from '../transport/http-client.js';

const MAX_RESPONSE = 1024 * 1024;
const MAX_TOKEN_FILE = 64 * 1024;
const DEFAULT_URL = 'http://127.0.0.1:8080';
const DEFAULT_TIMEOUT_MS = 10_000;

/** An error whose message is fit for the user's terminal: one line, no secret. */
export class CliError extends Error {}

export interface ServiceClientOptions {
  url: URL
  token?: string
  timeoutMs: number
}

export interface ServiceResponse {
  status: number
  text: string
}

export async function serviceOptionsFromEnv (env: NodeJS.ProcessEnv = process.env): Promise<ServiceClientOptions> {
  const raw = env.CREDBROKER_URL !== undefined && env.CREDBROKER_URL !== '' ? env.CREDBROKER_URL : DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new CliError('CREDBROKER_URL must be an http or https URL');
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (env.CREDBROKER_TIMEOUT !== undefined && env.CREDBROKER_TIMEOUT !== '') {
    try {
      timeoutMs = parseDuration(env.CREDBROKER_TIMEOUT);
    } catch {
      throw new CliError('CREDBROKER_TIMEOUT must be a duration such as 10s');
    }
    if (timeoutMs <= 0) throw new CliError('CREDBROKER_TIMEOUT must be positive');
  }
  let token: string | undefined;
  if (env.CREDBROKER_TOKEN !== undefined && env.CREDBROKER_TOKEN !== '') {
    token = env.CREDBROKER_TOKEN.trim();
  } else if (env.CREDBROKER_TOKEN_FILE !== undefined && env.CREDBROKER_TOKEN_FILE !== '') {
    const file = env.CREDBROKER_TOKEN_FILE;
    try {
      if ((await stat(file)).size > MAX_TOKEN_FILE) throw new Error('too large');
      token = (await readFile(file, 'utf8')).trim();
    } catch {
      throw new CliError(`cannot read CREDBROKER_TOKEN_FILE ${file}`);
    }
    if (token === '') throw new CliError(`CREDBROKER_TOKEN_FILE ${file} is empty`);
  }
  return { url, timeoutMs, ...(token !== undefined ? { token } : {}) };
}

/** Reads all of stdin as UTF-8, refusing more than `max` bytes. */
export async function readStdin (max: number, stream: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > max) throw new CliError(`input is larger than ${max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function callService (
  opts: ServiceClientOptions, method: 'GET' | 'POST', path: string,
  body?: { contentType: string, text: string }
): Promise<ServiceResponse> {
  const target = new URL(opts.url.href.replace(/\/+$/, '') + path);
  const headers: Record<string, string> = { accept: 'application/json, text/plain' };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = body.contentType;
  const where = `${opts.url.protocol}//${opts.url.host}`;
  // no Agent: one request per run goes through Node's built-in fetch (system CAs, NODE_EXTRA_CA_CERTS),
  // so that the bin's cold start does not load the undici package
  try {
    const res = await request(target, {
      method,
      headers,
      ...(body !== undefined ? { body: body.text } : {}),
      headersTimeoutMs: opts.timeoutMs,
      bodyTimeoutMs: opts.timeoutMs,
      totalTimeoutMs: opts.timeoutMs,
      maxBytes: MAX_RESPONSE
    });
    return { status: res.status, text: res.body.toString('utf8') };
  } catch (err) {
    if (!(err instanceof TransportError)) throw err;
    if (err.code === 'HTTP_TIMEOUT') throw new CliError(`credbroker at ${where} did not answer within ${opts.timeoutMs} ms`);
    if (err.code === 'HTTP_RESPONSE_TOO_LARGE') throw new CliError(`credbroker at ${where} sent an answer larger than ${MAX_RESPONSE} bytes`);
    throw new CliError(`cannot reach credbroker at ${where}: ${err.detail}`);
  }
}

/** One line describing a non-success answer: status, the service's error code and message. */
export function serviceError (res: ServiceResponse): CliError {
  let detail = '';
  try {
    const v = JSON.parse(res.text) as { code?: unknown, message?: unknown };
    if (typeof v.code === 'string') detail += ` ${v.code}`;
    if (typeof v.message === 'string') detail += `: ${v.message}`;
  } catch {}
  detail = detail.replace(/[\r\n\t]+/g, ' ').slice(0, 300);
  return new CliError(`credbroker answered ${res.status}${detail}`);
}

/**
 * Runs a protocol bin's main and sets its exit code: main's own, 2 for a usage error (with a
 * pointer to --help), 1 for any other failure, said in one line on stderr. With `errorsOnStdout`
 * the line also goes to stdout when that is not a terminal, since the program reading our stdout
 * (docker, skopeo) shows only that; the kubelet reads stdout as the response, so its provider
 * keeps errors on stderr only.
 */
export function runProtocolBin (name: string, main: (argv: string[]) => Promise<number>, opts: { errorsOnStdout: boolean }): void {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${name}: ${err.message}; see ${name} --help\n`);
        process.exitCode = 2;
        return;
      }
      const message = err instanceof CliError ? err.message : 'unexpected failure';
      process.stderr.write(`${name}: ${message}\n`);
      if (opts.errorsOnStdout && process.stdout.isTTY !== true) process.stdout.write(`${message}\n`);
      process.exitCode = 1;
    }
  );
}
