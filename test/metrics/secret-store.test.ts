// The secret store gauges the "store disconnected" alert reads, driven by a real store over the fake Kubernetes API.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesSecretStore } from '../../src/kube/api-store.js';
import { createKubeConfig } from '../../src/kube/client.js';
import { createMetrics } from '../../src/metrics.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/poll.js';


t.test('synced and disconnected namespaces follow the store through an API outage', async (t) => {
  const api = await startFakeKubeApi();
  const dir = mkdtempSync(join(tmpdir(), 'store-gauges-'));
  api.writeKubeconfig(join(dir, 'config'));
  const kubeConfig = createKubeConfig({ kubeMode: 'kubeconfig', kubeconfigPath: join(dir, 'config'), serviceAccountDir: dir });
  const metrics = createMetrics({ defaultMetrics: false });
  const store = new KubernetesSecretStore({ kubeConfig, namespaces: ['argocd', 'team-a'], metrics, initialBackoffMs: 20, maxBackoffMs: 200, requestTimeoutMs: 2000 });
  t.teardown(async () => {
    await store.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  metrics.observeSecretStore(() => store.status());
  const gauge = async (name: string): Promise<number | undefined> =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;

  t.equal(await gauge('credbroker_secret_store_synced'), 0, 'not synced before the first list');
  await store.start();
  t.equal(await gauge('credbroker_secret_store_synced'), 1, 'synced after it');
  t.equal(await gauge('credbroker_secret_store_disconnected_namespaces'), 0, 'no watch down');

  api.down();
  await waitFor('both namespaces disconnected', async () => await gauge('credbroker_secret_store_disconnected_namespaces') === 2);
  t.equal(await gauge('credbroker_secret_store_synced'), 1, 'still synced: the store serves what it has');

  api.up();
  await waitFor('reconnection', async () => await gauge('credbroker_secret_store_disconnected_namespaces') === 0);
  t.pass('the gauge returns to 0 once the watches are back');
});
