/**
 * Seeded random numbers. Generated in TypeScript rather than by a backend so the same seed gives
 * the same numbers whichever backend is active, on every machine: xoshiro128** seeded through
 * splitmix32, normals by Box-Muller (pairs, the second cached).
 */
export class RandomGenerator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;
  private seedValue = 0;

  constructor(seed = 42) {
    this.setSeed(seed);
  }

  setSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new RangeError(`RandomGenerator.setSeed: seed must be a finite number, got ${seed}`);
    this.seedValue = seed;
    let x = (Math.trunc(seed) ^ Math.trunc(seed / 4294967296)) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spareNormal = null;
    return this;
  }

  getSeed(): number {
    return this.seedValue;
  }

  /** Full generator state, for checkpoints that must resume bit for bit. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.spareNormal ?? NaN];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5) throw new RangeError('RandomGenerator.setState: expected the 5 numbers getState() returned');
    [this.s0, this.s1, this.s2, this.s3] = state.map((v) => v >>> 0);
    this.spareNormal = Number.isNaN(state[4]) ? null : state[4];
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 random bits, exactly representable in float32. */
  random(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /**
   * out[start..end) = uniform(low, high), the same numbers as that many uniform() calls, with the
   * generator state in locals: initialising VGG16's 138M weights is a hot loop.
   */
  fillUniform(out: Float32Array | Int32Array, start: number, end: number, low = 0, high = 1): void {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const span = high - low;
    for (let i = start; i < end; i++) {
      const x = Math.imul(s1, 5);
      const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = ((s3 << 11) | (s3 >>> 21)) >>> 0;
      out[i] = low + span * ((result >>> 8) / 16777216);
    }
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  /** out[start..end) = normal(mean, std), the same numbers as that many normal() calls. */
  fillNormal(out: Float32Array | Int32Array, start: number, end: number, mean = 0, std = 1): void {
    for (let i = start; i < end; i++) out[i] = this.normal(mean, std);
  }

  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + std * z;
    }
    // 1 - random() is in (0, 1], so log never sees 0
    const u1 = 1 - this.random();
    const u2 = this.random();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return mean + std * r * Math.cos(2 * Math.PI * u2);
  }

  bernoulli(p: number): number {
    return this.random() < p ? 1 : 0;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  randInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`RandomGenerator.randInt: n must be an integer in 1..2^32, got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  randperm(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.randInt(i + 1);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The process-wide generator, as BigDL's RandomGenerator.RNG: `RNG.setSeed(1)`. */
export const RNG = new RandomGenerator(42);
