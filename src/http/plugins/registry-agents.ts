// Connections to registries for POST /v1/credentials/test: one undici Agent per TLS profile.
import fp from 'fastify-plugin';
import { AgentPool } from '../../transport/http-client.js';

declare module 'fastify' {
  interface FastifyInstance {
    registryAgents: AgentPool
  }
}

export default fp(async (app) => {
  const agents = new AgentPool();
  app.addHook('onClose', async () => { await agents.close(); });
  app.decorate('registryAgents', agents);
}, { name: 'registry-agents', fastify: '5.x' });
