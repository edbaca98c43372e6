// The Kubernetes API client setup (in-cluster or kubeconfig) and the one place where the
// client library's errors become ours, with every request counted.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import {
  ApiException, KubeConfig, Observable,
  type ConfigurationOptions, type HttpInfo, type User
} from '@kubernetes/client-node';
import { ConfigError, KubernetesForbidden, KubernetesUnavailable, isCodedError } from '../errors.js';
import type { Settings } from '../config/settings.js';
import type { Metrics } from '../metrics.js';

export type KubeMetrics = Pick<Metrics, 'kubernetesRequests'> & Partial<Pick<Metrics, 'kubernetesRequestDuration'>>;

const ROTATING_TOKEN_PROVIDER = 'credbroker-token-file';
const MAX_TOKEN_BYTES = 64 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface KubeConfigOptions {
  /** where KUBERNETES_SERVICE_HOST/PORT are read (default process.env) */
  env?: NodeJS.ProcessEnv
  /** how long a read ServiceAccount token is used before the file is read again (default 5 s) */
  tokenRefreshMs?: number
}

/**
 * Bearer token from a file that the kubelet rotates (projected tokens live about an hour).
 * client-node 1.x has a token-file authenticator but it re-reads only every 60 s and keeps
 * a trailing newline; this one re-reads at most every `refreshMs`, and keeps the last good
 * token when a read fails mid-rotation.
 */
export class RotatingTokenFile {
  private token?: string;
  private readAt = 0;

  constructor (readonly path: string, private readonly refreshMs = 5000) {}

  isAuthProvider (user: User): boolean {
    return (user.authProvider as { name?: string } | undefined)?.name === ROTATING_TOKEN_PROVIDER;
  }

  async applyAuthentication (_user: User, opts: { headers?: Record<string, unknown> }): Promise<void> {
    const token = await this.current();
    opts.headers ??= {};
    opts.headers.Authorization = `Bearer ${token}`;
  }

  /** forget the cached token, e.g. after a 401 */
  invalidate (): void {
    this.readAt = 0;
  }

  async current (): Promise<string> {
    if (this.token === undefined || Date.now() - this.readAt >= this.refreshMs) {
      try {
        const buf = await readFile(this.path);
        const text = buf.subarray(0, MAX_TOKEN_BYTES).toString('utf8').trim();
        if (text !== '' && buf.length <= MAX_TOKEN_BYTES) this.token = text;
        this.readAt = Date.now();
      } catch {
        if (this.token === undefined) {
          throw new KubernetesUnavailable(`cannot read the ServiceAccount token file ${this.path}`);
        }
      }
    }
    if (this.token === undefined) {
      throw new KubernetesUnavailable(`the ServiceAccount token file ${this.path} is empty or too large`);
    }
    return this.token;
  }
}

/** A KubeConfig for settings.kubeMode `in-cluster` or `kubeconfig`. Throws ConfigError naming the problem. */
export function createKubeConfig (
  settings: Pick<Settings, 'kubeMode' | 'serviceAccountDir' | 'kubeconfigPath'>,
  opts: KubeConfigOptions = {}
): KubeConfig {
  const kc = new KubeConfig();
  if (settings.kubeMode === 'in-cluster') {
    const env = opts.env ?? process.env;
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (host === undefined || host === '' || port === undefined || port === '') {
      throw new ConfigError('KUBE_MODE', 'in-cluster needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT');
    }
    const tokenFile = join(settings.serviceAccountDir, 'token');
    const caFile = join(settings.serviceAccountDir, 'ca.crt');
    for (const f of [tokenFile, caFile]) {
      if (!existsSync(f)) throw new ConfigError('KUBE_MODE', `in-cluster needs ${f}`);
    }
    kc.loadFromClusterAndUser(
      { name: 'in-cluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile, skipTLSVerify: false },
      { name: 'in-cluster', authProvider: { name: ROTATING_TOKEN_PROVIDER, config: { path: tokenFile } } }
    );
    kc.addAuthenticator(new RotatingTokenFile(tokenFile, opts.tokenRefreshMs));
    return kc;
  }
  if (settings.kubeMode === 'kubeconfig') {
    const file = settings.kubeconfigPath;
    if (file === undefined || !existsSync(file)) {
      throw new ConfigError('KUBECONFIG', `no kubeconfig at ${file ?? '~/.kube/config'}`);
    }
    try {
      kc.loadFromFile(file);
    } catch {
      // the parser's message may quote the file, and the file holds credentials
      throw new ConfigError('KUBECONFIG', `${file} is not a valid kubeconfig`);
    }
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new ConfigError('KUBECONFIG', `${file} has no current context with a cluster`);
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
      throw new ConfigError('KUBECONFIG', `${file}: a plain http server needs insecure-skip-tls-verify: true`);
    }
    return kc;
  }
  throw new ConfigError('KUBE_MODE', `${settings.kubeMode} mode does not use the Kubernetes API`);
}

