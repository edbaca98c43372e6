// Docker Registry v2 client for `POST /v1/credentials/test`: ping, Basic or Bearer
// token challenge, and up to 10 tags, with per-endpoint TLS, timeouts and rate limit.
import { readFile, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { Metrics } from '../metrics.js';
import type { TokenType } from './token-type.js';
import { AgentPool, TransportError, request as httpRequest, type HttpResponse, type TlsProfile } from '../transport/http-client.js';
import type { ProxyEnv } from '../transport/proxy.js';
import { RateLimiter, type Clock } from './rate-limiter.js';
import type { RegistryErrorCode, RegistryTestResult } from './test-result.js';

export interface RegistryEndpointOptions {
  apiUrl: string
  insecure: boolean
  caFile?: string
  caData?: string
  /** requests per second to this registry (registries.conf `limit`); 0 = no limit */
  limit: number
  /** registries.conf `proxy`: a proxy URL, or `none` for direct; unset: the environment's (RegistryTestOptions.proxy) */
  proxy?: string
}

export interface RegistryCredential {
  username: string
  password: string
  tokenType: TokenType
}

export type { RegistryErrorCode, RegistryTestResult };

export interface RegistryTestOptions {
  timeoutMs?: number
  metrics?: Metrics
  /** the app's Agents, one per TLS profile (registries.conf `insecure`, `ca_file`, `ca_data`); default: one for this test, closed after it */
  agents?: AgentPool
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY, for an endpoint without its own `proxy` */
  proxy?: ProxyEnv
}

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

const MAX_BODY = 1024 * 1024;
const MAX_CA_FILE = 1024 * 1024;
const MAX_TAGS = 10;
const DEFAULT_TIMEOUT_MS = 10_000;
const USER_AGENT = 'credbroker';

class RegistryError extends Error {
  constructor (readonly code: RegistryErrorCode, message: string, readonly status?: number) {
    super(message);
  }
}

/** Parses a WWW-Authenticate header (RFC 7235): several challenges, auth-params with quoted strings. */
export function parseWwwAuthenticate (header: string): Challenge[] {
  const out: Challenge[] = [];
  const s = header;
  let i = 0;
  const skipWs = (): void => { while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++; };
  const token = (): string => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i));
    if (m === null) return '';
    i += m[0].length;
    return m[0];
  };
  const quoted = (): string => {
    let v = '';
    i++; // opening quote
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      v += s[i];
      i++;
    }
    i++; // closing quote
    return v;
  };
  let current: Challenge | undefined;
  while (i < s.length) {
    skipWs();
    if (s[i] === ',') { i++; continue; }
    const start = i;
    const name = token();
    if (name === '') { i++; continue; }
    skipWs();
    if (s[i] === '=') {
      // an auth-param of the current challenge
      i++;
      skipWs();
      let value: string;
      if (s[i] === '"') {
        value = quoted();
      } else {
        // lenient: unquoted URLs (':' and '/' are not token characters) appear in the wild
        const m = /^[^,\s"]*/.exec(s.slice(i));
        value = m?.[0] ?? '';
        i += value.length;
      }
      if (current === undefined) continue;
      current.params[name.toLowerCase()] = value;
      continue;
    }
    // a new challenge: scheme followed by params or nothing
    i = start + name.length;
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

const limiters = new Map<string, RateLimiter>();
const MAX_LIMITERS = 1000;

/** The shared limiter of a registry, keyed by its API URL; replaced when the limit changes. */
export function limiterFor (apiUrl: string, limit: number, clock?: Clock): RateLimiter {
  const key = apiUrl.replace(/\/+$/, '');
  let l = limiters.get(key);
  if (l === undefined || l.limit !== limit) {
    l = new RateLimiter(limit, clock);
    limiters.delete(key);
    // registries inferred from image hosts are unbounded: forget the oldest buckets
    if (limiters.size >= MAX_LIMITERS) limiters.delete(limiters.keys().next().value as string);
    limiters.set(key, l);
  }
  return l;
}

type Response = HttpResponse;

interface Transport {
  base: URL
  dispatcher: Dispatcher
  limiter: RateLimiter
  timeoutMs: number
  metrics?: Metrics
}

function describe (u: URL): string {
  return `${u.protocol}//${u.host}`;
}

function networkError (err: TransportError, u: URL, timeoutMs: number): RegistryError {
  switch (err.code) {
    case 'HTTP_TIMEOUT':
      return new RegistryError('REGISTRY_TIMEOUT', `registry ${describe(u)} did not answer within ${timeoutMs} ms`);
    case 'HTTP_RESPONSE_TOO_LARGE':
      return new RegistryError('REGISTRY_BAD_RESPONSE', `response of ${describe(u)} is larger than ${MAX_BODY} bytes`, err.status);
    case 'HTTP_TLS_ERROR':
      return new RegistryError('REGISTRY_TLS_ERROR', `TLS verification of ${describe(u)} failed: ${err.detail}`);
    case 'HTTP_PROXY_FAILED':
      // the transport's message names the proxy by host[:port], never its credentials
      return new RegistryError('REGISTRY_PROXY_FAILED', `${err.message} (registry ${describe(u)})`, err.status);
    default:
      return new RegistryError('REGISTRY_UNREACHABLE', `cannot reach registry at ${describe(u)}: ${err.detail}`);
  }
}

async function request (
  t: Transport, kind: 'ping' | 'token' | 'tags', u: URL,
  init: { method?: 'GET' | 'POST', headers?: Record<string, string>, body?: string }
): Promise<Response> {
  await t.limiter.take();
  const timer = t.metrics?.registryRequestDuration.startTimer({ kind });
  try {
    const res = await httpRequest(u, {
      method: init.method ?? 'GET',
      headers: { 'user-agent': USER_AGENT, accept: 'application/json', ...init.headers },
      ...(init.body !== undefined ? { body: init.body } : {}),
      dispatcher: t.dispatcher,
      headersTimeoutMs: t.timeoutMs,
      bodyTimeoutMs: t.timeoutMs,
      totalTimeoutMs: t.timeoutMs,
      maxBytes: MAX_BODY
    });
    t.metrics?.registryRequests.inc({ kind, code: String(res.status) });
    return res;
  } catch (err) {
    t.metrics?.registryRequests.inc({ kind, code: 'error' });
    if (err instanceof TransportError) throw networkError(err, u, t.timeoutMs);
    throw err;
  } finally {
    timer?.();
  }
}

function json (res: Response, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(res.body.toString('utf8'));
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {}
  throw new RegistryError('REGISTRY_BAD_RESPONSE', `${what} is not a JSON object`, res.status);
}

/** The registry's own error code (e.g. NAME_UNKNOWN), never its free-text message. */
function registryErrorCode (res: Response): string {
  try {
    const v = JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    const c = v.errors?.[0]?.code;
    if (typeof c === 'string' && /^[A-Z_]{1,40}$/.test(c)) return ` (${c})`;
  } catch {}
  return '';
}

function challengesOf (res: Response): Challenge[] {
  const h = res.headers['www-authenticate'];
  const text = Array.isArray(h) ? h.join(', ') : (h ?? '');
  return parseWwwAuthenticate(text);
}

function basicHeader (c: RegistryCredential): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64');
}

function realmUrl (t: Transport, realm: string | undefined): URL {
  let u: URL;
  try {
    if (realm === undefined || realm === '') throw new Error('no realm');
    u = new URL(realm);
  } catch {
    throw new RegistryError('REGISTRY_TOKEN_FAILED', `registry ${describe(t.base)} sent a Bearer challenge without a usable realm`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  // Credentials travel to the realm: plain http only where the registry itself is http or on loopback.
  if (u.protocol === 'http:' && t.base.protocol !== 'http:' && !loopback) {
    throw new RegistryError('REGISTRY_TOKEN_FAILED', `token realm ${describe(u)} is plain http; refusing to send credentials`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new RegistryError('REGISTRY_TOKEN_FAILED', `token realm of ${describe(t.base)} has unsupported scheme ${u.protocol}`);
  }
  return u;
}

async function fetchToken (
  t: Transport, challenge: Challenge, repository: string, credential: RegistryCredential | undefined
): Promise<string> {
  const realm = realmUrl(t, challenge.params.realm);
  const service = challenge.params.service;
  const scope = `repository:${repository}:pull`;
  let res: Response;
  if (credential?.tokenType === 'identitytoken') {
    // distribution token spec, OAuth2 refresh token grant
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credential.password, client_id: USER_AGENT, scope });
    if (service !== undefined) form.set('service', service);
    res = await request(t, 'token', realm, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString()
    });
  } else {
    const u = new URL(realm);
    if (service !== undefined) u.searchParams.set('service', service);
    u.searchParams.set('scope', scope);
    if (credential !== undefined) u.searchParams.set('account', credential.username);
    res = await request(t, 'token', u, { headers: credential !== undefined ? { authorization: basicHeader(credential) } : {} });
  }
  // an OAuth2 server answers a bad refresh token with 400 invalid_grant
  const refused = res.status === 401 || res.status === 403 || (res.status === 400 && credential?.tokenType === 'identitytoken');
  if (refused) {
    throw new RegistryError('REGISTRY_UNAUTHORIZED',
      credential !== undefined
        ? `token server ${describe(realm)} refused the credential (${res.status})`
        : `token server ${describe(realm)} requires authentication (${res.status})`, res.status);
  }
  if (res.status !== 200) {
    throw new RegistryError('REGISTRY_TOKEN_FAILED', `token server ${describe(realm)} answered ${res.status}`, res.status);
  }
  const body = json(res, `answer of token server ${describe(realm)}`);
  const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new RegistryError('REGISTRY_TOKEN_FAILED', `token server ${describe(realm)} answered without a token`, res.status);
  }
  return token;
}

