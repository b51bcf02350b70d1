/**
 * BigDL's straggler handling (`setDropModuleProperty`): once training is warm, a forward-backward
 * task that takes longer than the (1 - dropPercentage) quantile of recent task times is not waited
 * for; its gradient is left out and the rest are averaged over the samples they processed. If
 * fewer than (1 - maxDropPercentage) of the tasks made it, the iteration's update is discarded, as
 * BigDL does. Stragglers keep running (a JavaScript task cannot be interrupted); their late
 * results are ignored.
 */

export interface DropPolicy {
  /** share of the slowest tasks not waited for, 0 <= x < 1 (0: wait for all) */
  dropPercentage: number;
  /** below (1 - maxDropPercentage) of the tasks contributing, the update is discarded */
  maxDropPercentage: number;
  /** iterations that always wait for every task, to learn how long tasks take */
  warmupIterations: number;
  /** task times remembered for the quantile */
  window: number;
}

export function checkDropPolicy(p: DropPolicy): void {
  if (!(p.dropPercentage >= 0 && p.dropPercentage < 1)) throw new RangeError(`dropPercentage must be in [0, 1), got ${p.dropPercentage}`);
  if (!(p.maxDropPercentage >= p.dropPercentage && p.maxDropPercentage < 1)) {
    throw new RangeError(`maxDropPercentage must be in [dropPercentage, 1), got ${p.maxDropPercentage} with dropPercentage ${p.dropPercentage}`);
  }
  if (!Number.isInteger(p.warmupIterations) || p.warmupIterations < 1) throw new RangeError(`warmupIterations must be a positive integer, got ${p.warmupIterations}`);
}

/** The time after which a task is dropped: the (1 - dropPercentage) quantile of `times` (ms). */
export function dropThreshold(times: readonly number[], dropPercentage: number): number {
  if (times.length === 0) return Infinity;
  const sorted = [...times].sort((a, b) => a - b);
  const k = Math.min(sorted.length - 1, Math.ceil((1 - dropPercentage) * sorted.length) - 1);
  return sorted[Math.max(0, k)];
}

/** Tasks that must contribute for the update to count. */
export function minContributors(tasks: number, maxDropPercentage: number): number {
  return Math.max(1, Math.ceil((1 - maxDropPercentage) * tasks - 1e-9));
}

/**
 * Waits for every promise, or until `deadlineMs` from now, whichever comes first; the first
 * rejection rejects. Resolves to the settled values (undefined for the ones still pending).
 */
export function settleBy<T>(promises: readonly Promise<T>[], deadlineMs: number): Promise<(T | undefined)[]> {
  return new Promise((resolve, reject) => {
    const out: (T | undefined)[] = new Array(promises.length).fill(undefined);
    let left = promises.length;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(out.slice());
    };
    // setTimeout treats Infinity as 1 ms: no deadline means no timer
    const timer = Number.isFinite(deadlineMs) ? setTimeout(finish, Math.max(0, deadlineMs)) : undefined;
    if (left === 0) finish();
    promises.forEach((p, i) => p.then((v) => {
      out[i] = v;
      if (--left === 0) finish();
    }, (e) => {
      if (!finished) {
        finished = true;
        clearTimeout(timer);
        reject(e);
      }
    }));
  });
}
