// Who the service is in Kubernetes and what it may do (SelfSubjectReview, SelfSubjectAccessReview),
// and TokenReview for callers' tokens. Messages never carry a token or an API response body.
import { readFile } from 'node:fs/promises';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { KubeMode, Settings } from '../config/settings.js';
import { kubeRequest, statusOf, type KubeMetrics } from './client.js';

export interface ReviewOptions {
  metrics?: KubeMetrics
  timeoutMs?: number
}

export interface KubeIdentity {
  username?: string
  uid?: string
  groups: string[]
  /** where the identity comes from: the API, the token's own claims (API without SelfSubjectReview), or unknown */
  source: 'selfsubjectreview' | 'token' | 'unknown'
}

const MAX_TEXT = 300;

function tokenOf (kc: KubeConfig): Promise<string | undefined> {
  const user = kc.getCurrentUser();
  if (user === null) return Promise.resolve(undefined);
  if (typeof user.token === 'string' && user.token !== '') return Promise.resolve(user.token.trim());
  const path = (user.authProvider as { config?: { path?: unknown, tokenFile?: unknown } } | undefined)?.config;
  const file = typeof path?.path === 'string' ? path.path : typeof path?.tokenFile === 'string' ? path.tokenFile : undefined;
  if (file === undefined) return Promise.resolve(undefined);
  return readFile(file, 'utf8').then((t) => t.trim(), () => undefined);
}

/** The `sub` claim of a ServiceAccount JWT, read without verifying it (only to describe ourselves). */
function subjectOfJwt (token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 16 * 1024) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub.startsWith('system:') ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The service's own identity via authentication.k8s.io/v1 SelfSubjectReview (Kubernetes 1.28+).
 * Where the API lacks it (404), falls back to the subject of the service's token, else unknown.
 */
export async function selfSubjectReview (kc: KubeConfig, opts: ReviewOptions = {}): Promise<KubeIdentity> {
  const api = kc.makeApiClient(AuthenticationV1Api);
  try {
    const review = await kubeRequest({ verb: 'create', resource: 'selfsubjectreviews' },
      (o) => api.createSelfSubjectReviewWithHttpInfo({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }, o),
      opts);
    const info = review.status?.userInfo;
    return { username: info?.username, uid: info?.uid, groups: info?.groups ?? [], source: 'selfsubjectreview' };
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  const token = await tokenOf(kc);
  const sub = token === undefined ? undefined : subjectOfJwt(token);
  return sub === undefined ? { groups: [], source: 'unknown' } : { username: sub, groups: [], source: 'token' };
}

export interface AccessQuestion {
  verb: string
  resource: string
  /** undefined or '' = cluster-wide */
  namespace?: string
  group?: string
}

/** Whether the service may do verb on resource (authorization.k8s.io/v1 SelfSubjectAccessReview). */
export async function canI (kc: KubeConfig, q: AccessQuestion, opts: ReviewOptions = {}): Promise<boolean> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const review = await kubeRequest({ verb: 'create', resource: 'selfsubjectaccessreviews' },
    (o) => api.createSelfSubjectAccessReviewWithHttpInfo({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: q.verb,
            resource: q.resource,
            group: q.group ?? '',
            ...(q.namespace === undefined || q.namespace === '' ? {} : { namespace: q.namespace })
          }
        }
      }
    }, o),
    opts);
  return review.status?.allowed === true && review.status.denied !== true;
}

export interface TokenReviewResult {
  authenticated: boolean
  user?: { username: string, uid?: string, groups: string[] }
  /** the audiences the token was accepted for */
  audiences?: string[]
  /** why the API did not authenticate the token (its text, the token removed, bounded) */
  error?: string
}

/**
 * Check a caller's bearer token with authentication.k8s.io/v1 TokenReview. Throws
 * KubernetesForbidden when the service may not create TokenReviews, KubernetesUnavailable
 * when the API does not answer; the token appears in neither.
 */
export async function tokenReview (kc: KubeConfig, token: string, audiences: string[], opts: ReviewOptions = {}): Promise<TokenReviewResult> {
  const api = kc.makeApiClient(AuthenticationV1Api);
  const review = await kubeRequest({ verb: 'create', resource: 'tokenreviews' },
    (o) => api.createTokenReviewWithHttpInfo({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } }
    }, o),
    opts);
  const st = review.status;
  const result: TokenReviewResult = { authenticated: st?.authenticated === true };
  if (result.authenticated && st?.user?.username !== undefined) {
    result.user = { username: st.user.username, uid: st.user.uid, groups: st.user.groups ?? [] };
  } else {
    result.authenticated = false;
  }
  if (st?.audiences !== undefined) result.audiences = st.audiences;
  if (typeof st?.error === 'string' && st.error !== '') {
    result.error = (token === '' ? st.error : st.error.split(token).join('[token]')).slice(0, MAX_TEXT);
  }
  return result;
}

export interface NamespaceAccess {
  get: boolean
  list: boolean
  watch: boolean
  /** set when the API could not be asked */
  error?: string
}

export interface KubeAuthStatus {
  mode: KubeMode
  /** the service's own namespace */
  namespace: string
  identity: KubeIdentity & { error?: string }
  /** for each namespace of SECRET_NAMESPACES ('*' = cluster-wide): may the service get, list, watch Secrets */
  namespaces: Record<string, NamespaceAccess>
}

/** For GET /v1/auth/status: who the service is and whether it may read Secrets where it should. */
export async function kubeAuthStatus (
  kc: KubeConfig,
  settings: Pick<Settings, 'kubeMode' | 'podNamespace' | 'secretNamespaces'>,
  opts: ReviewOptions = {}
): Promise<KubeAuthStatus> {
  const namespaces = settings.secretNamespaces === '*' ? ['*'] : settings.secretNamespaces;
  const [identity, access] = await Promise.all([
    selfSubjectReview(kc, opts).catch((err: Error): KubeIdentity & { error: string } =>
      ({ groups: [], source: 'unknown', error: err.message })),
    Promise.all(namespaces.map(async (ns): Promise<[string, NamespaceAccess]> => {
      const namespace = ns === '*' ? undefined : ns;
      try {
        const [get, list, watch] = await Promise.all(['get', 'list', 'watch'].map((verb) =>
          canI(kc, { verb, resource: 'secrets', namespace }, opts)));
        return [ns, { get: get === true, list: list === true, watch: watch === true }];
      } catch (err) {
        return [ns, { get: false, list: false, watch: false, error: (err as Error).message }];
      }
    }))
  ]);
  return { mode: settings.kubeMode, namespace: settings.podNamespace, identity, namespaces: Object.fromEntries(access) };
}
