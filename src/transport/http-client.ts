// The one HTTP client of credbroker, on undici: an Agent per TLS profile, header/body/total
// timeouts, a response size cap, retry with backoff for callers that want it, and a line
// stream for watches. It imports nothing of the project, so every room may use it.
//
// The undici package is loaded on first use of an Agent. A request without one (the CLI bins:
// one call to the service per run, then exit) goes through node:http with the same timeouts,
// cap and errors: loading undici, or Node's built-in fetch, costs a bin's cold start 2.5 times
// its CPU time (docs/api.md "Commands").
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';
import { rootCertificates } from 'node:tls';
import type { Dispatcher, Socks5ProxyAgent } from 'undici';
import { ProxyRule, proxyHostOf, type ProxyEnv } from './proxy.js';

let undiciModule: typeof import('undici') | undefined;
function undici (): typeof import('undici') {
  undiciModule ??= createRequire(import.meta.url)('undici') as typeof import('undici');
  return undiciModule;
}

export type TransportErrorCode =
  | 'HTTP_TIMEOUT' // no headers in time, the body stalled, or the whole exchange took too long
  | 'HTTP_RESPONSE_TOO_LARGE'
  | 'HTTP_CONNECTION_REFUSED'
  | 'HTTP_TLS_ERROR'
  | 'HTTP_UNREACHABLE' // DNS, reset, closed mid-answer and other network failures
  | 'HTTP_PROXY_FAILED' // the proxy refused, was unreachable, asked for credentials (407) or could not open the tunnel
  | 'HTTP_ABORTED'; // the caller's signal

/**
 * A request that got no usable answer. `detail` is the system or TLS code behind it
 * (`ECONNREFUSED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `headers`, `body`, `total`): stable, short, no secret.
 */
