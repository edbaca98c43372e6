// Connections to registries for POST /v1/credentials/test: one undici Agent per TLS profile.
import fp from 'fastify-plugin';
import { ConfigError } from '../../errors.js';
import { AgentPool } from '../../transport/http-client.js';
import { ProxyRule } from '../../transport/proxy.js';

declare module 'fastify' {
  interface FastifyInstance {
    registryAgents: AgentPool
  }
}

export default fp(async (app) => {
  // a bad HTTPS_PROXY/HTTP_PROXY stops the start, naming the variable (never its user info)
  try { void new ProxyRule(app.settings.proxy); } catch (err) {
    const [name, ...rest] = (err as Error).message.split(': ');
    throw new ConfigError(name ?? 'HTTPS_PROXY', rest.join(': '));
  }
  const agents = new AgentPool();
  app.addHook('onClose', async () => { await agents.close(); });
  app.decorate('registryAgents', agents);
}, { name: 'registry-agents', fastify: '5.x', dependencies: ['settings'] });