/** What a request does, for metrics and for error messages. namespace undefined = cluster-wide. */
export interface KubeRequest {
  verb: string
  resource: string
  namespace?: string
}

export function describeRequest (req: KubeRequest): string {
  return req.namespace === undefined
    ? `${req.verb} ${req.resource} cluster-wide`
    : `${req.verb} ${req.resource} in namespace ${req.namespace}`;
}

/** HTTP status of a client-node failure: ApiException.code, or the Watch class's statusCode. */
export function statusOf (err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { statusCode?: unknown, apiStatus?: unknown } | null;
  if (typeof e?.apiStatus === 'number') return e.apiStatus;
  if (typeof e?.statusCode === 'number' && !isCodedError(err)) return e.statusCode;
  return undefined;
}

function networkReason (err: unknown): string {
  const e = err as { name?: unknown, code?: unknown, type?: unknown } | null;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.type === 'aborted') return 'timed out';
  if (typeof e?.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  return 'connection failed';
}

/**
 * Our error for a failed request, never carrying the API's message or body (ApiException's
 * message embeds the response body and headers; a TokenReview answer echoes the token).
 * The HTTP status stays readable with statusOf().
 */
export function toKubeError (err: unknown, req: KubeRequest): Error {
  if (isCodedError(err)) return err;
  const code = statusOf(err);
  let out: Error;
  if (code === 403) {
    const where = req.namespace === undefined ? 'cluster-wide' : `in namespace ${req.namespace}`;
    out = new KubernetesForbidden(`the service account may not ${req.verb} ${req.resource} ${where}`);
  } else if (code === 401) {
    out = new KubernetesUnavailable(`the Kubernetes API rejected the service's credentials (401 Unauthorized) to ${describeRequest(req)}; the token may have expired`);
  } else if (code === 410) {
    out = new KubernetesUnavailable(`the Kubernetes API answered 410 Gone (resource version expired) to ${describeRequest(req)}`);
  } else if (code !== undefined) {
    out = new KubernetesUnavailable(`the Kubernetes API answered ${code} to ${describeRequest(req)}`);
  } else {
    out = new KubernetesUnavailable(`the Kubernetes API did not answer (${networkReason(err)}) to ${describeRequest(req)}`);
  }
  if (code !== undefined) Object.defineProperty(out, 'apiStatus', { value: code, enumerable: false });
  return out;
}

/**
 * Per-request options for the generated API clients: an overall timeout (headers and body), and
 * another Accept header when given (e.g. a metadata-only list).
 */
export function requestOptions (timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, accept?: string): ConfigurationOptions {
  return {
    middleware: [{
      pre: (ctx) => {
        ctx.setSignal(AbortSignal.timeout(timeoutMs));
        if (accept !== undefined) ctx.setHeaderParam('Accept', accept);
        return new Observable(Promise.resolve(ctx));
      },
      post: (ctx) => new Observable(Promise.resolve(ctx))
    }],
    middlewareMergeStrategy: 'append'
  };
}

export function countRequest (metrics: KubeMetrics | undefined, req: KubeRequest, code: number | string): void {
  metrics?.kubernetesRequests.inc({ verb: req.verb, resource: req.resource, code: String(code) });
}

/**
 * Run one API request (a generated client's *WithHttpInfo call), counting it by verb,
 * resource and status, and turning failures into KubernetesForbidden / KubernetesUnavailable.
 */
export async function kubeRequest<T> (
  req: KubeRequest,
  call: (options: ConfigurationOptions) => Promise<HttpInfo<T>>,
  opts: { metrics?: KubeMetrics, timeoutMs?: number, accept?: string } = {}
): Promise<T> {
  let info: HttpInfo<T>;
  const timer = opts.metrics?.kubernetesRequestDuration?.startTimer({ verb: req.verb, resource: req.resource });
  try {
    info = await call(requestOptions(opts.timeoutMs, opts.accept));
  } catch (err) {
    countRequest(opts.metrics, req, statusOf(err) ?? 'error');
    throw toKubeError(err, req);
  } finally {
    timer?.();
  }
  countRequest(opts.metrics, req, info.httpStatusCode);
  return info.data;
}
