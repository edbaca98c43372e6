// Where Argo CD Applications are read for their annotations: the Argo CD API
// (APPLICATIONS_API=argocd) or the Application custom resources in Kubernetes; none in
// local mode without Argo CD.
import fp from 'fastify-plugin';
import { ArgocdApplications } from '../../argocd/argocd-applications.js';
import { ArgocdClient, argocdClientOptions } from '../../argocd/client.js';
import type { ApplicationSource } from '../../argocd/types.js';

declare module 'fastify' {
  interface FastifyInstance {
    applications: ApplicationSource | undefined
  }
}

export interface ApplicationsPluginOptions {
  /** tests: replaces the one the settings would build (and is closed with the app) */
  applications?: ApplicationSource
}

export default fp<ApplicationsPluginOptions>(async (app, opts) => {
  const { settings, metrics, kubeConfig } = app;
  let applications = opts.applications;
  if (applications === undefined) {
    if (settings.applicationsApi === 'argocd') {
      applications = new ArgocdApplications(new ArgocdClient(argocdClientOptions(settings, metrics)));
    } else if (kubeConfig !== undefined) {
      const { KubeApplications } = await import('../../argocd/kube-applications.js');
      applications = new KubeApplications(kubeConfig, { defaultNamespace: settings.podNamespace, metrics });
    }
  }
  const theApps = applications;
  if (theApps !== undefined) app.addHook('onClose', async () => { await theApps.close(); });
  app.decorate('applications', theApps);
}, { name: 'applications', fastify: '5.x', dependencies: ['settings', 'kubernetes'] });
