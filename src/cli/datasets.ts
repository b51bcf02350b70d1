/**
 * Named data sets the CLI knows, with the preprocessing a trained model must see again at
 * evaluation and prediction time (stored in the model file's metadata).
 */
import { loadFashionMnist, imageSamples, FASHION_MNIST_DIR, type ImageSplit } from '../data/idx.js';
import type { DataSet } from '../data/dataset.js';
import type { Sample } from '../data/sample.js';

export interface Normalization {
  mean: number;
  std: number;
}

export interface ImageData {
  name: string;
  train: ImageSplit;
  test: ImageSplit;
  classes: number;
}

export const DATASETS = ['fashion-mnist'] as const;

export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

/** Loads a named (or MNIST-format directory) image data set, pixel values in [0, 1]. */
export function loadImageData(name: string, dir?: string): ImageData {
  if (name !== 'fashion-mnist' && name !== 'mnist-format') {
    throw new CliUsageError(`unknown data set '${name}': use fashion-mnist, or mnist-format with --data-dir DIR holding train-images-idx3-ubyte[.gz] etc.`);
  }
  if (name === 'mnist-format' && !dir) throw new CliUsageError('--data mnist-format needs --data-dir DIR');
  const { train, test } = loadFashionMnist(dir ?? FASHION_MNIST_DIR);
  return { name, train, test, classes: 10 };
}

/** Mean and standard deviation of every pixel of a split (in double precision). */
export function pixelStats(split: ImageSplit): Normalization {
  const mean = split.images.mean().item();
  const std = Math.sqrt(split.images.sub(mean).square().mean().item());
  return { mean, std };
}

/** Standardises a split in place and returns its samples. */
export function standardized(split: ImageSplit, n: Normalization): DataSet<Sample> {
  split.images.sub_(n.mean).div_(n.std);
  return imageSamples(split);
}
