// A small Argo CD REST client on the shared transport: applications, userinfo, can-i and version,
// with timeouts, bounded retries and bounded answers. The token goes into the Authorization header only.
import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { ArgocdUnavailable } from '../errors.js';
import { TransportError, createAgent, isRetryableError, request, withRetry } from '../transport/http-client.js';
import type { Settings } from '../config/settings.js';
import { ConfigFileError, readConfigFile } from '../config/watch.js';
import type { Metrics } from '../metrics.js';
import { isRecord } from '../config/schema.js';

export type ArgocdEndpoint = 'application' | 'userinfo' | 'can_i' | 'version';

export interface ArgocdClientOptions {
  /** host[:port] */
  server: string
  token?: string
  /** re-read when it changes (checked at most every `tokenRecheckMs`, and at once after a 401) */
  tokenFile?: string
  plaintext?: boolean
  insecure?: boolean
  caFile?: string
  timeoutMs?: number
  /** retries after a network error or a 5xx answer */
  retries?: number
  backoffMs?: number
  maxResponseBytes?: number
  tokenRecheckMs?: number
  metrics?: Metrics
}

export function argocdClientOptions (settings: Settings, metrics?: Metrics): ArgocdClientOptions {
  const opts: ArgocdClientOptions = {
    server: settings.argocdServer,
    plaintext: settings.argocdPlaintext,
    insecure: settings.argocdInsecure
  };
  if (settings.argocdToken !== undefined) opts.token = settings.argocdToken;
  if (settings.argocdTokenFile !== undefined) opts.tokenFile = settings.argocdTokenFile;
  if (settings.argocdCaFile !== undefined) opts.caFile = settings.argocdCaFile;
  if (metrics !== undefined) opts.metrics = metrics;
  return opts;
}

/** The parts of a v1alpha1Application credbroker reads. */
export interface ArgocdApplication {
  metadata: { name?: string, namespace?: string, annotations?: Record<string, string> }
}

export interface ArgocdUserInfo {
  loggedIn: boolean
  username?: string
  iss?: string
  groups: string[]
}

export interface ArgocdVersion {
  version?: string
  platform?: string
}

const MAX_TOKEN_FILE_BYTES = 64 * 1024;

interface Answer {
  status: number
  body: unknown
}

/** The gRPC code of a runtimeError answer, when there is one. */
function grpcCode (body: unknown): number | undefined {
  return isRecord(body) && typeof body.code === 'number' ? body.code : undefined;
}

export class ArgocdClient {
  readonly server: string;
  readonly baseUrl: string;
  private readonly opts: Required<Pick<ArgocdClientOptions, 'timeoutMs' | 'retries' | 'backoffMs' | 'maxResponseBytes' | 'tokenRecheckMs'>>;
  private readonly agent: Dispatcher | undefined;
  private agentReady: Promise<Dispatcher> | undefined;
  private fileToken: { value: string | undefined, readAt: number } | undefined;
  private tokenReadFailed = false;
  private tokenRead: Promise<string | undefined> | undefined;

  constructor (private readonly options: ArgocdClientOptions) {
    this.server = options.server;
    this.baseUrl = `${options.plaintext === true ? 'http' : 'https'}://${options.server}`;
    this.opts = {
      timeoutMs: options.timeoutMs ?? 5000,
      retries: options.retries ?? 2,
      backoffMs: options.backoffMs ?? 200,
      maxResponseBytes: options.maxResponseBytes ?? 4 * 1024 * 1024,
      tokenRecheckMs: options.tokenRecheckMs ?? 1000
    };
    if (options.plaintext === true || options.caFile === undefined) {
      this.agent = createAgent({ insecure: options.insecure === true });
    }
  }

