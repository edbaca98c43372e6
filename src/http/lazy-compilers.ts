// Route schemas compiled on first use instead of before the server listens: Fastify's own
// compilers (@fastify/ajv-compiler for requests, fast-json-stringify for 200s and errors),
// loaded and run for a route when it is first asked for, or by warmUp() once listening.
// Start-up then costs neither Ajv nor fast-json-stringify (about a third of the CPU time to
// /readyz on a loaded machine); the compiled functions are the same as Fastify's defaults.
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type Compile<F> = (route: Record<string, unknown>) => F;
type Build<F> = (externalSchemas: unknown, options?: unknown) => Compile<F>;
interface Validator { (data: unknown, cxt?: unknown): unknown, errors?: unknown, schemaEnv?: unknown }
type Serializer = (data: unknown) => string;

const require = createRequire(import.meta.url);

export interface LazyCompilers {
  /** Fastify's `schemaController` option */
  schemaController: NonNullable<FastifyServerOptions['schemaController']>
  /** compile what is still pending, one route part per event-loop turn; resolves when done */
  warmUp: () => Promise<void>
  /** route parts compiled so far, and still pending (tests) */
  stats: () => { compiled: number, pending: number }
}

export function lazyCompilers (): LazyCompilers {
  const pending = new Set<() => void>();
  let compiled = 0;

  function lazy<F extends (...args: never[]) => unknown> (compile: () => F): { get: () => F } {
    let fn: F | undefined;
    const get = (): F => {
      if (fn === undefined) {
        pending.delete(get);
        fn = compile();
        compiled++;
      }
      return fn;
    };
    pending.add(get);
    return { get };
  }

  const buildValidator: Build<Validator> = (externalSchemas, options) => {
    let build: Compile<Validator> | undefined;
    const compiler = (): Compile<Validator> => (build ??= (require('@fastify/ajv-compiler') as () => Build<Validator>)()(externalSchemas, options));
    return (route) => {
      const { get } = lazy(() => compiler()(route));
      const validate: Validator = (data, cxt) => get()(data, cxt);
      // Fastify reads `errors` after a failed validation, and passes the parent (for Ajv's
      // coercion of a root value) only to functions that have a `schemaEnv`
      Object.defineProperty(validate, 'errors', { get: () => get().errors });
      validate.schemaEnv = true;
      return validate;
    };
  };

  const buildSerializer: Build<Serializer> = (externalSchemas, options) => {
    let build: Compile<Serializer> | undefined;
    const compiler = (): Compile<Serializer> => (build ??= (require('@fastify/fast-json-stringify-compiler') as () => Build<Serializer>)()(externalSchemas, options));
    return (route) => {
      const { get } = lazy(() => compiler()(route));
      return (data) => get()(data);
    };
  };

  return {
    schemaController: { compilersFactory: { buildValidator, buildSerializer } } as unknown as LazyCompilers['schemaController'],
    warmUp: async () => {
      for (const get of [...pending]) {
        await new Promise((resolve) => setImmediate(resolve));
        // a schema that does not compile fails its route's requests, as it would have failed the start
        try { get(); } catch {}
      }
    },
    stats: () => ({ compiled, pending: pending.size })
  };
}
