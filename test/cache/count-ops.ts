// Counts Map/Set operations (and iterations over them) made while fn runs: the O(1) tests
// compare these counts at different cache sizes instead of timing anything.
export interface OpCounts {
  get: number
  set: number
  delete: number
  has: number
  add: number
  /** keys(), values(), entries(), forEach() or spread/for-of over a Map or Set */
  iterations: number
  total: number
}

export async function countCollectionOps (fn: () => Promise<void> | void): Promise<OpCounts> {
  const counts: OpCounts = { get: 0, set: 0, delete: 0, has: 0, add: 0, iterations: 0, total: 0 };
  const restore: Array<() => void> = [];
  const patch = (proto: object, name: string, bucket: keyof OpCounts) => {
    const desc = Object.getOwnPropertyDescriptor(proto, name);
    const orig = desc?.value as (...args: unknown[]) => unknown;
    Object.defineProperty(proto, name, {
      ...desc,
      value: function (this: unknown, ...args: unknown[]) { counts[bucket]++; counts.total++; return orig.apply(this, args); }
    });
    restore.push(() => { Object.defineProperty(proto, name, desc as PropertyDescriptor); });
  };
  for (const proto of [Map.prototype, Set.prototype]) {
    for (const m of ['get', 'set', 'delete', 'has', 'add'] as const) if (m in proto) patch(proto, m, m);
    for (const m of ['keys', 'values', 'entries', 'forEach', Symbol.iterator]) patch(proto, m as string, 'iterations');
  }
  try {
    await fn();
  } finally {
    for (const r of restore.reverse()) r();
  }
  return counts;
}
