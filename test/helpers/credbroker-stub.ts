// A loopback stand-in for the credbroker routes the protocol bins call (docker credential
// helper get/list, kubelet credential provider), and helpers to run those bins from source.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { chmod, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DOCKER_HELPER_BIN = join(ROOT, 'src', 'cli', 'docker-credential-credbroker.ts');
export const KUBELET_PROVIDER_BIN = join(ROOT, 'src', 'cli', 'kubelet-provider.ts');
const TSX = createRequire(import.meta.url).resolve('tsx');

export interface StubCredential { username: string, secret: string }

export interface StubRequest { method: string, path: string, authorization?: string, body: string }

export interface CredbrokerStubOptions {
  /** credentials by registry host (`127.0.0.1:5000`, `ghcr.io`) */
  credentials: Record<string, StubCredential>
  /** when set, every request must carry `Authorization: Bearer <token>` */
  token?: string
  /** answer GET /v1/docker-credential-helper/list (the lead adds that route) */
  list?: boolean
  /** answer every request with this status and JSON error body instead */
  fail?: { status: number, code: string, message: string }
}

export interface CredbrokerStub { url: string, requests: StubRequest[], close: () => Promise<void> }

export const NOT_FOUND = 'credentials not found in native keychain';

/** The registry host of a docker credential helper server URL: no scheme, no path. */
function hostOf (server: string): string {
  return server.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
}

function imageHost (image: string): string {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

export async function startCredbrokerStub (opts: CredbrokerStubOptions): Promise<CredbrokerStub> {
  const requests: StubRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { chunks.push(c); });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, body, ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}) });
      const sendJson = (status: number, v: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(v));
      };
      if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
        sendJson(401, { statusCode: 401, code: 'UNAUTHENTICATED', error: 'Unauthorized', message: 'a bearer token is required' });
        return;
      }
      if (opts.fail !== undefined) {
        sendJson(opts.fail.status, { statusCode: opts.fail.status, code: opts.fail.code, error: 'Error', message: opts.fail.message });
        return;
      }
      if (req.method === 'POST' && path === '/v1/docker-credential-helper/get') {
        const cred = opts.credentials[hostOf(body)];
        if (cred === undefined) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(NOT_FOUND);
          return;
        }
        sendJson(200, { ServerURL: body.trim(), Username: cred.username, Secret: cred.secret });
        return;
      }
      if (req.method === 'GET' && path === '/v1/docker-credential-helper/list' && opts.list === true) {
        sendJson(200, Object.fromEntries(Object.entries(opts.credentials).map(([h, c]) => [h, c.username])));
        return;
      }
      if (req.method === 'POST' && path === '/v1/kubelet/credential-provider') {
        let image = '';
        try { image = String((JSON.parse(body) as { image?: unknown }).image ?? ''); } catch {}
        const host = imageHost(image);
        const cred = opts.credentials[host];
        if (cred === undefined) {
          sendJson(404, { statusCode: 404, code: 'NO_CREDENTIALS_CONFIGURED', error: 'Not Found', message: `no credentials configured for ${image}` });
          return;
        }
        sendJson(200, {
          apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
          kind: 'CredentialProviderResponse',
          cacheKeyType: 'Registry',
          cacheDuration: '5m0s',
          auth: { [host]: { username: cred.username, password: cred.secret } }
        });
        return;
      }
      sendJson(404, { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: `Route ${req.method ?? ''}:${path} not found` });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => { server.closeAllConnections(); server.close(); await once(server, 'close').catch(() => {}); }
  };
}

export interface BinResult { code: number, stdout: string, stderr: string }

/** Runs a bin from source with tsx, feeding `stdin`. */
export async function runBin (script: string, args: string[], opts: { stdin?: string, env?: NodeJS.ProcessEnv } = {}): Promise<BinResult> {
  return await new Promise((resolvePromise) => {
    const child = execFile(process.execPath, ['--import', TSX, script, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
      timeout: 60_000
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin?.end(opts.stdin ?? '');
  });
}

/** Writes `dir/<name>`, a shell wrapper running `script` with tsx, for tools that look bins up on PATH. */
export async function writeBinWrapper (dir: string, name: string, script: string): Promise<string> {
  const file = join(dir, name);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  await writeFile(file, `#!/bin/sh\nexec ${q(process.execPath)} --import ${q(TSX)} ${q(script)} "$@"\n`);
  await chmod(file, 0o755);
  return file;
}
