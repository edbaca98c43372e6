// A config text that must be refused: a ConfigError naming the setting (the file) and matching
// `pattern`. Returns the error for further checks, undefined (after a failure) when none came.
import type { Test } from 'tap';
import { ConfigError } from '../../src/errors.js';

export function expectConfigError (t: Test, load: (text: string) => unknown, setting: string, text: string, pattern: RegExp, label?: string): ConfigError | undefined {
  try {
    load(text);
    t.fail(`expected an error for ${label ?? text}`);
    return undefined;
  } catch (err) {
    t.ok(err instanceof ConfigError, 'is a ConfigError');
    const e = err as ConfigError;
    t.equal(e.setting, setting, 'names the file');
    t.match(e.message, pattern, label ?? text);
    return e;
  }
}
