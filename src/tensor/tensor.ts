import { backend } from '../backend/registry.js';
import { RNG, type RandomGenerator } from './random.js';
import {
  broadcastStrides, checkShape, contiguousStrides, inferShape, normDim, numelOf, sameShape, shapeStr, viewStrides,
  type Shape,
} from './shape.js';
import * as ew from './elementwise.js';
import * as red from './reduce.js';
import * as la from './linalg.js';
import * as sm from './softmax.js';
import * as ix from './indexing.js';

export type DType = 'float32' | 'int32';
export type Storage = Float32Array | Int32Array;

export interface AllocOptions {
  dtype?: DType;
  /** back the tensor by a SharedArrayBuffer so worker threads can use it without copying */
  shared?: boolean;
}

export type NestedArray = number | readonly NestedArray[];

function allocStorage(dtype: DType, n: number, shared: boolean): Storage {
  if (shared) {
    const buf = new SharedArrayBuffer(n * 4);
    return dtype === 'float32' ? new Float32Array(buf) : new Int32Array(buf);
  }
  return dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
}

/**
 * An n-dimensional view over a Float32Array (float32) or Int32Array (int32).
 *
 * Views (narrow, select, transpose, permute, view, expand, ...) share storage and cost no copy.
 * Ops come in three forms, as in PyTorch: `a.add(b)` returns a new tensor, `a.add_(b)` writes
 * into `a`, and the functions in ./ops take an optional `out` tensor so layers can reuse their
 * buffers and allocate nothing in steady state.
 */
export class Tensor {
  readonly data: Storage;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;

  constructor(data: Storage, shape: Shape, strides?: Shape, offset = 0) {
    checkShape('Tensor', shape);
    this.data = data;
    this.dtype = data instanceof Int32Array ? 'int32' : 'float32';
    this.shape = Object.freeze(shape.slice());
    this.strides = Object.freeze(strides ? strides.slice() : contiguousStrides(shape));
    this.offset = offset;
    if (this.strides.length !== this.shape.length) {
      throw new RangeError(`Tensor: ${this.strides.length} strides given for shape ${shapeStr(shape)}`);
    }
    if (!(data instanceof Float32Array) && !(data instanceof Int32Array)) {
      throw new TypeError('Tensor: storage must be a Float32Array (float32) or an Int32Array (int32)');
    }
    let lo = offset, hi = offset;
    if (numelOf(shape) > 0) {
      for (let d = 0; d < shape.length; d++) {
        const span = (shape[d] - 1) * this.strides[d];
        if (span < 0) lo += span;
        else hi += span;
      }
      if (lo < 0 || hi >= data.length) {
        throw new RangeError(`Tensor: a view of shape ${shapeStr(shape)}, strides ${shapeStr(this.strides)} at offset ${offset} does not fit a storage of ${data.length} elements`);
      }
    }
  }

  // ---- creation --------------------------------------------------------------------------

  static empty(shape: Shape, opts: AllocOptions = {}): Tensor {
    checkShape('Tensor.empty', shape);
    return new Tensor(allocStorage(opts.dtype ?? 'float32', numelOf(shape), opts.shared ?? false), shape);
  }

  static zeros(shape: Shape, opts: AllocOptions = {}): Tensor {
    return Tensor.empty(shape, opts);
  }

  static ones(shape: Shape, opts: AllocOptions = {}): Tensor {
    return Tensor.full(shape, 1, opts);
  }

  static full(shape: Shape, value: number, opts: AllocOptions = {}): Tensor {
    const t = Tensor.empty(shape, opts);
    t.data.fill(value);
    return t;
  }

