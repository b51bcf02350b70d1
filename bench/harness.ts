/**
 * Timing for the benchmarks. The same method is used by the C (bench/ref/sgemm_ref.c) and Python
 * (bench/ref/torch_kernels.py) references, which receive these numbers on their command lines.
 */
/** Bad command-line input: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface TimingConfig {
  /** untimed calls first */
  warmup: number;
  /** keep calling until this much time has passed ... */
  minSeconds: number;
  /** ... and at least this many timed calls were made ... */
  minIters: number;
  /** ... but never more than this many */
  maxIters: number;
  /**
   * The bench measures every case this many times, in rounds over all cases, and keeps the best
   * median of each implementation: other tenants of the host slow this machine down for seconds
   * at a time, and one round can land in such a stretch.
   */
  rounds: number;
}

export const TIMING: TimingConfig = { warmup: 3, minSeconds: 0.25, minIters: 3, maxIters: 100_000, rounds: 2 };

export function describeTiming(cfg: TimingConfig = TIMING): string {
  return `${cfg.warmup} warm-up calls, then calls until >= ${cfg.minSeconds} s and >= ${cfg.minIters} calls ` +
    `(at most ${cfg.maxIters}), each call timed alone, median taken; ${cfg.rounds} rounds over all cases, ` +
    `each case run in C, PyTorch and TypeScript back to back; the best round's median is reported for each ` +
    `(same method in all three)`;
}

/** The faster of two timings by median (either may be missing). */
export function faster(a: Timing | undefined, b: Timing | undefined): Timing | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.medianMs < a.medianMs ? b : a;
}

export interface Timing {
  iters: number;
  medianMs: number;
  minMs: number;
}

/** Times fn() (buffers must already be allocated: nothing here allocates per call). */
export function measure(fn: () => void, cfg: TimingConfig = TIMING): Timing {
  for (let i = 0; i < cfg.warmup; i++) fn();
  const times = new Float64Array(cfg.maxIters);
  let count = 0;
  const start = performance.now();
  const minMs = cfg.minSeconds * 1000;
  while (count < cfg.maxIters && (count < cfg.minIters || performance.now() - start < minMs)) {
    const t0 = performance.now();
    fn();
    times[count++] = performance.now() - t0;
  }
  const sorted = times.subarray(0, count).sort();
  const median = count % 2 ? sorted[count >> 1] : 0.5 * (sorted[(count >> 1) - 1] + sorted[count >> 1]);
  return { iters: count, medianMs: median, minMs: sorted[0] };
}

/** A Float32Array of uniform values in [-scale, scale) from a fixed-seed generator. */
export function randomF32(length: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 * 2 - 1) * scale;
  }
  return out;
}

export function geomean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}
