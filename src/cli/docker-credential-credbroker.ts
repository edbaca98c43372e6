#!/usr/bin/env node
// docker-credential-credbroker: the docker-credential-helpers protocol (get, list, version),
// answered by the credbroker service at CREDBROKER_URL; store and erase are refused.
import { COMMON_FLAGS, UsageError, parseArgv } from '../config/argv.js';
import { VERSION } from '../version.js';
import { CliError, callService, readStdin, runProtocolBin, serviceError, serviceOptionsFromEnv } from './service-client.js';

export const NOT_FOUND_MESSAGE = 'credentials not found in native keychain';
const MAX_STDIN = 64 * 1024;
const NAME = 'docker-credential-credbroker';
const USAGE = `Usage: ${NAME} <get|list|version>

The docker credential-helper protocol, answered by the credbroker service:
  get       read a registry host or URL on stdin, print {ServerURL, Username, Secret}
  list      print the registries credbroker knows, as {server: username}
  version   print the version
store and erase are refused: credbroker is read-only.

Environment: CREDBROKER_URL (default http://127.0.0.1:8080), CREDBROKER_TOKEN or
CREDBROKER_TOKEN_FILE, CREDBROKER_TIMEOUT (default 10s).
Flags: -h, --help  this text;  -V, --version  the version.
`;

function isCredentials (v: unknown): v is { ServerURL: string, Username: string, Secret: string } {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.ServerURL === 'string' && typeof o.Username === 'string' && typeof o.Secret === 'string';
}

/** The protocol's text, or the service's JSON error saying that nothing is configured. */
function isNotFound (text: string): boolean {
  if (text.trim() === NOT_FOUND_MESSAGE) return true;
  try {
    return (JSON.parse(text) as { code?: unknown }).code === 'NO_CREDENTIALS_CONFIGURED';
  } catch {
    return false;
  }
}

async function get (): Promise<number> {
  const server = (await readStdin(MAX_STDIN)).trim();
  if (server === '') throw new CliError('expected a registry server URL or host on stdin');
  const opts = await serviceOptionsFromEnv();
  const res = await callService(opts, 'POST', '/v1/docker-credential-helper/get', { contentType: 'text/plain', text: server });
  if (res.status === 404 && isNotFound(res.text)) {
    process.stdout.write(`${NOT_FOUND_MESSAGE}\n`);
    return 1;
  }
  if (res.status !== 200) throw serviceError(res);
  let body: unknown;
  try { body = JSON.parse(res.text); } catch {}
  if (!isCredentials(body)) throw new CliError('credbroker answered without ServerURL, Username and Secret');
  process.stdout.write(JSON.stringify({ ServerURL: body.ServerURL, Username: body.Username, Secret: body.Secret }) + '\n');
  return 0;
}

async function list (): Promise<number> {
  const opts = await serviceOptionsFromEnv();
  const res = await callService(opts, 'GET', '/v1/docker-credential-helper/list');
  // a service without the list route knows no servers to list
  if (res.status === 404) {
    process.stdout.write('{}\n');
    return 0;
  }
  if (res.status !== 200) throw serviceError(res);
  let body: unknown;
  try { body = JSON.parse(res.text); } catch {}
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new CliError('credbroker answered list without a JSON object');
  const out: Record<string, string> = {};
  for (const [server, user] of Object.entries(body)) if (typeof user === 'string') out[server] = user;
  process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgv(argv, COMMON_FLAGS);
  if (values.help === true) { process.stdout.write(USAGE); return 0; }
  if (values.version === true) positionals.unshift('version');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1] ?? ''}"`);
  const action = positionals[0];
  switch (action) {
    case 'get': return await get();
    case 'list': return await list();
    case 'version':
      process.stdout.write(`${NAME} (credbroker) ${VERSION}\n`);
      return 0;
    case 'store':
    case 'erase':
      await readStdin(MAX_STDIN).catch(() => '');
      throw new CliError(`credbroker is read-only: ${action} is not supported; manage credentials in their source (Secret, registries.conf)`);
    default:
      // the protocol's own answer to an unknown action: usage, exit 1 (docker-credential-helpers)
      throw new CliError(`usage: ${NAME} <get|list|version>`);
  }
}

runProtocolBin(NAME, main, { errorsOnStdout: true });
