// Loopback fakes of the cloud token services, speaking their public wire protocols, for the
// real SDKs to talk to: AWS ECR (JSON 1.1 GetAuthorizationToken, private and Public) and STS
// (query protocol, XML answers), the GCE metadata server, the Microsoft Entra token endpoint
// (TLS, with its own CA) and ACR's /oauth2/exchange.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Teardown { teardown (fn: () => unknown): void }

/** deny-ecr: STS still answers, ECR refuses (an IAM role without the action) */
export type FakeMode = 'ok' | 'deny' | 'deny-ecr' | 'down' | 'hang';

interface Listening { url: string, port: number, close: () => Promise<void> }

async function listen (t: Teardown, server: http.Server | https.Server, scheme: 'http' | 'https'): Promise<Listening> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    server.close();
    await once(server, 'close').catch(() => {});
  };
  t.teardown(close);
  return { url: `${scheme}://127.0.0.1:${port}`, port, close };
}

async function body (req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 256 * 1024) break;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export const b64url = (s: string | Buffer): string => Buffer.from(s).toString('base64url');

/** an unsigned JWT-shaped token with these claims (ACR refresh tokens are JWTs with `exp`) */
export function jwt (claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.${b64url(randomBytes(16))}`;
}

// ---------------------------------------------------------------- AWS

export interface FakeAws extends Listening {
  mode: FakeMode
  /** lifetime of the next ECR tokens */
  lifetimeMs: number
  /** the ECR password handed out by the n-th GetAuthorizationToken (1-based) */
  passwordOf: (n: number) => string
  /** web identity tokens (JWTs) STS accepts */
  webIdentityTokens: Set<string>
  calls: { ecr: number, ecrPublic: number, assumeRoleWithWebIdentity: number, assumeRole: number }
  /** the last ECR call: its region and the access key that signed it (SigV4 Credential=) */
  lastEcr?: { target: string, region: string, accessKeyId: string }
  /** the roles STS was asked to assume */
  roles: string[]
  /** ECR tokens handed out, with their expiry */
  issued: Array<{ password: string, expiresAt: number }>
}

const ECR_TARGET = 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken';
const ECR_PUBLIC_TARGET = 'SpencerFrontendService.GetAuthorizationToken';

/** ECR (JSON 1.1) and STS (query protocol) on one loopback port: point AWS_ENDPOINT_URL_ECR and _STS here. */
export async function startFakeAws (t: Teardown, secretSeed = 'ecr-secret'): Promise<FakeAws> {
  const keys = new Map<string, string>(); // access key id issued by STS → role
  const fake = {
    mode: 'ok' as FakeMode,
    lifetimeMs: 12 * 3600_000,
    passwordOf: (n: number) => `${secretSeed}-${n}-${'x'.repeat(8)}`,
    webIdentityTokens: new Set<string>(),
    calls: { ecr: 0, ecrPublic: 0, assumeRoleWithWebIdentity: 0, assumeRole: 0 },
    roles: [] as string[],
    issued: [] as Array<{ password: string, expiresAt: number }>
  } as FakeAws;

  const xml = (res: http.ServerResponse, status: number, text: string): void => {
    res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomBytes(8).toString('hex') });
    res.end(text);
  };
  const stsError = (res: http.ServerResponse, code: string): void => {
    xml(res, 403, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>planted-sts-body-detail ${secretSeed}</Message></Error><RequestId>r</RequestId></ErrorResponse>`);
  };
  const credentials = (role: string): string => {
    const id = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    keys.set(id, role);
    const exp = new Date(Date.now() + 3600_000).toISOString();
    return `<Credentials><AccessKeyId>${id}</AccessKeyId><SecretAccessKey>${randomBytes(20).toString('hex')}</SecretAccessKey><SessionToken>${randomBytes(24).toString('hex')}</SessionToken><Expiration>${exp}</Expiration></Credentials>` +
      `<AssumedRoleUser><Arn>${role}/credbroker</Arn><AssumedRoleId>AROA:credbroker</AssumedRoleId></AssumedRoleUser>`;
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const text = await body(req);
      if (fake.mode === 'down') { req.socket.destroy(); return; }
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method === 'POST' && (target === ECR_TARGET || target === ECR_PUBLIC_TARGET)) {
        const isPublic = target === ECR_PUBLIC_TARGET;
        const m = /Credential=([A-Z0-9]+)\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/.exec(String(req.headers.authorization ?? ''));
        fake.lastEcr = { target, region: m?.[2] ?? '', accessKeyId: m?.[1] ?? '' };
        if (isPublic) fake.calls.ecrPublic++; else fake.calls.ecr++;
        const json = (status: number, v: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomBytes(8).toString('hex') });
          res.end(JSON.stringify(v));
        };
        if (m === null || !keys.has(m[1] as string)) {
          json(400, { __type: 'UnrecognizedClientException', message: `planted-ecr-body-detail ${secretSeed}` });
          return;
        }
        if (fake.mode === 'deny' || fake.mode === 'deny-ecr') {
          json(400, { __type: 'AccessDeniedException', message: `User is not authorized to perform ecr:GetAuthorizationToken planted-ecr-body-detail ${secretSeed}` });
          return;
        }
        const password = fake.passwordOf(fake.issued.length + 1);
        const expiresAt = Date.now() + fake.lifetimeMs;
        fake.issued.push({ password, expiresAt });
        const data = { authorizationToken: Buffer.from(`AWS:${password}`).toString('base64'), expiresAt: expiresAt / 1000 };
        json(200, isPublic ? { authorizationData: data } : { authorizationData: [{ ...data, proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com' }] });
        return;
      }
      const form = new URLSearchParams(text);
      const action = form.get('Action');
      if (req.method === 'POST' && action === 'AssumeRoleWithWebIdentity') {
        fake.calls.assumeRoleWithWebIdentity++;
        const role = form.get('RoleArn') ?? '';
        if (fake.mode === 'deny' || !fake.webIdentityTokens.has(form.get('WebIdentityToken') ?? '')) { stsError(res, 'AccessDenied'); return; }
        xml(res, 200, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>${credentials(role)}<SubjectFromWebIdentityToken>system:serviceaccount:argocd:credbroker</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`);
        return;
      }
      if (req.method === 'POST' && action === 'AssumeRole') {
        fake.calls.assumeRole++;
        const role = form.get('RoleArn') ?? '';
        fake.roles.push(role);
        const m = /Credential=([A-Z0-9]+)\//.exec(String(req.headers.authorization ?? ''));
        if (fake.mode === 'deny' || m === null || !keys.has(m[1] as string)) { stsError(res, 'AccessDenied'); return; }
        xml(res, 200, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>${credentials(role)}</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`);
        return;
      }
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('unknown action');
    })();
  });
  return Object.assign(fake, await listen(t, server, 'http'));
}

