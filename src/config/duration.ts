// Go duration syntax, as registries.conf and the settings use it: "90s", "5m", "1h30m", "1.5h", "250ms".
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Milliseconds for a Go duration string; throws on anything else. "0" is allowed. */
export function parseDuration (text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new Error('empty duration');
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (m === null) throw new Error(`invalid duration "${s}" (use Go syntax such as 90s, 5m or 1h30m)`);
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    pos = PART.lastIndex;
  }
  return total;
}

export function formatDuration (ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
