// The bench's Kubernetes API: the tests' fake kube-apiserver (real wire format) with one pull
// secret and one caller token, its kubeconfig written to argv[2]. Prints "ready" and runs until killed.
import { startFakeKubeApi } from '../test/helpers/fake-kube-api.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: fake-kube.mts <kubeconfig-path>');
const api = await startFakeKubeApi();
api.putSecret('argocd', 'bench-pull', {
  '.dockerconfigjson': JSON.stringify({ auths: { 'pull.example.com': { username: 'pull-user', password: 'bench-pull-pass' } } })
}, 'kubernetes.io/dockerconfigjson');
api.setTokenReview('bench-caller-token', {
  authenticated: true,
  user: { username: 'system:serviceaccount:argocd:bench', groups: ['system:serviceaccounts'] },
  audiences: ['credbroker']
});
api.writeKubeconfig(file);
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void api.close().then(() => process.exit(0)); });
