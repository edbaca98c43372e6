// The config files, each reloaded on change with its last good content kept: registries.conf
// (REGISTRIES_CONF_PATH), the policy (AUTH_POLICY_PATH) and the static tokens (AUTH_TOKENS_FILE).
import fp from 'fastify-plugin';
import { openConfigFile } from '../../config/reload.js';
import { openTokensFile, type StaticTokens } from '../../config/tokens.js';
import type { ReloadingFile } from '../../config/watch.js';
import { checkRegistryCredentials } from '../../credentials/registry-credentials.js';
import { openPolicyFile, type Policy } from '../../policy/policy.js';
import { parseRegistriesConf, type RegistriesConfig } from '../../registry/registries-conf.js';

declare module 'fastify' {
  interface FastifyInstance {
    registries: ReloadingFile<RegistriesConfig>
    /** absent without AUTH_POLICY_PATH: the README's default policy applies */
    policy: ReloadingFile<Policy> | undefined
    /** present in AUTH_MODE=static */
    tokens: ReloadingFile<StaticTokens> | undefined
  }
}

export default fp(async (app) => {
  const { settings, metrics, log } = app;
  // each file is closed as soon as it is open: a later one that fails leaves no watcher behind
  const opened: Array<{ close(): unknown }> = [];
  app.addHook('onClose', async () => { for (const file of opened.reverse()) file.close(); });

  const registries = openConfigFile(settings.registriesConfPath, {
    file: 'registries',
    setting: 'REGISTRIES_CONF_PATH',
    parse: (text) => checkRegistryCredentials(parseRegistriesConf(text, settings.registriesConfPath)),
    missingOk: true
  }, { metrics, log });
  opened.push(registries);
  if (registries.missing) {
    // an empty configuration is allowed; a typo in the path should not be silent
    log.warn({ file: 'registries', setting: 'REGISTRIES_CONF_PATH', path: settings.registriesConfPath },
      `REGISTRIES_CONF_PATH ${settings.registriesConfPath} does not exist; starting with no registries configured`);
  }
  app.decorate('registries', registries);

  const policy = settings.authPolicyPath !== undefined ? openPolicyFile(settings.authPolicyPath, { metrics, log }) : undefined;
  if (policy !== undefined) opened.push(policy);
  app.decorate('policy', policy);

  const tokens = settings.authMode === 'static' && settings.authTokensFile !== undefined
    ? openTokensFile(settings.authTokensFile, { metrics, log })
    : undefined;
  if (tokens !== undefined) opened.push(tokens);
  app.decorate('tokens', tokens);
}, { name: 'config-files', fastify: '5.x', dependencies: ['settings'] });
