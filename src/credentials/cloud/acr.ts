// Azure ACR: a Microsoft Entra token from @azure/identity (workload identity, a service
// principal's secret in the environment, or managed identity), exchanged at the registry's
// `/oauth2/exchange` for an ACR refresh token. @azure/identity is imported on first use.
import type { TokenCredential } from '@azure/identity';
import { CloudAccessDenied, CloudIdentityMissing, CloudProviderUnavailable, MalformedCredentials } from '../../errors.js';
import type { AzureCloud } from './hosts.js';
import { FETCH_TIMEOUT_MS, MAX_ANSWER_BYTES, safeName, type CloudToken } from './types.js';

export const ACR_USERNAME = '00000000-0000-0000-0000-000000000000';

const KNOWN_AUTHORITIES = new Set(['login.microsoftonline.com', 'login.chinacloudapi.cn', 'login.microsoftonline.us', 'login.microsoftonline.de']);
const SCOPES: Record<AzureCloud, string> = {
  public: 'https://management.azure.com/.default',
  china: 'https://management.chinacloudapi.cn/.default',
  usgov: 'https://management.usgovcloudapi.net/.default'
};

export interface AcrRequest {
  /** the registry host: the exchange's `service` */
  service: string
  /** where `/oauth2/exchange` lives: the entry's API URL */
  apiUrl: string
  cloud: AzureCloud
  tenant?: string
  clientId?: string
}

interface Identity { credential: TokenCredential, kind: string, tenant?: string }

export class AcrTokens {
  private readonly identities = new Map<string, Promise<Identity>>();

  constructor (private readonly env: NodeJS.ProcessEnv) {}

