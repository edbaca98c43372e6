// Lookups by untrusted text read own properties only: `constructor`, `toString` and every
// other Object.prototype member are not names a map holds.

/** `record[key]` when `record` has `key` as its own property, else undefined. */
export function own<T> (record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Sets `record[key]` as an own data property, even for `__proto__`. */
export function setOwn<T> (record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
