/**
 * Images as records that travel to workers cheaply (bytes, 784 per Fashion-MNIST image, instead
 * of 4x that as floats) and the shippable function that turns them into standardised Samples
 * there, with the normalisation the model file records.
 */
import { shippable } from '../engine/cluster/ship.js';
import { Sample } from '../data/sample.js';
import { Tensor } from '../tensor/tensor.js';
import type { ImageSplit } from '../data/idx.js';
import type { Normalization } from './datasets.js';

export interface ImageRecord {
  /** pixel bytes, row-major */
  pixels: Uint8Array;
  label: number;
}

/** The records of a split whose pixels are in [0, 1] (bytes / 255, as the IDX reader gives them). */
export function imageRecords(split: ImageSplit): ImageRecord[] {
  const [n, , h, w] = split.images.shape;
  const images = split.images.contiguous();
  const src = (images.data as Float32Array).subarray(images.offset);
  const size = h * w;
  return Array.from({ length: n }, (_, i) => {
    const pixels = new Uint8Array(size);
    for (let j = 0; j < size; j++) pixels[j] = Math.round(src[i * size + j] * 255);
    return { pixels, label: split.labels.get(i) as number };
  });
}

export function toImageSample(r: ImageRecord, norm: Normalization): Sample {
  const side = Math.round(Math.sqrt(r.pixels.length));
  const x = new Float32Array(r.pixels.length);
  for (let j = 0; j < x.length; j++) x[j] = (r.pixels[j] / 255 - norm.mean) / norm.std;
  return new Sample(new Tensor(x, [1, side, side]), r.label);
}

export const imageFns = shippable(import.meta.url, { toImageSample });
