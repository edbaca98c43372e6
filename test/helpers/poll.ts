// The one polling helper of the tests: wait for a condition instead of sleeping a fixed time.

/** Polls `fn` every `every` ms until it returns true or `ms` pass; resolves to whether it did. */
export async function eventually (fn: () => Promise<boolean> | boolean, ms = 5000, every = 10): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** Like eventually, but throws `timed out waiting for <what>` when `fn` never returns true. */
export async function waitFor (what: string, fn: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  if (!await eventually(fn, ms)) throw new Error(`timed out waiting for ${what}`);
}