export class TransportError extends Error {
  constructor (
    readonly code: TransportErrorCode, message: string, readonly detail: string,
    /** the answer's status, when one came (a size overrun) */
    readonly status?: number
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** How to verify (and, with a client certificate, authenticate to) a server. */
export interface TlsProfile {
  /** PEM CA certificates that replace Node's roots */
  ca?: Array<string | Buffer>
  /** PEM CA certificates trusted besides Node's roots */
  extraCa?: Array<string | Buffer>
  /** skip verification of the server certificate */
  insecure?: boolean
  cert?: string | Buffer
  key?: string | Buffer
  servername?: string
  /** a proxy to tunnel every request through: http(s)://, or socks5:// (undici's SOCKS support is experimental) */
  proxyUrl?: string
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY, chosen per request origin (ignored when proxyUrl is set) */
  proxy?: ProxyEnv
}

export interface AgentOptions {
  /** connections per origin (default 16; null: no limit, e.g. for long watches) */
  connections?: number | null
  /** TCP + TLS handshake (default 10 s) */
  connectTimeoutMs?: number
  /** how long an idle keep-alive connection is kept (default 4 s) */
  keepAliveTimeoutMs?: number
}

function tlsOptions (p: TlsProfile): Record<string, unknown> {
  const o: Record<string, unknown> = { rejectUnauthorized: p.insecure !== true };
  if (p.ca !== undefined && p.ca.length > 0) o.ca = p.ca;
  else if (p.extraCa !== undefined && p.extraCa.length > 0) o.ca = [...rootCertificates, ...p.extraCa];
  if (p.cert !== undefined) o.cert = p.cert;
  if (p.key !== undefined) o.key = p.key;
  if (p.servername !== undefined) o.servername = p.servername;
  return o;
}

/** Which proxy a request through this dispatcher takes (undefined: direct), for the proxied ones. */
const proxyOfDispatcher = new WeakMap<Dispatcher, (origin: URL) => string | undefined>();

/** The proxy a request to `url` through `dispatcher` goes through, if any. */
export function proxyFor (dispatcher: Dispatcher | undefined, url: URL): string | undefined {
  return dispatcher === undefined ? undefined : proxyOfDispatcher.get(dispatcher)?.(url);
}

function fixedProxyAgent (proxyUrl: string, connect: Record<string, unknown>, common: Record<string, unknown>): Dispatcher {
  if (/^socks5?:/i.test(proxyUrl)) {
    // requestTls: TLS to the target through the tunnel (read by undici, missing from its types)
    return new (undici().Socks5ProxyAgent)(proxyUrl, { requestTls: connect, ...common } as Socks5ProxyAgent.Options);
  }
  // proxyTls: how an https:// proxy itself is verified (Node's roots), with the same connect timeout
  return new (undici().ProxyAgent)({ uri: proxyUrl, requestTls: connect, proxyTls: { timeout: connect.timeout as number }, ...common });
}

let RoutedAgent: (new (rule: ProxyRule, make: (proxy: string | undefined) => Dispatcher) => Dispatcher) | undefined;

/**
 * A dispatcher that sends each request direct or through its proxy as the rule says for the
 * request's origin (NO_PROXY), with one Agent per way out, made on first use.
 */
function routedAgentClass (): NonNullable<typeof RoutedAgent> {
  RoutedAgent ??= class extends undici().Dispatcher {
    private readonly ways = new Map<string, Dispatcher>();
    private readonly origins = new Map<string, string>();
    constructor (private readonly rule: ProxyRule, private readonly make: (proxy: string | undefined) => Dispatcher) { super(); }

    route (origin: URL): string | undefined {
      return this.rule.proxyFor(origin);
    }

    override dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      const origin = String(opts.origin);
      let way = this.origins.get(origin);
      if (way === undefined) {
        way = this.route(new URL(origin)) ?? '';
        if (this.origins.size >= 1000) this.origins.clear();
        this.origins.set(origin, way);
      }
      let d = this.ways.get(way);
      if (d === undefined) {
        d = this.make(way === '' ? undefined : way);
        this.ways.set(way, d);
      }
      return d.dispatch(opts, handler);
    }

    override async close (): Promise<void> {
      await Promise.all([...this.ways.values()].map(async (d) => { await d.close(); }));
    }

    override async destroy (): Promise<void> {
      await Promise.all([...this.ways.values()].map(async (d) => { await d.destroy(); }));
    }
  } as unknown as NonNullable<typeof RoutedAgent>;
  return RoutedAgent;
}

/**
 * An Agent (keep-alive pool per origin) that verifies servers as the profile says, and goes
 * through the profile's proxy: `proxyUrl` for every request, else HTTPS_PROXY / HTTP_PROXY
 * unless NO_PROXY names the origin. A bad proxy address throws an Error naming the variable.
 */
export function createAgent (profile: TlsProfile = {}, opts: AgentOptions = {}): Dispatcher {
  const connect = { ...tlsOptions(profile), timeout: opts.connectTimeoutMs ?? 10_000 };
  const common = { connections: opts.connections === undefined ? 16 : opts.connections, keepAliveTimeout: opts.keepAliveTimeoutMs ?? 4000 };
  if (profile.proxyUrl !== undefined && profile.proxyUrl !== '') {
    const proxyUrl = profile.proxyUrl;
    const agent = fixedProxyAgent(proxyUrl, connect, common);
    proxyOfDispatcher.set(agent, () => proxyUrl);
    return agent;
  }
  if (profile.proxy !== undefined) {
    const rule = new ProxyRule(profile.proxy);
    if (!rule.empty) {
      const Routed = routedAgentClass();
      const agent = new Routed(rule, (proxy) => proxy === undefined
        ? new (undici().Agent)({ connect, ...common })
        : fixedProxyAgent(proxy, connect, common));
      proxyOfDispatcher.set(agent, (u) => rule.proxyFor(u));
      return agent;
    }
  }
  return new (undici().Agent)({ connect, ...common });
}

/** A key that names a profile without holding its material (a hash of it). */
export function profileKey (profile: TlsProfile): string {
  const h = createHash('sha256');
  const add = (label: string, v: string | Buffer | undefined): void => {
    h.update(label);
    h.update(v === undefined ? '-' : `${Buffer.byteLength(v)}:`);
    if (v !== undefined) h.update(v);
  };
  for (const c of profile.ca ?? []) add('ca', c);
  for (const c of profile.extraCa ?? []) add('extra', c);
  add('insecure', profile.insecure === true ? '1' : '0');
  add('cert', profile.cert);
  add('key', profile.key);
  add('sni', profile.servername);
  add('proxy', profile.proxyUrl);
  add('https_proxy', profile.proxy?.httpsProxy);
  add('http_proxy', profile.proxy?.httpProxy);
  add('no_proxy', profile.proxy?.noProxy);
  return h.digest('hex');
}

/**
 * One Agent per TLS profile, made on first use and kept; the oldest is closed beyond `max`
 * profiles. `close()` closes them all (the app's close).
 */
export class AgentPool {
  private readonly agents = new Map<string, Dispatcher>();
  private closed = false;

