/**
 * Element transformers for images and features. They accept a Tensor or a Sample (whose single
 * feature tensor they transform, keeping the label), never write into their input, and are
 * chainable: `new RandomCrop(28, 28, 2).andThen(new HFlip()).andThen(Normalize...)`, or one
 * `DataSet.transform` after another. Image transforms take [C, H, W] tensors.
 */
import { Tensor } from '../tensor/tensor.js';
import { Sample } from './sample.js';
import { epochGenerator } from './seed.js';
import { StepTransformer, type EpochContext, type Stepper } from './transformer.js';

export { StepTransformer, chain, map, mapAsync, type EpochContext, type Stepper, type Transformer } from './transformer.js';

export type TensorOrSample = Tensor | Sample;

const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Applies fn to a Tensor item, or to the feature of a Sample item. */
function onFeature<T extends TensorOrSample>(op: string, item: T, fn: (t: Tensor) => Tensor): T {
  if (item instanceof Tensor) return fn(item) as T;
  if (item instanceof Sample) return item.mapFeature(fn, op) as T;
  throw new TypeError(`${op}: expects Tensor or Sample items, got ${item === null ? 'null' : typeof item === 'object' ? (item as object).constructor?.name : typeof item}`);
}

function requireImage(op: string, t: Tensor): void {
  if (t.ndim !== 3) throw new RangeError(`${op}: expects [C, H, W] images, got a tensor of shape ${shapeStr(t.shape)}`);
}

