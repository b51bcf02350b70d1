// Shippable mapping for `npm run bench -- scaling`: workers import this module by URL, so it stays
// small (no data loading, no child processes).
import { shippable } from '../src/engine/cluster/ship.js';
import { Sample } from '../src/data/sample.js';
import { Tensor } from '../src/tensor/tensor.js';

/** One parallelized image: preprocessed pixels, their shape ([1,28,28] or [3,224,224]) and a 0-based class. */
export interface ImageRecord { pixels: Float32Array; shape: number[]; label: number }

export const toSample = (r: ImageRecord): Sample => new Sample(new Tensor(r.pixels, r.shape), r.label);

export const fns = shippable(import.meta.url, { toSample });
