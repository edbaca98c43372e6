// The one command-line parser of every bin and subcommand: node:util parseArgs (strict), with
// its errors turned into one line a user can act on (`unknown flag --prot`).
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** A bad command line: the message is one line; the process exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** the flag at fault, when one is */
  constructor (message: string, readonly flag?: string) { super(message); }
}

/** -h/--help and -V/--version, which every bin and subcommand takes. */
export const COMMON_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' }
} as const satisfies FlagOptions;

export interface ParsedArgv {
  values: Record<string, string | boolean | undefined>
  positionals: string[]
}

function flagIn (message: string): string {
  return /'(-[^' ,]+)/.exec(message)?.[1] ?? '';
}

/** `--flag=value` and `--flag value` both; unknown flags and missing values are UsageErrors. */
export function parseArgv (argv: string[], options: FlagOptions, opts: { positionals?: boolean } = {}): ParsedArgv {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: opts.positionals ?? true });
    return { values: values as ParsedArgv['values'], positionals };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const message = (err as Error).message;
    const flag = flagIn(message);
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': throw new UsageError(`unknown flag ${flag}`, flag);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': throw new UsageError(`unexpected argument "${/'([^']*)'/.exec(message)?.[1] ?? ''}"`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new UsageError(/does not take an argument/.test(message) ? `${flag} takes no value` : `${flag} needs a value`, flag);
      default: throw new UsageError(message.split('\n')[0] ?? 'bad command line');
    }
  }
}
