#!/usr/bin/env node
// The credbroker command: `serve` (default), `validate <spec>`, `test <image>`.
import { buildApp } from '../app.js';
import { COMMON_FLAGS, UsageError, parseArgv } from '../config/argv.js';
import { SETTINGS, SETTING_FLAGS, flagOfEnv, loadSettings, parseFlags, shownDefault } from '../config/settings.js';
import { formatReference, parseCredentialSpec } from '../credentials/reference.js';
import { ConfigError, isCodedError } from '../errors.js';
import { serve } from '../main.js';
import { VERSION } from '../version.js';
import { own } from '../own.js';

const USAGE = `credbroker ${VERSION}: container-registry credentials for the workloads of a cluster

Usage:
  credbroker [serve] [--setting value ...]   run the service (the default)
  credbroker validate <spec>                  parse a credential reference (or the registries.conf
                                             form <prefix>=<spec>); exit 2 when it is invalid
  credbroker test <image> [--credentials <spec>] [--setting value ...]
                                             which registry and source serve <image>, then prove them
                                             against the registry (like argocd-image-updater test)
  credbroker <command> -h, --help            help on a command
  credbroker -V, --version                   the version

Every setting is an environment variable and a --kebab-case flag (flags win;
--flag value and --flag=value both work):
${SETTINGS.map((s) => `  --${flagOfEnv(s.env).padEnd(30)} ${s.env} (default ${shownDefault(s)}): ${s.help}`).join('\n')}
`;

const HELP: Record<string, string> = {
  serve: `credbroker serve [--setting value ...]

Runs the HTTP service (the default command). With no cluster and no settings it comes up in local mode on
./examples (registries.conf and Secret manifests). See \`credbroker --help\` for settings.
`,
  validate: `credbroker validate <spec>

Parses a credential reference and prints it as JSON, fetching nothing:
  pullsecret:<namespace>/<name>       secret:<namespace>/<name>#<field>
  env:<VARIABLE>                      ext:/absolute/path
  serviceaccount:<namespace>/<name>
The registries.conf form <prefix>=<spec> is accepted too; its prefix is printed.
Exit 0 when valid, 2 when not.
`,
  test: `credbroker test <image> [--credentials <spec>] [--setting value ...]

Resolves the credentials for <image> with the service's settings (registries.conf,
Secrets, environment) and prints which registry endpoint and credential source serve it,
then talks to the registry: v2 ping, authentication, up to 10 tags.
Exit 0 when the registry accepted the credentials, 1 when not, 2 on bad input.
`
};

const COMMANDS = ['serve', 'validate', 'test'] as const;
type Command = typeof COMMANDS[number];

/** Each command's flags: the settings where it runs the service's code, its own, -h and -V. */
const FLAGS = {
  serve: { ...SETTING_FLAGS, ...COMMON_FLAGS },
  validate: { ...COMMON_FLAGS, 'registry-prefix': { type: 'boolean' } },
  test: { ...SETTING_FLAGS, ...COMMON_FLAGS, credentials: { type: 'string' } }
} as const;