  constructor (private readonly opts: AgentOptions & { max?: number } = {}) {}

  get size (): number {
    return this.agents.size;
  }

  get (profile: TlsProfile): Dispatcher {
    if (this.closed) throw new TransportError('HTTP_ABORTED', 'the HTTP client is closed', 'closed');
    const key = profileKey(profile);
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = createAgent(profile, this.opts);
      if (this.agents.size >= (this.opts.max ?? 100)) {
        const [oldKey, old] = this.agents.entries().next().value as [string, Dispatcher];
        this.agents.delete(oldKey);
        void old.close().catch(() => {});
      }
      this.agents.set(key, agent);
    }
    return agent;
  }

  async close (): Promise<void> {
    this.closed = true;
    const all = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(all.map(async (a) => { await a.destroy().catch(() => {}); }));
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** an Agent from createAgent/AgentPool (default: a one-off node:http connection, system CAs) */
  dispatcher?: Dispatcher
  /** until the response headers arrive */
  headersTimeoutMs: number
  /** longest silence between two body chunks */
  bodyTimeoutMs: number
  /** the whole exchange, connect to last byte (default headersTimeoutMs + bodyTimeoutMs) */
  totalTimeoutMs?: number
  /** the answer's body is refused beyond this many bytes */
  maxBytes: number
  signal?: AbortSignal
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function origin (url: URL): string {
  return `${url.protocol}//${url.host}`;
}

const TLS_CODE = /CERT|SELF_SIGNED|SSL|TLS|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME_MISMATCH/;

// failures of the connection to the proxy itself (the target's own failures come back as the CONNECT status)
const PROXY_CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'EPIPE']);

/** A failure of the proxy: names its host[:port], never its credentials. */
function proxyError (proxyUrl: string, url: URL, code: string, message: string): TransportError | undefined {
  const proxy = proxyHostOf(proxyUrl);
  const tunnel = /Proxy response \((\d{3})\)/.exec(message);
  if (tunnel !== null) {
    const status = Number(tunnel[1]);
    // tinyproxy answers wrong credentials with 401, most proxies with 407
    if (status === 407 || status === 401) {
      const withCredentials = /^[a-z0-9]+:\/\/[^/]*@/i.test(proxyUrl);
      return new TransportError('HTTP_PROXY_FAILED',
        withCredentials ? `proxy ${proxy} refused its credentials (${status})` : `proxy ${proxy} requires authentication (${status})`, String(status), status);
    }
    return new TransportError('HTTP_PROXY_FAILED', `proxy ${proxy} answered ${status} to CONNECT ${url.host}`, String(status), status);
  }
  if (/Proxy Authentication Required/i.test(message)) {
    return new TransportError('HTTP_PROXY_FAILED', `proxy ${proxy} requires authentication (407)`, '407', 407);
  }
  if (PROXY_CONNECT_CODES.has(code)) {
    return new TransportError('HTTP_PROXY_FAILED', `cannot connect through proxy ${proxy} (${code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timeout' : code === 'UND_ERR_SOCKET' ? 'connection lost' : code})`, code);
  }
  return undefined;
}