function checkSize(op: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${what} must be a positive integer, got ${v}`);
}

// ---- Normalize / Standardize ------------------------------------------------------------------

/**
 * (x - mean) / std, elementwise. With numbers the same mean and std apply to every element
 * (global); with arrays, entry c applies to channel c, i.e. index c of dim 0 ([C, H, W] images,
 * [C] vectors). Integer tensors become float32.
 */
export class Normalize<T extends TensorOrSample = Sample> extends StepTransformer<T, T> {
  readonly name = 'Normalize';
  readonly mean: readonly number[];
  readonly std: readonly number[];
  private readonly perChannel: boolean;
  private readonly cache = new Map<number, { mean: Tensor; std: Tensor }>();

  constructor(mean: number | readonly number[], std: number | readonly number[]) {
    super();
    const m = typeof mean === 'number' ? [mean] : [...mean];
    const s = typeof std === 'number' ? [std] : [...std];
    this.perChannel = typeof mean !== 'number' || typeof std !== 'number';
    if (m.length === 0 || s.length === 0) throw new RangeError('Normalize: mean and std must not be empty');
    if (this.perChannel && m.length !== s.length && m.length !== 1 && s.length !== 1) {
      throw new RangeError(`Normalize: ${m.length} means but ${s.length} standard deviations`);
    }
    if (m.some((v) => !Number.isFinite(v))) throw new RangeError(`Normalize: mean must be finite, got [${m.join(', ')}]`);
    if (s.some((v) => !(v > 0 && Number.isFinite(v)))) throw new RangeError(`Normalize: std must be positive and finite, got [${s.join(', ')}]`);
    const n = Math.max(m.length, s.length);
    this.mean = m.length === n ? m : new Array<number>(n).fill(m[0]);
    this.std = s.length === n ? s : new Array<number>(n).fill(s[0]);
  }

  /** Normalizes one tensor. */
  normalize(t: Tensor): Tensor {
    const x = t.dtype === 'float32' ? t : t.to('float32');
    if (!this.perChannel) return x.sub(this.mean[0]).div(this.std[0]);
    const c = this.mean.length;
    if (x.ndim === 0 || x.shape[0] !== c) {
      throw new RangeError(`Normalize: ${c} per-channel means but the tensor has shape ${shapeStr(x.shape)} (channels are dim 0)`);
    }
    let p = this.cache.get(x.ndim);
    if (!p) {
      const shape = [c, ...new Array<number>(x.ndim - 1).fill(1)];
      p = { mean: Tensor.from(this.mean, shape), std: Tensor.from(this.std, shape) };
      this.cache.set(x.ndim, p);
    }
    return x.sub(p.mean).div(p.std);
  }

  stepper(): Stepper<T, T> {
    return { push: (item, out) => void out.push(onFeature('Normalize', item, (t) => this.normalize(t))) };
  }
}

export interface MeanStdOptions {
  /** one mean/std per index of dim 0 (channels) instead of one over all elements (default false) */
  perChannel?: boolean;
  /** look at only the first `limit` items */
  limit?: number;
}

export interface MeanStd {
  mean: number[];
  /** population standard deviation (divides by the element count) */
  std: number[];
  /** items seen */
  count: number;
}

type ItemSource<T> = Iterable<T> | AsyncIterable<T> | { epoch(n: number): AsyncIterable<T> };

/**
 * Mean and standard deviation of the features of a data set (its epoch 0), a Tensor or Sample
 * collection. A plain float64 pass over each item's values (the items are small and many, so one
 * kernel call per item would cost more than the arithmetic), around a shift (the first item's mean)
 * so the variance does not cancel away.
 */
export async function computeMeanStd(source: ItemSource<TensorOrSample>, options: MeanStdOptions = {}): Promise<MeanStd> {
  const perChannel = options.perChannel ?? false;
  const limit = options.limit ?? Infinity;
  const it: Iterable<TensorOrSample> | AsyncIterable<TensorOrSample> = 'epoch' in source && typeof source.epoch === 'function' ? source.epoch(0) : source as Iterable<TensorOrSample>;
  let sums: Float64Array | undefined, squares: Float64Array | undefined, counts: Float64Array | undefined, shift: Float64Array | undefined;
  let count = 0;
  for await (const item of it) {
    if (count >= limit) break;
    let t: Tensor;
    if (item instanceof Tensor) t = item;
    else if (item instanceof Sample) t = item.feature();
    else throw new TypeError(`computeMeanStd: expects Tensor or Sample items, got ${typeof item}`);
    if (perChannel && t.ndim === 0) throw new RangeError('computeMeanStd: perChannel needs tensors with a channel dim 0, got a scalar');
    const c = perChannel ? t.shape[0] : 1;
    const x = t.contiguous();
    const per = c === 0 ? 0 : x.numel / c;
    if (!sums) {
      sums = new Float64Array(c);
      squares = new Float64Array(c);
      counts = new Float64Array(c);
      shift = new Float64Array(c);
      for (let k = 0; k < c && per > 0; k++) {
        let s = 0;
        for (let i = x.offset + k * per, e = i + per; i < e; i++) s += x.data[i];
        shift[k] = s / per;
      }
    } else if (sums.length !== c) {
      throw new RangeError(`computeMeanStd: item ${count} has ${c} channels, item 0 had ${sums.length}`);
    }
    for (let k = 0; k < c; k++) {
      const m = shift![k];
      let s = 0, q = 0;
      for (let i = x.offset + k * per, e = i + per; i < e; i++) {
        const d = x.data[i] - m;
        s += d;
        q += d * d;
      }
      sums[k] += s;
      squares![k] += q;
      counts![k] += per;
    }
    count++;
  }
  if (!sums || sums.length === 0 || counts!.some((n) => n === 0)) throw new RangeError('computeMeanStd: the data set has no elements');
  const mean: number[] = [], std: number[] = [];
  for (let k = 0; k < sums.length; k++) {
    const m = sums[k] / counts![k];
    mean.push(shift![k] + m);
    std.push(Math.sqrt(Math.max(0, squares![k] / counts![k] - m * m)));
  }
  return { mean, std, count };
}

/**
 * A Normalize whose mean and std are computed from `source` (see computeMeanStd). A channel with
 * zero spread gets std 1 so it is only centred.
 */
export async function Standardize<T extends TensorOrSample = Sample>(source: ItemSource<TensorOrSample>, options: MeanStdOptions = {}): Promise<Normalize<T>> {
  const { mean, std } = await computeMeanStd(source, options);
  const s = std.map((v) => (v > 0 ? v : 1));
  return options.perChannel ? new Normalize<T>(mean, s) : new Normalize<T>(mean[0], s[0]);
}

// ---- image transforms ------------------------------------------------------------------------

/**
 * A random height x width window of a [C, H, W] image, after zero-padding `padding` pixels on every
 * side (the usual CIFAR augmentation is RandomCrop(32, 32, 4)). Positions come from a generator seeded
 * by (seed, epoch): the same for the same seed and epoch, different across epochs.
 */
export class RandomCrop<T extends TensorOrSample = Sample> extends StepTransformer<T, T> {
  readonly name = 'RandomCrop';

  constructor(readonly height: number, readonly width: number, readonly padding = 0, readonly seed = 42) {
    super();
    checkSize('RandomCrop', 'height', height);
    checkSize('RandomCrop', 'width', width);
    if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`RandomCrop: padding must be a non-negative integer, got ${padding}`);
    if (!Number.isFinite(seed)) throw new RangeError(`RandomCrop: seed must be a finite number, got ${seed}`);
  }

  stepper(ctx: EpochContext): Stepper<T, T> {
    const rng = epochGenerator(this.seed, ctx.epoch, 'RandomCrop');
    return {
      push: (item, out) => void out.push(onFeature('RandomCrop', item, (t) => {
        requireImage('RandomCrop', t);
        const p = this.padding;
        const [, H, W] = t.shape;
        if (H + 2 * p < this.height || W + 2 * p < this.width) {
          throw new RangeError(`RandomCrop: a ${this.height}x${this.width} crop does not fit an image of shape ${shapeStr(t.shape)} padded by ${p}`);
        }
        const top = rng.randInt(H + 2 * p - this.height + 1);
        const left = rng.randInt(W + 2 * p - this.width + 1);
        return crop(t, top - p, left - p, this.height, this.width);
      })),
    };
  }
}

/** The central height x width window of a [C, H, W] image (offsets rounded down). */
export class CenterCrop<T extends TensorOrSample = Sample> extends StepTransformer<T, T> {
  readonly name = 'CenterCrop';

  constructor(readonly height: number, readonly width: number) {
    super();
    checkSize('CenterCrop', 'height', height);
    checkSize('CenterCrop', 'width', width);
  }

  stepper(): Stepper<T, T> {
    return {
      push: (item, out) => void out.push(onFeature('CenterCrop', item, (t) => {
        requireImage('CenterCrop', t);
        const [, H, W] = t.shape;
        if (H < this.height || W < this.width) {
          throw new RangeError(`CenterCrop: a ${this.height}x${this.width} crop does not fit an image of shape ${shapeStr(t.shape)}`);
        }
        return crop(t, Math.floor((H - this.height) / 2), Math.floor((W - this.width) / 2), this.height, this.width);
      })),
    };
  }
}

/**
 * Mirrors a [C, H, W] image left-right with the given probability, drawing from a generator seeded
 * by (seed, epoch). Images that are not flipped pass through unchanged (the same tensor).
 */
export class HFlip<T extends TensorOrSample = Sample> extends StepTransformer<T, T> {
  readonly name = 'HFlip';

  constructor(readonly probability = 0.5, readonly seed = 42) {
    super();
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`HFlip: probability must be in [0, 1], got ${probability}`);
    if (!Number.isFinite(seed)) throw new RangeError(`HFlip: seed must be a finite number, got ${seed}`);
  }

  stepper(ctx: EpochContext): Stepper<T, T> {
    const rng = epochGenerator(this.seed, ctx.epoch, 'HFlip');
    return {
      push: (item, out) => {
        const flip = rng.random() < this.probability;
        out.push(onFeature('HFlip', item, (t) => {
          requireImage('HFlip', t);
          return flip ? hflip(t) : t;
        }));
      },
    };
  }
}

/** A left-right mirrored copy of a [C, H, W] image. */
export function hflip(t: Tensor): Tensor {
  requireImage('hflip', t);
  const [c, h, w] = t.shape;
  if (w === 0) return t.clone();
  // a view with a negative width stride, made contiguous
  const mirrored = new Tensor(t.data, [c, h, w], [t.strides[0], t.strides[1], -t.strides[2]], t.offset + (w - 1) * t.strides[2]);
  return mirrored.clone();
}

/**
 * The height x width window of t ([C, H, W]) whose top-left corner is at (top, left), which may lie
 * outside the image: what falls outside is 0.
 */
export function crop(t: Tensor, top: number, left: number, height: number, width: number): Tensor {
  requireImage('crop', t);
  const [c, H, W] = t.shape;
  const r0 = Math.max(top, 0), r1 = Math.min(top + height, H);
  const c0 = Math.max(left, 0), c1 = Math.min(left + width, W);
  if (r0 === top && c0 === left && r1 === top + height && c1 === left + width) {
    return t.narrow(1, top, height).narrow(2, left, width).clone();
  }
  const out = Tensor.zeros([c, height, width], { dtype: t.dtype });
  if (r1 > r0 && c1 > c0) {
    out.narrow(1, r0 - top, r1 - r0).narrow(2, c0 - left, c1 - c0).copy_(t.narrow(1, r0, r1 - r0).narrow(2, c0, c1 - c0));
  }
  return out;
}
