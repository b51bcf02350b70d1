import { Tensor, type DType } from '../tensor/tensor.js';
import { StepTransformer, type EpochContext, type Stepper } from './transformer.js';

const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * One record: a feature tensor (or several, for multi-input models) and an optional label, which is
 * a class index or regression value (number) or a tensor (e.g. one label per time step).
 * Samples built by the readers may hold views into a shared storage: transforms must return new
 * tensors rather than write into a sample's features.
 */
export class Sample {
  readonly features: Tensor | Tensor[];
  readonly label: Tensor | number | undefined;

  constructor(features: Tensor | Tensor[], label?: Tensor | number) {
    if (Array.isArray(features)) {
      if (features.length === 0) throw new RangeError('Sample: features must be a tensor or a non-empty array of tensors');
      features.forEach((f, i) => {
        if (!(f instanceof Tensor)) throw new TypeError(`Sample: features[${i}] is not a Tensor`);
      });
    } else if (!(features instanceof Tensor)) {
      throw new TypeError('Sample: features must be a tensor or a non-empty array of tensors');
    }
    if (label !== undefined && !(label instanceof Tensor) && !(typeof label === 'number' && Number.isFinite(label))) {
      throw new TypeError(`Sample: label must be a finite number, a Tensor or undefined, got ${String(label)}`);
    }
    this.features = features;
    this.label = label;
  }

  /** The feature tensors as an array (one element for a single-tensor sample). */
  featureList(): Tensor[] {
    return Array.isArray(this.features) ? this.features : [this.features];
  }

  /** The single feature tensor; throws for a multi-tensor sample. */
  feature(): Tensor {
    if (Array.isArray(this.features)) throw new RangeError(`Sample.feature: this sample has ${this.features.length} feature tensors; use featureList()`);
    return this.features;
  }

  /** A sample with fn applied to its single feature tensor and the same label. */
  mapFeature(fn: (t: Tensor) => Tensor, op = 'Sample.mapFeature'): Sample {
    if (Array.isArray(this.features)) throw new RangeError(`${op}: expects samples with one feature tensor, got one with ${this.features.length}`);
    return new Sample(fn(this.features), this.label);
  }
}

/**
 * A batch: `input` is [size, ...] (or one such tensor per feature slot), `target` is [size, ...]
 * or undefined when the samples had no labels.
 */
export class MiniBatch {
  constructor(readonly input: Tensor | Tensor[], readonly target: Tensor | undefined, readonly size: number) {
    const parts = [...(Array.isArray(input) ? input : [input]), ...(target ? [target] : [])];
    for (const t of parts) {
      if (t.ndim === 0 || t.shape[0] !== size) throw new RangeError(`MiniBatch: every tensor must have ${size} rows in dim 0, got ${shapeStr(t.shape)}`);
    }
  }

  /** Rows offset .. offset+length-1 as views (no copy). */
  slice(offset: number, length: number): MiniBatch {
    const cut = (t: Tensor) => t.narrow(0, offset, length);
    return new MiniBatch(Array.isArray(this.input) ? this.input.map(cut) : cut(this.input), this.target && cut(this.target), length);
  }
}

export interface PaddingOptions {
  /** value written past the end of shorter feature sequences */
  featureValue: number;
  /** value written past the end of shorter label sequences; without it label tensors must all have the same shape */
  labelValue?: number;
  /** pad features to this length instead of the batch's longest (longer sequences are an error) */
  fixedLength?: number;
  /** the same for label sequences */
  labelFixedLength?: number;
}

export interface SampleToMiniBatchOptions {
  /** pad [time, ...] features (and labels) of different lengths along dim 0 */
  padding?: PaddingOptions;
  /** drop the last batch when it has fewer than batchSize samples (default false) */
  dropLast?: boolean;
  /**
   * dtype of the target built from number labels: 'auto' (default) gives int32 when every label in
   * the batch is an integer (0-based class indices) and float32 otherwise. Regression targets that
   * happen to be whole numbers (ratings 1..5) should say 'float32' so every batch has one dtype.
   */
  labelType?: 'auto' | DType;
  /**
   * Opt-in buffer reuse: fill the same input/target tensors for every batch of the same shape
   * instead of allocating new ones. Then a batch is only valid until the next one is pulled: the
   * consumer must finish with it (or clone what it keeps) first. Default false: fresh tensors per batch.
   */
  reuseBuffers?: boolean;
}

