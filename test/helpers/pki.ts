// Test certificates made with the openssl command (node:crypto cannot issue X.509): a CA, and
// server or client certificates signed by it. A test calls requireTool(t, 'openssl') first.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export interface Pem { cert: string, key: string, certFile: string, keyFile: string }

/** A self-signed CA named `name` in `dir` (name.pem, name.key). */
export async function makeCa (dir: string, name: string): Promise<Pem> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${name}`, '-days', '2']);
  return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile, keyFile };
}

/** A certificate signed by `ca`: a server one for 127.0.0.1 and localhost, or a client one with CN `name`. */
export async function issue (dir: string, ca: Pem, name: string, kind: 'server' | 'client', days = 2): Promise<Pem> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const ext = kind === 'server'
    ? ['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'extendedKeyUsage=serverAuth']
    : ['-addext', 'extendedKeyUsage=clientAuth'];
  await run('openssl', ['req', '-x509', ...EC, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-keyout', keyFile, '-out', certFile,
    '-subj', `/CN=${name}`, ...ext, '-days', String(days)]);
  return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile, keyFile };
}
