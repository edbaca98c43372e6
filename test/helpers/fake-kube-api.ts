// A loopback fake kube-apiserver speaking the API's wire format (lists paged with limit/continue,
// watch streams with resourceVersion and bookmarks, metadata-only lists and watches negotiated by
// the Accept header, Status objects, reviews), with controls for tests. It counts the requests
// and the bytes it sends, so that a test can show what crossed the wire.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** a resource's plural name; custom ones are added with defineResource() */
export type FakeResource = 'secrets' | 'serviceaccounts' | 'applications' | (string & {});
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
type KubeObject = Record<string, any> & { metadata: Record<string, any> };

interface ResourceDef { prefix: string, apiVersion: string, kind: string }
const BUILTIN: Record<string, ResourceDef> = {
  secrets: { prefix: '/api/v1', apiVersion: 'v1', kind: 'Secret' },
  serviceaccounts: { prefix: '/api/v1', apiVersion: 'v1', kind: 'ServiceAccount' },
  applications: { prefix: '/apis/argoproj.io/v1alpha1', apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' }
};

export interface RecordedRequest {
  method: string
  path: string
  query: URLSearchParams
  /** get, list, watch, create */
  verb: string
  /** secrets, serviceaccounts, applications, tokenreviews, selfsubjectreviews, selfsubjectaccessreviews */
  resource?: string
  namespace?: string
  name?: string
  /** the Bearer token sent, if any */
  token?: string
  /** the Accept header sent */
  accept?: string
  /** true when answered metadata-only (PartialObjectMetadata / PartialObjectMetadataList) */
  metadataOnly: boolean
  /** response bytes sent so far (a watch keeps counting) */
  bytes: number
}

export type RequestFilter = Partial<Pick<RecordedRequest, 'method' | 'path' | 'verb' | 'resource' | 'namespace' | 'name' | 'token' | 'metadataOnly'>>;

export interface TokenReviewAnswer {
  authenticated: boolean
  user?: { username: string, uid?: string, groups?: string[] }
  /** audiences the token is valid for; default ["https://kubernetes.default.svc"] */
  audiences?: string[]
  error?: string
}

export interface FakeKubeApiOptions {
  /** Bearer tokens accepted; default ["fake-sa-token"] */
  tokens?: string[]
  /** serve HTTPS with this key and certificate (PEM) */
  tls?: { key: string, cert: string }
  /** who SelfSubjectReview says the caller is */
  identity?: { username: string, uid?: string, groups?: string[] }
  /** send a BOOKMARK to bookmark-enabled watchers this often */
  bookmarkIntervalMs?: number
}

export interface FakeKubeApi {
  url: string
  port: number
  /** the Bearer tokens accepted (change freely: set(), clear(), add()) */
  tokens: Set<string>
  identity: { username: string, uid?: string, groups?: string[] }
  readonly resourceVersion: string
  requests: RecordedRequest[]
  /** count recorded requests matching every given field */
  count (filter?: RequestFilter): number
  /** response bytes sent to the recorded requests matching every given field */
  bytesSent (filter?: RequestFilter): number
  resetRequests (): void
  /** call `fn` with each request as it arrives, before it is answered (undefined: stop) */
  beforeAnswer (fn: ((req: RecordedRequest) => void) | undefined): void
  /** serve another namespaced custom resource, e.g. ('rollouts', 'argoproj.io/v1alpha1', 'Rollout') */
  defineResource (plural: string, apiVersion: string, kind: string): void
  put (resource: FakeResource, obj: KubeObject): KubeObject
  delete (resource: FakeResource, namespace: string, name: string): boolean
  get (resource: FakeResource, namespace: string, name: string): KubeObject | undefined
  /** values as plain text (encoded to base64 as the API does) */
  putSecret (namespace: string, name: string, data: Record<string, string | Buffer>, type?: string): KubeObject
  putServiceAccount (namespace: string, name: string, imagePullSecrets?: string[]): KubeObject
  putApplication (namespace: string, name: string, annotations?: Record<string, string>, spec?: Record<string, unknown>): KubeObject
  /** refuse verb on resource in namespace (undefined = the cluster-wide request, '*' = everywhere) */
  forbid (verb: string, resource: string, namespace?: string): void
  allow (verb: string, resource: string, namespace?: string): void
  /** answer 404 for an API path suffix, e.g. 'selfsubjectreviews' (older clusters) */
  disable (resource: string): void
  /** end every open watch stream; returns how many */
  dropWatches (): number
  readonly watchCount: number
  /** delay every answer by ms */
  setLatency (ms: number): void
  /** refuse and close every connection until up() */
  down (): void
  /** answer every request 503 ServiceUnavailable (a Status) until up() */
  unavailable (): void
  /** take every request and never answer it until up() (close() still ends them) */
  hang (): void
  /** undo down(), unavailable() and hang() */
  up (): void
  /** forget history: watches from any older resourceVersion get 410 Expired */
  compact (): void
  /** send a BOOKMARK now to bookmark-enabled watchers */
  bookmark (): void
  setTokenReview (token: string, answer: TokenReviewAnswer): void
  /** a kubeconfig (YAML) pointing at this server with the given token */
  kubeconfig (token?: string): string
  writeKubeconfig (file: string, token?: string): void
  close (): Promise<void>
}

interface Watcher {
  resource: FakeResource
  namespace?: string
  bookmarks: boolean
  /** metadata-only events */
  metadata: boolean
  res: ServerResponse
  timer?: NodeJS.Timeout
}

interface HistoryEvent { rv: number, resource: FakeResource, namespace: string, type: EventType, object: KubeObject }

function status (code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code
  };
}

const REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 406: 'NotAcceptable', 410: 'Expired', 500: 'InternalError'
};

function clone<T> (v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const META = 'meta.k8s.io/v1';

/** An object as kube-apiserver sends it metadata-only: PartialObjectMetadata with the whole metadata. */
function partial (o: KubeObject): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: META, metadata: clone(o.metadata) };
}

type Representation = 'full' | 'metadata' | 'none';

/**
 * kube-apiserver's content negotiation, JSON only: the first media type of the Accept header
 * the server can produce. `as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` for a list,
 * `as=PartialObjectMetadata;g=meta.k8s.io;v=v1` for a get or a watch; an unknown `as=` is
 * skipped; nothing acceptable is 406.
 */
function negotiate (accept: string | undefined, list: boolean): Representation {
  if (accept === undefined || accept.trim() === '') return 'full';
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((x) => x.trim());
    if (!['application/json', 'application/*', '*/*'].includes(type.toLowerCase())) continue;
    const p = Object.fromEntries(params.map((x) => x.split('=').map((y) => y.trim()) as [string, string]));
    if (p.q === '0') continue;
    if (p.as === undefined) return 'full';
    if (p.g === 'meta.k8s.io' && p.v === 'v1' && p.as === (list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata')) return 'metadata';
  }
  return 'none';
}

/** A self-signed certificate for 127.0.0.1 (needs the openssl command). */
export function selfSignedCert (): { key: string, cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A client-node KubeConfig for this server, authenticating with `token` (default: the first accepted one). */
export function kubeConfigFor (api: FakeKubeApi, token?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig(token));
  return kc;
}

export async function startFakeKubeApi (opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const tokens = new Set(opts.tokens ?? ['fake-sa-token']);
  const RESOURCES: Record<string, ResourceDef> = { ...BUILTIN };
  const objects = new Map<FakeResource, Map<string, KubeObject>>(Object.keys(RESOURCES).map((r) => [r, new Map()]));
  const defineResource = (plural: string, apiVersion: string, kind: string) => {
    RESOURCES[plural] = { prefix: `/apis/${apiVersion}`, apiVersion, kind };
    if (!objects.has(plural)) objects.set(plural, new Map());
  };
  let rv = 1000;
  let history: HistoryEvent[] = [];
  let compactedBelow = 0;
  const watchers = new Set<Watcher>();
  const forbidden = new Set<string>();
  const disabled = new Set<string>();
  const tokenReviews = new Map<string, TokenReviewAnswer>();
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  let latencyMs = 0;
  let hook: ((req: RecordedRequest) => void) | undefined;
  let isDown = false;
  let fault: 'unavailable' | 'hang' | undefined;
  const identity = opts.identity ?? { username: 'system:serviceaccount:argocd:credbroker', uid: randomUUID(), groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'] };

  const key = (ns: string, name: string) => `${ns}/${name}`;
  const matches = (r: RecordedRequest, filter: RequestFilter) =>
    Object.entries(filter).every(([k, v]) => (r as unknown as Record<string, unknown>)[k] === v);
  const forbidKey = (verb: string, resource: string, ns: string | undefined) => `${verb} ${resource} ${ns ?? ''}`;
  const isForbidden = (verb: string, resource: string, ns: string | undefined) =>
    forbidden.has(forbidKey(verb, resource, ns)) || forbidden.has(forbidKey(verb, resource, '*'));

  function send (res: ServerResponse, code: number, body: unknown, contentType = 'application/json') {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
  function sendStatus (res: ServerResponse, code: number, message: string, details?: Record<string, unknown>) {
    send(res, code, status(code, REASONS[code] ?? 'Unknown', message, details));
  }

  // the API names a resource with its group ("applications.argoproj.io"), a core one bare ("secrets")
  function forbiddenMessage (verb: string, resource: string, ns: string | undefined, group = '', name?: string) {
    const where = ns === undefined || ns === '' ? 'at the cluster scope' : `in the namespace "${ns}"`;
    const what = (group === '' ? resource : `${resource}.${group}`) + (name === undefined ? '' : ` "${name}"`);
    return `${what} is forbidden: User "${identity.username}" cannot ${verb} resource "${resource}" in API group "${group}" ${where}`;
  }

  function notify (ev: HistoryEvent) {
    for (const w of watchers) {
      if (w.resource !== ev.resource) continue;
      if (w.namespace !== undefined && w.namespace !== ev.namespace) continue;
      w.res.write(JSON.stringify({ type: ev.type, object: w.metadata ? partial(ev.object) : ev.object }) + '\n');
    }
  }

  function record (resource: FakeResource, type: EventType, object: KubeObject) {
    const ev: HistoryEvent = { rv, resource, namespace: object.metadata.namespace as string, type, object: clone(object) };
    history.push(ev);
    notify(ev);
  }

  function put (resource: FakeResource, input: KubeObject): KubeObject {
    const def = RESOURCES[resource];
    if (def === undefined) throw new Error(`unknown resource ${resource}: defineResource() it first`);
    const obj = clone(input);
    const ns = obj.metadata.namespace as string;
    const name = obj.metadata.name as string;
    const store = objects.get(resource) as Map<string, KubeObject>;
    const prev = store.get(key(ns, name));
    rv++;
    obj.apiVersion = def.apiVersion;
    obj.kind = def.kind;
    obj.metadata.uid = prev?.metadata.uid ?? randomUUID();
    obj.metadata.creationTimestamp = prev?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    obj.metadata.resourceVersion = String(rv);
    store.set(key(ns, name), obj);
    record(resource, prev === undefined ? 'ADDED' : 'MODIFIED', obj);
    return clone(obj);
  }

  function del (resource: FakeResource, ns: string, name: string): boolean {
    const store = objects.get(resource) as Map<string, KubeObject>;
    const prev = store.get(key(ns, name));
    if (prev === undefined) return false;
    store.delete(key(ns, name));
    rv++;
    const last = clone(prev);
    last.metadata.resourceVersion = String(rv);
    record(resource, 'DELETED', last);
    return true;
  }

  function itemsOf (resource: FakeResource, ns: string | undefined): KubeObject[] {
    const store = objects.get(resource) as Map<string, KubeObject>;
    return [...store.entries()]
      .filter(([, o]) => ns === undefined || o.metadata.namespace === ns)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
  }

  function handleList (res: ServerResponse, resource: FakeResource, ns: string | undefined, query: URLSearchParams, metadataOnly: boolean) {
    const def = RESOURCES[resource] as ResourceDef;
    let items = itemsOf(resource, ns);
    const cont = query.get('continue');
    let snapshotRv = String(rv);
    if (cont !== null && cont !== '') {
      let parsed: { start: string, rv: string };
      try {
        parsed = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as { start: string, rv: string };
      } catch {
        sendStatus(res, 400, 'continue key is not valid');
        return;
      }
      if (Number(parsed.rv) < compactedBelow) {
        sendStatus(res, 410, 'The provided continue parameter is too old to display a consistent list result.');
        return;
      }
      snapshotRv = parsed.rv;
      items = items.filter((o) => key(o.metadata.namespace as string, o.metadata.name as string) >= parsed.start);
    }
    const limit = Number(query.get('limit') ?? '0');
    const metadata: Record<string, unknown> = { resourceVersion: snapshotRv };
    if (limit > 0 && items.length > limit) {
      const next = items[limit] as KubeObject;
      metadata.continue = Buffer.from(JSON.stringify({
        start: key(next.metadata.namespace as string, next.metadata.name as string), rv: snapshotRv
      })).toString('base64');
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    if (metadataOnly) {
      send(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: META, metadata, items: items.map(partial) },
        'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
      return;
    }
    // items of a typed list carry no kind/apiVersion, as the real API sends them
    const bare = items.map((o) => { const c = clone(o); delete c.kind; delete c.apiVersion; return c; });
    send(res, 200, { kind: `${def.kind}List`, apiVersion: def.apiVersion, metadata, items: bare });
  }

  function handleWatch (req: IncomingMessage, res: ServerResponse, resource: FakeResource, ns: string | undefined, query: URLSearchParams, metadataOnly: boolean) {
    const from = query.get('resourceVersion') ?? '';
    const bookmarks = query.get('allowWatchBookmarks') === 'true' || query.get('allowWatchBookmarks') === '1';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const write = (type: string, object: KubeObject) =>
      res.write(JSON.stringify({ type, object: metadataOnly && type !== 'ERROR' ? partial(object) : object }) + '\n');
    if (from === '' || from === '0') {
      for (const o of itemsOf(resource, ns)) write('ADDED', o);
    } else {
      const n = Number(from);
      if (!Number.isInteger(n) || n < compactedBelow) {
        write('ERROR', status(410, 'Expired', `too old resource version: ${from} (${compactedBelow})`));
        res.end();
        return;
      }
      for (const ev of history) {
        if (ev.rv > n && ev.resource === resource && (ns === undefined || ev.namespace === ns)) write(ev.type, ev.object);
      }
    }
    const w: Watcher = { resource, namespace: ns, bookmarks, metadata: metadataOnly, res };
    watchers.add(w);
    const timeout = Number(query.get('timeoutSeconds') ?? '0');
    if (timeout > 0) w.timer = setTimeout(() => res.end(), timeout * 1000);
    const cleanup = () => { watchers.delete(w); if (w.timer !== undefined) clearTimeout(w.timer); };
    res.on('close', cleanup);
    req.on('close', cleanup);
  }

  function readBody (req: IncomingMessage): Promise<any> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1024 * 1024) { req.destroy(); reject(new Error('body too large')); return; }
        chunks.push(c);
      });
      req.on('end', () => {
        try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')); } catch (err) { reject(err); }
      });
      req.on('error', reject);
    });
  }

  async function handleReview (req: IncomingMessage, res: ServerResponse, resource: string) {
    const body = await readBody(req);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (resource === 'selfsubjectreviews') {
      send(res, 201, {
        kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: now },
        status: { userInfo: clone(identity) }
      });
      return;
    }
    if (resource === 'selfsubjectaccessreviews') {
      const attrs = (body?.spec?.resourceAttributes ?? {}) as Record<string, string | undefined>;
      const ns = attrs.namespace === undefined || attrs.namespace === '' ? undefined : attrs.namespace;
      const allowed = !isForbidden(attrs.verb ?? '', attrs.resource ?? '', ns);
      send(res, 201, {
        kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: now },
        spec: body?.spec ?? {},
        status: allowed ? { allowed: true, reason: 'RBAC: allowed by fake' } : { allowed: false }
      });
      return;
    }
    // tokenreviews: the real API echoes the spec, token included
    const spec = (body?.spec ?? {}) as { token?: string, audiences?: string[] };
    const answer = tokenReviews.get(spec.token ?? '');
    let st: Record<string, unknown>;
    if (answer === undefined) {
      st = { user: {}, error: '[invalid bearer token, token lookup failed]' };
    } else {
      const tokenAud = answer.audiences ?? ['https://kubernetes.default.svc'];
      const wanted = spec.audiences ?? [];
      const common = wanted.length === 0 ? tokenAud : wanted.filter((a) => tokenAud.includes(a));
      if (answer.authenticated && common.length === 0) {
        st = { user: {}, error: '[invalid bearer token, token audiences ["' + tokenAud.join('","') + '"] is invalid for the target audiences ["' + wanted.join('","') + '"]]' };
      } else if (answer.authenticated) {
        st = { authenticated: true, user: clone(answer.user ?? { username: 'unknown' }), audiences: common };
      } else {
        st = { user: {}, ...(answer.error === undefined ? {} : { error: answer.error }) };
      }
    }
    send(res, 201, {
      kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: st
    });
  }

  /** counts every body byte written to `res` into `rec.bytes` */
  function countBytes (res: ServerResponse, rec: RecordedRequest) {
    const size = (chunk: unknown) => typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.length : 0;
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => { rec.bytes += size(chunk); return write(chunk, ...rest); }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => { if (typeof chunk !== 'function') rec.bytes += size(chunk); return end(chunk, ...rest); }) as typeof res.end;
  }

  const PATH = /^(\/api\/v1|\/apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/;

  async function handle (req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') === true ? auth.slice(7) : undefined;
    const m = PATH.exec(url.pathname);
    const resource = m?.[5];
    const namespace = m?.[4];
    const name = m?.[6];
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const verb = method === 'POST' ? 'create' : name !== undefined ? 'get' : watch ? 'watch' : 'list';
    const accept = req.headers.accept;
    const rec: RecordedRequest = { method, path: url.pathname, query: url.searchParams, verb, resource, namespace, name, token, accept, metadataOnly: false, bytes: 0 };
    requests.push(rec);
    countBytes(res, rec);
    hook?.(rec);

    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    if (fault === 'hang') return;
    if (fault === 'unavailable') {
      send(res, 503, status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
      return;
    }
    if (token === undefined || !tokens.has(token)) {
      sendStatus(res, 401, 'Unauthorized');
      return;
    }
    if (m === null || resource === undefined) {
      sendStatus(res, 404, 'the server could not find the requested resource', {});
      return;
    }
    const prefix = m[1] as string;
    if (disabled.has(resource)) {
      sendStatus(res, 404, 'the server could not find the requested resource', {});
      return;
    }
    if (method === 'POST') {
      const reviews: Record<string, string> = {
        tokenreviews: '/apis/authentication.k8s.io/v1',
        selfsubjectreviews: '/apis/authentication.k8s.io/v1',
        selfsubjectaccessreviews: '/apis/authorization.k8s.io/v1'
      };
      if (reviews[resource] !== prefix || namespace !== undefined) {
        sendStatus(res, 405, 'the server does not allow this method on the requested resource');
        return;
      }
      if (resource === 'tokenreviews' && isForbidden('create', 'tokenreviews', undefined)) {
        sendStatus(res, 403, forbiddenMessage('create', resource, undefined, 'authentication.k8s.io'));
        return;
      }
      await handleReview(req, res, resource);
      return;
    }
    if (method !== 'GET') {
      sendStatus(res, 405, 'the server does not allow this method on the requested resource');
      return;
    }
    const known = RESOURCES[resource] as ResourceDef | undefined;
    if (known === undefined || known.prefix !== prefix) {
      sendStatus(res, 404, 'the server could not find the requested resource', {});
      return;
    }
    const r: FakeResource = resource;
    const group = known.apiVersion.includes('/') ? known.apiVersion.split('/')[0] as string : '';
    const groupDetail = group === '' ? {} : { group };
    if (isForbidden(verb, r, namespace)) {
      sendStatus(res, 403, forbiddenMessage(verb, r, namespace, group, name),
        { ...(name === undefined ? {} : { name }), ...groupDetail, kind: r });
      return;
    }
    const representation = negotiate(accept, verb === 'list');
    if (representation === 'none') {
      sendStatus(res, 406, `only the following media types are accepted: application/json, application/json;as=${verb === 'list' ? 'PartialObjectMetadataList' : 'PartialObjectMetadata'};g=meta.k8s.io;v=v1`);
      return;
    }
    rec.metadataOnly = representation === 'metadata';
    if (name !== undefined) {
      if (namespace === undefined) { sendStatus(res, 404, 'the server could not find the requested resource', {}); return; }
      const obj = objects.get(r)?.get(key(namespace, name));
      if (obj === undefined) {
        sendStatus(res, 404, `${group === '' ? r : `${r}.${group}`} "${name}" not found`, { name, ...groupDetail, kind: r });
        return;
      }
      if (rec.metadataOnly) send(res, 200, partial(obj), 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
      else send(res, 200, obj);
      return;
    }
    if (watch) handleWatch(req, res, r, namespace, url.searchParams, rec.metadataOnly);
    else handleList(res, r, namespace, url.searchParams, rec.metadataOnly);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendStatus(res, 500, 'internal error');
      else res.destroy();
    });
  };
  const server = opts.tls === undefined
    ? http.createServer(listener)
    : https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, listener);
  server.on(opts.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
    if (isDown) { socket.destroy(); return; }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  if (opts.tls !== undefined) {
    server.on('connection', (socket: Socket) => {
      if (isDown) socket.destroy();
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = opts.tls === undefined ? 'http' : 'https';
  const url = `${scheme}://127.0.0.1:${port}`;

  const bookmark = () => {
    for (const w of watchers) {
      if (!w.bookmarks) continue;
      const def = RESOURCES[w.resource] as ResourceDef;
      w.res.write(JSON.stringify({
        type: 'BOOKMARK',
        object: { kind: w.metadata ? 'PartialObjectMetadata' : def.kind, apiVersion: w.metadata ? META : def.apiVersion, metadata: { resourceVersion: String(rv), annotations: {} } }
      }) + '\n');
    }
  };
  const bookmarkTimer = opts.bookmarkIntervalMs === undefined ? undefined : setInterval(bookmark, opts.bookmarkIntervalMs);

  const kubeconfig = (token = [...tokens][0] ?? 'none') => {
    const cluster = opts.tls === undefined
      ? `    server: ${url}\n    insecure-skip-tls-verify: true\n`
      : `    server: ${url}\n    certificate-authority-data: ${Buffer.from(opts.tls.cert).toString('base64')}\n`;
    return 'apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n' + cluster +
      'users:\n- name: fake\n  user:\n    token: ' + JSON.stringify(token) + '\n' +
      'contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: argocd\n' +
      'current-context: fake\n';
  };

  return {
    url,
    port,
    tokens,
    identity,
    get resourceVersion () { return String(rv); },
    requests,
    count (filter = {}) {
      return requests.filter((r) => matches(r, filter)).length;
    },
    bytesSent (filter = {}) {
      return requests.reduce((n, r) => matches(r, filter) ? n + r.bytes : n, 0);
    },
    resetRequests () { requests.length = 0; },
    beforeAnswer (fn) { hook = fn; },
    defineResource,
    put,
    delete: del,
    get (resource, namespace, name) {
      const o = objects.get(resource)?.get(key(namespace, name));
      return o === undefined ? undefined : clone(o);
    },
    putSecret (namespace, name, data, type = 'Opaque') {
      const enc: Record<string, string> = {};
      for (const [k, v] of Object.entries(data)) enc[k] = Buffer.from(v).toString('base64');
      return put('secrets', { metadata: { namespace, name }, type, data: enc });
    },
    putServiceAccount (namespace, name, imagePullSecrets = []) {
      return put('serviceaccounts', { metadata: { namespace, name }, imagePullSecrets: imagePullSecrets.map((n) => ({ name: n })) });
    },
    putApplication (namespace, name, annotations = {}, spec = {}) {
      return put('applications', { metadata: { namespace, name, annotations }, spec });
    },
    forbid (verb, resource, namespace) { forbidden.add(forbidKey(verb, resource, namespace)); },
    allow (verb, resource, namespace) { forbidden.delete(forbidKey(verb, resource, namespace)); },
    disable (resource) { disabled.add(resource); },
    dropWatches () {
      const n = watchers.size;
      for (const w of [...watchers]) { watchers.delete(w); w.res.end(); }
      return n;
    },
    get watchCount () { return watchers.size; },
    setLatency (ms) { latencyMs = ms; },
    down () {
      isDown = true;
      for (const w of [...watchers]) watchers.delete(w);
      for (const s of sockets) s.destroy();
    },
    unavailable () { fault = 'unavailable'; },
    hang () { fault = 'hang'; },
    up () { isDown = false; fault = undefined; },
    compact () { history = []; compactedBelow = rv; },
    bookmark,
    setTokenReview (token, answer) { tokenReviews.set(token, answer); },
    kubeconfig,
    writeKubeconfig (file, token) { writeFileSync(file, kubeconfig(token)); },
    async close () {
      if (bookmarkTimer !== undefined) clearInterval(bookmarkTimer);
      for (const w of [...watchers]) { watchers.delete(w); w.res.destroy(); }
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  };
}