/** The TLS profile of an endpoint: its CA (file or inline, besides Node's roots), `insecure` and its proxy. */
async function tlsProfileOf (endpoint: RegistryEndpointOptions, env: ProxyEnv | undefined): Promise<TlsProfile> {
  const extra: string[] = [];
  if (endpoint.caData !== undefined && endpoint.caData !== '') extra.push(endpoint.caData);
  if (endpoint.caFile !== undefined && endpoint.caFile !== '') {
    try {
      const st = await stat(endpoint.caFile);
      if (st.size > MAX_CA_FILE) throw new Error('too large');
      extra.push(await readFile(endpoint.caFile, 'utf8'));
    } catch {
      throw new RegistryError('REGISTRY_CONFIG_ERROR', `cannot read CA file ${endpoint.caFile}`);
    }
  }
  const proxy: Partial<TlsProfile> = endpoint.proxy === 'none'
    ? {}
    : endpoint.proxy !== undefined ? { proxyUrl: endpoint.proxy } : env !== undefined ? { proxy: env } : {};
  return { insecure: endpoint.insecure, ...(extra.length > 0 ? { extraCa: extra } : {}), ...proxy };
}

async function transportFor (endpoint: RegistryEndpointOptions, opts: RegistryTestOptions, agents: AgentPool): Promise<Transport> {
  let base: URL;
  try {
    base = new URL(endpoint.apiUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new RegistryError('REGISTRY_CONFIG_ERROR', 'registry api URL must be an http or https URL');
  }
  base.username = '';
  base.password = '';
  return {
    base,
    dispatcher: agents.get(await tlsProfileOf(endpoint, opts.proxy)),
    limiter: limiterFor(base.href, endpoint.limit),
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(opts.metrics !== undefined ? { metrics: opts.metrics } : {})
  };
}

function v2Url (base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = u.pathname.replace(/\/+$/, '') + path;
  u.search = '';
  return u;
}

/**
 * Pings the registry, authenticates as its challenge asks, and lists up to 10 tags of
 * `repository` (path without host, e.g. `library/nginx`). Never throws; a 401 with the
 * given credential is `REGISTRY_UNAUTHORIZED`. No message carries a credential or token.
 */
export async function testRegistry (
  endpoint: RegistryEndpointOptions,
  repository: string,
  credential?: RegistryCredential,
  opts: RegistryTestOptions = {}
): Promise<RegistryTestResult> {
  const started = performance.now();
  const agents = opts.agents ?? new AgentPool({ max: 1 });
  let authScheme: RegistryTestResult['authScheme'] = 'none';
  let authenticated = false;
  let status: number | undefined;
  const done = (r: Partial<RegistryTestResult>): RegistryTestResult => ({
    ok: false,
    authScheme,
    authenticated,
    ...(status !== undefined ? { status } : {}),
    tags: [],
    durationMs: Math.round(performance.now() - started),
    ...r
  });
  try {
    const repo = repository.replace(/^\/+|\/+$/g, '');
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) {
      throw new RegistryError('REGISTRY_CONFIG_ERROR', 'invalid repository name');
    }
    const t = await transportFor(endpoint, opts, agents);

    const authorize = async (challenges: Challenge[]): Promise<string | undefined> => {
      const bearer = challenges.find((c) => c.scheme === 'bearer');
      const basic = challenges.find((c) => c.scheme === 'basic');
      if (bearer !== undefined) {
        authScheme = 'bearer';
        if (credential?.tokenType === 'registrytoken') return `Bearer ${credential.password}`;
        return `Bearer ${await fetchToken(t, bearer, repo, credential)}`;
      }
      if (basic !== undefined) {
        authScheme = 'basic';
        if (credential === undefined) return undefined;
        if (credential.tokenType === 'registrytoken') return `Bearer ${credential.password}`;
        return basicHeader(credential);
      }
      throw new RegistryError('REGISTRY_BAD_RESPONSE',
        `registry ${describe(t.base)} answered 401 without a Basic or Bearer challenge`, 401);
    };

    const ping = await request(t, 'ping', v2Url(t.base, '/v2/'), {});
    status = ping.status;
    let auth: string | undefined;
    let authTried = false;
    if (ping.status === 401) {
      auth = await authorize(challengesOf(ping));
      authTried = true;
    } else if (ping.status !== 200) {
      throw new RegistryError('REGISTRY_BAD_RESPONSE',
        `registry ${describe(t.base)} answered ${ping.status} to GET /v2/; is it a Docker registry v2 API?`, ping.status);
    }

    const tagsUrl = v2Url(t.base, `/v2/${repo}/tags/list`);
    tagsUrl.searchParams.set('n', String(MAX_TAGS));
    let res = await request(t, 'tags', tagsUrl, { headers: auth !== undefined ? { authorization: auth } : {} });
    if (res.status === 401 && !authTried) {
      // the ping was open but the repository is not: authenticate as this answer asks
      auth = await authorize(challengesOf(res));
      authTried = true;
      if (auth !== undefined) res = await request(t, 'tags', tagsUrl, { headers: { authorization: auth } });
    }
    status = res.status;
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError('REGISTRY_UNAUTHORIZED',
        credential !== undefined
          ? `registry ${describe(t.base)} refused the credential for ${repo} (${res.status})${registryErrorCode(res)}`
          : `registry ${describe(t.base)} requires authentication for ${repo} (${res.status})${registryErrorCode(res)}`, res.status);
    }
    authenticated = credential !== undefined && auth !== undefined;
    if (res.status === 404) {
      throw new RegistryError('REGISTRY_REPOSITORY_NOT_FOUND',
        `repository ${repo} not found on ${describe(t.base)}${registryErrorCode(res)}`, res.status);
    }
    if (res.status !== 200) {
      throw new RegistryError('REGISTRY_BAD_RESPONSE',
        `registry ${describe(t.base)} answered ${res.status} to the tag list of ${repo}${registryErrorCode(res)}`, res.status);
    }
    const body = json(res, `tag list of ${repo}`);
    const tags = Array.isArray(body.tags) ? body.tags.filter((x): x is string => typeof x === 'string').slice(0, MAX_TAGS) : [];
    return done({ ok: true, tags });
  } catch (err) {
    if (err instanceof RegistryError) {
      if (err.status !== undefined) status = err.status;
      return done({ error: { code: err.code, message: err.message } });
    }
    return done({ error: { code: 'REGISTRY_UNREACHABLE', message: 'registry request failed' } });
  } finally {
    if (opts.agents === undefined) await agents.close();
  }
}
