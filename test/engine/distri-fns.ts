// Shippable functions for the distributed-training tests: workers import this module by URL.
import { shippable } from '../../src/engine/cluster/ship.js';
import { Sample } from '../../src/data/sample.js';
import { Tensor } from '../../src/tensor/tensor.js';

/** A record of the parallelized Fashion-MNIST slice: standardised pixels and the class. */
export interface ImageRecord { pixels: Float32Array; label: number }

export const toSample = (r: ImageRecord): Sample => new Sample(new Tensor(r.pixels, [1, 28, 28]), r.label);

export const fns = shippable(import.meta.url, { toSample });
