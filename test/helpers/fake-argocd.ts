// A loopback Argo CD API for tests: applications, session/userinfo, account/can-i and version in the
// shapes of Argo CD's own swagger document, with controls (applications, tokens, down, slow) and a
// record of every answer so that tests can check each one against that document.
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// A small swagger 2.0 schema check: $ref into #/definitions, types, formats, properties, arrays.

export interface SwaggerSchema {
  $ref?: string
  type?: string
  format?: string
  properties?: Record<string, SwaggerSchema>
  additionalProperties?: SwaggerSchema | boolean
  items?: SwaggerSchema
  allOf?: SwaggerSchema[]
  enum?: unknown[]
  required?: string[]
}

export interface SwaggerDocument {
  swagger: string
  paths: Record<string, Record<string, { responses: Record<string, { schema?: SwaggerSchema }> }>>
  definitions: Record<string, SwaggerSchema>
}

export interface ValidateOptions {
  /** reject properties an object schema does not declare (catches misspelt fields); default true */
  strict?: boolean
}

const SWAGGER_CANDIDATES = [
  process.env.ARGOCD_SWAGGER,
  fileURLToPath(new URL('../fixtures/argocd-swagger.json', import.meta.url)),
  '/work/shared/contracts/argocd-swagger.json'
];

/** Argo CD's swagger document: $ARGOCD_SWAGGER, test/fixtures/argocd-swagger.json or the shared contracts copy. */
export function loadArgocdSwagger (): SwaggerDocument {
  for (const p of SWAGGER_CANDIDATES) {
    if (p !== undefined && p !== '' && existsSync(p)) return JSON.parse(readFileSync(p, 'utf8')) as SwaggerDocument;
  }
  throw new Error('Argo CD swagger document not found (set ARGOCD_SWAGGER or add test/fixtures/argocd-swagger.json)');
}

function typeOf (v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Problems of `value` against `schema`, one line each ("$.metadata.name: expected string, got number"). */
export function validateSchema (doc: SwaggerDocument, schema: SwaggerSchema, value: unknown, at = '$', opts: ValidateOptions = {}): string[] {
  const strict = opts.strict !== false;
  if (schema.$ref !== undefined) {
    const m = /^#\/definitions\/(.+)$/.exec(schema.$ref);
    const target = m?.[1] === undefined ? undefined : doc.definitions[m[1]];
    if (target === undefined) return [`${at}: unresolvable $ref ${schema.$ref}`];
    return validateSchema(doc, target, value, at, opts);
  }
  const problems: string[] = [];
  for (const sub of schema.allOf ?? []) problems.push(...validateSchema(doc, sub, value, at, opts));
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  const t = typeOf(value);
  switch (schema.type) {
    case undefined:
      break;
    case 'string':
      if (t !== 'string') return [...problems, `${at}: expected string, got ${t}`];
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value as string))) {
        problems.push(`${at}: "${value as string}" is not a date-time`);
      }
      if (schema.format === 'byte' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value as string)) {
        problems.push(`${at}: not base64`);
      }
      if (schema.format === 'int64' && !/^-?\d+$/.test(value as string)) problems.push(`${at}: not an int64 string`);
      break;
    case 'integer':
      if (t !== 'number' || !Number.isInteger(value)) return [...problems, `${at}: expected integer, got ${t}`];
      if (schema.format === 'int32' && ((value as number) < -(2 ** 31) || (value as number) >= 2 ** 31)) {
        problems.push(`${at}: out of int32 range`);
      }
      break;
    case 'number':
      if (t !== 'number') return [...problems, `${at}: expected number, got ${t}`];
      break;
    case 'boolean':
      if (t !== 'boolean') return [...problems, `${at}: expected boolean, got ${t}`];
      break;
    case 'array':
      if (t !== 'array') return [...problems, `${at}: expected array, got ${t}`];
      if (schema.items !== undefined) {
        (value as unknown[]).forEach((item, i) => {
          problems.push(...validateSchema(doc, schema.items as SwaggerSchema, item, `${at}[${i}]`, opts));
        });
      }
      break;
    case 'object': {
      if (t !== 'object') return [...problems, `${at}: expected object, got ${t}`];
      const obj = value as Record<string, unknown>;
      for (const key of schema.required ?? []) if (!(key in obj)) problems.push(`${at}: missing required ${key}`);
      for (const [key, v] of Object.entries(obj)) {
        const prop = schema.properties?.[key];
        if (prop !== undefined) {
          problems.push(...validateSchema(doc, prop, v, `${at}.${key}`, opts));
        } else if (typeof schema.additionalProperties === 'object') {
          problems.push(...validateSchema(doc, schema.additionalProperties, v, `${at}.${key}`, opts));
        } else if (schema.additionalProperties === false || (strict && schema.properties !== undefined)) {
          problems.push(`${at}: unexpected property ${key}`);
        }
      }
      break;
    }
    default:
      problems.push(`${at}: schema type ${schema.type} is not supported by this check`);
  }
  return problems;
}

