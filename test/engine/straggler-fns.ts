// Shippable functions and a registered layer for the straggler test: workers import this module
// (for toSample) before they deserialize the model, which registers Stall there too.
import { shippable } from '../../src/engine/cluster/ship.js';
import { registerClass } from '../../src/serialization/index.js';
import { Sample } from '../../src/data/sample.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Identity } from '../../src/nn/shape-layers.js';
import type { Activity } from '../../src/nn/module.js';

/** An identity layer that blocks for `ms` on batches marked slow: a worker on a busy machine. */
export class Stall extends Identity {
  constructor(public ms = 0) {
    super();
  }

  override updateOutput(input: Activity): Activity {
    const x = input as Tensor;
    if (this.isTraining() && (x.data as Float32Array)[x.offset] >= 1000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.ms);
    return super.updateOutput(input);
  }
}
registerClass('test.Stall', Stall);

export interface MarkedRecord { pixels: Float32Array; label: number; slow: boolean }

export const toSample = (r: MarkedRecord): Sample => {
  const p = r.pixels.slice();
  if (r.slow) p[0] = 1000;
  return new Sample(new Tensor(p, [1, 28, 28]), r.label);
};

export const stragglerFns = shippable(import.meta.url, { toSample });
