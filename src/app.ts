// buildApp(settings) → a ready Fastify instance: the only composition root.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { KubeConfig } from '@kubernetes/client-node';
import { ArgocdApplications } from './argocd/argocd-applications.js';
import { ArgocdClient, argocdClientOptions } from './argocd/client.js';
import type { ApplicationSource } from './argocd/types.js';
import { reloadReporter } from './config/reload.js';
import { openPolicyFile } from './policy/policy.js';
import { parseRegistriesConf, type RegistriesConfig } from './registry/registries-conf.js';
import { checkRegistryCredentials } from './credentials/registry-credentials.js';
import type { Settings } from './config/settings.js';
import { openTokensFile } from './config/tokens.js';
import { ReloadingFile } from './config/watch.js';
import { CredentialCache } from './credentials/cache.js';
import { Resolver } from './credentials/resolver.js';
import { disconnectedSince } from './credentials/sources.js';
import authPlugin, { type TokenReviewer } from './http/auth.js';
import type { BrokerContext } from './http/context.js';
import { EdgeLogController, registerOverload, registerRequestEdge, requestId } from './http/edge.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './http/errors.js';
import { lazyCompilers } from './http/lazy-compilers.js';
import { ErrorResponse, TAGS } from './http/schemas.js';
import authStatusRoutes from './http/routes/auth-status.js';
import credentialRoutes from './http/routes/credentials.js';
import healthRoutes from './http/routes/health.js';
import helperRoutes from './http/routes/helper.js';
import registryRoutes from './http/routes/registries.js';
import specRoutes from './http/routes/specs.js';
import testRoutes from './http/routes/test.js';
import { LocalSecretStore } from './kube/local-store.js';
import type { SecretStore } from './kube/secret-store.js';
import { createMetrics, type Metrics } from './metrics.js';
import { AgentPool } from './transport/http-client.js';
import { VERSION } from './version.js';

export interface BuildOptions {
  settings: Settings
  /** a pino instance, or Fastify's logger options; silent when absent */
  logger?: FastifyServerOptions['loggerInstance'] | FastifyServerOptions['logger']
  metrics?: Metrics
  /** tests and other stores: replaces the one the settings would build */
  store?: SecretStore
  applications?: ApplicationSource
  kubeConfig?: KubeConfig
  tokenReviewer?: TokenReviewer
  /** environment for env: references (default process.env) */
  env?: NodeJS.ProcessEnv
}

export const BODY_LIMIT = 64 * 1024;

function isLoggerInstance (l: unknown): l is NonNullable<FastifyServerOptions['loggerInstance']> {
  return typeof l === 'object' && l !== null && typeof (l as { child?: unknown }).child === 'function';
}

