#!/usr/bin/env node
// docker-credential-credbroker: the docker-credential-helpers protocol (get, list, version),
// answered by the credbroker service at CREDBROKER_URL; store and erase are refused.
import { readFileSync } from 'node:fs';
import { CliError, callService, readStdin, reportError, serviceError, serviceOptionsFromEnv } from './service-client.js';

export const NOT_FOUND_MESSAGE = 'credentials not found in native keychain';
const MAX_STDIN = 64 * 1024;
const NAME = 'docker-credential-credbroker';

function version (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {}
  return 'unknown';
}

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
  const action = argv[0];
  switch (action) {
    case 'get': return await get();
    case 'list': return await list();
    case 'version':
      process.stdout.write(`${NAME} (credbroker) ${version()}\n`);
      return 0;
    case 'store':
    case 'erase':
      await readStdin(MAX_STDIN).catch(() => '');
      throw new CliError(`credbroker is read-only: ${action} is not supported; manage credentials in their source (Secret, registries.conf)`);
    default:
      throw new CliError(`usage: ${NAME} <get|list|version>`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { reportError(err, NAME); process.exitCode = 1; }
);
