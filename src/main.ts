// The process: settings, logger, listen, signals. Everything else is buildApp().
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { UsageError } from './config/argv.js';
import { loadSettings, type Settings } from './config/settings.js';
import { ConfigError } from './errors.js';
import { createLogger, flushLog } from './logger.js';

export async function serve (argv: string[]): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings({ argv });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`credbroker: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof UsageError) {
      process.stderr.write(`credbroker: ${err.message}; see credbroker --help\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(settings.logLevel, undefined, { pretty: settings.logPretty });
  // Node prints process warnings (a library's notice such as the AWS SDK's Node-version one, a
  // deprecation) as plain text on stderr; here they are log lines like every other
  process.removeAllListeners('warning');
  process.on('warning', (w) => { log.warn({ warning: { name: w.name, message: w.message } }, 'process warning'); });
  let app;
  try {
    app = await buildApp({ settings, logger: log });
  } catch (err) {
    if (err instanceof ConfigError || (err as { code?: string }).code !== undefined) {
      log.fatal({ setting: (err as ConfigError).setting, code: (err as { code?: string }).code }, `cannot start: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      process.exit(2);
    }
    throw err;
  }
  closeWithGrace({ delay: settings.shutdownDelayMs }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'shutting down after an error');
    else log.info({ signal }, 'shutting down: finishing in-flight requests');
    app.closing = true;
    // server.close() drops only the keep-alive connections idle at that moment: one busy then
    // would stay open after its answer and hold the exit until SHUTDOWN_DELAY kills the process
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    try {
      await app.close();
    } finally {
      clearInterval(sweep);
    }
    log.info('stopped');
  });
  await app.listen({ host: settings.host, port: settings.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : settings.port;
  const base = `http://${settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host}:${port}`;
  log.info({
    kubeMode: settings.kubeMode,
    authMode: settings.authMode,
    registriesConf: settings.registriesConfPath,
    ...(settings.kubeMode === 'local' ? { secretsDir: settings.localSecretsDir } : {}),
    secretNamespaces: settings.secretNamespaces
  }, `credbroker listening on ${base}`);
  if (settings.kubeMode === 'local' && settings.authMode === 'none') {
    flushLog();
    process.stdout.write([
      '',
      'Try it:',
      `  curl -s '${base}/v1/credentials?image=ghcr.io/example/app:1.0'`,
      `  curl -s -XPOST ${base}/v1/credentials/explain -H 'content-type: application/json' -d '{"image":"nginx"}'`,
      `  curl -s ${base}/v1/registries`,
      `  open ${base}/docs for the API`,
      ''
    ].join('\n') + '\n');
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  serve(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`credbroker: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