// ---------------------------------------------------------------- GCE metadata server

export interface FakeMetadata extends Listening {
  mode: FakeMode
  lifetimeSec: number
  tokenCalls: number
  /** requests that came without Metadata-Flavor: Google */
  unflavoured: number
  issued: string[]
  /** GCE_METADATA_HOST value: host:port, no scheme */
  host: string
}

export async function startFakeMetadata (t: Teardown, secretSeed = 'gcp-secret'): Promise<FakeMetadata> {
  const fake = { mode: 'ok' as FakeMode, lifetimeSec: 3599, tokenCalls: 0, unflavoured: 0, issued: [] as string[] } as FakeMetadata;
  const server = http.createServer((req, res) => {
    void (async () => {
      await body(req);
      if (fake.mode === 'down' && req.url?.includes('/token') === true) { req.socket.destroy(); return; }
      const send = (status: number, type: string, text: string): void => {
        res.writeHead(status, { 'content-type': type, 'metadata-flavor': 'Google' });
        res.end(text);
      };
      if (req.headers['metadata-flavor'] !== 'Google') { fake.unflavoured++; send(403, 'text/html', 'Missing Metadata-Flavor:Google header.'); return; }
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/computeMetadata/v1/instance' || u.pathname === '/computeMetadata/v1/instance/') { send(200, 'application/text', 'attributes/\nservice-accounts/\n'); return; }
      if (u.pathname === '/computeMetadata/v1/project/project-id') { send(200, 'application/text', 'credbroker-test'); return; }
      if (u.pathname === '/computeMetadata/v1/instance/service-accounts/default/token') {
        fake.tokenCalls++;
        if (fake.mode === 'hang') return; // never answers
        if (fake.mode === 'deny') { send(403, 'text/plain', `planted-gcp-body-detail ${secretSeed}`); return; }
        const token = `ya29.${secretSeed}-${fake.tokenCalls}`;
        fake.issued.push(token);
        send(200, 'application/json', JSON.stringify({ access_token: token, expires_in: fake.lifetimeSec, token_type: 'Bearer' }));
        return;
      }
      send(404, 'text/plain', 'not found');
    })();
  });
  const l = await listen(t, server, 'http');
  return Object.assign(fake, l, { host: `127.0.0.1:${l.port}` });
}