export async function buildApp (opts: BuildOptions): Promise<FastifyInstance> {
  const { settings } = opts;
  const metrics = opts.metrics ?? createMetrics();
  // route schemas compile on first use (or once listening), not before the server can listen
  const compilers = lazyCompilers();
  const app = Fastify({
    schemaController: compilers.schemaController,
    ...(isLoggerInstance(opts.logger) ? { loggerInstance: opts.logger } : { logger: opts.logger ?? false }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: 60_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 65_000,
    // one line per request, written by the edge hooks (the audit line on credential routes)
    logController: new EdgeLogController(),
    genReqId: requestId,
    // the shaped 503 SHUTTING_DOWN comes from the edge hook instead
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } }
  }).withTypeProvider<TypeBoxTypeProvider>();

  const log = app.log;
  registerRequestEdge(app);
  app.addHook('onListen', (done) => { void compilers.warmUp(); done(); });
  const cleanup: Array<() => unknown> = [];
  app.addHook('onClose', async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  try {
    const registries = new ReloadingFile<RegistriesConfig>(settings.registriesConfPath,
      (text) => checkRegistryCredentials(parseRegistriesConf(text, settings.registriesConfPath)), {
        setting: 'REGISTRIES_CONF_PATH',
        missingOk: true,
        onReload: reloadReporter('registries', 'REGISTRIES_CONF_PATH', { metrics, log })
      });
    registries.load();
    if (registries.missing) {
      // an empty configuration is allowed; a typo in the path should not be silent
      log.warn({ file: 'registries', setting: 'REGISTRIES_CONF_PATH', path: settings.registriesConfPath },
        `REGISTRIES_CONF_PATH ${settings.registriesConfPath} does not exist; starting with no registries configured`);
    }
    cleanup.push(() => registries.close());
    metrics.configLastReloadSuccess.set({ file: 'registries' }, 1);

    const kubeConfig = opts.kubeConfig ?? (settings.kubeMode === 'local' ? undefined : await import('./kube/client.js').then((m) => m.createKubeConfig(settings)));

    let store = opts.store;
    if (store === undefined) {
      if (settings.kubeMode === 'local' || kubeConfig === undefined) {
        store = new LocalSecretStore({ dir: settings.localSecretsDir, defaultNamespace: settings.podNamespace, log });
      } else {
        const { KubernetesSecretStore } = await import('./kube/api-store.js');
        store = new KubernetesSecretStore({ kubeConfig, namespaces: settings.secretNamespaces, metrics, logger: log });
      }
    }
    const theStore: SecretStore = store as SecretStore;
    cleanup.push(() => theStore.close());
    metrics.observeSecretStore(() => theStore.status());
    if (settings.kubeMode === 'local' && opts.store === undefined) {
      await theStore.start();
    } else {
      // the API may be slow or down: /readyz reports the sync, requests get KUBERNETES_UNAVAILABLE meanwhile
      theStore.start().catch((err: unknown) => log.error({ code: (err as { code?: string }).code }, 'secret store failed to start'));
    }

    let applications = opts.applications;
    if (applications === undefined) {
      if (settings.applicationsApi === 'argocd') {
        applications = new ArgocdApplications(new ArgocdClient(argocdClientOptions(settings, metrics)));
      } else if (kubeConfig !== undefined) {
        // @kubernetes/client-node loads only in the modes that use the Kubernetes API
        const { KubeApplications } = await import('./argocd/kube-applications.js');
        applications = new KubeApplications(kubeConfig, { defaultNamespace: settings.podNamespace, metrics });
      }
    }
    const theApps = applications;
    if (theApps !== undefined) cleanup.push(() => theApps.close());

    const cache = new CredentialCache({
      maxStaleMs: settings.cacheMaxStaleMs,
      maxEntries: settings.cacheMaxEntries,
      metrics,
      disconnectedSince: (namespaces) => disconnectedSince(theStore, namespaces)
    });
    cleanup.push(() => cache.close());
    const unsubscribe = theStore.onChange((kind, ns, name) => {
      const n = cache.invalidateDep(`${kind}/${ns}/${name}`);
      if (n > 0) log.info({ kind, namespace: ns, name, invalidated: n }, 'source changed; cached credentials dropped');
    });
    cleanup.push(unsubscribe);
    registries.onChange(() => {
      const n = cache.invalidate((e) => e.level === 'registry');
      log.info({ invalidated: n }, 'registries.conf reloaded; registry-level credentials dropped');
    });

    const resolver = new Resolver({
      registries,
      store: theStore,
      ...(theApps !== undefined ? { applications: theApps } : {}),
      cache,
      secretNamespaces: settings.secretNamespaces,
      extTimeoutMs: settings.extTimeoutMs,
      extMaxOutputBytes: settings.extMaxOutputBytes,
      cacheMaxStaleMs: settings.cacheMaxStaleMs,
      annotationSources: settings.annotationSources,
      env: opts.env ?? process.env,
      metrics
    });
    cleanup.push(async () => await resolver.close());

    const registryAgents = new AgentPool();
    cleanup.push(async () => { await registryAgents.close(); });

    let kubeStatus: BrokerContext['kubeStatus'];
    let tokenReviewer = opts.tokenReviewer;
    if (kubeConfig !== undefined) {
      const reviews = await import('./kube/reviews.js');
      kubeStatus = async () => await reviews.kubeAuthStatus(kubeConfig, settings);
      tokenReviewer ??= async (token, audiences) => await reviews.tokenReview(kubeConfig, token, audiences);
    }

    const broker: BrokerContext = {
      settings, metrics, registries, store: theStore, cache, resolver, registryAgents, closing: false,
      ...(theApps !== undefined ? { applications: theApps } : {}),
      ...(kubeStatus !== undefined ? { kubeStatus } : {})
    };
    app.decorate('broker', broker);

    const policy = settings.authPolicyPath !== undefined ? openPolicyFile(settings.authPolicyPath, { metrics, log }) : undefined;
    if (policy !== undefined) cleanup.push(() => policy.close());
    const tokens = settings.authMode === 'static' && settings.authTokensFile !== undefined
      ? openTokensFile(settings.authTokensFile, { metrics, log })
      : undefined;
    if (tokens !== undefined) cleanup.push(() => tokens.close());

    app.addSchema(ErrorResponse);
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'credbroker',
          version: VERSION,
          description: 'Container-registry credentials for the workloads of a Kubernetes cluster (Argo CD Image Updater credential scheme).',
          license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
          contact: { name: 'credbroker maintainers' }
        },
        // relative: the document is served by the service it describes (/docs "Try it out")
        servers: [{ url: '/', description: 'this service' }],
        tags: TAGS.map((t) => ({ ...t })),
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a projected ServiceAccount token (AUTH_MODE=kubernetes) or a static token' } }
        },
        security: [{ bearer: [] }]
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
    });
    await app.register(swaggerUi, { routePrefix: '/docs', theme: { title: 'credbroker' } });
    await registerOverload(app, settings.overloadMaxEventLoopDelayMs);
    await app.register(authPlugin, {
      settings,
      metrics,
      policy,
      ...(tokens !== undefined ? { tokens } : {}),
      ...(tokenReviewer !== undefined ? { tokenReviewer } : {})
    });

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });

    registerErrorHandling(app);
    await app.register(healthRoutes);
    await app.register(credentialRoutes);
    await app.register(testRoutes);
    await app.register(specRoutes);
    await app.register(registryRoutes);
    await app.register(authStatusRoutes);
    await app.register(helperRoutes);

    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await app.ready();
    return app;
  } catch (err) {
    for (const fn of cleanup.reverse()) await Promise.resolve().then(fn).catch(() => undefined);
    throw err;
  }
}
