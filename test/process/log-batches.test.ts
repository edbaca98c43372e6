// The service's log on stdout is written in batches (one write(2) per LOG_BATCH_BYTES, not per
// line: that write and the reader's wake-up were the largest cost of a cached answer), and no
// line is held: a quiet service writes within LOG_FLUSH_MS, and what is buffered at exit is written.
import t from 'tap';
import { LOG_BATCH_BYTES, LOG_FLUSH_MS } from '../../src/logger.js';
import { cleanEnv, listeningUrl, request, spawnService } from '../helpers/process.js';

t.test('200 audit lines arrive in a few batched writes; each line is whole JSON', async (t) => {
  const p = await spawnService(t, [], { env: cleanEnv(t, { PORT: '0' }) });
  t.ok(await p.waitFor(/credbroker listening on http/), 'listening');
  const base = listeningUrl(p.stdout());
  if (base === undefined) { t.fail(`no listening line in: ${p.stdout()}`); return; }
  t.ok(await p.waitFor(/curl -s '/), 'the start-up lines are out');
  const readsBefore = p.stdoutReads();
  const bytesBefore = p.stdout().length;
  // one at a time: a reader that keeps up sees each write(2) as its own read
  for (let i = 0; i < 200; i++) {
    const res = await request(`${base}/v1/credentials?image=nginx:${i}`);
    if (res.status !== 200) { t.fail(`request ${i}: ${res.status} ${res.body}`); return; }
  }
  t.ok(await p.waitFor(/nginx:199/, 5000), 'the 200th audit line is written (within the flush interval)');
  const lines = p.stdout().slice(bytesBefore).split('\n').filter((l) => l.includes('"audit":"credential"'));
  t.equal(lines.length, 200, 'one audit line per request');
  t.ok(lines.every((l) => { try { return typeof JSON.parse(l).level === 'number'; } catch { return false; } }), 'every line is whole JSON with a numeric level');
  const reads = p.stdoutReads() - readsBefore;
  const bytes = p.stdout().length - bytesBefore;
  t.ok(reads <= Math.ceil(bytes / LOG_BATCH_BYTES) + 40, `${bytes} bytes of log arrived in ${reads} reads, not one per line (200)`);
  p.child.kill('SIGTERM');
  await p.exited;
});

t.test('a quiet service writes its line within the flush interval, and the rest at exit', async (t) => {
  const p = await spawnService(t, [], { env: cleanEnv(t, { PORT: '0' }) });
  t.ok(await p.waitFor(/credbroker listening on http/), 'listening');
  const base = listeningUrl(p.stdout());
  if (base === undefined) { t.fail(`no listening line in: ${p.stdout()}`); return; }
  const res = await request(`${base}/v1/credentials?image=nginx:quiet`);
  t.equal(res.status, 200);
  // one line is far below a batch: only the periodic flush writes it
  t.ok(await p.waitFor(/nginx:quiet/, LOG_FLUSH_MS * 10), `the line is out within ${LOG_FLUSH_MS * 10} ms`);
  p.child.kill('SIGTERM');
  const { code } = await p.exited;
  t.equal(code, 0);
  t.match(p.stdout(), /"msg":"stopped"\}\n$/, 'the last line, logged just before the exit, is written whole');
});
