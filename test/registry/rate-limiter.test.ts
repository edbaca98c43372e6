import t from 'tap';
import { KeyedRateLimiter, RateLimiter } from '../../src/registry/rate-limiter.js';

t.test('take: a token bucket of limit per second, waits counted with a fake clock', async (t) => {
  let now = 0;
  const slept: number[] = [];
  const limiter = new RateLimiter(2, { now: () => now, sleep: async (ms) => { slept.push(ms); now += ms; } });
  for (let i = 0; i < 6; i++) await limiter.take();
  t.equal(slept.length, 4, 'two requests go at once, the other four wait');
  t.equal(Math.round(slept.reduce((a, b) => a + b, 0)), 2000, 'six requests at 2/s take two seconds after the burst');
  now += 10_000;
  slept.length = 0;
  await Promise.all([limiter.take(), limiter.take(), limiter.take()]);
  t.equal(slept.length, 1, 'concurrent callers share the bucket');
  const unlimited = new RateLimiter(0, { now: () => 0, sleep: async () => { t.fail('no wait without a limit'); } });
  for (let i = 0; i < 100; i++) await unlimited.take();
});

t.test('tryTake and peek: refuse without waiting, per minute', async (t) => {
  let now = 0;
  const limiter = new RateLimiter(3, { now: () => now, sleep: async () => { t.fail('never sleeps'); } }, 60_000);
  for (let i = 0; i < 3; i++) t.ok(limiter.tryTake().ok);
  t.same(limiter.peek(), { ok: false, retryAfterMs: 20_000 }, 'one token comes back every 20 s');
  t.same(limiter.tryTake(), { ok: false, retryAfterMs: 20_000 }, 'a refusal takes nothing');
  now += 20_000;
  t.ok(limiter.peek().ok);
  t.ok(limiter.peek().ok, 'peek takes nothing');
  t.ok(limiter.tryTake().ok);
  t.notOk(limiter.tryTake().ok);
});

t.test('keyed: one bucket per key, least recently used keys dropped', async (t) => {
  let now = 0;
  const keyed = new KeyedRateLimiter(2, 60_000, 3, () => now);
  t.ok(keyed.peek('a').ok, 'an unknown key is never refused');
  t.equal(keyed.size, 0, 'and peeking remembers nothing');
  t.ok(keyed.hit('a').ok);
  t.ok(keyed.hit('a').ok);
  t.notOk(keyed.peek('a').ok);
  t.ok(keyed.peek('b').ok, 'another key has its own bucket');
  for (const k of ['b', 'c', 'd']) keyed.hit(k);
  t.equal(keyed.size, 3, 'bounded');
  t.ok(keyed.peek('a').ok, 'the least recently used key was dropped');
  now += 60_000;
  t.ok(keyed.hit('b').ok);
});