// ---------------------------------------------------------------- Microsoft Entra + ACR

export interface Tls { dir: string, cert: string, key: string, certPath: string }

/** a self-signed certificate for 127.0.0.1 (its own CA: pass certPath as NODE_EXTRA_CA_CERTS) */
export async function selfSignedTls (t: Teardown): Promise<Tls> {
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-tls-'));
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }); });
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath,
    '-subj', '/CN=127.0.0.1', '-days', '2', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  return { dir, certPath, cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
}

export interface FakeEntra extends Listening {
  mode: FakeMode
  /** federated (service account) tokens accepted as client assertions */
  assertions: Set<string>
  tokenCalls: number
  /** access tokens issued, still accepted by the ACR fake */
  issued: Set<string>
  lastScope?: string
  lastClientId?: string
}

/** The Entra v2.0 token endpoint and OpenID configuration of any tenant, over TLS. */
export async function startFakeEntra (t: Teardown, tls: Tls): Promise<FakeEntra> {
  const fake = { mode: 'ok' as FakeMode, assertions: new Set<string>(), tokenCalls: 0, issued: new Set<string>() } as FakeEntra;
  let base = '';
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void (async () => {
      const text = await body(req);
      const json = (status: number, v: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(v)); };
      if (fake.mode === 'down') { req.socket.destroy(); return; }
      const u = new URL(req.url ?? '/', base);
      const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(u.pathname);
      if (m === null) { json(404, { error: 'not_found' }); return; }
      const tenant = m[1] as string;
      if (m[2]?.startsWith('v2.0') === true) {
        json(200, {
          issuer: `${base}/${tenant}/v2.0`,
          authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
          token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
          end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
          response_types_supported: ['code', 'id_token', 'token'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic']
        });
        return;
      }
      fake.tokenCalls++;
      const form = new URLSearchParams(text);
      fake.lastScope = form.get('scope') ?? undefined;
      fake.lastClientId = form.get('client_id') ?? undefined;
      if (fake.mode === 'deny' || form.get('grant_type') !== 'client_credentials' || !fake.assertions.has(form.get('client_assertion') ?? '')) {
        json(401, { error: 'invalid_client', error_description: 'AADSTS700213: No matching federated identity record found planted-entra-body-detail', error_codes: [700213] });
        return;
      }
      const token = jwt({ aud: 'https://management.azure.com', tid: tenant, exp: Math.floor(Date.now() / 1000) + 3600, nonce: randomBytes(8).toString('hex') });
      fake.issued.add(token);
      json(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
    })();
  });
  const l = await listen(t, server, 'https');
  base = `https://127.0.0.1:${l.port}`;
  return Object.assign(fake, l);
}

export interface FakeAcrExchange extends Listening {
  mode: FakeMode
  exchanges: number
  lifetimeSec: number
  /** refresh tokens handed out */
  issued: string[]
  lastForm?: Record<string, string>
}

/** ACR's POST /oauth2/exchange: an Entra access token (accepted when `accepts` says so) for a refresh token */
export async function startFakeAcrExchange (t: Teardown, accepts: (aad: string) => boolean): Promise<FakeAcrExchange> {
  const fake = { mode: 'ok' as FakeMode, exchanges: 0, lifetimeSec: 3 * 3600, issued: [] as string[] } as FakeAcrExchange;
  const server = http.createServer((req, res) => {
    void (async () => {
      const text = await body(req);
      const json = (status: number, v: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(v)); };
      if (fake.mode === 'down') { req.socket.destroy(); return; }
      if (req.method !== 'POST' || req.url !== '/oauth2/exchange') { json(404, { errors: [{ code: 'NOT_FOUND' }] }); return; }
      fake.exchanges++;
      const form = Object.fromEntries(new URLSearchParams(text));
      fake.lastForm = { ...form, access_token: form.access_token === undefined ? '' : '(redacted)' };
      if (fake.mode === 'deny' || form.grant_type !== 'access_token' || form.service === undefined || !accepts(form.access_token ?? '')) {
        json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'planted-acr-body-detail' }] });
        return;
      }
      const token = jwt({ iss: 'Azure Container Registry', aud: form.service, exp: Math.floor(Date.now() / 1000) + fake.lifetimeSec, grant_type: 'refresh_token', jti: randomBytes(8).toString('hex') });
      fake.issued.push(token);
      json(200, { refresh_token: token });
    })();
  });
  return Object.assign(fake, await listen(t, server, 'http'));
}