  async token (req: AcrRequest): Promise<CloudToken> {
    let id: Identity;
    let aad: { token: string, expiresOnTimestamp: number };
    try {
      id = await this.identity(req);
      const t = await id.credential.getToken(SCOPES[req.cloud], { abortSignal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (t === null) throw new CloudIdentityMissing(`Microsoft Entra gave no token for ${req.service}`);
      aad = t;
    } catch (err) {
      throw mapAzureError(err, req);
    }
    const refresh = await exchange(req, id.tenant, aad.token);
    const exp = jwtExpiry(refresh);
    return { username: ACR_USERNAME, password: refresh, expiresAt: new Date(exp ?? aad.expiresOnTimestamp), identity: id.kind };
  }

  private identity (req: AcrRequest): Promise<Identity> {
    const tenant = req.tenant ?? this.env.AZURE_TENANT_ID;
    const clientId = req.clientId ?? this.env.AZURE_CLIENT_ID;
    const key = `${tenant ?? ''}|${clientId ?? ''}`;
    let id = this.identities.get(key);
    if (id === undefined) {
      id = this.create(tenant, clientId);
      this.identities.set(key, id);
      id.catch(() => this.identities.delete(key));
    }
    return id;
  }

  // One credential picked from the environment, not a chain: DefaultAzureCredential waits
  // seconds on each failing step, and explain can name what was used.
  private async create (tenant: string | undefined, clientId: string | undefined): Promise<Identity> {
    const azure = await import('@azure/identity');
    const authorityHost = this.env.AZURE_AUTHORITY_HOST;
    const common = {
      ...(authorityHost !== undefined ? { authorityHost } : {}),
      // instance discovery asks the public cloud about any other authority, and fails off it
      disableInstanceDiscovery: authorityHost !== undefined && !KNOWN_AUTHORITIES.has(hostOf(authorityHost))
    };
    const tokenFile = this.env.AZURE_FEDERATED_TOKEN_FILE;
    if (tokenFile !== undefined) {
      if (tenant === undefined || clientId === undefined) {
        throw new CloudIdentityMissing('AZURE_FEDERATED_TOKEN_FILE is set but the tenant or client ID is not: label the pod azure.workload.identity/use: "true" and annotate its ServiceAccount with azure.workload.identity/client-id, or give acr:tenant=…,clientId=…');
      }
      return { credential: new azure.WorkloadIdentityCredential({ ...common, tenantId: tenant, clientId, tokenFilePath: tokenFile }), kind: 'workload-identity', tenant };
    }
    const secret = this.env.AZURE_CLIENT_SECRET;
    if (secret !== undefined && tenant !== undefined && clientId !== undefined) {
      return { credential: new azure.ClientSecretCredential(tenant, clientId, secret, common), kind: 'client-secret', tenant };
    }
    return {
      credential: new azure.ManagedIdentityCredential(clientId !== undefined ? { clientId } : {}),
      kind: 'managed-identity',
      ...(tenant !== undefined ? { tenant } : {})
    };
  }
}

function hostOf (url: string): string {
  try { return new URL(url).hostname.toLowerCase(); } catch { return url.toLowerCase(); }
}

/** ACR's token exchange: an Entra access token for a refresh token of the registry */
async function exchange (req: AcrRequest, tenant: string | undefined, accessToken: string): Promise<string> {
  const url = new URL('oauth2/exchange', req.apiUrl.endsWith('/') ? req.apiUrl : `${req.apiUrl}/`);
  const form = new URLSearchParams({ grant_type: 'access_token', service: req.service, access_token: accessToken });
  if (tenant !== undefined) form.set('tenant', tenant);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', body: form, headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    text = await readBounded(res);
  } catch (err) {
    const cause = safeName((err as { cause?: { code?: unknown } }).cause?.code) ?? safeName((err as { name?: unknown }).name);
    throw new CloudProviderUnavailable(`the ACR token exchange at ${url.origin} did not answer for ${req.service}${cause !== undefined ? ` (${cause})` : ''}`);
  }
  if (res.status === 400 || res.status === 401 || res.status === 403) {
    throw new CloudAccessDenied(`ACR ${req.service} refused the Microsoft Entra token (HTTP ${res.status}): assign the identity the AcrPull role on the registry`);
  }
  if (res.status !== 200) throw new CloudProviderUnavailable(`the ACR token exchange for ${req.service} answered HTTP ${res.status}`);
  let refresh: unknown;
  try {
    refresh = (JSON.parse(text) as { refresh_token?: unknown }).refresh_token;
  } catch {
    refresh = undefined;
  }
  if (typeof refresh !== 'string' || refresh === '') throw new MalformedCredentials(`the ACR token exchange for ${req.service} answered without a refresh token`);
  return refresh;
}

async function readBounded (res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) { await reader.cancel(); throw new Error('answer too large'); }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** the `exp` of a JWT, in epoch ms; undefined when the token is not one */
export function jwtExpiry (token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function mapAzureError (err: unknown, req: AcrRequest): Error {
  if (err instanceof CloudIdentityMissing) return err;
  const e = err as { name?: unknown, statusCode?: unknown, message?: unknown };
  const name = safeName(e.name);
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  // MSAL's answer errors reach us wrapped as AuthenticationRequiredError with the OAuth error in
  // the message (read to classify, never repeated); a network failure is wrapped the same way
  const oauthRefusal = name === 'AuthenticationRequiredError' && typeof e.message === 'string' &&
    /\b(AADSTS\d+|invalid_client|invalid_grant|unauthorized_client|invalid_request|invalid_scope)\b/.test(e.message);
  if (name === 'CredentialUnavailableError') {
    return new CloudIdentityMissing(`no Azure identity for ${req.service}: use AKS workload identity (label the pod azure.workload.identity/use: "true", annotate the ServiceAccount with azure.workload.identity/client-id) or a managed identity`);
  }
  if (oauthRefusal || (name === 'AuthenticationError' && status !== undefined && status >= 400 && status < 500)) {
    return new CloudAccessDenied(`Microsoft Entra refused a token for ${req.service}${status !== undefined ? ` (HTTP ${status})` : ''}: check the federated identity credential (issuer, subject system:serviceaccount:<namespace>:<name>) of client ${req.clientId ?? 'AZURE_CLIENT_ID'}`);
  }
  return new CloudProviderUnavailable(`Microsoft Entra did not answer for ${req.service}${status !== undefined ? ` (HTTP ${status})` : name !== undefined ? ` (${name})` : ''}`);
}
