// The Secret store: a local folder of manifests (KUBE_MODE=local) or the Kubernetes API's
// list and watch. Local mode starts synced; the API may be slow or down, so /readyz reports
// its sync and requests get KUBERNETES_UNAVAILABLE meanwhile.
import fp from 'fastify-plugin';
import { LocalSecretStore } from '../../kube/local-store.js';
import type { SecretStore } from '../../kube/secret-store.js';

declare module 'fastify' {
  interface FastifyInstance {
    secretStore: SecretStore
  }
}

export interface SecretStorePluginOptions {
  /** tests and other stores: replaces the one the settings would build (and is closed with the app) */
  store?: SecretStore
}

export default fp<SecretStorePluginOptions>(async (app, opts) => {
  const { settings, metrics, log, kubeConfig } = app;
  let store = opts.store;
  if (store === undefined) {
    if (settings.kubeMode === 'local' || kubeConfig === undefined) {
      store = new LocalSecretStore({ dir: settings.localSecretsDir, defaultNamespace: settings.podNamespace, log });
    } else {
      const { KubernetesSecretStore } = await import('../../kube/api-store.js');
      store = new KubernetesSecretStore({
        kubeConfig, namespaces: settings.secretNamespaces, maxCacheBytes: settings.secretCacheMaxBytes, metrics, logger: log
      });
    }
  }
  const theStore = store;
  app.addHook('onClose', async () => { await theStore.close(); });
  app.decorate('secretStore', theStore);
  metrics.observeSecretStore(() => theStore.status());
  if (settings.kubeMode === 'local' && opts.store === undefined) {
    await theStore.start();
  } else {
    theStore.start().catch((err: unknown) => log.error({ code: (err as { code?: string }).code }, 'secret store failed to start'));
  }
}, { name: 'secret-store', fastify: '5.x', dependencies: ['settings', 'kubernetes'] });