/** Problems of an answer (status, body) against the swagger response of `method pathTemplate`. */
export function validateSwaggerAnswer (
  doc: SwaggerDocument, pathTemplate: string, method: string, status: number, body: unknown, opts: ValidateOptions = {}
): string[] {
  const op = doc.paths[pathTemplate]?.[method.toLowerCase()];
  if (op === undefined) return [`${method} ${pathTemplate} is not in the document`];
  const response = op.responses[String(status)] ?? op.responses.default;
  if (response === undefined) return [`${method} ${pathTemplate} has no response for ${status}`];
  if (response.schema === undefined) return [];
  return validateSchema(doc, response.schema, body, '$', opts);
}

// ---------------------------------------------------------------------------------------------
// The fake server.

export interface FakeApplication {
  name: string
  /** default "argocd" */
  namespace?: string
  annotations?: Record<string, string>
}

export interface RecordedRequest {
  /** the path template of the swagger document */
  template: string
  path: string
  query: URLSearchParams
  /** the bearer token sent, if any */
  token?: string
}

export interface RecordedAnswer {
  template: string
  method: string
  status: number
  body: unknown
}

export interface FakeArgocdOptions {
  tokens?: string[]
  /** TLS key and certificate (PEM): serve https */
  tls?: { key: string, cert: string }
}

export const APPLICATION_TEMPLATE = '/api/v1/applications/{name}';
export const USERINFO_TEMPLATE = '/api/v1/session/userinfo';
export const CAN_I_TEMPLATE = '/api/v1/account/can-i/{resource}/{action}/{subresource}';
export const VERSION_TEMPLATE = '/api/version';

const GRPC = { notFound: 5, permissionDenied: 7, unavailable: 14, unauthenticated: 16 } as const;

export class FakeArgocd {
  readonly requests: RecordedRequest[] = [];
  readonly answers: RecordedAnswer[] = [];
  /** served as the application body instead of the real one, to test drift detection */
  applicationOverride: unknown;
  /** 'up'; 'unavailable' answers 503; 'reset' drops connections; 'slow' delays answers by slowMs */
  mode: 'up' | 'unavailable' | 'reset' | 'slow' = 'up';
  slowMs = 2000;
  /** Argo CD answers 403 for a missing Application unless the caller names a project; 404 then */
  missingStatus: 403 | 404 = 403;
  /** can-i answer for applications get */
  canGetApplications = true;
  /** Applications the token's role may not see (answered 403 like missing ones) */
  readonly hidden = new Set<string>();
  username = 'credbroker';

  private readonly apps = new Map<string, FakeApplication>();
  private tokens: Set<string>;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private resourceVersion = 1000;

