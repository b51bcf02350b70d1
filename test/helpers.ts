import assert from 'node:assert/strict';
import { nativeUnavailableReason } from '../src/backend/registry.js';
import type { BackendName } from '../src/backend/backend.js';
import { RandomGenerator } from '../src/tensor/random.js';
import { Tensor } from '../src/tensor/tensor.js';

/**
 * The backends a test suite runs on. Without the addon the native half is skipped with the
 * reason, except under BIGDL_REQUIRE_NATIVE=1 (CI), where a missing addon fails the run.
 */
export function backendsUnderTest(): BackendName[] {
  const reason = nativeUnavailableReason();
  if (reason === null) return ['reference', 'native'];
  if (process.env.BIGDL_REQUIRE_NATIVE === '1') throw new Error(`BIGDL_REQUIRE_NATIVE=1 but ${reason}`);
  console.warn(`# native backend skipped: ${reason}`);
  return ['reference'];
}

export function nativeAvailable(): boolean {
  return backendsUnderTest().includes('native');
}

/** |a - e| <= atol + rtol*|e| elementwise, reporting the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}

export function assertTensorClose(actual: Tensor, expected: Tensor, what: string, rtol = 1e-5, atol = 1e-6): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assertClose(actual.toArray(), expected.toArray(), what, rtol, atol);
}

/** Random integer in [lo, hi]. */
export function randInt(rng: RandomGenerator, lo: number, hi: number): number {
  return lo + rng.randInt(hi - lo + 1);
}

/**
 * A tensor of `shape` whose memory layout is deliberately awkward: it sits at an offset inside a
 * larger buffer, with padded strides, and (kind 'permuted') with its dims stored in another order.
 */
export function awkwardTensor(rng: RandomGenerator, shape: readonly number[], kind: 'contiguous' | 'padded' | 'permuted', fill?: (r: RandomGenerator) => number): Tensor {
  const gen = fill ?? ((r: RandomGenerator) => r.uniform(-2, 2));
  if (kind === 'contiguous') {
    const t = Tensor.empty(shape);
    for (let i = 0; i < t.data.length; i++) t.data[i] = gen(rng);
    return t;
  }
  const nd = shape.length;
  const order = Array.from({ length: nd }, (_, i) => i);
  if (kind === 'permuted') for (let i = nd - 1; i > 0; i--) { const j = rng.randInt(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  // storage dims: shape in `order`, each padded by 0..2
  const storeShape = order.map((d) => shape[d] + randInt(rng, 0, 2));
  const offsetPad = randInt(rng, 1, 5);
  const base = Tensor.empty([offsetPad + storeShape.reduce((a, b) => a * b, 1)]);
  for (let i = 0; i < base.data.length; i++) base.data[i] = gen(rng);
  let t = new Tensor(base.data, storeShape, undefined, offsetPad);
  for (let i = 0; i < nd; i++) t = t.narrow(i, 0, shape[order[i]]);
  // now t has dims in `order`; permute back so t.shape == shape
  const inverse = new Array<number>(nd);
  order.forEach((d, i) => { inverse[d] = i; });
  return nd > 0 ? t.permute(...inverse) : t;
}
