// Fetches a credential from the source a reference names: a pull secret, a Secret field,
// an environment variable, an ext: script, or a ServiceAccount's imagePullSecrets.
import { EnvNotSet, MalformedCredentials, NamespaceNotAllowed, NoMatchingAuthEntry, SecretFieldMissing, SecretNotFound } from '../errors.js';
import type { SecretStore } from '../kube/secret-store.js';
import type { Metrics } from '../metrics.js';
import type { Fetched } from './cache.js';
import type { CloudCredentials } from './cloud/index.js';
import { dockerConfigFromSecretData, lookupDockerConfig, registryHostOf, type DockerConfig } from './dockerconfig.js';
import { runExtScript } from './ext.js';
import { formatReference, parseUserPass } from './reference.js';
import type { Credential, CredentialReference } from './types.js';
import { own } from '../own.js';

export interface SourceContext {
  store: SecretStore
  env: NodeJS.ProcessEnv
  extTimeoutMs: number
  extMaxOutputBytes: number
  metrics?: Metrics
  /** ecr:, gcp: and acr: references; their SDKs load on first use */
  cloud?: CloudCredentials
}

export const MAX_SECRET_FIELD_BYTES = 64 * 1024;

/** Since when (epoch ms) the store has been out of touch with any of these namespaces, if it is. */
export function disconnectedSince (store: SecretStore, namespaces: string[]): number | undefined {
  if (namespaces.length === 0) return undefined;
  const status = store.status();
  let since: number | undefined;
  for (const ns of namespaces) {
    const state = status.namespaces[ns] ?? status.namespaces['*'];
    if (state?.disconnectedSince === undefined) continue;
    const t = Date.parse(state.disconnectedSince);
    if (since === undefined || t < since) since = t;
  }
  return since;
}

/** Namespaces a reference reads from; checked against SECRET_NAMESPACES before any read. */
export function namespaceOf (ref: CredentialReference): string | undefined {
  return ref.type === 'pullsecret' || ref.type === 'secret' || ref.type === 'serviceaccount' ? ref.namespace : undefined;
}

export function checkNamespace (ref: CredentialReference, allowed: string[] | '*'): void {
  const ns = namespaceOf(ref);
  if (ns !== undefined && allowed !== '*' && !allowed.includes(ns)) throw new NamespaceNotAllowed(ns);
}

/**
 * Fetch what a reference names: a credential, or for pullsecret: and serviceaccount: the
 * keyring that `credentialFor` matches images against (`image`, a normalized repository,
 * only picks the registry of a cloud token). The caller has checked the namespace.
 */
export async function fetchCredential (ref: CredentialReference, image: string, ctx: SourceContext, endpoint?: { apiUrl: string }): Promise<Fetched> {
  const end = ctx.metrics?.fetchDuration.startTimer({ source_type: ref.type });
  try {
    return await fetchFrom(ref, image, ctx, endpoint);
  } finally {
    end?.();
  }
}

/** images whose keyring match is kept per keyring (a keyring serves many images; past this the memo starts over) */
export const KEYRING_MEMO_MAX_IMAGES = 1000;

type Matched = { credential: Credential, matchedKey?: string };
/** per keyring (a new object when its Secret changes): image → its match, null when none matches */
const keyringMatches = new WeakMap<DockerConfig, Map<string, Matched | null>>();

/** The credential of what was fetched for `image` (a normalized repository, `host[:port]/path`). */
export function credentialFor (fetched: Fetched, image: string): Matched {
  if (fetched.keyring === undefined) return { credential: fetched.credential as Credential };
  const { config, label } = fetched.keyring;
  let memo = keyringMatches.get(config);
  if (memo === undefined) keyringMatches.set(config, memo = new Map());
  let matched = memo.get(image);
  if (matched === undefined) {
    // the keyring match parses every key and builds its glob expressions: once per image
    const best = lookupDockerConfig(config, image)[0];
    matched = best === undefined ? null : { credential: best.credential, matchedKey: best.key };
    if (memo.size >= KEYRING_MEMO_MAX_IMAGES) memo.clear();
    memo.set(image, matched);
  }
  if (matched === null) throw new NoMatchingAuthEntry(label, registryHostOf(image));
  return matched;
}

