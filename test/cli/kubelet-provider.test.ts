import t from 'tap';
import { KUBELET_PROVIDER_BIN, runBin, startCredbrokerStub } from '../helpers/credbroker-stub.js';

const SECRET = 'kubelet-s3cret-44e1';
const TOKEN = 'node-token-b71c';
const SA_TOKEN = 'pod-sa-token-0c2d';
const API = 'credentialprovider.kubelet.k8s.io/v1';

const request = (image: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ apiVersion: API, kind: 'CredentialProviderRequest', image, ...extra });

async function stub (t: { teardown: (fn: () => unknown) => void }, token = TOKEN) {
  const s = await startCredbrokerStub({ credentials: { 'ghcr.io': { username: 'bot', secret: SECRET } }, token });
  t.teardown(s.close);
  return s;
}

t.test('forwards the request and prints the CredentialProviderResponse', async (t) => {
  const s = await stub(t);
  const r = await runBin(KUBELET_PROVIDER_BIN, [], { stdin: request('ghcr.io/org/app:1.2'), env: { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN } });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), {
    apiVersion: API,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Registry',
    cacheDuration: '5m0s',
    auth: { 'ghcr.io': { username: 'bot', password: SECRET } }
  });
  t.equal(s.requests[0]?.path, '/v1/kubelet/credential-provider');
  t.same(JSON.parse(s.requests[0]?.body ?? '{}'), JSON.parse(request('ghcr.io/org/app:1.2')));
  t.equal(s.requests[0]?.authorization, `Bearer ${TOKEN}`);
});

t.test('uses the pod ServiceAccount token the kubelet passes when no token is configured', async (t) => {
  const s = await stub(t, SA_TOKEN);
  const r = await runBin(KUBELET_PROVIDER_BIN, [], {
    stdin: request('ghcr.io/org/app', { serviceAccountToken: SA_TOKEN, serviceAccountAnnotations: {} }),
    env: { CREDBROKER_URL: s.url }
  });
  t.equal(r.code, 0, r.stderr);
  t.equal(s.requests[0]?.authorization, `Bearer ${SA_TOKEN}`);
  t.notMatch(s.requests[0]?.body ?? '', SA_TOKEN, 'the token is the caller credential only, not repeated in the body');
  t.same(JSON.parse(s.requests[0]?.body ?? '{}').serviceAccountAnnotations, {}, 'the rest of the request is forwarded');
});

t.test('bad input is refused before calling the service', async (t) => {
  const s = await stub(t);
  const env = { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN };
  const cases: Array<[string, RegExp]> = [
    ['not json', /not a JSON CredentialProviderRequest/],
    [JSON.stringify({ apiVersion: API, kind: 'Pod', image: 'x' }), /not a CredentialProviderRequest/],
    [JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1alpha1', kind: 'CredentialProviderRequest', image: 'x' }), /unsupported apiVersion/],
    [JSON.stringify({ apiVersion: API, kind: 'CredentialProviderRequest' }), /has no image/]
  ];
  for (const [stdin, message] of cases) {
    const r = await runBin(KUBELET_PROVIDER_BIN, [], { stdin, env });
    t.equal(r.code, 1, stdin);
    t.match(r.stderr, message);
    t.equal(r.stdout, '', 'nothing on stdout for the kubelet to parse');
  }
  t.equal(s.requests.length, 0);
});

t.test('service errors exit 1 with one line on stderr and no secret', async (t) => {
  const s = await stub(t);
  const none = await runBin(KUBELET_PROVIDER_BIN, [], { stdin: request('quay.io/x/y'), env: { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: TOKEN } });
  t.equal(none.code, 1);
  t.match(none.stderr, /^credbroker-kubelet-provider: credbroker answered 404 NO_CREDENTIALS_CONFIGURED: .+\n$/);
  t.equal(none.stdout, '');

  const denied = await runBin(KUBELET_PROVIDER_BIN, [], { stdin: request('ghcr.io/x/y'), env: { CREDBROKER_URL: s.url, CREDBROKER_TOKEN: 'bad-token-77' } });
  t.equal(denied.code, 1);
  t.match(denied.stderr, /401 UNAUTHENTICATED/);
  t.notMatch(denied.stderr, 'bad-token-77');
  t.notMatch(denied.stderr + denied.stdout, SECRET);
});
