import { getThreads, setThreads } from '../backend/registry.js';

/**
 * Process-wide settings, after BigDL's Engine. `Engine.setThreads(n)` (or BIGDL_THREADS=n) sets
 * the threads OpenBLAS and oneDNN use together; the distributed engine builds on this object.
 */
export const Engine = {
  setThreads(n: number): void {
    setThreads(n);
  },
  getThreads(): number {
    return getThreads();
  },
};
