/**
 * Shipping code to workers. JavaScript closures cannot be serialized, so functions given to
 * distributed datasets and tasks are *references*: an ES module URL plus an export name, which a
 * worker on any machine resolves with `import()`. Mark the functions once, where they are defined:
 *
 *   export const parseLine = (line: string) => ...;
 *   export const tasks = shippable(import.meta.url, { parseLine });   // or shippable(import.meta.url, 'parseLine')
 *   ds.map(tasks.parseLine)
 *
 * Anything else (an arrow function written inline, a method, a bound function) is refused at once,
 * on the driver, with a message that says how to fix it — not later on a worker.
 */
import { pathToFileURL } from 'node:url';
import type { FnRef } from './types.js';

const REF = Symbol.for('bigdl.fnRef');

type Tagged = { [REF]?: FnRef };

/** Tags exported functions of the module at `moduleUrl` so they can be shipped; returns them. */
export function shippable<T extends Record<string, (...args: any[]) => unknown>>(moduleUrl: string, fns: T): T {
  const module = normalizeModule(moduleUrl);
  for (const [exportName, fn] of Object.entries(fns)) {
    if (typeof fn !== 'function') throw new TypeError(`shippable: '${exportName}' is not a function`);
    (fn as Tagged)[REF] = { module, exportName };
  }
  return fns;
}

/** A reference to `exportName` of `moduleUrl`, without the function object at hand. */
export function fnRef(moduleUrl: string, exportName: string): FnRef {
  if (typeof exportName !== 'string' || exportName === '') throw new TypeError('fnRef: exportName must be a non-empty string');
  return { module: normalizeModule(moduleUrl), exportName };
}

function normalizeModule(moduleUrl: string): string {
  if (typeof moduleUrl !== 'string' || moduleUrl === '') throw new TypeError('shippable: pass import.meta.url of the module that exports the functions');
  if (moduleUrl.startsWith('file:') || /^[a-z][\w+.-]*:/i.test(moduleUrl)) return moduleUrl;
  if (moduleUrl.startsWith('/')) return pathToFileURL(moduleUrl).href;
  return moduleUrl; // a bare package specifier: workers resolve it from their own node_modules
}

/** The reference of a shippable function (or an FnRef itself); a clear error for anything else. */
export function refOf(fn: unknown, what = 'function'): FnRef {
  if (fn && typeof fn === 'object' && typeof (fn as FnRef).module === 'string' && typeof (fn as FnRef).exportName === 'string') return fn as FnRef;
  if (typeof fn === 'function') {
    const ref = (fn as Tagged)[REF];
    if (ref) return ref;
    const name = fn.name || 'an anonymous function';
    throw new TypeError(
      `${what}: ${name} cannot be shipped to workers: closures cannot be serialized. Export it from a module and mark it ` +
      `with shippable(import.meta.url, { ${fn.name || 'myFn'} }) (from bigdl-ts), then pass the marked function; ` +
      'values it needs go in arguments or broadcast blocks, not in captured variables');
  }
  throw new TypeError(`${what}: expected a shippable function, got ${fn === null ? 'null' : typeof fn}`);
}

/** Loads a referenced function on a worker; errors name the module and the export. */
export async function loadFn<F = (...args: any[]) => unknown>(ref: FnRef): Promise<F> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(ref.module)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`cannot load ${ref.module} on this worker (${(e as Error).message}); every worker needs the same code at the same path (or the package installed)`);
  }
  const fn = mod[ref.exportName];
  if (typeof fn !== 'function') {
    throw new Error(`${ref.module} has no exported function '${ref.exportName}' (exports: ${Object.keys(mod).join(', ') || 'none'})`);
  }
  return fn as F;
}
