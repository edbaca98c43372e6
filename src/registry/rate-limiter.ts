// The one small rate limiter for what is not a caller's request: a token bucket of `limit`
// requests per window with a burst of `limit`. Requests to a registry wait their turn
// (registries.conf `limit`, per second); failed authentications per client address are
// refused once the bucket is empty (per minute). Callers are limited by @fastify/rate-limit.

export interface Clock { now: () => number, sleep: (ms: number) => Promise<void> }

const realClock: Clock = {
  now: () => performance.now(),
  sleep: async (ms) => { await new Promise((resolve) => setTimeout(resolve, ms)); }
};

export type Verdict = { ok: true } | { ok: false, retryAfterMs: number };

export class RateLimiter {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  /** `limit` <= 0 never limits. */
  constructor (readonly limit: number, private readonly clock: Clock = realClock, private readonly windowMs = 1000) {
    this.tokens = limit;
    this.last = clock.now();
  }

  /** Resolves when a request may be sent; callers are served in order. */
  async take (): Promise<void> {
    if (this.limit <= 0) return;
    const turn = this.queue.then(async () => {
      this.refill();
      if (this.tokens < 1) {
        await this.clock.sleep(this.waitMs());
        this.refill();
      }
      this.tokens -= 1;
    });
    this.queue = turn.catch(() => {});
    await turn;
  }

  /** Takes one token if there is one; otherwise says how long until there is. */
  tryTake (): Verdict {
    const v = this.peek();
    if (v.ok && this.limit > 0) this.tokens -= 1;
    return v;
  }

  /** Whether a token is there, taking nothing. */
  peek (): Verdict {
    if (this.limit <= 0) return { ok: true };
    this.refill();
    return this.tokens >= 1 ? { ok: true } : { ok: false, retryAfterMs: this.waitMs() };
  }

  private waitMs (): number {
    return ((1 - this.tokens) / this.limit) * this.windowMs;
  }

  private refill (): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.limit, this.tokens + ((now - this.last) / this.windowMs) * this.limit);
    this.last = now;
  }
}

/** One limiter per key (a client address), the least recently used dropped beyond maxKeys. */
export class KeyedRateLimiter {
  private readonly limiters = new Map<string, RateLimiter>();

  constructor (
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys: number,
    now: () => number = realClock.now
  ) {
    this.clock = { now, sleep: realClock.sleep };
  }

  private readonly clock: Clock;

  /** Whether `key` has a token left, taking nothing (an unknown key always has). */
  peek (key: string): Verdict {
    return this.limiters.get(key)?.peek() ?? { ok: true };
  }

  /** Counts one for `key`. */
  hit (key: string): Verdict {
    let l = this.limiters.get(key);
    if (l === undefined) {
      l = new RateLimiter(this.limit, this.clock, this.windowMs);
      if (this.limiters.size >= this.maxKeys) {
        const oldest = this.limiters.keys().next();
        if (oldest.done !== true) this.limiters.delete(oldest.value);
      }
    } else {
      this.limiters.delete(key);
    }
    this.limiters.set(key, l);
    return l.tryTake();
  }

  get size (): number { return this.limiters.size; }
}
