/**
 * A CommonJS package loaded at its first use instead of when the agent's modules load, for what only
 * some configurations use (a YAML config file, Prometheus): a module the
 * process has loaded stays in its memory for good — its source, bytecode and objects, and the young
 * generation grown while loading it (docs/benchmark.md, "Peak memory: what the agent's VmHWM is made
 * of") — so the default configuration should not load what it never runs.
 *
 * Synchronous (`require`), so the callers' APIs stay synchronous. Only for CommonJS packages: an
 * `import` of one elsewhere (a test) goes through the same loader and gets the same instance.
 */
import { createRequire } from 'node:module';

const requireCommonJs = createRequire(import.meta.url);

/** `() => require(id)`, loading `id` on the first call. `T`: `typeof import('<id>')`. */
export function loadOnUse<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireCommonJs(id) as T);
}
