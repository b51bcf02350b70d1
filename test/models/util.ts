import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Criterion } from '../../src/nn/criterion.js';
import type { Activity, Module } from '../../src/nn/module.js';

/** The tensors of an activity, in order. */
export function tensorsOf(a: Activity): Tensor[] {
  return a instanceof Tensor ? [a] : a.flatMap(tensorsOf);
}

export function assertFinite(t: Tensor, what: string): void {
  const c = t.contiguous();
  const d = c.data;
  for (let i = c.offset, end = c.offset + c.numel; i < end; i++) {
    if (!Number.isFinite(d[i])) assert.fail(`${what}: element ${i - c.offset} is ${d[i]}`);
  }
}

/**
 * One plain SGD step done by hand on the flat parameters: forward, criterion, backward, w -= lr·g.
 * Returns the loss before the step and the loss of the same batch after it (same mode).
 */
export function sgdStep<T extends Activity>(model: Module<any, any>, criterion: Criterion<any, T>, x: Activity, target: T, lr: number): { before: number; after: number } {
  const { weights, gradients } = model.getParameters();
  model.zeroGradParameters();
  const y = model.forward(x);
  const before = criterion.forward(y, target);
  model.backward(x, criterion.backward(y, target));
  assertFinite(gradients, 'gradients');
  const w = weights.data, g = gradients.data;
  for (let i = weights.offset, j = gradients.offset, end = weights.offset + weights.numel; i < end; i++, j++) w[i] -= lr * g[j];
  const after = criterion.forward(model.forward(x), target);
  assert.ok(Number.isFinite(before) && Number.isFinite(after), `losses ${before} -> ${after}`);
  return { before, after };
}

/** Random 0-based labels in [0, classes). */
export function labels(n: number, classes: number, seed = 1): Tensor {
  const t = Tensor.zeros([n], { dtype: 'int32' });
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    t.data[i] = s % classes;
  }
  return t;
}