/**
 * BigDL's SampleToMiniBatch: groups `batchSize` samples into a MiniBatch by stacking their features
 * and labels along a new dim 0. With `padding`, features of shape [time, ...] whose lengths differ
 * are padded at the end of dim 0 to the batch's longest (or `fixedLength`) with `featureValue`, and
 * label tensors likewise when `labelValue` is given.
 */
export class SampleToMiniBatch extends StepTransformer<Sample, MiniBatch> {
  readonly name = 'SampleToMiniBatch';
  readonly batchSize: number;
  readonly options: Readonly<SampleToMiniBatchOptions>;

  constructor(batchSize: number, options: SampleToMiniBatchOptions = {}) {
    super();
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`SampleToMiniBatch: batchSize must be a positive integer, got ${batchSize}`);
    const p = options.padding;
    if (p) {
      if (!Number.isFinite(p.featureValue)) throw new RangeError(`SampleToMiniBatch: padding.featureValue must be a finite number, got ${p.featureValue}`);
      if (p.labelValue !== undefined && !Number.isFinite(p.labelValue)) throw new RangeError(`SampleToMiniBatch: padding.labelValue must be a finite number, got ${p.labelValue}`);
      for (const k of ['fixedLength', 'labelFixedLength'] as const) {
        const v = p[k];
        if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`SampleToMiniBatch: padding.${k} must be a positive integer, got ${v}`);
      }
    }
    this.batchSize = batchSize;
    this.options = { ...options };
  }

  stepper(_ctx: EpochContext): Stepper<Sample, MiniBatch> {
    const pending: Sample[] = [];
    const buffers = this.options.reuseBuffers ? new Map<string, Tensor>() : undefined;
    return {
      push: (s, out) => {
        if (!(s instanceof Sample)) throw new TypeError(`SampleToMiniBatch: expects Sample items, got ${describe(s)}`);
        pending.push(s);
        if (pending.length === this.batchSize) {
          out.push(this.batch(pending, buffers));
          pending.length = 0;
        }
      },
      flush: (out) => {
        if (pending.length > 0 && !this.options.dropLast) out.push(this.batch(pending, buffers));
        pending.length = 0;
      },
    };
  }

  /** Stacks the given samples into one MiniBatch (what each step does; usable directly). */
  batch(samples: readonly Sample[], buffers?: Map<string, Tensor>): MiniBatch {
    if (samples.length === 0) throw new RangeError('SampleToMiniBatch: cannot batch zero samples');
    const pad = this.options.padding;
    const multi = Array.isArray(samples[0].features);
    const nFeat = samples[0].featureList().length;
    samples.forEach((s, i) => {
      if (Array.isArray(s.features) !== multi || s.featureList().length !== nFeat) {
        throw new RangeError(`SampleToMiniBatch: sample ${i} of the batch has ${featuresStr(s)}, sample 0 has ${featuresStr(samples[0])}`);
      }
    });
    const inputs: Tensor[] = [];
    for (let f = 0; f < nFeat; f++) {
      const what = multi ? `feature ${f}` : 'feature';
      const p = pad && { value: pad.featureValue, fixedLength: pad.fixedLength, option: 'padding.fixedLength' };
      inputs.push(stack(samples.map((s) => s.featureList()[f]), what, p, buffers, `f${f}`));
    }
    const target = this.labels(samples, buffers);
    return new MiniBatch(multi ? inputs : inputs[0], target, samples.length);
  }

  private labels(samples: readonly Sample[], buffers?: Map<string, Tensor>): Tensor | undefined {
    const first = samples[0].label;
    const kind = (l: Sample['label']) => (l === undefined ? 'no label' : typeof l === 'number' ? 'a number label' : 'a tensor label');
    samples.forEach((s, i) => {
      if (kind(s.label) !== kind(first)) throw new RangeError(`SampleToMiniBatch: sample ${i} of the batch has ${kind(s.label)}, sample 0 has ${kind(first)}`);
    });
    if (first === undefined) return undefined;
    if (typeof first === 'number') {
      const values = samples.map((s) => s.label as number);
      let dtype = this.options.labelType ?? 'auto';
      if (dtype === 'auto') dtype = values.every((v) => Number.isInteger(v) && Math.abs(v) <= 2147483647) ? 'int32' : 'float32';
      if (dtype === 'int32') {
        const bad = values.findIndex((v) => !Number.isInteger(v) || Math.abs(v) > 2147483647);
        if (bad >= 0) throw new RangeError(`SampleToMiniBatch: labelType 'int32' but sample ${bad} of the batch has label ${values[bad]}`);
      }
      const out = reuse(buffers, 'label', [values.length], dtype);
      out.data.set(values);
      return out;
    }
    const pad = this.options.padding;
    const p = pad && pad.labelValue !== undefined
      ? { value: pad.labelValue, fixedLength: pad.labelFixedLength, option: 'padding.labelFixedLength' }
      : undefined;
    return stack(samples.map((s) => s.label as Tensor), 'label', p, buffers, 'label');
  }
}

