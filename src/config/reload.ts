// How a reloading config file (registries.conf, the policy, the token file) reports: one
// counter and one log line per reload; a failed reload keeps the last good value.
import type { ConfigError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ReloadResult } from './watch.js';

/** The log calls a reloading config file makes (a pino or Fastify logger fits). */
export interface ReloadLog {
  info (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export interface ConfigFileOptions {
  metrics?: Metrics
  log?: ReloadLog
  intervalMs?: number
  debounceMs?: number
}

/** Count and log every reload of `file` (the metric's label), naming its setting. */
export function reloadReporter (file: string, setting: string, opts: ConfigFileOptions) {
  return (result: ReloadResult, error?: ConfigError): void => {
    opts.metrics?.configReloads.inc({ file, result });
    opts.metrics?.configLastReloadSuccess.set({ file }, result === 'success' ? 1 : 0);
    if (result === 'success') opts.log?.info({ file, setting }, `${file} reloaded`);
    else opts.log?.error({ file, setting, error: error?.message }, `${file} reload failed; keeping the last good version`);
  };
}
