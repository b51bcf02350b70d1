import assert from 'node:assert/strict';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Criterion } from '../../src/nn/criterion.js';
import type { Module } from '../../src/nn/module.js';

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

export function checkModuleGradients(name: string, m: Module<any, any>, x: Tensor, opts: GradCheckOptions = {}): void {
  const { eps = 1e-2, rtol = 2e-2, atol = 2e-3, samples = 24, seed = 7, checkInput = true } = opts;
  const rng = new RandomGenerator(seed);
  const y0 = m.forward(x) as Tensor;
  const r = Tensor.rand(y0.shape, -1, 1, rng);
  const loss = () => {
    const y = m.forward(x) as Tensor;
    return y.mul(r).sum().item();
  };
  m.zeroGradParameters();
  m.forward(x);
  const gx = (m.backward(x, r) as Tensor).clone();
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
  if (checkInput) check('input', contiguousData(x), contiguousData(gx));
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
