// The API document's examples: requests that succeed against the local-mode examples
// (examples/registries.conf and examples/secrets, as `npm start` serves them and the /docs
// "Try it out" sends them; test/http/openapi-examples.test.ts sends each one) and what they get.

const TEAM_A_IMAGE = 'ghcr.io/team-a/app:1.2';
const TEAM_A_ENDPOINT = { name: 'GitHub team A', prefix: 'ghcr.io/team-a', apiUrl: 'https://ghcr.io', configured: true };
const TEAM_A_SOURCE = { type: 'pullsecret', ref: 'pullsecret:argocd/team-a-pull', level: 'registry' };

export const EXAMPLES = {
  resolve: {
    request: [{ image: TEAM_A_IMAGE }],
    response: [{
      image: TEAM_A_IMAGE,
      normalized: 'ghcr.io/team-a/app',
      registry: TEAM_A_ENDPOINT,
      source: TEAM_A_SOURCE,
      username: 'team-a-bot',
      password: 'example-team-a-password',
      tokenType: 'basic',
      cached: false,
      stale: false,
      fetchedAt: '2026-11-29T20:02:24.293Z',
      expiresAt: null,
      matchedKey: 'ghcr.io/team-a'
    }]
  },
  get: {
    image: 'docker.io/library/nginx:1.27',
    response: [{
      image: 'docker.io/library/nginx:1.27',
      normalized: 'docker.io/library/nginx',
      registry: { name: 'Docker Hub', prefix: 'docker.io', apiUrl: 'https://registry-1.docker.io', configured: true },
      source: { type: 'pullsecret', ref: 'pullsecret:argocd/dockerhub', level: 'registry' },
      username: 'dockerhub-bot',
      password: 'example-dockerhub-password',
      tokenType: 'basic',
      cached: false,
      stale: false,
      fetchedAt: '2026-11-29T20:02:24.341Z',
      expiresAt: null,
      matchedKey: 'https://index.docker.io/v1/'
    }]
  },
  explain: {
    request: [{ image: TEAM_A_IMAGE }],
    response: [{
      image: { input: TEAM_A_IMAGE, normalized: 'ghcr.io/team-a/app', registry: 'ghcr.io', repository: 'team-a/app', tag: '1.2' },
      endpoint: { ...TEAM_A_ENDPOINT, reason: 'registries.conf entry "GitHub team A" has the longest prefix matching ghcr.io/team-a/app' },
      steps: [
        { level: 'request', taken: false, reason: 'the request names no credentials' },
        { level: 'application', taken: false, reason: 'the request names no Argo CD application' },
        { level: 'registry', ref: 'pullsecret:argocd/team-a-pull', taken: true, reason: 'credentials of registries.conf entry "GitHub team A"' }
      ],
      source: TEAM_A_SOURCE,
      match: { key: 'ghcr.io/team-a' },
      cache: { state: 'hit', fetchedAt: '2026-11-29T20:02:24.293Z', freshUntil: null },
      outcome: { ok: true }
    }]
  },
  test: {
    // a registry on this machine (docker run -p 5000:5000 registry:2): without one, ok is false
    // and error.code REGISTRY_UNREACHABLE, still with status 200
    request: [{ image: 'localhost:5000/app:1.0' }],
    response: [{
      ok: true,
      image: 'localhost:5000/app',
      registry: 'localhost:5000',
      apiUrl: 'http://localhost:5000',
      source: null,
      authScheme: 'none',
      authenticated: false,
      tags: ['1.0'],
      durationMs: 12,
      retriedWithFreshCredentials: false
    }]
  },
  validate: {
    request: [{ spec: 'pullsecret:argocd/dockerhub' }, { spec: 'ghcr.io/team-a=pullsecret:argocd/team-a-pull' }],
    response: [
      { valid: true, canonical: 'pullsecret:argocd/dockerhub', reference: { type: 'pullsecret', namespace: 'argocd', name: 'dockerhub' } },
      { valid: true, canonical: 'pullsecret:argocd/team-a-pull', prefix: 'ghcr.io/team-a', reference: { type: 'pullsecret', namespace: 'argocd', name: 'team-a-pull' } }
    ]
  },
  registries: {
    response: [{
      source: 'examples/registries.conf',
      lastReload: { result: 'success', at: '2026-11-29T20:02:23.794Z' },
      registries: [
        { name: 'Docker Hub', prefix: 'docker.io', apiUrl: 'https://registry-1.docker.io', default: true, defaultns: 'library', insecure: false, limit: 20, credentials: 'pullsecret:argocd/dockerhub', cache: { entries: 1, fetchedAt: '2026-11-29T20:02:24.341Z', freshUntil: null } },
        { name: 'GitHub Container Registry', prefix: 'ghcr.io', apiUrl: 'https://ghcr.io', default: false, insecure: false, limit: 20, credentials: 'secret:argocd/ghcr-bot#creds', credsexpire: '3600s', cache: { entries: 0 } }
      ]
    }]
  },
  invalidate: {
    request: [{ registry: 'ghcr.io/team-a' }, {}],
    response: [{ invalidated: 1 }]
  },
  authStatus: {
    response: [{ caller: { name: 'anonymous', groups: [] }, authMode: 'none', kubernetes: { mode: 'local', secretsDir: './examples/secrets' }, applications: null }]
  },
  helperGet: {
    request: ['ghcr.io'],
    response: [{ ServerURL: 'ghcr.io', Username: 'ghcr-bot', Secret: 'example-ghcr-token' }]
  },
  helperList: {
    response: [{ 'docker.io': 'dockerhub-bot', 'ghcr.io': 'ghcr-bot', 'ghcr.io/team-a': 'team-a-bot', 'registry.example.com:5000': 'internal-bot' }]
  },
  kubelet: {
    request: [{ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: TEAM_A_IMAGE }],
    response: [{
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderResponse',
      cacheKeyType: 'Image',
      cacheDuration: '5m0s',
      auth: { 'ghcr.io/team-a/app': { username: 'team-a-bot', password: 'example-team-a-password' } }
    }]
  },
  readyz: {
    response: [{
      ready: true,
      checks: {
        config: { ok: true, detail: { path: 'examples/registries.conf', lastReload: 'success' } },
        secretStore: { ok: true, detail: { kind: 'local', synced: true, namespaces: { argocd: { synced: true, lastSyncAt: '2026-11-29T20:02:23.813Z' } } } },
        shutdown: { ok: true }
      }
    }]
  }
} as const;
