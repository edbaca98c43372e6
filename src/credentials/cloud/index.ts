// Credentials from the pod's own cloud identity for `ecr:`, `gcp:` and `acr:` references.
// Each provider's SDK is imported on its first fetch, so that no other mode loads it.
import { CloudIdentityMissing, CloudProviderUnavailable, isCodedError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { CloudReference, Credential } from '../types.js';
import type { AcrTokens } from './acr.js';
import type { EcrTokens } from './ecr.js';
import type { GcpTokens } from './gcp.js';
import { providerHostOf } from './hosts.js';
import type { CloudDetail, CloudOutcome, CloudToken } from './types.js';

export type { CloudDetail } from './types.js';

export interface CloudFetched { credential: Credential, cloud: CloudDetail }

/** no provider call, retries included, holds a cache miss longer than this */
export const CLOUD_FETCH_BOUND_MS = 30_000;

export class CloudCredentials {
  private ecr?: Promise<EcrTokens>;
  private gcp?: Promise<GcpTokens>;
  private acr?: Promise<AcrTokens>;

  constructor (private readonly env: NodeJS.ProcessEnv, private readonly metrics?: Metrics, private readonly boundMs = CLOUD_FETCH_BOUND_MS) {}

  /** `host`: the image's registry host; `apiUrl`: its endpoint's API URL */
  async fetch (ref: CloudReference, host: string, apiUrl: string): Promise<CloudFetched> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    try {
      // the SDKs bound their own requests, not all of them every step (a metadata server that never answers)
      const bound = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { timedOut = true; reject(new CloudProviderUnavailable(`the ${ref.type} token for ${host} did not come within ${this.boundMs / 1000} s`)); }, this.boundMs);
      });
      const fetched = await Promise.race([this.fetchFrom(ref, host, apiUrl), bound]);
      this.count(ref, 'ok');
      return fetched;
    } catch (err) {
      this.count(ref, isCodedError(err) ? err.code as CloudOutcome : 'CLOUD_PROVIDER_UNAVAILABLE');
      // the libraries share one pending refresh among callers: start the next fetch afresh
      if (timedOut) await this.reset(ref.type);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private count (ref: CloudReference, outcome: CloudOutcome): void {
    this.metrics?.cloudTokenRequests.inc({ provider: ref.type, outcome });
  }

  private async fetchFrom (ref: CloudReference, host: string, apiUrl: string): Promise<CloudFetched> {
    const known = providerHostOf(host);
    const own = known?.provider === ref.type ? known : undefined;
    switch (ref.type) {
      case 'ecr': {
        const region = own?.region ?? ref.options.region ?? this.env.AWS_REGION ?? this.env.AWS_DEFAULT_REGION;
        if (region === undefined) {
          throw new CloudIdentityMissing(`no AWS region for ${host}: it is not an ECR host, so name one with ecr:region=… or set AWS_REGION`);
        }
        this.ecr ??= import('./ecr.js').then(({ EcrTokens }) => new EcrTokens(this.env));
        const role = ref.options.role;
        const token = await (await this.ecr).token({ region, ecrPublic: own?.ecrPublic === true, registry: host, ...(role !== undefined ? { role } : {}) });
        return done(token, { provider: 'ecr', identity: token.identity, registry: host, region, ...(role !== undefined ? { role } : {}) });
      }
      case 'gcp': {
        this.gcp ??= import('./gcp.js').then(({ GcpTokens }) => new GcpTokens());
        const token = await (await this.gcp).token(host);
        return done(token, { provider: 'gcp', identity: token.identity, registry: host });
      }
      case 'acr': {
        // behind a proxy (or in a test) the ACR service is the API URL's host
        const service = own?.host ?? new URL(apiUrl).host;
        this.acr ??= import('./acr.js').then(({ AcrTokens }) => new AcrTokens(this.env));
        const token = await (await this.acr).token({
          service,
          apiUrl,
          cloud: own?.azureCloud ?? 'public',
          ...(ref.options.tenant !== undefined ? { tenant: ref.options.tenant } : {}),
          ...(ref.options.clientId !== undefined ? { clientId: ref.options.clientId } : {})
        });
        return done(token, { provider: 'acr', identity: token.identity, registry: service });
      }
    }
  }

  private async reset (type: CloudReference['type']): Promise<void> {
    const ecr = this.ecr;
    if (type === 'ecr') this.ecr = undefined;
    if (type === 'gcp') this.gcp = undefined;
    if (type === 'acr') this.acr = undefined;
    if (type === 'ecr') (await ecr?.catch(() => undefined))?.close();
  }

  async close (): Promise<void> {
    if (this.ecr !== undefined) (await this.ecr).close();
  }
}

function done (token: CloudToken, cloud: CloudDetail): CloudFetched {
  return { credential: { username: token.username, password: token.password, tokenType: 'basic', expiresAt: token.expiresAt }, cloud };
}
