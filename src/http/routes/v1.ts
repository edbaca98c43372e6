// Everything under /v1 needs a caller (README "Callers: authentication and policy"): this one
// encapsulated plugin carries the caller-auth hook, for its routes and for its own 404s.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../errors.js';
import authStatusRoutes from './auth-status.js';
import credentialRoutes from './credentials.js';
import helperRoutes from './helper.js';
import registryRoutes from './registries.js';
import specRoutes from './specs.js';
import testRoutes from './test.js';

const v1: FastifyPluginAsyncTypebox = async (app) => {
  if (app.authenticateCaller !== undefined) app.addHook('onRequest', app.authenticateCaller);
  app.setNotFoundHandler(notFound);
  await app.register(credentialRoutes);
  await app.register(testRoutes);
  await app.register(specRoutes);
  await app.register(registryRoutes);
  await app.register(authStatusRoutes);
  await app.register(helperRoutes);
};

export default v1;
