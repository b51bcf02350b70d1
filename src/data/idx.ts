/**
 * IDX files (the MNIST / Fashion-MNIST format), gzipped or not, and the Fashion-MNIST loader.
 *
 * IDX layout: two zero bytes, a type byte, a dim-count byte, then one big-endian uint32 per dim,
 * then the values in row-major order, big-endian.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Tensor } from '../tensor/tensor.js';
import { DataSet } from './dataset.js';
import { Sample } from './sample.js';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  type: IdxType;
  dims: number[];
  /** the values in row-major order (native byte order) */
  data: IdxData;
}

const TYPES: Record<number, { type: IdxType; bytes: number }> = {
  0x08: { type: 'uint8', bytes: 1 },
  0x09: { type: 'int8', bytes: 1 },
  0x0b: { type: 'int16', bytes: 2 },
  0x0c: { type: 'int32', bytes: 4 },
  0x0d: { type: 'float32', bytes: 4 },
  0x0e: { type: 'float64', bytes: 8 },
};

/** Reads an IDX file; one starting with the gzip magic bytes is gunzipped first. */
export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`readIdx ${path}: cannot read the file: ${(e as Error).message}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`readIdx ${path}: the gzip stream is corrupt or truncated (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, path);
}

/** Parses IDX bytes (already gunzipped); `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  const fail = (what: string): never => {
    throw new Error(`readIdx ${name}: ${what}`);
  };
  if (bytes.length < 4) fail(`truncated: ${bytes.length} bytes, shorter than the 4-byte IDX magic number`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`not an IDX file: the magic number must start with two zero bytes, got 0x${hex(bytes[0])}${hex(bytes[1])}`);
  }
  const t = TYPES[bytes[2]];
  if (!t) fail(`unknown data type byte 0x${hex(bytes[2])} in the magic number (expected 08 uint8, 09 int8, 0B int16, 0C int32, 0D float32 or 0E float64)`);
  const ndim = bytes[3];
  if (ndim === 0) fail('the magic number declares 0 dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) fail(`truncated header: ${ndim} dims need a ${headerBytes}-byte header, file has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = count * t.bytes;
  const payload = bytes.length - headerBytes;
  if (!Number.isSafeInteger(expected)) fail(`implausible dims ${dims.join(' x ')} in the header`);
  const desc = `header says ${dims.join(' x ')}${t.bytes > 1 ? ` x ${t.bytes} bytes` : ''} = ${expected} bytes of ${t.type} after the ${headerBytes}-byte header`;
  if (payload < expected) fail(`truncated: ${desc}, file has ${payload}`);
  if (payload > expected) fail(`${payload - expected} unexpected bytes at the end: ${desc}, file has ${payload}`);
  const data = decode(view, headerBytes, count, t.type);
  return { type: t.type, dims, data };
}

function decode(view: DataView, at: number, n: number, type: IdxType): IdxData {
  switch (type) {
    case 'uint8': return new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + n));
    case 'int8': return new Int8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + n));
    case 'int16': { const a = new Int16Array(n); for (let i = 0; i < n; i++) a[i] = view.getInt16(at + 2 * i, false); return a; }
    case 'int32': { const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = view.getInt32(at + 4 * i, false); return a; }
    case 'float32': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat32(at + 4 * i, false); return a; }
    case 'float64': { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat64(at + 8 * i, false); return a; }
  }
}

function hex(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

// ---- MNIST-format image sets -------------------------------------------------------------------

export interface ImageSplit {
  /** float32 [N, 1, rows, cols], pixel / 255, in [0, 1] */
  images: Tensor;
  /** int32 [N], 0-based class indices */
  labels: Tensor;
}

export interface ImageSplits {
  train: ImageSplit;
  test: ImageSplit;
}

/**
 * An images file (uint8 [N, rows, cols]) and its labels file (uint8 [N]) as tensors, checking that
 * they agree and that labels are below `numClasses`.
 */
export function readIdxImageSet(imagesPath: string, labelsPath: string, numClasses = 10): ImageSplit {
  const img = readIdx(imagesPath);
  const lab = readIdx(labelsPath);
  if (img.type !== 'uint8' || img.dims.length !== 3) {
    throw new Error(`readIdxImageSet ${imagesPath}: expected uint8 images of N x rows x cols, got ${img.type} ${img.dims.join(' x ')}`);
  }
  if (lab.type !== 'uint8' || lab.dims.length !== 1) {
    throw new Error(`readIdxImageSet ${labelsPath}: expected uint8 labels of N, got ${lab.type} ${lab.dims.join(' x ')}`);
  }
  const [n, rows, cols] = img.dims;
  if (lab.dims[0] !== n) throw new Error(`readIdxImageSet: ${imagesPath} has ${n} images but ${labelsPath} has ${lab.dims[0]} labels`);
  const pixels = new Float32Array(img.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = img.data[i] / 255;
  const labels = Int32Array.from(lab.data);
  const bad = labels.findIndex((l) => l >= numClasses);
  if (bad >= 0) throw new Error(`readIdxImageSet ${labelsPath}: label ${bad} is ${labels[bad]}, expected 0..${numClasses - 1}`);
  return { images: new Tensor(pixels, [n, 1, rows, cols]), labels: new Tensor(labels, [n]) };
}

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASSES = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

/**
 * Fashion-MNIST (60,000 training and 10,000 test 28x28 grey images in 10 classes) from the directory
 * Debian's dataset-fashion-mnist package installs, or any directory holding the four files
 * (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...).
 */
export function loadFashionMnist(dir = FASHION_MNIST_DIR): ImageSplits {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(
      `loadFashionMnist: no directory ${dir}. Install Debian's dataset-fashion-mnist package ` +
      `(apt-get install dataset-fashion-mnist), which puts the files in ${FASHION_MNIST_DIR}, or pass the directory that holds them`,
    );
  }
  const file = (base: string): string => {
    for (const name of [`${base}.gz`, base]) if (existsSync(join(dir, name))) return join(dir, name);
    throw new Error(`loadFashionMnist: ${dir} has neither ${base}.gz nor ${base} (reinstall dataset-fashion-mnist, or pass the right directory)`);
  };
  return {
    train: readIdxImageSet(file('train-images-idx3-ubyte'), file('train-labels-idx1-ubyte')),
    test: readIdxImageSet(file('t10k-images-idx3-ubyte'), file('t10k-labels-idx1-ubyte')),
  };
}

/**
 * One Sample per image: features a [1, rows, cols] view into split.images (no copy), label the
 * class index as a number (SampleToMiniBatch turns those into an int32 target).
 */
export function imageSamples(split: ImageSplit): DataSet<Sample> {
  const n = split.images.shape[0];
  if (split.labels.numel !== n) throw new RangeError(`imageSamples: ${n} images but ${split.labels.numel} labels`);
  const labels = split.labels.contiguous();
  const samples: Sample[] = new Array(n);
  for (let i = 0; i < n; i++) samples[i] = new Sample(split.images.select(0, i), labels.data[labels.offset + i]);
  return DataSet.array(samples);
}