  /**
   * From nested arrays (`Tensor.from([[1, 2], [3, 4]])`) or a flat array/typed array plus a shape.
   * A Float32Array/Int32Array is used without copying.
   */
  static from(values: NestedArray | ArrayLike<number>, shape?: Shape, opts: AllocOptions = {}): Tensor {
    if (values instanceof Float32Array || values instanceof Int32Array) {
      const s = shape ?? [values.length];
      if (numelOf(s) !== values.length) throw new RangeError(`Tensor.from: ${values.length} values do not fill shape ${shapeStr(s)}`);
      if (opts.dtype && opts.dtype !== (values instanceof Int32Array ? 'int32' : 'float32')) {
        return Tensor.from(Array.from(values), s, opts);
      }
      return new Tensor(values, s);
    }
    const flat: number[] = [];
    const inferred: number[] = [];
    const walk = (v: NestedArray | ArrayLike<number>, depth: number): void => {
      if (typeof v === 'number') {
        if (depth !== inferred.length && inferred.length > 0) throw new RangeError('Tensor.from: ragged nested array');
        flat.push(v);
        return;
      }
      const arr = v as ArrayLike<NestedArray>;
      if (inferred.length === depth) inferred.push(arr.length);
      else if (inferred[depth] !== arr.length) throw new RangeError(`Tensor.from: ragged nested array at depth ${depth} (${arr.length} vs ${inferred[depth]})`);
      for (let i = 0; i < arr.length; i++) walk(arr[i], depth + 1);
    };
    walk(values, 0);
    const s = shape ?? inferred;
    if (numelOf(s) !== flat.length) throw new RangeError(`Tensor.from: ${flat.length} values do not fill shape ${shapeStr(s)}`);
    const t = Tensor.empty(s, opts);
    for (let i = 0; i < flat.length; i++) t.data[i] = flat[i];
    return t;
  }

  static scalar(value: number, opts: AllocOptions = {}): Tensor {
    return Tensor.full([], value, opts);
  }

  /** start, start+step, ... below end */
  static arange(start: number, end?: number, step = 1, opts: AllocOptions = {}): Tensor {
    if (end === undefined) [start, end] = [0, start];
    if (step === 0) throw new RangeError('Tensor.arange: step must not be 0');
    const n = Math.max(0, Math.ceil((end - start) / step));
    const t = Tensor.empty([n], opts);
    for (let i = 0; i < n; i++) t.data[i] = start + i * step;
    return t;
  }

  /** Uniform in [low, high) from the given generator (the global RNG by default). */
  static rand(shape: Shape, low = 0, high = 1, rng: RandomGenerator = RNG, opts: AllocOptions = {}): Tensor {
    return Tensor.empty(shape, opts).uniform_(low, high, rng);
  }

  static randn(shape: Shape, mean = 0, std = 1, rng: RandomGenerator = RNG, opts: AllocOptions = {}): Tensor {
    return Tensor.empty(shape, opts).normal_(mean, std, rng);
  }

  static bernoulli(shape: Shape, p: number, rng: RandomGenerator = RNG, opts: AllocOptions = {}): Tensor {
    return Tensor.empty(shape, opts).bernoulli_(p, rng);
  }

  static randperm(n: number, rng: RandomGenerator = RNG): Tensor {
    return new Tensor(rng.randperm(n), [n]);
  }

  // ---- geometry --------------------------------------------------------------------------

