import assert from 'node:assert/strict';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Criterion } from '../../src/nn/criterion.js';
import type { Activity, Module } from '../../src/nn/module.js';

/**
 * Finite-difference gradient checks in float32. The module is reduced to a scalar
 * L = sum(r * forward(x)) with a fixed random r; central differences of L at sampled positions
 * of the input and of every parameter are compared with backward(x, r). Tolerances are loose
 * enough for float32 rounding (eps 1e-2) and tight enough to catch a wrong sign, factor or index.
 */
export interface GradCheckOptions { eps?: number; rtol?: number; atol?: number; samples?: number; seed?: number; checkInput?: boolean }

function close(num: number, ana: number, rtol: number, atol: number): boolean {
  return Math.abs(num - ana) <= atol + rtol * Math.max(Math.abs(num), Math.abs(ana));
}

function samplePositions(n: number, k: number, rng: RandomGenerator): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: k }, () => rng.randInt(n));
}

function contiguousData(t: Tensor): Float32Array {
  assert.ok(t.isContiguous(), 'gradcheck needs contiguous tensors');
  return (t.data as Float32Array).subarray(t.offset, t.offset + t.numel);
}

/** The tensors of an activity (a tensor or a nested table), in order. */
export function tensorsOf(a: Activity): Tensor[] {
  return a instanceof Tensor ? [a] : a.flatMap(tensorsOf);
}

/** A random activity shaped like `a` (same table structure), for use as gradOutput. */
function randomLike(a: Activity, rng: RandomGenerator): Activity {
  return a instanceof Tensor ? Tensor.rand(a.shape, -1, 1, rng) : a.map((x) => randomLike(x, rng));
}

/**
 * Checks d(sum(r * forward(x)))/d(every float input tensor and every parameter). `x` may be a
 * table; int32 tensors in it (indices, labels) are left alone.
 */
export function checkModuleGradients(name: string, m: Module<any, any>, x: Activity, opts: GradCheckOptions = {}): void {
  const { eps = 1e-2, rtol = 2e-2, atol = 2e-3, samples = 24, seed = 7, checkInput = true } = opts;
  const rng = new RandomGenerator(seed);
  const r = randomLike(m.forward(x), rng);
  const rs = tensorsOf(r);
  const loss = () => {
    const ys = tensorsOf(m.forward(x));
    assert.equal(ys.length, rs.length, `${name}: forward returned a different number of tensors`);
    return ys.reduce((s, y, i) => s + y.mul(rs[i]).sum().item(), 0);
  };
  m.zeroGradParameters();
  m.forward(x);
  const gxs = tensorsOf(m.backward(x, r)).map((g) => g.clone());
  const { weights, gradients } = m.parameters();
  const grads = gradients.map((g) => g.clone());
  const check = (what: string, data: Float32Array, analytic: Float32Array) => {
    for (const i of samplePositions(data.length, samples, rng)) {
      const orig = data[i];
      data[i] = orig + eps;
      const lp = loss();
      data[i] = orig - eps;
      const lm = loss();
      data[i] = orig;
      const num = (lp - lm) / (2 * eps);
      assert.ok(close(num, analytic[i], rtol, atol), `${name}: d/d${what}[${i}] numeric ${num} vs analytic ${analytic[i]}`);
    }
  };
  if (checkInput) {
    const xs = tensorsOf(x);
    assert.equal(gxs.length, xs.length, `${name}: gradInput has ${gxs.length} tensors, input has ${xs.length}`);
    xs.forEach((xi, k) => {
      if (xi.dtype !== 'float32') return;
      assert.deepEqual(gxs[k].shape, xi.shape, `${name}: gradInput[${k}] shape`);
      check(xs.length > 1 ? `input${k}` : 'input', contiguousData(xi), contiguousData(gxs[k]));
    });
  }
  weights.forEach((w, k) => check(`param${k}`, contiguousData(w), contiguousData(grads[k])));
}

export function checkCriterionGradients<T>(name: string, c: Criterion<Tensor, T>, x: Tensor, target: T, opts: GradCheckOptions = {}): void {
  const { eps = 1e-2, rtol = 2e-2, atol = 2e-3, samples = 24, seed = 7 } = opts;
  const rng = new RandomGenerator(seed);
  c.forward(x, target);
  const gx = c.backward(x, target).clone();
  const data = contiguousData(x), analytic = contiguousData(gx);
  for (const i of samplePositions(data.length, samples, rng)) {
    const orig = data[i];
    data[i] = orig + eps;
    const lp = c.forward(x, target);
    data[i] = orig - eps;
    const lm = c.forward(x, target);
    data[i] = orig;
    const num = (lp - lm) / (2 * eps);
    assert.ok(close(num, analytic[i], rtol, atol), `${name}: d/dinput[${i}] numeric ${num} vs analytic ${analytic[i]}`);
  }
}
