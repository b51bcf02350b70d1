/**
 * Worker side of every cluster backend: runs one TaskSpec. Backends only decide how specs arrive
 * and results leave; this is the one place where a task's function is loaded and called.
 */
import { loadFn } from './ship.js';
import type { Json, TaskContext, TaskFn, TaskSpec } from './types.js';

const loaded = new Map<string, Promise<TaskFn>>();

/** Runs `spec` with `ctx`; the function is loaded once per worker and cached. */
export async function runTask(spec: TaskSpec, ctx: TaskContext): Promise<Json> {
  const key = `${spec.fn.module}#${spec.fn.exportName}`;
  let fn = loaded.get(key);
  if (!fn) {
    fn = loadFn<TaskFn>(spec.fn);
    loaded.set(key, fn);
    fn.catch(() => loaded.delete(key));
  }
  const value = await (await fn)(ctx, spec.args);
  return value === undefined ? null : value;
}

/** An error as plain data, for sending back to the driver. */
export function errorToJson(e: unknown): { message: string; stack?: string } {
  return e instanceof Error ? { message: e.message, stack: e.stack } : { message: String(e) };
}