  get numel(): number {
    return numelOf(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  size(dim: number): number {
    return this.shape[normDim('size', dim, this.shape)];
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** True when this tensor and `other` may share memory. */
  sharesStorage(other: Tensor): boolean {
    return this.data.buffer === other.data.buffer;
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${shapeStr(this.shape)})`;
  }

  // ---- views (no copy) ---------------------------------------------------------------------

  narrow(dim: number, start: number, length: number): Tensor {
    const d = normDim('narrow', dim, this.shape);
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > this.shape[d]) {
      throw new RangeError(`narrow: start ${start} + length ${length} exceeds size ${this.shape[d]} of dim ${d} of ${shapeStr(this.shape)}`);
    }
    const shape = this.shape.slice();
    shape[d] = length;
    return new Tensor(this.data, shape, this.strides, this.offset + start * this.strides[d]);
  }

  /** Removes dim `dim`, keeping index `index` of it (negative counts from the end). */
  select(dim: number, index: number): Tensor {
    const d = normDim('select', dim, this.shape);
    const n = this.shape[d];
    if (!Number.isInteger(index) || index < -n || index >= n) {
      throw new RangeError(`select: index ${index} is out of range for dim ${d} of size ${n} in ${shapeStr(this.shape)}`);
    }
    const i = index < 0 ? index + n : index;
    const shape = this.shape.slice();
    const strides = this.strides.slice();
    shape.splice(d, 1);
    strides.splice(d, 1);
    return new Tensor(this.data, shape, strides, this.offset + i * this.strides[d]);
  }

  transpose(dim0: number, dim1: number): Tensor {
    const a = normDim('transpose', dim0, this.shape);
    const b = normDim('transpose', dim1, this.shape);
    const shape = this.shape.slice();
    const strides = this.strides.slice();
    [shape[a], shape[b]] = [shape[b], shape[a]];
    [strides[a], strides[b]] = [strides[b], strides[a]];
    return new Tensor(this.data, shape, strides, this.offset);
  }

  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    if (this.ndim !== 2) throw new RangeError(`t: expects a 2-d tensor, got ${shapeStr(this.shape)}`);
    return this.transpose(0, 1);
  }

  permute(...dims: number[] | [readonly number[]]): Tensor {
    const dimsList = sizesArg(dims);
    if (dimsList.length !== this.ndim) throw new RangeError(`permute: ${dimsList.length} dims given for a ${this.ndim}-d tensor ${shapeStr(this.shape)}`);
    const seen = new Set<number>();
    const ds = dimsList.map((d) => normDim('permute', d, this.shape));
    for (const d of ds) {
      if (seen.has(d)) throw new RangeError(`permute: dim ${d} repeated in [${dimsList.join(', ')}]`);
      seen.add(d);
    }
    return new Tensor(this.data, ds.map((d) => this.shape[d]), ds.map((d) => this.strides[d]), this.offset);
  }

  /** A view with a new shape; throws when the layout needs a copy (use reshape then). */
  view(...shape: number[] | [readonly number[]]): Tensor {
    const shapeList = sizesArg(shape);
    const target = inferShape('view', this.shape, shapeList);
    const strides = viewStrides(this.shape, this.strides, target);
    if (!strides) {
      throw new RangeError(`view: a tensor of shape ${shapeStr(this.shape)} with strides ${shapeStr(this.strides)} cannot be viewed as ${shapeStr(target)} without a copy; call reshape() or contiguous() first`);
    }
    return new Tensor(this.data, target, strides, this.offset);
  }

  /** Like view, but copies when the layout requires it. */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    const shapeList = sizesArg(shape);
    const target = inferShape('reshape', this.shape, shapeList);
    const strides = viewStrides(this.shape, this.strides, target);
    if (strides) return new Tensor(this.data, target, strides, this.offset);
    return this.contiguous().view(...target);
  }

  /** Flattens dims start..end (inclusive) into one. */
  flatten(start = 0, end = -1): Tensor {
    if (this.ndim === 0) return this.reshape(1);
    const s = normDim('flatten', start, this.shape);
    const e = normDim('flatten', end, this.shape);
    if (e < s) throw new RangeError(`flatten: end dim ${end} comes before start dim ${start}`);
    const shape = [...this.shape.slice(0, s), numelOf(this.shape.slice(s, e + 1)), ...this.shape.slice(e + 1)];
    return this.reshape(...shape);
  }

  /** Broadcast view: size-1 dims (and new leading dims) repeat with stride 0. -1 keeps a size. */
  expand(...shape: number[] | [readonly number[]]): Tensor {
    const shapeList = sizesArg(shape);
    const target = shapeList.map((s, i) => (s === -1 ? this.shape[i - (shapeList.length - this.ndim)] : s));
    checkShape('expand', target);
    return new Tensor(this.data, target, broadcastStrides('expand', this.shape, this.strides, target), this.offset);
  }

  unsqueeze(dim: number): Tensor {
    const d = normDim('unsqueeze', dim, this.shape, true);
    const shape = this.shape.slice();
    const strides = this.strides.slice();
    shape.splice(d, 0, 1);
    strides.splice(d, 0, d < this.ndim ? this.strides[d] * this.shape[d] : 1);
    return new Tensor(this.data, shape, strides, this.offset);
  }

  /** Removes size-1 dims (all of them, or only `dim`, which must be size 1). */
  squeeze(dim?: number): Tensor {
    if (dim !== undefined) {
      const d = normDim('squeeze', dim, this.shape);
      if (this.shape[d] !== 1) return this;
      return this.select(d, 0);
    }
    const keep = this.shape.map((s, i) => [s, this.strides[i]] as const).filter(([s]) => s !== 1);
    return new Tensor(this.data, keep.map(([s]) => s), keep.map(([, st]) => st), this.offset);
  }

  // ---- data ------------------------------------------------------------------------------

  /** This tensor if contiguous, else a contiguous copy. */
  contiguous(): Tensor {
    return this.isContiguous() ? this : this.clone();
  }

  clone(opts: AllocOptions = {}): Tensor {
    const out = Tensor.empty(this.shape, { dtype: this.dtype, ...opts });
    out.copy_(this);
    return out;
  }

  /** Copies src into this tensor, broadcasting src and converting between float32 and int32. */
  copy_(src: Tensor): this {
    const s = broadcastStrides('copy_', src.shape, src.strides, this.shape);
    backend().copy(this.shape, src.data, src.offset, s, this.data, this.offset, this.strides);
    return this;
  }

  /** A new tensor of the given dtype (float -> int truncates toward zero). */
  to(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    return Tensor.empty(this.shape, { dtype }).copy_(this);
  }

  fill_(value: number): this {
    if (this.dtype === 'int32' || !Number.isFinite(value)) {
      // int32 or a non-finite fill value: done here since the float kernels are float-only
      if (this.isContiguous()) this.data.fill(value, this.offset, this.offset + this.numel);
      else this.copy_(Tensor.full([], value, { dtype: this.dtype }));
      return this;
    }
    ew.fillInto(this, value);
    return this;
  }

  zero_(): this {
    return this.fill_(0);
  }

  /** Fills with U(low, high) from `rng`, in row-major order of this view. */
  uniform_(low = 0, high = 1, rng: RandomGenerator = RNG): this {
    if (this.isContiguous()) {
      rng.fillUniform(this.data, this.offset, this.offset + this.numel, low, high);
      return this;
    }
    return this.fillFrom(() => rng.uniform(low, high));
  }

  normal_(mean = 0, std = 1, rng: RandomGenerator = RNG): this {
    if (this.isContiguous()) {
      rng.fillNormal(this.data, this.offset, this.offset + this.numel, mean, std);
      return this;
    }
    return this.fillFrom(() => rng.normal(mean, std));
  }

  /** 1 with probability p, else 0. */
  bernoulli_(p: number, rng: RandomGenerator = RNG): this {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`bernoulli_: p must be in [0, 1], got ${p}`);
    return this.fillFrom(() => rng.bernoulli(p));
  }

  // Random fills run in TypeScript so every backend sees the same numbers for a seed.
  private fillFrom(gen: () => number): this {
    if (this.isContiguous()) {
      const end = this.offset + this.numel;
      for (let i = this.offset; i < end; i++) this.data[i] = gen();
      return this;
    }
    const tmp = Tensor.empty(this.shape, { dtype: this.dtype });
    for (let i = 0; i < tmp.data.length; i++) tmp.data[i] = gen();
    return this.copy_(tmp);
  }

  /** Flat offset of an element; indices may be negative. */
  private at(op: string, idx: readonly number[]): number {
    if (idx.length !== this.ndim) throw new RangeError(`${op}: ${idx.length} indices for a ${this.ndim}-d tensor ${shapeStr(this.shape)}`);
    let off = this.offset;
    for (let d = 0; d < idx.length; d++) {
      const n = this.shape[d];
      const i = idx[d] < 0 ? idx[d] + n : idx[d];
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`${op}: index ${idx[d]} is out of range for dim ${d} of ${shapeStr(this.shape)}`);
      off += i * this.strides[d];
    }
    return off;
  }

  get(...idx: number[]): number {
    return this.data[this.at('get', idx)];
  }

  set(value: number, ...idx: number[]): this {
    this.data[this.at('set', idx)] = value;
    return this;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new RangeError(`item: expects a tensor with one element, got ${shapeStr(this.shape)}`);
    return this.data[this.at('item', new Array(this.ndim).fill(0))];
  }

  /** Values in row-major order as a fresh typed array of this dtype. */
  toTypedArray(): Storage {
    return this.clone().data;
  }

  /** Values in row-major order as a plain array. */
  toArray(): number[] {
    return Array.from(this.toTypedArray());
  }

  /** Nested arrays mirroring the shape (for printing and tests). */
  toNested(): NestedArray {
    const flat = this.toArray();
    const build = (d: number, off: number): NestedArray => {
      if (d === this.ndim) return flat[off];
      const step = numelOf(this.shape.slice(d + 1));
      return Array.from({ length: this.shape[d] }, (_, i) => build(d + 1, off + i * step));
    };
    return build(0, 0);
  }

  equalShape(other: Tensor | Shape): boolean {
    return sameShape(this.shape, other instanceof Tensor ? other.shape : other);
  }

  // ---- elementwise ------------------------------------------------------------------------

  add(other: Tensor | number, alpha = 1): Tensor { return ew.add(this, other, alpha); }
  add_(other: Tensor | number, alpha = 1): this { ew.add(this, other, alpha, this); return this; }
  sub(other: Tensor | number, alpha = 1): Tensor { return ew.sub(this, other, alpha); }
  sub_(other: Tensor | number, alpha = 1): this { ew.sub(this, other, alpha, this); return this; }
  mul(other: Tensor | number): Tensor { return ew.mul(this, other); }
  mul_(other: Tensor | number): this { ew.mul(this, other, this); return this; }
  div(other: Tensor | number): Tensor { return ew.div(this, other); }
  div_(other: Tensor | number): this { ew.div(this, other, this); return this; }
  maximum(other: Tensor): Tensor { return ew.maximum(this, other); }
  minimum(other: Tensor): Tensor { return ew.minimum(this, other); }
  pow(exponent: Tensor | number): Tensor { return ew.pow(this, exponent); }
  neg(): Tensor { return ew.neg(this); }
  abs(): Tensor { return ew.abs(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  square(): Tensor { return ew.square(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  relu(): Tensor { return ew.relu(this); }
  clamp(min: number, max: number): Tensor { return ew.clamp(this, min, max); }

  // ---- reductions -------------------------------------------------------------------------

  sum(dim?: number, keepDim = false): Tensor { return red.sum(this, dim, keepDim); }
  mean(dim?: number, keepDim = false): Tensor { return red.mean(this, dim, keepDim); }
  max(dim?: number, keepDim = false): Tensor { return red.max(this, dim, keepDim).values; }
  min(dim?: number, keepDim = false): Tensor { return red.min(this, dim, keepDim).values; }
  argmax(dim?: number, keepDim = false): Tensor { return red.argmax(this, dim, keepDim); }
  argmin(dim?: number, keepDim = false): Tensor { return red.argmin(this, dim, keepDim); }

  // ---- linear algebra, softmax, indexing ----------------------------------------------------

  matmul(other: Tensor): Tensor { return la.matmul(this, other); }
  softmax(dim = -1): Tensor { return sm.softmax(this, dim); }
  logSoftmax(dim = -1): Tensor { return sm.logSoftmax(this, dim); }
  indexSelect(dim: number, index: Tensor): Tensor { return ix.indexSelect(this, dim, index); }
  gather(dim: number, index: Tensor): Tensor { return ix.gather(this, dim, index); }
  scatterAdd_(dim: number, index: Tensor, src: Tensor): this { ix.scatterAdd_(this, dim, index, src); return this; }
  indexAdd_(dim: number, index: Tensor, src: Tensor, alpha = 1): this { ix.indexAdd_(this, dim, index, src, alpha); return this; }
}

/** Sizes given as separate arguments (`view(2, 3)`) or as one array (`view([2, 3])`), as PyTorch allows. */
function sizesArg(args: number[] | [readonly number[]]): readonly number[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as readonly number[]) : (args as number[]);
}
