// AWS ECR: GetAuthorizationToken with the SDK's default credential chain (IRSA web identity,
// EKS Pod Identity, environment, profile, instance role), optionally assuming a role.
// The SDK is imported on first use; one client per region and role (each client asks STS anew).
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ECRPUBLICClient } from '@aws-sdk/client-ecr-public';
import { CloudAccessDenied, CloudIdentityMissing, CloudProviderUnavailable, MalformedCredentials } from '../../errors.js';
import { FETCH_TIMEOUT_MS, safeName, type CloudToken } from './types.js';

export interface EcrRequest {
  region: string
  role?: string
  ecrPublic: boolean
  /** the registry host, for messages */
  registry: string
}

interface Clients { ecr: Map<string, ECRClient>, ecrPublic: Map<string, ECRPUBLICClient> }

/** which step of the default chain would answer, from the environment (never a value) */
export function awsIdentityKind (env: NodeJS.ProcessEnv): string {
  if (env.AWS_ACCESS_KEY_ID !== undefined && env.AWS_SECRET_ACCESS_KEY !== undefined) return 'environment';
  if (env.AWS_PROFILE !== undefined) return 'profile';
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE !== undefined && env.AWS_ROLE_ARN !== undefined) return 'web-identity';
  if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI !== undefined || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI !== undefined) return 'pod-identity';
  return 'instance-role';
}

export class EcrTokens {
  private readonly clients: Clients = { ecr: new Map(), ecrPublic: new Map() };

  constructor (private readonly env: NodeJS.ProcessEnv) {}

  async token (req: EcrRequest): Promise<CloudToken> {
    const base = awsIdentityKind(this.env);
    const identity = req.role !== undefined ? `${base}+assume-role` : base;
    try {
      const data = req.ecrPublic ? await this.publicToken(req) : await this.privateToken(req);
      return { ...decode(data, req.registry), identity };
    } catch (err) {
      throw mapAwsError(err, req);
    }
  }

  private async credentialsFor (req: EcrRequest): Promise<Record<string, unknown>> {
    const common = { region: req.region, maxAttempts: 2, requestHandler: { connectionTimeout: 3000, requestTimeout: FETCH_TIMEOUT_MS } };
    if (req.role === undefined) return common;
    const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
    return {
      ...common,
      credentials: fromTemporaryCredentials({
        params: { RoleArn: req.role, RoleSessionName: 'credbroker' },
        clientConfig: { region: req.region }
      })
    };
  }

  private async privateToken (req: EcrRequest): Promise<{ token?: string, expiresAt?: Date }> {
    const sdk = await import('@aws-sdk/client-ecr');
    const key = `${req.region}|${req.role ?? ''}`;
    let client = this.clients.ecr.get(key);
    if (client === undefined) {
      client = new sdk.ECRClient(await this.credentialsFor(req));
      this.clients.ecr.set(key, client);
    }
    const out = await client.send(new sdk.GetAuthorizationTokenCommand({}));
    const data = out.authorizationData?.[0];
    return { token: data?.authorizationToken, expiresAt: data?.expiresAt };
  }

  private async publicToken (req: EcrRequest): Promise<{ token?: string, expiresAt?: Date }> {
    const sdk = await import('@aws-sdk/client-ecr-public');
    const key = `us-east-1|${req.role ?? ''}`;
    let client = this.clients.ecrPublic.get(key);
    if (client === undefined) {
      client = new sdk.ECRPUBLICClient(await this.credentialsFor({ ...req, region: 'us-east-1' }));
      this.clients.ecrPublic.set(key, client);
    }
    const out = await client.send(new sdk.GetAuthorizationTokenCommand({}));
    return { token: out.authorizationData?.authorizationToken, expiresAt: out.authorizationData?.expiresAt };
  }

  close (): void {
    for (const c of this.clients.ecr.values()) c.destroy();
    for (const c of this.clients.ecrPublic.values()) c.destroy();
    this.clients.ecr.clear();
    this.clients.ecrPublic.clear();
  }
}

function decode (data: { token?: string, expiresAt?: Date }, registry: string): Omit<CloudToken, 'identity'> {
  const what = `the ECR authorization token for ${registry}`;
  if (data.token === undefined || !(data.expiresAt instanceof Date) || Number.isNaN(data.expiresAt.getTime())) {
    throw new MalformedCredentials(`${what} came without a token or an expiry`);
  }
  const text = Buffer.from(data.token, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) throw new MalformedCredentials(`${what} is not base64 of <username>:<password>`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1), expiresAt: data.expiresAt };
}

const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnrecognizedClientException', 'InvalidClientTokenId',
  'InvalidIdentityToken', 'ExpiredTokenException', 'ExpiredToken', 'IDPRejectedClaim', 'InvalidSignatureException', 'SignatureDoesNotMatch']);
const UNAVAILABLE = new Set(['TimeoutError', 'ThrottlingException', 'Throttling', 'ServiceUnavailable', 'ServerException', 'InternalFailure', 'IDPCommunicationError',
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** SDK errors to our codes; the SDK's message (which may quote a response) is never kept */
export function mapAwsError (err: unknown, req: EcrRequest): Error {
  if (err instanceof MalformedCredentials) return err;
  const e = err as { name?: unknown, code?: unknown, $metadata?: { httpStatusCode?: number } };
  const name = safeName(e.name) ?? 'Error';
  const code = safeName(e.code);
  const status = e.$metadata?.httpStatusCode;
  const role = req.role !== undefined ? ` and sts:AssumeRole on ${req.role}` : '';
  if (name === 'CredentialsProviderError' || name === 'ProviderError') {
    return new CloudIdentityMissing(`no AWS identity for ${req.registry}: give the pod an IAM role (IRSA: annotate its ServiceAccount with eks.amazonaws.com/role-arn; or EKS Pod Identity) or set AWS credentials in its environment`);
  }
  if (DENIED.has(name) || status === 401 || status === 403) {
    return new CloudAccessDenied(`AWS refused ${req.ecrPublic ? 'ecr-public' : 'ecr'}:GetAuthorizationToken for ${req.registry} (${name}): allow the pod's IAM role the action ${req.ecrPublic ? 'ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken' : 'ecr:GetAuthorizationToken'}${role}, and check its trust policy`);
  }
  if (UNAVAILABLE.has(name) || (code !== undefined && UNAVAILABLE.has(code)) || status === undefined || status >= 500) {
    return new CloudProviderUnavailable(`AWS did not answer GetAuthorizationToken for ${req.registry} (region ${req.region}): ${code ?? name}`);
  }
  return new CloudAccessDenied(`AWS refused GetAuthorizationToken for ${req.registry} (${name}, HTTP ${status})`);
}
