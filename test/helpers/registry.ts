// Runs the real Debian `docker-registry` (distribution 2.8) on 127.0.0.1 for tests: no auth,
// htpasswd (Basic) or token auth with a loopback ES256 token server, and pushes images with skopeo.
// A test calls requireTools(t, ...REGISTRY_TOOLS[auth]) (test/helpers/tools.ts) before starting one.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeOciLayout } from './oci.js';
import { findTool } from './tools.js';

const run = promisify(execFile);

export interface TokenRequestRecord {
  method: string
  grantType?: string
  account?: string
  scope?: string
  outcome: 'granted' | 'anonymous' | 'refused'
}

export interface StartedRegistry {
  /** http://127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT, as image references and auth files name it */
  host: string
  port: number
  auth: 'none' | 'htpasswd' | 'token'
  /** token mode: the token server's realm URL and what it was asked */
  tokenRealm?: string
  tokenRequests: TokenRequestRecord[]
  push: (repo: string, tag: string) => Promise<void>
  stop: () => Promise<void>
}

export interface RegistryOptions {
  auth: 'none' | 'htpasswd' | 'token'
  users?: Record<string, string>
  /** token mode: identity (refresh) tokens the token server accepts, token → user name */
  refreshTokens?: Record<string, string>
  /** serve https (`http.tls`) with this certificate; with `clientCas`, only to clients with a certificate one of them signed (`http.tls.clientcas`) */
  tls?: { certFile: string, keyFile: string, clientCas?: string[], clientCert?: { certFile: string, keyFile: string } }
}

async function freePort (): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

interface TokenServer { realm: string, close: () => Promise<void> }

async function startTokenServer (
  dir: string, service: string, issuer: string,
  users: Record<string, string>, refreshTokens: Record<string, string>, log: TokenRequestRecord[]
): Promise<TokenServer & { bundle: string }> {
  const keyPath = join(dir, 'token.key');
  const bundle = join(dir, 'token.crt');
  // node:crypto cannot create X.509 certificates; openssl can
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyPath, '-out', bundle, '-subj', '/CN=credbroker-test-token', '-days', '2']);
  const key = await readFile(keyPath, 'utf8');
  const x5c = new X509Certificate(await readFile(bundle)).raw.toString('base64');

  const sign = (subject: string, access: Array<{ type: string, name: string, actions: string[] }>): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: [x5c] }));
    const claims = b64url(JSON.stringify({
      iss: issuer, sub: subject, aud: service, exp: now + 300, nbf: now - 10, iat: now,
      jti: randomBytes(8).toString('hex'), access
    }));
    const sig = createSign('SHA256').update(`${header}.${claims}`).sign({ key, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${b64url(sig)}`;
  };

  const grant = (user: string | undefined, scopes: string[]): Array<{ type: string, name: string, actions: string[] }> => {
    if (user === undefined) return [];
    const out = [];
    for (const scope of scopes) {
      const [type, ...rest] = scope.split(':');
      const actions = rest.pop()?.split(',') ?? [];
      if (type !== 'repository') continue;
      out.push({ type, name: rest.join(':'), actions: actions.filter((a) => a === 'pull' || a === 'push') });
    }
    return out;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { if (chunks.length < 64) chunks.push(c); });
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://localhost');
      const refuse = (status: number, rec: TokenRequestRecord): void => {
        log.push(rec);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication failed' }] }));
      };
      const answer = (user: string | undefined, scopes: string[], rec: TokenRequestRecord, refresh?: string): void => {
        log.push(rec);
        const token = sign(user ?? '', grant(user, scopes));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          token, access_token: token, expires_in: 300, issued_at: new Date().toISOString(),
          ...(refresh !== undefined ? { refresh_token: refresh } : {})
        }));
      };
      if (u.pathname !== '/token') { res.writeHead(404); res.end(); return; }
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const grantType = form.get('grant_type') ?? '';
        const scopes = form.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');
        if (grantType === 'refresh_token') {
          const user = refreshTokens[form.get('refresh_token') ?? ''];
          if (user === undefined) { refuse(401, { method: 'POST', grantType, outcome: 'refused' }); return; }
          answer(user, scopes, { method: 'POST', grantType, account: user, scope: scopes.join(' '), outcome: 'granted' }, form.get('refresh_token') ?? '');
          return;
        }
        if (grantType === 'password') {
          const user = form.get('username') ?? '';
          if (users[user] === undefined || users[user] !== form.get('password')) {
            refuse(401, { method: 'POST', grantType, outcome: 'refused' });
            return;
          }
          answer(user, scopes, { method: 'POST', grantType, account: user, scope: scopes.join(' '), outcome: 'granted' });
          return;
        }
        refuse(400, { method: 'POST', grantType, outcome: 'refused' });
        return;
      }
      const scopes = u.searchParams.getAll('scope');
      const authz = req.headers.authorization ?? '';
      if (!authz.startsWith('Basic ')) {
        answer(undefined, scopes, { method: 'GET', scope: scopes.join(' '), outcome: 'anonymous' });
        return;
      }
      const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = decoded.slice(0, i);
      const pass = decoded.slice(i + 1);
      if (i < 0 || users[user] === undefined || users[user] !== pass) {
        refuse(401, { method: 'GET', scope: scopes.join(' '), outcome: 'refused' });
        return;
      }
      answer(user, scopes, { method: 'GET', account: user, scope: scopes.join(' '), outcome: 'granted' });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    bundle,
    close: async () => { server.closeAllConnections(); server.close(); await once(server, 'close').catch(() => {}); }
  };
}

async function waitReady (url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  const u = new URL(url);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
    const answered = u.protocol === 'https:'
      // a registry asking for client certificates answers no handshake without one: the port is enough
      ? await new Promise<boolean>((resolve) => {
        const s = net.connect(Number(u.port), u.hostname, () => { s.destroy(); resolve(true); });
        s.on('error', () => { resolve(false); });
      })
      : await new Promise<boolean>((resolve) => {
        const req = http.get(`${url}/v2/`, (res) => { res.resume(); resolve(true); });
        req.on('error', () => { resolve(false); });
        req.setTimeout(1000, () => { req.destroy(); });
      });
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not answer within 15 s: ${stderr()}`);
}

