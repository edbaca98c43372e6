// The domain: the credential cache and the resolver, with the cache kept in step with its
// sources (a changed Secret drops what came from it; a reloaded registries.conf drops the
// registry-level credentials).
import fp from 'fastify-plugin';
import { CredentialCache } from '../../credentials/cache.js';
import { Resolver } from '../../credentials/resolver.js';
import { disconnectedSince } from '../../credentials/sources.js';

declare module 'fastify' {
  interface FastifyInstance {
    credentialCache: CredentialCache
    resolver: Resolver
  }
}

export interface CredentialsPluginOptions {
  /** environment for env: references (default process.env) */
  env?: NodeJS.ProcessEnv
}

export default fp<CredentialsPluginOptions>(async (app, opts) => {
  const { settings, metrics, log, registries, secretStore: store, applications } = app;
  const cache = new CredentialCache({
    maxStaleMs: settings.cacheMaxStaleMs,
    maxEntries: settings.cacheMaxEntries,
    metrics,
    disconnectedSince: (namespaces) => disconnectedSince(store, namespaces)
  });
  const resolver = new Resolver({
    registries,
    store,
    ...(applications !== undefined ? { applications } : {}),
    cache,
    secretNamespaces: settings.secretNamespaces,
    extTimeoutMs: settings.extTimeoutMs,
    extMaxOutputBytes: settings.extMaxOutputBytes,
    cacheMaxStaleMs: settings.cacheMaxStaleMs,
    annotationSources: settings.annotationSources,
    env: opts.env ?? process.env,
    metrics
  });
  const unsubscribeSecrets = store.onChange((kind, ns, name) => {
    const n = cache.invalidateDep(`${kind}/${ns}/${name}`);
    if (n > 0) log.info({ kind, namespace: ns, name, invalidated: n }, 'source changed; cached credentials dropped');
  });
  const unsubscribeRegistries = registries.onChange(() => {
    const n = cache.invalidate((e) => e.level === 'registry');
    log.info({ invalidated: n }, 'registries.conf reloaded; registry-level credentials dropped');
  });
  app.addHook('onClose', async () => {
    unsubscribeRegistries();
    unsubscribeSecrets();
    await resolver.close();
    cache.close();
  });
  app.decorate('credentialCache', cache);
  app.decorate('resolver', resolver);
}, { name: 'credentials', fastify: '5.x', dependencies: ['settings', 'config-files', 'secret-store', 'applications'] });
