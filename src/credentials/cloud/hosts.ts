// Cloud registry hosts: which provider serves an image host, and the account, region or
// cloud it names. Patterns follow the kubelet's credential providers.
import type { CloudProvider } from '../types.js';

export interface ProviderHost {
  provider: CloudProvider
  host: string
  /** ECR: the registry's AWS account and region; ECR Public is always us-east-1 */
  account?: string
  region?: string
  ecrPublic?: boolean
  /** ACR: the Azure cloud the registry lives in */
  azureCloud?: AzureCloud
}

export type AzureCloud = 'public' | 'china' | 'usgov';

// the ECR credential provider's pattern (cloud-provider-aws), FIPS and dual-stack hosts included
const ECR = /^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(amazonaws\.com(\.cn)?|on\.(aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$/;
const GCR = /^([a-z]+\.)?gcr\.io$/;
const ARTIFACT_REGISTRY = /^[a-z0-9-]+-docker\.pkg\.dev$/;
const ACR: Array<[RegExp, AzureCloud]> = [
  [/^[a-z0-9]{5,50}(-[a-z0-9]+)?\.azurecr\.io$/, 'public'],
  [/^[a-z0-9]{5,50}(-[a-z0-9]+)?\.azurecr\.cn$/, 'china'],
  [/^[a-z0-9]{5,50}(-[a-z0-9]+)?\.azurecr\.us$/, 'usgov']
];

/** The provider serving `host` (a registry host without scheme), if it is a cloud registry host. */
export function providerHostOf (host: string): ProviderHost | undefined {
  const h = host.toLowerCase();
  const ecr = ECR.exec(h);
  if (ecr !== null) return { provider: 'ecr', host: h, account: ecr[1] as string, region: ecr[3] as string };
  if (h === 'public.ecr.aws') return { provider: 'ecr', host: h, region: 'us-east-1', ecrPublic: true };
  if (GCR.test(h) || ARTIFACT_REGISTRY.test(h)) return { provider: 'gcp', host: h };
  for (const [re, cloud] of ACR) if (re.test(h)) return { provider: 'acr', host: h, azureCloud: cloud };
  return undefined;
}