  private constructor (private readonly server: Server, opts: FakeArgocdOptions) {
    this.tokens = new Set(opts.tokens ?? ['argocd-test-token']);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start (opts: FakeArgocdOptions = {}): Promise<FakeArgocd> {
    let fake: FakeArgocd | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => { fake?.handle(req, res); };
    const server = opts.tls !== undefined
      ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler)
      : createHttpServer(handler);
    fake = new FakeArgocd(server, opts);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** host:port, as ARGOCD_SERVER */
  get address (): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  setTokens (tokens: string[]): void {
    this.tokens = new Set(tokens);
  }

  setApplication (app: FakeApplication): void {
    this.apps.set(`${app.namespace ?? 'argocd'}/${app.name}`, { ...app, annotations: { ...app.annotations } });
    this.resourceVersion++;
  }

  setApplications (apps: FakeApplication[]): void {
    this.apps.clear();
    for (const a of apps) this.setApplication(a);
  }

  deleteApplication (name: string, namespace = 'argocd'): void {
    this.apps.delete(`${namespace}/${name}`);
  }

  count (template?: string): number {
    return template === undefined ? this.requests.length : this.requests.filter((r) => r.template === template).length;
  }

  async close (): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') === true ? auth.slice(7) : undefined;
    const route = this.route(url.pathname);
    const rec: RecordedRequest = { template: route?.template ?? url.pathname, path: url.pathname, query: url.searchParams };
    if (token !== undefined) rec.token = token;
    this.requests.push(rec);

    if (this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    const answer = (status: number, body: unknown): void => {
      const send = (): void => {
        if (route !== undefined) this.answers.push({ template: route.template, method: req.method ?? 'GET', status, body });
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (this.mode === 'slow') {
        const t = setTimeout(() => { this.timers.delete(t); send(); }, this.slowMs);
        this.timers.add(t);
      } else {
        send();
      }
    };
    const error = (status: number, code: number, message: string): void => {
      answer(status, { error: message, code, message, details: [] });
    };

    if (route === undefined || req.method !== 'GET') {
      error(404, GRPC.notFound, 'Not Found');
      return;
    }
    if (this.mode === 'unavailable') {
      error(503, GRPC.unavailable, 'the server is currently unavailable');
      return;
    }
    const authenticated = token !== undefined && this.tokens.has(token);

    switch (route.template) {
      case USERINFO_TEMPLATE:
        // Argo CD authenticates userinfo but ignores a failure: it answers loggedIn false.
        answer(200, authenticated
          ? { loggedIn: true, username: this.username, iss: 'argocd', groups: [] }
          : { loggedIn: false });
        return;
      case VERSION_TEMPLATE:
        answer(200, authenticated
          ? { Version: 'v3.1.0+fake', BuildDate: '2025-01-01T00:00:00Z', GitCommit: 'fake', GitTreeState: 'clean', GoVersion: 'go1.24', Compiler: 'gc', Platform: 'linux/amd64' }
          : { Version: 'v3.1.0+fake' });
        return;
      default:
        break;
    }
    if (!authenticated) {
      error(401, GRPC.unauthenticated, token === undefined ? 'no session information' : 'invalid session: token signature is invalid');
      return;
    }
    if (route.template === CAN_I_TEMPLATE) {
      const [resource, action] = route.params;
      answer(200, { value: resource === 'applications' && action === 'get' && this.canGetApplications ? 'yes' : 'no' });
      return;
    }
    const name = route.params[0] as string;
    const ns = url.searchParams.get('appNamespace') ?? 'argocd';
    const app = this.apps.get(`${ns}/${name}`);
    if (app === undefined || this.hidden.has(name) || !this.canGetApplications) {
      if (this.missingStatus === 404 && app === undefined) {
        error(404, GRPC.notFound, `applications.argoproj.io "${name}" not found`);
      } else {
        error(403, GRPC.permissionDenied, 'permission denied');
      }
      return;
    }
    answer(200, this.applicationOverride ?? this.applicationBody(app, ns));
  }

  private applicationBody (app: FakeApplication, ns: string): unknown {
    return {
      metadata: {
        name: app.name,
        namespace: ns,
        uid: '3f0d8b1c-0000-4000-8000-000000000001',
        resourceVersion: String(this.resourceVersion),
        generation: 3,
        creationTimestamp: '2025-01-01T00:00:00Z',
        annotations: app.annotations ?? {}
      },
      spec: {
        project: 'default',
        source: { repoURL: 'https://github.com/example/deploy', path: app.name, targetRevision: 'HEAD' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'default' },
        syncPolicy: { automated: { prune: true, selfHeal: true } }
      },
      status: {
        sync: { status: 'Synced', revision: '0123456789abcdef0123456789abcdef01234567' },
        health: { status: 'Healthy' },
        summary: { images: ['ghcr.io/org/app:1.2.0'] },
        reconciledAt: '2025-01-01T00:00:00Z'
      }
    };
  }

  private route (pathname: string): { template: string, params: string[] } | undefined {
    const parts = pathname.split('/').slice(1).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
    if (pathname === '/api/version') return { template: VERSION_TEMPLATE, params: [] };
    if (pathname === '/api/v1/session/userinfo') return { template: USERINFO_TEMPLATE, params: [] };
    if (parts.length === 4 && parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'applications') {
      return { template: APPLICATION_TEMPLATE, params: [parts[3] as string] };
    }
    if (parts.length === 7 && parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'account' && parts[3] === 'can-i') {
      return { template: CAN_I_TEMPLATE, params: parts.slice(4) };
    }
    return undefined;
  }
}