async function fetchFrom (ref: CredentialReference, image: string, ctx: SourceContext, endpoint?: { apiUrl: string }): Promise<Fetched> {
  switch (ref.type) {
    case 'ecr':
    case 'gcp':
    case 'acr': {
      if (ctx.cloud === undefined) throw new Error('cloud credentials are not set up');
      const host = registryHostOf(image);
      const { credential, cloud } = await ctx.cloud.fetch(ref, host, endpoint?.apiUrl ?? `https://${host}`);
      return { credential, cloud, deps: [], namespaces: [] };
    }
    case 'env': {
      const value = own(ctx.env, ref.variable);
      if (value === undefined) throw new EnvNotSet(ref.variable);
      const { username, password } = parseUserPass(value, `environment variable ${ref.variable}`);
      return { credential: { username, password, tokenType: 'basic', expiresAt: null }, deps: [], namespaces: [] };
    }
    case 'ext': {
      const credential = await runExtScript(ref.path, {
        timeoutMs: ctx.extTimeoutMs,
        maxOutputBytes: ctx.extMaxOutputBytes,
        onRun: (outcome) => ctx.metrics?.extRuns.inc({ outcome })
      });
      return { credential, deps: [], namespaces: [] };
    }
    case 'secret': {
      const id = `${ref.namespace}/${ref.name}`;
      const secret = await ctx.store.getSecret(ref.namespace, ref.name);
      if (secret === undefined) throw new SecretNotFound(id);
      const value = own(secret.data, ref.field);
      if (value === undefined) throw new SecretFieldMissing(id, ref.field);
      const what = `secret ${id} field ${ref.field}`;
      if (value.length > MAX_SECRET_FIELD_BYTES) throw new MalformedCredentials(`${what} is larger than ${MAX_SECRET_FIELD_BYTES} bytes`);
      const { username, password } = parseUserPass(value.toString('utf8'), what);
      return {
        credential: { username, password, tokenType: 'basic', expiresAt: null },
        deps: [`secret/${id}`],
        namespaces: [ref.namespace]
      };
    }
    case 'pullsecret': {
      const id = `${ref.namespace}/${ref.name}`;
      const secret = await ctx.store.getSecret(ref.namespace, ref.name);
      if (secret === undefined) throw new SecretNotFound(id);
      const config = dockerConfigFromSecretData(secret.data, id);
      return { keyring: { config, label: `secret ${id}` }, deps: [`secret/${id}`], namespaces: [ref.namespace] };
    }
    case 'serviceaccount': {
      const id = `${ref.namespace}/${ref.name}`;
      const sa = await ctx.store.getServiceAccount(ref.namespace, ref.name);
      if (sa === undefined) throw new SecretNotFound(`serviceaccount ${id}`);
      const deps = [`serviceaccount/${id}`];
      // One keyring of every pull secret, in order, as the kubelet builds it; missing ones are skipped.
      const merged: DockerConfig = { entries: [] };
      for (const name of sa.imagePullSecrets) {
        deps.push(`secret/${ref.namespace}/${name}`);
        const secret = await ctx.store.getSecret(ref.namespace, name);
        if (secret === undefined) continue;
        if (own(secret.data, '.dockerconfigjson') === undefined && own(secret.data, '.dockercfg') === undefined) continue;
        merged.entries.push(...dockerConfigFromSecretData(secret.data, `${ref.namespace}/${name}`).entries);
      }
      return { keyring: { config: merged, label: `the imagePullSecrets of ${formatReference(ref)}` }, deps, namespaces: [ref.namespace] };
    }
  }
}
