// Google Artifact Registry / GCR: an OAuth access token from Application Default Credentials
// (GKE Workload Identity or GCE through the metadata server, a mounted service-account key,
// workload identity federation). google-auth-library is imported on first use.
import type { GoogleAuth } from 'google-auth-library';
import { CloudAccessDenied, CloudIdentityMissing, CloudProviderUnavailable, MalformedCredentials } from '../../errors.js';
import { safeName, type CloudToken } from './types.js';

const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
// above the cache's 5-minute early refresh, so that a refetch asked by the cache gets a new token
const EAGER_REFRESH_MS = 6 * 60_000;

const IDENTITY_KINDS: Record<string, string> = {
  Compute: 'metadata-server',
  JWT: 'service-account-key',
  UserRefreshClient: 'user-credentials',
  Impersonated: 'impersonated-service-account',
  IdentityPoolClient: 'workload-identity-federation',
  AwsClient: 'workload-identity-federation',
  PluggableAuthClient: 'workload-identity-federation',
  ExternalAccountAuthorizedUserClient: 'workload-identity-federation'
};

export class GcpTokens {
  private auth?: Promise<GoogleAuth>;

  async token (registry: string): Promise<CloudToken> {
    try {
      this.auth ??= import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({
        scopes: [SCOPE],
        clientOptions: { eagerRefreshThresholdMillis: EAGER_REFRESH_MS }
      }));
      const client = await (await this.auth).getClient();
      const { token } = await client.getAccessToken();
      const expiry = client.credentials.expiry_date;
      if (typeof token !== 'string' || token === '' || typeof expiry !== 'number') {
        throw new MalformedCredentials(`the Google access token for ${registry} came without a token or an expiry`);
      }
      return { username: 'oauth2accesstoken', password: token, expiresAt: new Date(expiry), identity: IDENTITY_KINDS[client.constructor.name] ?? 'application-default' };
    } catch (err) {
      throw mapGoogleError(err, registry);
    }
  }
}

export function mapGoogleError (err: unknown, registry: string): Error {
  if (err instanceof MalformedCredentials) return err;
  const e = err as { message?: unknown, code?: unknown, status?: unknown, response?: { status?: unknown } };
  const status = typeof e.response?.status === 'number' ? e.response.status : typeof e.status === 'number' ? e.status : undefined;
  const code = safeName(e.code);
  const message = typeof e.message === 'string' ? e.message : '';
  if (message.startsWith('Could not load the default credentials') || status === 404) {
    return new CloudIdentityMissing(`no Google identity for ${registry}: run on GKE with Workload Identity (annotate the ServiceAccount with iam.gke.io/gcp-service-account), or set GOOGLE_APPLICATION_CREDENTIALS to a mounted key or federation file`);
  }
  if (status === 400 || status === 401 || status === 403) {
    return new CloudAccessDenied(`Google refused an access token for ${registry} (HTTP ${status}): bind the Kubernetes ServiceAccount to the Google service account (roles/iam.workloadIdentityUser) and grant that account roles/artifactregistry.reader on the repository`);
  }
  return new CloudProviderUnavailable(`Google's token service did not answer for ${registry}${status !== undefined ? ` (HTTP ${status})` : code !== undefined ? ` (${code})` : ''}`);
}