function print (text: string): void { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`); }
function fail (text: string): void { process.stderr.write(`credbroker: ${text}\n`); }

async function validate (args: string[]): Promise<number> {
  // --registry-prefix is accepted and ignored: the <prefix>=<spec> form always is
  const { positionals } = parseArgv(args, FLAGS.validate);
  if (positionals.length !== 1) throw new UsageError('validate takes exactly one credential reference');
  try {
    const parsed = parseCredentialSpec(positionals[0] as string, { allowRegistryPrefix: true });
    print(JSON.stringify({ valid: true, canonical: formatReference(parsed.reference), ...(parsed.prefix !== undefined ? { prefix: parsed.prefix } : {}), reference: parsed.reference }, null, 2));
    return 0;
  } catch (err) {
    fail(isCodedError(err) ? `${err.code}: ${err.message}` : (err as Error).message);
    return 2;
  }
}

async function test (args: string[]): Promise<number> {
  const { values, rest: positional, extra } = parseFlags(args, { credentials: FLAGS.test.credentials });
  const credentials = typeof extra.credentials === 'string' ? extra.credentials : undefined;
  if (positional.length !== 1) throw new UsageError('test takes exactly one image reference');
  const image = positional[0] as string;
  // one-shot, with the authority of whoever runs it, as `argocd-image-updater test`
  const settings = { ...loadSettings({ env: { ...process.env, ...values } }), authMode: 'none' as const, authPolicyPath: undefined };
  const app = await buildApp({ settings });
  try {
    const body = { image, ...(credentials !== undefined ? { credentials } : {}) };
    const explain = await app.inject({ method: 'POST', url: '/v1/credentials/explain', payload: body });
    if (explain.statusCode !== 200) {
      const e = explain.json<{ code: string, message: string }>();
      fail(`${e.code}: ${e.message}`);
      return 2;
    }
    const x = explain.json<{ image: { normalized: string }, endpoint: { name: string, prefix: string, apiUrl: string, configured: boolean }, source?: { ref: string, level: string }, match?: { key: string }, outcome: { ok: boolean, code?: string, message?: string } }>();
    print(`image:     ${x.image.normalized}`);
    print(`registry:  ${x.endpoint.name} (prefix ${x.endpoint.prefix}, ${x.endpoint.apiUrl}${x.endpoint.configured ? '' : ', inferred'})`);
    print(`source:    ${x.source !== undefined ? `${x.source.ref} (${x.source.level} level)${x.match !== undefined ? `, docker config key ${x.match.key}` : ''}` : 'none (anonymous)'}`);
    if (!x.outcome.ok && x.outcome.code !== 'NO_CREDENTIALS_CONFIGURED') {
      print(`result:    ${x.outcome.code}: ${x.outcome.message}`);
      return 1;
    }
    const res = await app.inject({ method: 'POST', url: '/v1/credentials/test', payload: body });
    if (res.statusCode !== 200) {
      const e = res.json<{ code: string, message: string }>();
      print(`result:    ${e.code}: ${e.message}`);
      return 1;
    }
    const r = res.json<{ ok: boolean, authScheme: string, authenticated: boolean, tags: string[], durationMs: number, error?: { code: string, message: string } }>();
    print(`auth:      ${r.authScheme}${r.authenticated ? ', authenticated' : ''}`);
    if (r.ok) print(`tags:      ${r.tags.length > 0 ? r.tags.join(', ') : '(none)'}`);
    print(`result:    ${r.ok ? 'ok' : `${r.error?.code ?? 'failed'}: ${r.error?.message ?? ''}`} (${r.durationMs} ms)`);
    return r.ok ? 0 : 1;
  } finally {
    await app.close();
  }
}

function isCommand (word: string | undefined): word is Command {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

export async function main (argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'help') { print(USAGE); return 0; }
  if (first === 'version') { print(`credbroker ${VERSION}`); return 0; }
  if (first !== undefined && !first.startsWith('-') && !isCommand(first)) {
    fail(`unknown command "${first}"; see credbroker --help`);
    return 2;
  }
  const command: Command = isCommand(first) ? first : 'serve';
  const args = isCommand(first) ? rest : argv;
  try {
    const { values, positionals } = parseArgv(args, FLAGS[command]);
    if (values.version === true) { print(`credbroker ${VERSION}`); return 0; }
    // `credbroker --help` is the whole usage; `credbroker <command> --help` that command's
    if (values.help === true) { print(isCommand(first) ? HELP[command] as string : USAGE); return 0; }
    switch (command) {
      case 'serve':
        if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0] ?? ''}"`);
        await serve(args);
        return -1;
      case 'validate': return await validate(args);
      case 'test': return await test(args);
    }
  } catch (err) {
    if (err instanceof UsageError) { fail(`${err.message}; see credbroker ${isCommand(first) ? `${command} ` : ''}--help`); return 2; }
    if (err instanceof ConfigError) { fail(`invalid configuration: ${err.message}`); return 2; }
    fail(isCodedError(err) ? `${err.code}: ${err.message}` : (err as Error).message);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exitCode = code; }, (err: unknown) => {
  fail((err as Error).message);
  process.exitCode = 1;
});
