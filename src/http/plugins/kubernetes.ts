// The Kubernetes API client configuration (absent in local mode), and what the service asks the
// API itself: its own identity and access (GET /v1/auth/status) and callers' TokenReviews.
// @kubernetes/client-node loads only in the modes that use the Kubernetes API.
import type { KubeConfig } from '@kubernetes/client-node';
import fp from 'fastify-plugin';
import type { TokenReviewer } from '../auth.js';

declare module 'fastify' {
  interface FastifyInstance {
    kubeConfig: KubeConfig | undefined
    /** the Kubernetes side of GET /v1/auth/status; absent in local mode */
    kubeStatus: (() => Promise<unknown>) | undefined
    /** absent in local mode */
    tokenReviewer: TokenReviewer | undefined
  }
}

export interface KubernetesPluginOptions {
  /** tests: replaces the one the settings would load */
  kubeConfig?: KubeConfig
}

export default fp<KubernetesPluginOptions>(async (app, opts) => {
  const { settings } = app;
  const kubeConfig = opts.kubeConfig ??
    (settings.kubeMode === 'local' ? undefined : await import('../../kube/client.js').then((m) => m.createKubeConfig(settings)));
  app.decorate('kubeConfig', kubeConfig);
  if (kubeConfig === undefined) {
    app.decorate('kubeStatus', undefined);
    app.decorate('tokenReviewer', undefined);
    return;
  }
  const reviews = await import('../../kube/reviews.js');
  app.decorate('kubeStatus', async () => await reviews.kubeAuthStatus(kubeConfig, settings));
  app.decorate('tokenReviewer', async (token: string, audiences: string[]) => await reviews.tokenReview(kubeConfig, token, audiences));
}, { name: 'kubernetes', fastify: '5.x', dependencies: ['settings'] });
