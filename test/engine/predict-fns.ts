// Shippable functions for the distributed-predict and item-codec tests: workers import this module by URL.
import { shippable } from '../../src/engine/cluster/ship.js';
import { Sample } from '../../src/data/sample.js';
import { Tensor } from '../../src/tensor/tensor.js';

/** A record of the parallelized Fashion-MNIST slice: standardised pixels and the class. */
export interface ImageRecord { pixels: Float32Array; label: number }

/** A real Sample built on the worker: it must reach the driver as one. */
export const toSample = (r: ImageRecord): Sample => new Sample(new Tensor(r.pixels, [1, 28, 28]), r.label);
export const toUnlabelled = (r: ImageRecord): Sample => new Sample(new Tensor(r.pixels, [1, 28, 28]));
export const toFeature = (r: ImageRecord): Tensor => new Tensor(r.pixels, [1, 28, 28]);

/** What a worker received, so the test can see whether Samples arrived as Samples. */
export const kindOf = (x: unknown): string => {
  if (x instanceof Sample) return `Sample(${x.features instanceof Tensor ? x.features.shape.join('x') : 'plain'}, ${typeof x.label})`;
  if (x instanceof Tensor) return `Tensor(${x.shape.join('x')})`;
  return x === null ? 'null' : typeof x === 'object' ? `plain ${(x as object).constructor?.name}` : typeof x;
};

/** A new Sample computed from a received one (uses Sample and Tensor methods on the worker). */
export const negate = (s: Sample): Sample => s.mapFeature((t) => t.mul(-1));
export const labelOf = (s: Sample): number => s.label as number;
export const addTensors = (a: Tensor, b: Tensor): Tensor => a.add(b);
export const featureOf = (s: Sample): Tensor => s.feature();

export const fns = shippable(import.meta.url, { toSample, toUnlabelled, toFeature, kindOf, negate, labelOf, addTensors, featureOf });