  /** The Application, or undefined when Argo CD says it does not exist or hides it from the token (403). */
  async getApplication (name: string, appNamespace?: string): Promise<ArgocdApplication | undefined> {
    let path = `/api/v1/applications/${encodeURIComponent(name)}`;
    if (appNamespace !== undefined && appNamespace !== '') path += `?appNamespace=${encodeURIComponent(appNamespace)}`;
    const answer = await this.call('application', path);
    // Argo CD answers 403 (PermissionDenied) for an Application that does not exist unless the
    // caller names a project, so as not to leak which ones exist; 404 (NotFound) otherwise.
    if (answer.status === 404 || answer.status === 403) return undefined;
    this.expectOk('application', answer);
    const body = answer.body;
    if (!isRecord(body) || !isRecord(body.metadata)) {
      throw new ArgocdUnavailable(`Argo CD at ${this.server} answered the application request without metadata`);
    }
    const meta = body.metadata;
    const annotations: Record<string, string> = {};
    if (isRecord(meta.annotations)) {
      for (const [k, v] of Object.entries(meta.annotations)) if (typeof v === 'string') annotations[k] = v;
    }
    const app: ArgocdApplication = { metadata: { annotations } };
    if (typeof meta.name === 'string') app.metadata.name = meta.name;
    if (typeof meta.namespace === 'string') app.metadata.namespace = meta.namespace;
    return app;
  }

  async userInfo (): Promise<ArgocdUserInfo> {
    const answer = await this.call('userinfo', '/api/v1/session/userinfo');
    this.expectOk('userinfo', answer);
    const b = isRecord(answer.body) ? answer.body : {};
    const info: ArgocdUserInfo = {
      loggedIn: b.loggedIn === true,
      groups: Array.isArray(b.groups) ? b.groups.filter((g): g is string => typeof g === 'string') : []
    };
    if (typeof b.username === 'string') info.username = b.username;
    if (typeof b.iss === 'string') info.iss = b.iss;
    return info;
  }

  /** Argo CD's `can-i` for the token: true only for the answer "yes". */
  async canI (resource: string, action: string, subresource: string): Promise<boolean> {
    const path = `/api/v1/account/can-i/${[resource, action, subresource].map(encodeURIComponent).join('/')}`;
    const answer = await this.call('can_i', path);
    this.expectOk('can_i', answer);
    return isRecord(answer.body) && answer.body.value === 'yes';
  }

  async version (): Promise<ArgocdVersion> {
    const answer = await this.call('version', '/api/version');
    this.expectOk('version', answer);
    const b = isRecord(answer.body) ? answer.body : {};
    const v: ArgocdVersion = {};
    if (typeof b.Version === 'string') v.version = b.Version;
    if (typeof b.Platform === 'string') v.platform = b.Platform;
    return v;
  }

  close (): void {
    void this.agent?.destroy().catch(() => {});
    void this.agentReady?.then(async (a) => { await a.destroy(); }).catch(() => {});
  }

  private expectOk (endpoint: ArgocdEndpoint, answer: Answer): void {
    if (answer.status === 200) return;
    if (answer.status === 401 || answer.status === 403) {
      const why = this.options.token === undefined && this.options.tokenFile === undefined
        ? 'no token is configured (ARGOCD_TOKEN or ARGOCD_TOKEN_FILE)'
        : 'check that it is valid, not expired, and that its account may read applications';
      throw new ArgocdUnavailable(`Argo CD at ${this.server} refused the token (${answer.status}) on ${endpoint}: ${why}`);
    }
    const code = grpcCode(answer.body);
    throw new ArgocdUnavailable(`Argo CD at ${this.server} answered ${endpoint} with HTTP ${answer.status}` +
      (code === undefined ? '' : ` (gRPC code ${code})`));
  }

