// The validated settings and the metrics registry, for every plugin and route after it.
import fp from 'fastify-plugin';
import type { Settings } from '../../config/settings.js';
import type { Metrics } from '../../metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    settings: Settings
    metrics: Metrics
  }
}

export interface SettingsPluginOptions {
  settings: Settings
  metrics: Metrics
}

export default fp<SettingsPluginOptions>(async (app, opts) => {
  app.decorate('settings', opts.settings);
  app.decorate('metrics', opts.metrics);
}, { name: 'settings', fastify: '5.x' });
