#!/usr/bin/env node
// credbroker-kubelet-provider: a kubelet credential provider plugin (credentialprovider.kubelet.k8s.io/v1)
// that forwards the kubelet's CredentialProviderRequest to the credbroker service.
import { COMMON_FLAGS, UsageError, parseArgv } from '../config/argv.js';
import { isRecord } from '../config/schema.js';
import { VERSION } from '../version.js';
import { CliError, callService, readStdin, runProtocolBin, serviceError, serviceOptionsFromEnv } from './service-client.js';

const API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';
const MAX_STDIN = 1024 * 1024;
const NAME = 'credbroker-kubelet-provider';
const USAGE = `Usage: ${NAME} < CredentialProviderRequest

A kubelet credential provider plugin (${API_VERSION}): reads the kubelet's
CredentialProviderRequest on stdin, asks the credbroker service, prints the
CredentialProviderResponse on stdout. Errors go to stderr only.

Environment: CREDBROKER_URL (default http://127.0.0.1:8080), CREDBROKER_TOKEN or
CREDBROKER_TOKEN_FILE, CREDBROKER_TIMEOUT (default 10s).
Flags: -h, --help  this text;  -V, --version  the version.
`;
/** what Go's time.ParseDuration reads, as far as a cache duration goes */
const GO_DURATION = /^(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms|us|µs|ns))+)$/;

function object (v: unknown): Record<string, unknown> | undefined {
  return isRecord(v) ? v : undefined;
}

/**
 * The service's answer re-built from the fields of a v1 CredentialProviderResponse only: the
 * kubelet decodes strictly and drops an answer with any field it does not know.
 */
function checkResponse (v: unknown): Record<string, unknown> {
  const o = object(v);
  if (o === undefined || o.kind !== 'CredentialProviderResponse' || o.apiVersion !== API_VERSION) {
    throw new CliError(`credbroker answered without a ${API_VERSION} CredentialProviderResponse`);
  }
  if (!['Image', 'Registry', 'Global'].includes(o.cacheKeyType as string)) {
    throw new CliError('credbroker answered without a known cacheKeyType');
  }
  if (o.cacheDuration !== undefined && (typeof o.cacheDuration !== 'string' || !GO_DURATION.test(o.cacheDuration))) {
    throw new CliError('credbroker answered with a cacheDuration that is not a duration');
  }
  const auth = o.auth === undefined ? {} : object(o.auth);
  if (auth === undefined) throw new CliError('credbroker answered with an auth that is not a map');
  const out: Record<string, { username: string, password: string }> = {};
  for (const [key, entry] of Object.entries(auth)) {
    const e = object(entry);
    if (e === undefined || typeof e.username !== 'string' || typeof e.password !== 'string') {
      throw new CliError('credbroker answered with an auth entry without username and password strings');
    }
    out[key] = { username: e.username, password: e.password };
  }
  return {
    apiVersion: API_VERSION,
    kind: 'CredentialProviderResponse',
    cacheKeyType: o.cacheKeyType,
    ...(o.cacheDuration !== undefined ? { cacheDuration: o.cacheDuration } : {}),
    auth: out
  };
}

async function main (argv: string[]): Promise<number> {
  const { values } = parseArgv(argv, COMMON_FLAGS, { positionals: false });
  if (values.help === true) { process.stdout.write(USAGE); return 0; }
  if (values.version === true) { process.stdout.write(`${NAME} (credbroker) ${VERSION}\n`); return 0; }
  const input = await readStdin(MAX_STDIN);
  let request: Record<string, unknown> | undefined;
  try { request = object(JSON.parse(input)); } catch {}
  if (request === undefined) throw new CliError('stdin is not a JSON CredentialProviderRequest');
  if (request.kind !== 'CredentialProviderRequest') throw new CliError('stdin is not a CredentialProviderRequest (kind)');
  if (request.apiVersion !== API_VERSION) {
    throw new CliError(`unsupported apiVersion ${String(request.apiVersion).slice(0, 80)}; configure the provider with ${API_VERSION}`);
  }
  if (typeof request.image !== 'string' || request.image === '') throw new CliError('CredentialProviderRequest has no image');

  const opts = await serviceOptionsFromEnv();
  // with tokenAttributes (Kubernetes 1.33+) the kubelet hands us the pod's ServiceAccount token
  if (opts.token === undefined && typeof request.serviceAccountToken === 'string' && request.serviceAccountToken !== '') {
    opts.token = request.serviceAccountToken;
  }
  // the token travels once, as the caller's credential; the body carries no token
  const { serviceAccountToken: _token, ...forwarded } = request;
  const res = await callService(opts, 'POST', '/v1/kubelet/credential-provider', {
    contentType: 'application/json',
    text: JSON.stringify(forwarded)
  });
  if (res.status !== 200) throw serviceError(res);
  let body: unknown;
  try { body = JSON.parse(res.text); } catch {}
  process.stdout.write(JSON.stringify(checkResponse(body)) + '\n');
  return 0;
}

runProtocolBin(NAME, main, { errorsOnStdout: false });