  private async currentToken (force: boolean): Promise<string | undefined> {
    const file = this.options.tokenFile;
    if (file === undefined) return this.options.token;
    const cached = this.fileToken;
    if (!force && cached !== undefined && Date.now() - cached.readAt < this.opts.tokenRecheckMs) return cached.value;
    this.tokenRead ??= (async () => {
      try {
        const buf = await readConfigFile(file, MAX_TOKEN_FILE_BYTES);
        const value = buf.toString('utf8').trim();
        this.fileToken = { value: value === '' ? undefined : value, readAt: Date.now() };
        if (this.tokenReadFailed) this.reported('success');
        return this.fileToken.value;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'read error';
        const what = err instanceof ConfigFileError && code !== 'ENOENT'
          ? `the Argo CD token file ${err.message}`
          : `cannot read the Argo CD token file ${file}: ${code}`;
        // a file replaced by something unreadable keeps the last good token, as other config files do
        if (cached !== undefined && code !== 'ENOENT') {
          if (!this.tokenReadFailed) this.reported('failure');
          return cached.value;
        }
        throw new ArgocdUnavailable(what);
      } finally {
        this.tokenRead = undefined;
      }
    })();
    return await this.tokenRead;
  }

  private reported (result: 'success' | 'failure'): void {
    this.tokenReadFailed = result === 'failure';
    this.options.metrics?.configReloads.inc({ file: 'argocd-token', result });
    this.options.metrics?.configLastReloadSuccess.set({ file: 'argocd-token' }, result === 'success' ? 1 : 0);
  }

  private async getAgent (): Promise<Dispatcher> {
    if (this.agent !== undefined) return this.agent;
    const caFile = this.options.caFile as string;
    this.agentReady ??= readFile(caFile, 'utf8').then(
      (ca) => createAgent({ insecure: this.options.insecure === true, extraCa: [ca] }),
      (err: NodeJS.ErrnoException) => {
        this.agentReady = undefined;
        throw new ArgocdUnavailable(`cannot read ARGOCD_CA_FILE ${caFile}: ${err.code ?? 'read error'}`);
      });
    return await this.agentReady;
  }

  /** One logical request: retried on network errors and 5xx, re-reading the token file once after a 401. */
  private async call (endpoint: ArgocdEndpoint, path: string): Promise<Answer> {
    let token = await this.currentToken(false);
    let reloaded = false;
    try {
      return await withRetry(async () => {
        const answer = await this.once(endpoint, path, token);
        if (answer.status !== 401 || this.options.tokenFile === undefined || reloaded) return answer;
        reloaded = true;
        const fresh = await this.currentToken(true);
        if (fresh === token) return answer;
        token = fresh;
        return await this.once(endpoint, path, token);
      }, {
        retries: this.opts.retries,
        backoffMs: this.opts.backoffMs,
        retryOn: (o) => 'error' in o ? isRetryableError(o.error) : o.value.status >= 500
      });
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      if (err.code === 'HTTP_RESPONSE_TOO_LARGE') {
        throw new ArgocdUnavailable(`Argo CD at ${this.server} answered ${endpoint} with a body larger than ${this.opts.maxResponseBytes} bytes`);
      }
      const why = err.code === 'HTTP_TIMEOUT' ? `no answer within ${this.opts.timeoutMs} ms` : err.detail;
      throw new ArgocdUnavailable(`cannot reach Argo CD at ${this.server} (${endpoint}): ${why}`);
    }
  }

  private async once (endpoint: ArgocdEndpoint, path: string, token: string | undefined): Promise<Answer> {
    const dispatcher = await this.getAgent();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const metrics = this.options.metrics;
    const timer = metrics?.argocdRequestDuration.startTimer({ endpoint });
    const count = (code: string): void => { timer?.(); metrics?.argocdRequests.inc({ endpoint, code }); };
    let res;
    try {
      res = await request(new URL(path, this.baseUrl), {
        headers,
        dispatcher,
        headersTimeoutMs: this.opts.timeoutMs,
        bodyTimeoutMs: this.opts.timeoutMs,
        totalTimeoutMs: this.opts.timeoutMs,
        maxBytes: this.opts.maxResponseBytes
      });
    } catch (err) {
      count(err instanceof TransportError && err.code === 'HTTP_TIMEOUT' ? 'timeout' : 'error');
      throw err;
    }
    count(String(res.status));
    const text = res.body.toString('utf8');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (res.status === 200) {
        throw new ArgocdUnavailable(`Argo CD at ${this.server} answered ${endpoint} with a body that is not JSON`);
      }
    }
    return { status: res.status, body };
  }
}
