// buildApp(options) → a ready Fastify instance: the only composition root. Each plugin opens
// what it decorates and closes it in its own onClose (README "Architecture").
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ApplicationSource } from './argocd/types.js';
import type { Settings } from './config/settings.js';
import callerAuth, { type TokenReviewer } from './http/auth.js';
import { EdgeLogController, requestId } from './http/edge.js';
import { clientErrorHandler, frameworkErrors } from './http/errors.js';
import { lazyCompilers } from './http/lazy-compilers.js';
import applications from './http/plugins/applications.js';
import configFiles from './http/plugins/config-files.js';
import credentials from './http/plugins/credentials.js';
import edge from './http/plugins/edge.js';
import kubernetes from './http/plugins/kubernetes.js';
import openapi from './http/plugins/openapi.js';
import registryAgents from './http/plugins/registry-agents.js';
import secretStore from './http/plugins/secret-store.js';
import settingsPlugin from './http/plugins/settings.js';
import healthRoutes from './http/routes/health.js';
import v1Routes from './http/routes/v1.js';
import type { SecretStore } from './kube/secret-store.js';
import { createMetrics, type Metrics } from './metrics.js';

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
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // loading @kubernetes/client-node (the kubernetes plugin) can take longer than Fastify's
    // default 10 s on a cold, CPU-limited start; a plugin that hangs is still named, later
    pluginTimeout: 120_000
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('onListen', (done) => { void compilers.warmUp(); done(); });

  try {
    await app.register(settingsPlugin, { settings: opts.settings, metrics: opts.metrics ?? createMetrics() });
    await app.register(edge);
    await app.register(configFiles);
    await app.register(kubernetes, opts.kubeConfig !== undefined ? { kubeConfig: opts.kubeConfig } : {});
    await app.register(secretStore, opts.store !== undefined ? { store: opts.store } : {});
    await app.register(applications, opts.applications !== undefined ? { applications: opts.applications } : {});
    await app.register(credentials, opts.env !== undefined ? { env: opts.env } : {});
    await app.register(registryAgents);
    await app.register(openapi);
    await app.register(callerAuth, (parent) => {
      const tokenReviewer = opts.tokenReviewer ?? parent.tokenReviewer;
      return {
        settings: parent.settings,
        metrics: parent.metrics,
        policy: parent.policy,
        ...(parent.tokens !== undefined ? { tokens: parent.tokens } : {}),
        ...(tokenReviewer !== undefined ? { tokenReviewer } : {})
      };
    });
    await app.register(healthRoutes);
    await app.register(v1Routes, { prefix: '/v1' });
    await app.ready();
  } catch (err) {
    // the plugins that did load close what they opened
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