interface Pad {
  value: number;
  fixedLength?: number;
  option: string;
}

/** Stacks tensors along a new dim 0, padding dim 0 of each to a common length when `pad` is given. */
function stack(ts: Tensor[], what: string, pad: Pad | undefined, buffers: Map<string, Tensor> | undefined, key: string): Tensor {
  const ref = ts[0];
  ts.forEach((t, i) => {
    if (t.dtype !== ref.dtype) throw new TypeError(`SampleToMiniBatch: ${what} of sample ${i} of the batch is ${t.dtype}, sample 0's is ${ref.dtype}`);
  });
  let rowShape: number[];
  if (!pad || ref.ndim === 0) {
    ts.forEach((t, i) => {
      if (!t.equalShape(ref)) {
        const hint = pad ? '' : '; pass { padding } to pad sequences to the longest in the batch';
        throw new RangeError(`SampleToMiniBatch: ${what} of sample ${i} of the batch has shape ${shapeStr(t.shape)}, sample 0's has ${shapeStr(ref.shape)}${hint}`);
      }
    });
    rowShape = ref.shape.slice();
  } else {
    const rest = ref.shape.slice(1);
    let longest = 0;
    ts.forEach((t, i) => {
      if (t.ndim !== ref.ndim || !t.shape.slice(1).every((s, d) => s === rest[d])) {
        throw new RangeError(`SampleToMiniBatch: ${what} of sample ${i} of the batch has shape ${shapeStr(t.shape)}, sample 0's has ${shapeStr(ref.shape)}; padding only extends dim 0, the other dims must match`);
      }
      longest = Math.max(longest, t.shape[0]);
    });
    const length = pad.fixedLength ?? longest;
    if (longest > length) {
      const i = ts.findIndex((t) => t.shape[0] > length);
      throw new RangeError(`SampleToMiniBatch: ${what} of sample ${i} of the batch has length ${ts[i].shape[0]}, longer than ${pad.option} ${length}`);
    }
    rowShape = [length, ...rest];
  }
  const out = reuse(buffers, key, [ts.length, ...rowShape], ref.dtype);
  if (pad && ref.ndim > 0) out.data.fill(pad.value);
  const rowSize = out.numel / ts.length;
  ts.forEach((t, i) => {
    if (t.isContiguous()) {
      out.data.set(t.data.subarray(t.offset, t.offset + t.numel), i * rowSize);
    } else {
      const row = out.select(0, i);
      (t.ndim > 0 ? row.narrow(0, 0, t.shape[0]) : row).copy_(t);
    }
  });
  return out;
}

function reuse(buffers: Map<string, Tensor> | undefined, key: string, shape: number[], dtype: DType): Tensor {
  const old = buffers?.get(key);
  if (old && old.dtype === dtype && old.equalShape(shape)) return old;
  const t = Tensor.empty(shape, { dtype });
  buffers?.set(key, t);
  return t;
}

function featuresStr(s: Sample): string {
  return Array.isArray(s.features) ? `${s.features.length} feature tensors (an array)` : 'one feature tensor';
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'an object';
  return typeof x;
}