/** Starts docker-registry on a free loopback port; `stop()` ends it and removes its files. */
export async function startRegistry (opts: RegistryOptions): Promise<StartedRegistry> {
  const users = opts.users ?? {};
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-registry-'));
  const tokenRequests: TokenRequestRecord[] = [];
  let tokenServer: TokenServer | undefined;
  let child: ChildProcess | undefined;
  try {
    let auth: Record<string, unknown> | undefined;
    if (opts.auth === 'htpasswd') {
      const lines: string[] = [];
      for (const [name, pass] of Object.entries(users)) {
        const { stdout } = await run('htpasswd', ['-Bbn', name, pass]);
        lines.push(stdout.trim());
      }
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      auth = { htpasswd: { realm: 'basic-realm', path: join(dir, 'htpasswd') } };
    } else if (opts.auth === 'token') {
      const service = 'credbroker-test-registry';
      const issuer = 'credbroker-test-issuer';
      const ts = await startTokenServer(dir, service, issuer, users, opts.refreshTokens ?? {}, tokenRequests);
      tokenServer = ts;
      auth = { token: { realm: ts.realm, service, issuer, rootcertbundle: ts.bundle } };
    }

    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = {
        version: '0.1',
        log: { level: 'warn', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
        http: {
          addr: `127.0.0.1:${port}`,
          secret: randomBytes(16).toString('hex'),
          ...(opts.tls !== undefined
            ? { tls: { certificate: opts.tls.certFile, key: opts.tls.keyFile, ...(opts.tls.clientCas !== undefined ? { clientcas: opts.tls.clientCas } : {}) } }
            : {})
        },
        ...(auth !== undefined ? { auth } : {})
      };
      await writeFile(join(dir, 'config.yml'), JSON.stringify(config, null, 2));
      let err = '';
      const c = spawn(findTool('docker-registry') ?? 'docker-registry', ['serve', join(dir, 'config.yml')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr?.on('data', (d: Buffer) => { if (err.length < 8192) err += d.toString('utf8'); });
      const url = `${opts.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${port}`;
      try {
        await waitReady(url, c, () => err.slice(-2000));
      } catch (e) {
        lastErr = e;
        c.kill('SIGKILL');
        continue;
      }
      child = c;
      // a test process that dies early must not leave the registry running
      const killOnExit = (): void => { c.kill('SIGKILL'); };
      process.once('exit', killOnExit);
      c.once('exit', () => { process.removeListener('exit', killOnExit); });
      const ociDir = join(dir, 'oci');
      const started: StartedRegistry = {
        url,
        host: `127.0.0.1:${port}`,
        port,
        auth: opts.auth,
        ...(tokenServer !== undefined ? { tokenRealm: tokenServer.realm } : {}),
        tokenRequests,
        push: async (repo, tag) => {
          await writeOciLayout(ociDir, tag);
          const creds = Object.entries(users)[0];
          const args = ['copy', '--quiet', '--dest-tls-verify=false'];
          if (opts.tls?.clientCert !== undefined) {
            // skopeo's certificate folder: client.cert + client.key
            const certDir = join(dir, 'push-certs');
            await mkdir(certDir, { recursive: true });
            await copyFile(opts.tls.clientCert.certFile, join(certDir, 'client.cert'));
            await copyFile(opts.tls.clientCert.keyFile, join(certDir, 'client.key'));
            args.push('--dest-cert-dir', certDir);
          }
          if (opts.auth !== 'none' && creds !== undefined) args.push('--dest-creds', `${creds[0]}:${creds[1]}`);
          args.push(`oci:${ociDir}:${tag}`, `docker://127.0.0.1:${port}/${repo}:${tag}`);
          await run('skopeo', args, { timeout: 60_000 });
        },
        stop: async () => {
          if (child !== undefined && child.exitCode === null) {
            const exited = once(child, 'exit');
            child.kill('SIGTERM');
            const timer = setTimeout(() => child?.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          }
          await tokenServer?.close();
          await rm(dir, { recursive: true, force: true });
        }
      };
      return started;
    }
    throw lastErr instanceof Error ? lastErr : new Error('docker-registry did not start');
  } catch (e) {
    child?.kill('SIGKILL');
    await tokenServer?.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
