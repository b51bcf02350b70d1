// Shippable functions for the distributed-training tests: workers import this module by URL.
import { shippable } from '../../src/engine/cluster/ship.js';
import { Sample } from '../../src/data/sample.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { ImageSplit } from '../../src/data/idx.js';

/** A record of the parallelized Fashion-MNIST slice: standardised pixels and the class. */
export interface ImageRecord { pixels: Float32Array; label: number }

export const toSample = (r: ImageRecord): Sample => new Sample(new Tensor(r.pixels, [1, 28, 28]), r.label);

export const fns = shippable(import.meta.url, { toSample });

/** The first n images of a Fashion-MNIST split as records, standardised with the training set's mean and std. */
export function imageRecords(s: ImageSplit, n: number): ImageRecord[] {
  const x = s.images.narrow(0, 0, n).clone().sub_(0.286).div_(0.353);
  return Array.from({ length: n }, (_, i) => ({ pixels: x.select(0, i).clone().data as Float32Array, label: s.labels.get(i) as number }));
}