/** Our error for whatever undici, the socket or TLS threw; `proxyUrl` is the proxy the request went through. */
export function toTransportError (err: unknown, url: URL, why?: { timedOut?: string, aborted?: boolean, proxyUrl?: string }): TransportError {
  if (err instanceof TransportError) return err;
  const where = origin(url);
  if (why?.timedOut !== undefined) {
    return new TransportError('HTTP_TIMEOUT', `${where} did not answer within ${why.timedOut}`, 'total');
  }
  if (why?.aborted === true) return new TransportError('HTTP_ABORTED', `the request to ${where} was cancelled`, 'aborted');
  const e = err as { code?: unknown, message?: unknown, cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : '';
  if (why?.proxyUrl !== undefined) {
    const failed = proxyError(why.proxyUrl, url, code, String(e.message));
    if (failed !== undefined) return failed;
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new TransportError('HTTP_TIMEOUT', `${where} sent no answer in time`, 'headers');
  if (code === 'UND_ERR_BODY_TIMEOUT') return new TransportError('HTTP_TIMEOUT', `${where} stalled while sending its answer`, 'body');
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new TransportError('HTTP_TIMEOUT', `cannot connect to ${where} in time`, 'connect');
  if (code === 'ECONNREFUSED') return new TransportError('HTTP_CONNECTION_REFUSED', `${where} refused the connection (ECONNREFUSED)`, code);
  if (TLS_CODE.test(code) || (code === '' && /certificate/i.test(String(e.message)))) {
    return new TransportError('HTTP_TLS_ERROR', `TLS verification of ${where} failed: ${code !== '' ? code : 'handshake error'}`, code !== '' ? code : 'TLS');
  }
  const detail = code === 'UND_ERR_SOCKET' ? 'connection lost' : code !== '' ? code : 'connection failed';
  return new TransportError('HTTP_UNREACHABLE', `cannot reach ${where}: ${detail}`, detail);
}

/** Drops a response body; undici then reports an abort on it, which nobody waits for. */
function discard (body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

function tooLarge (url: URL, max: number, status: number): TransportError {
  return new TransportError('HTTP_RESPONSE_TOO_LARGE', `${origin(url)} sent an answer larger than ${max} bytes`, String(max), status);
}

/** A deadline and the caller's signal as one AbortSignal; `timedOut` says which fired. */
function deadline (ms: number | undefined, outer: AbortSignal | undefined): { signal: AbortSignal, state: { timedOut: boolean }, clear: () => void } {
  const ac = new AbortController();
  const state = { timedOut: false };
  const onOuter = (): void => { ac.abort(outer?.reason); };
  if (outer?.aborted === true) ac.abort(outer.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const timer = ms === undefined
    ? undefined
    : setTimeout(() => { state.timedOut = true; ac.abort(new Error('deadline')); }, ms);
  return {
    signal: ac.signal,
    state,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    }
  };
}

/**
 * One request; resolves with the whole answer (any status, redirects not followed) or rejects
 * with a TransportError. The body is read up to `maxBytes` and refused beyond (a declared
 * Content-Length over it is refused before reading).
 */
export async function request (url: URL | string, opts: RequestOptions): Promise<HttpResponse> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const total = opts.totalTimeoutMs ?? opts.headersTimeoutMs + opts.bodyTimeoutMs;
  const d = deadline(total, opts.signal);
  try {
    return opts.dispatcher !== undefined
      ? await viaAgent(u, opts, opts.dispatcher, d.signal)
      : await viaNodeHttp(u, opts, d.signal);
  } catch (err) {
    const proxyUrl = proxyFor(opts.dispatcher, u);
    throw toTransportError(err, u, {
      ...(d.state.timedOut ? { timedOut: `${total} ms` } : {}),
      aborted: opts.signal?.aborted === true,
      ...(proxyUrl !== undefined ? { proxyUrl } : {})
    });
  } finally {
    d.clear();
  }
}

async function viaAgent (u: URL, opts: RequestOptions, dispatcher: Dispatcher, signal: AbortSignal): Promise<HttpResponse> {
  const res = await undici().request(u, {
    method: opts.method ?? 'GET',
    headers: opts.headers ?? {},
    body: opts.body,
    dispatcher,
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    signal
  });
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    discard(res.body);
    throw tooLarge(u, opts.maxBytes, res.statusCode);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > opts.maxBytes) {
      discard(res.body);
      throw tooLarge(u, opts.maxBytes, res.statusCode);
    }
    chunks.push(b);
  }
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
}

/** A one-off connection (no keep-alive, nothing left open): for a process that makes one call. */
async function viaNodeHttp (u: URL, opts: RequestOptions, signal: AbortSignal): Promise<HttpResponse> {
  const send = u.protocol === 'https:' ? https.request : http.request;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return await new Promise<HttpResponse>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: unknown): void => { clearTimeout(timer); reject(err); };
    const arm = (phase: 'headers' | 'body', ms: number): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        req.destroy(Object.assign(new Error(phase), { code: phase === 'headers' ? 'UND_ERR_HEADERS_TIMEOUT' : 'UND_ERR_BODY_TIMEOUT' }));
      }, ms);
    };
    const req = send(u, { method: opts.method ?? 'GET', headers, signal, agent: false }, (res) => {
      arm('body', opts.bodyTimeoutMs);
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        fail(tooLarge(u, opts.maxBytes, status));
        req.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        arm('body', opts.bodyTimeoutMs);
        size += c.length;
        if (size > opts.maxBytes) {
          fail(tooLarge(u, opts.maxBytes, status));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error('connection lost'), { code: 'UND_ERR_SOCKET' }));
      });
    });
    arm('headers', opts.headersTimeoutMs);
    req.on('error', fail);
    req.end(opts.body);
  });
}

