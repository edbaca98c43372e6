// A tiny loopback Kubernetes API serving Argo CD Application custom resources
// (argoproj.io/v1alpha1) and SelfSubjectAccessReview, with real Status bodies for 401/403/404.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface FakeKubeApplication {
  name: string
  namespace: string
  annotations?: Record<string, string>
}

const APP_PATH = /^\/apis\/argoproj\.io\/v1alpha1\/namespaces\/([^/]+)\/applications\/([^/]+)$/;

export class FakeKubeApplications {
  readonly requests: Array<{ method: string, path: string, token?: string }> = [];
  /** namespaces where get applications is forbidden (403) */
  readonly forbidden = new Set<string>();
  /** 'up'; 'unavailable' answers 503; 'reset' drops connections; 'no-crd' answers 404 as if the CRD were missing; 'hang' never answers */
  mode: 'up' | 'unavailable' | 'reset' | 'no-crd' | 'hang' = 'up';
  token = 'kube-test-token';

  private readonly apps = new Map<string, FakeKubeApplication>();
  private readonly sockets = new Set<Socket>();
  private resourceVersion = 5000;

  private constructor (private readonly server: Server) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start (): Promise<FakeKubeApplications> {
    let fake: FakeKubeApplications | undefined;
    const server = createServer((req, res) => { fake?.handle(req, res); });
    fake = new FakeKubeApplications(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url (): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A KubeConfig for this server, authenticating with `token` (default: the accepted one). */
  kubeConfig (token = this.token): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'credbroker', token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'credbroker' }],
      currentContext: 'fake'
    });
    return kc;
  }

  setApplication (app: FakeKubeApplication): void {
    this.apps.set(`${app.namespace}/${app.name}`, { ...app, annotations: { ...app.annotations } });
    this.resourceVersion++;
  }

  deleteApplication (namespace: string, name: string): void {
    this.apps.delete(`${namespace}/${name}`);
  }

  count (): number {
    return this.requests.filter((r) => APP_PATH.test(r.path)).length;
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const auth = req.headers.authorization;
    const rec: { method: string, path: string, token?: string } = { method: req.method ?? 'GET', path: url.pathname };
    if (auth?.startsWith('Bearer ') === true) rec.token = auth.slice(7);
    this.requests.push(rec);
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const status = (code: number, reason: string, message: string, details?: Record<string, unknown>): void => {
      const body: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
      if (details !== undefined) body.details = details;
      send(code, body);
    };

    if (this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (this.mode === 'hang') return;
    if (this.mode === 'unavailable') {
      status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      return;
    }
    if (rec.token !== this.token) {
      status(401, 'Unauthorized', 'Unauthorized');
      return;
    }

    if (req.method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: { resourceAttributes?: { namespace?: string } } };
        const ns = review.spec?.resourceAttributes?.namespace ?? '';
        send(201, { ...review, apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', status: { allowed: !this.forbidden.has(ns) } });
      });
      return;
    }

    const m = APP_PATH.exec(url.pathname);
    if (m === null || req.method !== 'GET') {
      status(404, 'NotFound', 'the server could not find the requested resource', {});
      return;
    }
    const ns = decodeURIComponent(m[1] as string);
    const name = decodeURIComponent(m[2] as string);
    if (this.mode === 'no-crd') {
      status(404, 'NotFound', 'the server could not find the requested resource', {});
      return;
    }
    if (this.forbidden.has(ns)) {
      status(403, 'Forbidden',
        `applications.argoproj.io "${name}" is forbidden: User "system:serviceaccount:argocd:credbroker" cannot get resource "applications" in API group "argoproj.io" in the namespace "${ns}"`,
        { name, group: 'argoproj.io', kind: 'applications' });
      return;
    }
    const app = this.apps.get(`${ns}/${name}`);
    if (app === undefined) {
      status(404, 'NotFound', `applications.argoproj.io "${name}" not found`, { name, group: 'argoproj.io', kind: 'applications' });
      return;
    }
    send(200, {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: app.name,
        namespace: app.namespace,
        uid: '9a1e4b2c-0000-4000-8000-000000000002',
        resourceVersion: String(this.resourceVersion),
        generation: 2,
        creationTimestamp: '2025-01-01T00:00:00Z',
        annotations: app.annotations ?? {}
      },
      spec: {
        project: 'default',
        source: { repoURL: 'https://github.com/example/deploy', path: app.name, targetRevision: 'HEAD' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'default' }
      },
      status: { sync: { status: 'Synced' }, health: { status: 'Healthy' } }
    });
  }
}
