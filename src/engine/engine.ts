import { getThreads, setThreads } from '../backend/registry.js';
import type { EngineContext, EngineInitOptions } from './context.js';

/**
 * Process-wide settings, after BigDL's Engine. `Engine.setThreads(n)` (or BIGDL_THREADS=n) sets
 * the threads OpenBLAS and oneDNN use together. `Engine.init({ master })` starts the distributed
 * engine and returns an EngineContext (sources of partitioned datasets):
 *
 * ```ts
 * const ctx = await Engine.init({ master: 'local[4]' });   // 4 worker processes on this machine
 * const n = await ctx.textFile('data/*.txt').count();
 * await ctx.close();
 * ```
 */
export const Engine = {
  setThreads(n: number): void {
    setThreads(n);
  },
  getThreads(): number {
    return getThreads();
  },
  /**
   * `master`: `local` (1 worker), `local[N]`, `local[*]` (one per core, the default),
   * `redis://host:6379` (the Redis backend); or pass an already started cluster as `{ cluster }`.
   */
  async init(options: EngineInitOptions = {}): Promise<EngineContext> {
    // loaded on demand: code that only sets threads does not load the cluster machinery
    const { EngineContext } = await import('./context.js');
    return EngineContext.create(options);
  },
};