export interface RetryOptions<T> {
  /** retries after the first attempt */
  retries: number
  /** first delay; doubled per retry */
  backoffMs: number
  /** whether this outcome is worth another attempt (default: every TransportError but a size overrun) */
  retryOn?: (outcome: { error: unknown } | { value: T }) => boolean
  sleep?: (ms: number) => Promise<void>
}

const realSleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)); };

export function isRetryableError (err: unknown): boolean {
  return err instanceof TransportError && err.code !== 'HTTP_RESPONSE_TOO_LARGE' && err.code !== 'HTTP_ABORTED';
}

/**
 * Runs `attempt(n)` (n from 0) until it gives an outcome `retryOn` does not want retried, or
 * `retries` are spent, sleeping backoffMs·2ⁿ between attempts. The last outcome is returned or thrown.
 */
export async function withRetry<T> (attempt: (n: number) => Promise<T>, opts: RetryOptions<T>): Promise<T> {
  const retryOn = opts.retryOn ?? ((o) => 'error' in o && isRetryableError(o.error));
  const sleep = opts.sleep ?? realSleep;
  for (let n = 0; ; n++) {
    let outcome: { error: unknown } | { value: T };
    try {
      outcome = { value: await attempt(n) };
    } catch (error) {
      outcome = { error };
    }
    if (n >= opts.retries || !retryOn(outcome)) {
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    }
    await sleep(opts.backoffMs * 2 ** n);
  }
}

export interface StreamOptions {
  headers?: Record<string, string>
  dispatcher?: Dispatcher
  /** until the response headers arrive */
  headersTimeoutMs: number
  /** longest silence on the stream before it counts as stalled */
  idleTimeoutMs: number
  /** one line may not be longer */
  maxLineBytes: number
  /** ends the stream (the iteration then throws HTTP_ABORTED) */
  signal?: AbortSignal
}

export interface LineStream {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The body's non-empty lines; ends when the server closes the response, throws a TransportError on failure. */
  lines: AsyncIterable<string>
  /** Drops the response (use it when the status is not the one wanted). */
  close: () => void
}

/** A streaming GET of line-delimited text (a Kubernetes watch). */
export async function openLineStream (url: URL | string, opts: StreamOptions): Promise<LineStream> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const d = deadline(undefined, opts.signal);
  let res: Dispatcher.ResponseData;
  try {
    res = await undici().request(u, {
      method: 'GET',
      headers: opts.headers ?? {},
      ...(opts.dispatcher !== undefined ? { dispatcher: opts.dispatcher } : {}),
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
      signal: d.signal
    });
  } catch (err) {
    d.clear();
    const proxyUrl = proxyFor(opts.dispatcher, u);
    throw toTransportError(err, u, { aborted: opts.signal?.aborted === true, ...(proxyUrl !== undefined ? { proxyUrl } : {}) });
  }
  const body = res.body;
  async function * lines (): AsyncGenerator<string> {
    const decoder = new StringDecoder('utf8');
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.write(chunk as Buffer);
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') yield line;
        }
        if (Buffer.byteLength(buf) > opts.maxLineBytes) {
          throw new TransportError('HTTP_RESPONSE_TOO_LARGE', `${origin(u)} sent a line longer than ${opts.maxLineBytes} bytes`, String(opts.maxLineBytes));
        }
      }
      buf += decoder.end();
      if (buf.trim() !== '') yield buf;
    } catch (err) {
      throw toTransportError(err, u, { aborted: opts.signal?.aborted === true });
    } finally {
      discard(body);
      d.clear();
    }
  }
  return {
    status: res.statusCode,
    headers: res.headers,
    lines: lines(),
    close: () => { discard(body); d.clear(); }
  };
}
