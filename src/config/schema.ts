// One way to check a config file's shape: a TypeBox schema, and its first error turned
// into one ConfigError that names the key (`policy rules[2].actions: must be a list`).
import type { TSchema, Static } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigError } from '../errors.js';

/** JSON pointer `/rules/2/actions` → `rules[2].actions`. */
function keyPath (pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : (out === '' ? part : `.${part}`);
  }
  return out;
}

function literals (schema: TSchema): unknown[] | undefined {
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!Array.isArray(anyOf) || !anyOf.every((s) => 'const' in s)) return undefined;
  return anyOf.map((s) => (s as unknown as { const: unknown }).const);
}

function describe (e: ValueError): string {
  const s = e.schema as Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return `unknown key (allowed: ${Object.keys(s.properties as object).join(', ')})`;
    case ValueErrorType.ObjectRequiredProperty: return 'is required';
    case ValueErrorType.Object: return typeof s.description === 'string' ? `must be a mapping: ${s.description}` : 'must be a mapping';
    case ValueErrorType.Array: return 'must be a list';
    case ValueErrorType.ArrayMinItems: return 'must not be empty';
    case ValueErrorType.ArrayMaxItems: return `more than ${String(s.maxItems)} entries`;
    case ValueErrorType.String: return 'must be a string';
    case ValueErrorType.Literal: return `must be ${JSON.stringify(s.const)}`;
    case ValueErrorType.StringMinLength: return 'must not be empty';
    case ValueErrorType.StringMaxLength: return `longer than ${String(s.maxLength)} characters`;
    case ValueErrorType.StringPattern: return typeof s.description === 'string' ? `must be ${s.description}` : 'has an invalid format';
    case ValueErrorType.Union: {
      const allowed = literals(e.schema);
      if (allowed !== undefined) {
        const what = typeof s.title === 'string' ? s.title : 'value';
        return `unknown ${what} ${JSON.stringify(e.value)} (allowed: ${allowed.join(', ')})`;
      }
      return 'has an unexpected shape';
    }
    default: return e.message;
  }
}

/** A JSON object (not an array, not null): the one guard for hand-read JSON. */
export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value typed by the schema, or a ConfigError naming `label` and the first bad key. */
export function checkShape<T extends TSchema> (schema: T, value: unknown, label: string): Static<T> {
  // the check alone first: the error walk is many times slower (a large Secret has thousands of fields)
  if (Value.Check(schema, value)) return value as Static<T>;
  const errors = Value.Errors(schema, value);
  let first = errors.First();
  if (first === undefined) return value as Static<T>;
  // a misspelt key is reported as such, not as the key it should have been being missing
  if (first.type === ValueErrorType.ObjectRequiredProperty) {
    const parent = first.path.slice(0, first.path.lastIndexOf('/'));
    let n = 0;
    for (const e of Value.Errors(schema, value)) {
      if (++n > 50) break;
      if (e.type === ValueErrorType.ObjectAdditionalProperties && e.path.slice(0, e.path.lastIndexOf('/')) === parent) { first = e; break; }
    }
  }
  const at = keyPath(first.path);
  throw new ConfigError(at === '' ? label : `${label} ${at}`, describe(first));
}
