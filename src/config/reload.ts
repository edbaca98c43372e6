// How a reloading config file (registries.conf, the policy, the token file) reports: one
// counter and one log line per reload; a failed reload keeps the last good value.
import type { ConfigError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { ReloadingFile, type ReloadResult } from './watch.js';

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

export interface ConfigFileSpec<T> {
  /** the metric's `file` label and the log lines' name */
  file: string
  /** the setting that names the path, for errors and log lines */
  setting: string
  parse: (text: string) => T
  maxBytes?: number
  /** a missing file loads as parse('') (registries.conf) instead of failing */
  missingOk?: boolean
}

/** Loads a config file (throws ConfigError when it cannot be loaded), then follows its changes, reporting each reload. */
export function openConfigFile<T> (path: string, spec: ConfigFileSpec<T>, opts: ConfigFileOptions = {}): ReloadingFile<T> {
  const file = new ReloadingFile(path, spec.parse, {
    setting: spec.setting,
    onReload: reloadReporter(spec.file, spec.setting, opts),
    ...(spec.maxBytes === undefined ? {} : { maxBytes: spec.maxBytes }),
    ...(spec.missingOk === undefined ? {} : { missingOk: spec.missingOk }),
    ...(opts.intervalMs === undefined ? {} : { intervalMs: opts.intervalMs }),
    ...(opts.debounceMs === undefined ? {} : { debounceMs: opts.debounceMs })
  });
  file.load();
  opts.metrics?.configLastReloadSuccess.set({ file: spec.file }, 1);
  return file;
}
