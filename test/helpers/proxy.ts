// Runs Debian's real `tinyproxy` on 127.0.0.1 for tests, with or without Basic proxy
// authentication; its own log file is read to see which CONNECTs (and plain requests) it served.
// A test calls requireTool(t, 'tinyproxy') (test/helpers/tools.ts) before starting one.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from './tools.js';

export interface StartedProxy {
  /** http://[user:pass@]127.0.0.1:PORT */
  url: string
  /** 127.0.0.1:PORT */
  host: string
  /** the `host:port` targets of every CONNECT and the URLs of plain requests, from tinyproxy's log */
  requests: () => Promise<string[]>
  stop: () => Promise<void>
}

async function freePort (): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

async function listening (port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => { resolve(false); });
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`tinyproxy did not listen on ${port}`);
}

export async function startProxy (opts: { user?: string, password?: string } = {}): Promise<StartedProxy> {
  const bin = findTool('tinyproxy');
  if (bin === undefined) throw new Error('tinyproxy is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'credbroker-proxy-'));
  const port = await freePort();
  const log = join(dir, 'tinyproxy.log');
  const auth = opts.user !== undefined ? `BasicAuth ${opts.user} ${opts.password ?? ''}\n` : '';
  await writeFile(join(dir, 'tinyproxy.conf'),
    `Port ${port}\nListen 127.0.0.1\nTimeout 30\nLogFile "${log}"\nLogLevel Connect\nMaxClients 50\n${auth}`);
  // -d: stay in the foreground, so that the test owns the process
  const child = spawn(bin, ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  await listening(port, Date.now() + 10_000);
  const userinfo = opts.user !== undefined ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password ?? '')}@` : '';
  return {
    url: `http://${userinfo}127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests: async () => {
      const text = await readFile(log, 'utf8').catch(() => '');
      const out: string[] = [];
      for (const m of text.matchAll(/Request \(file descriptor \d+\): (CONNECT|GET|POST) (\S+)/g)) out.push(m[1] === 'CONNECT' ? (m[2] as string) : `${m[1] as string} ${m[2] as string}`);
      return out;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  };
}
