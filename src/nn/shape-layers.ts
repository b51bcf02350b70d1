import { Tensor, type DType } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { numelOf, sameShape, shapeStr, viewStrides, type Shape } from '../tensor/shape.js';
import { badInput, ensureShape, Module, type Activity } from './module.js';

/*
 * Shape layers after Torch7/BigDL (nn.Identity, nn.Reshape, nn.View, nn.Squeeze, nn.Unsqueeze,
 * nn.Transpose, nn.Select, nn.Narrow, nn.Padding, nn.Replicate), with 0-based dims and indices;
 * negative dims count from the end.
 *
 * Outputs are views of the input whenever the layout allows (no copy). A view is remembered
 * together with the tensor it was made from, so feeding the same input tensor again (as the
 * previous layer's reused output buffer is) returns the same output object. gradInput is always a
 * tensor shaped like the input: a view of gradOutput for the reshaping layers, a buffer of the
 * module otherwise.
 */

const empty = (): Tensor => Tensor.empty([0]);

/** ensureShape for any dtype: `buf` if it is a contiguous `dtype` tensor of `shape`, else a new zeroed one. */
function ensureLike(buf: Tensor, shape: Shape, dtype: DType): Tensor {
  if (buf.dtype === dtype && sameShape(buf.shape, shape) && buf.isContiguous()) return buf;
  return Tensor.zeros(shape, { dtype });
}

function requireTensor(m: Module<any, any>, input: Activity, expected: string): asserts input is Tensor {
  if (!(input instanceof Tensor)) badInput(m, expected, input);
}

/** gradOutput must be shaped like the output it is the gradient of. */
function checkGradOutput(m: Module<any, any>, gradOutput: Tensor, expected: Shape): void {
  if (!(gradOutput instanceof Tensor) || !sameShape(gradOutput.shape, expected)) {
    const got = gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : 'a table';
    throw new RangeError(`${m.getName()}: gradOutput ${got} does not match the output ${shapeStr(expected)}`);
  }
}

/** A dim in [-nd, nd) resolved to [0, nd), or null. */
function resolveDim(dim: number, nd: number): number | null {
  if (!Number.isInteger(dim) || dim < -nd || dim >= nd) return null;
  return dim < 0 ? dim + nd : dim;
}

function checkInt(layer: string, what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${layer}: ${what} must be an integer >= ${min}, got ${v}`);
}

/**
 * `src` seen with a new shape: a view when the strides allow, else a view of a contiguous copy
 * kept in a private buffer. The same source tensor and shape give back the same object.
 */
export class Reshaper {
  // optional: a saved model holds an empty Reshaper (it is a transient class for serialization)
  private src?: Tensor;
  private res?: Tensor;
  private copyBuf?: Tensor;

  of(src: Tensor, shape: Shape): Tensor {
    if (src === this.src && this.res && sameShape(this.res.shape, shape)) return this.res;
    const strides = viewStrides(src.shape, src.strides, shape);
    if (strides) {
      this.src = src;
      this.res = new Tensor(src.data, shape, strides, src.offset);
      return this.res;
    }
    this.copyBuf = ensureLike(this.copyBuf ?? empty(), src.shape, src.dtype);
    this.copyBuf.copy_(src);
    if (this.src !== this.copyBuf || !this.res || !sameShape(this.res.shape, shape)) {
      this.src = this.copyBuf;
      this.res = this.copyBuf.view(...shape);
    }
    return this.res;
  }
}

/** Remembers the last view made from a source tensor (the layer's parameters being fixed). */
export class ViewMemo {
  // optional: a saved model holds an empty ViewMemo (a transient class for serialization)
  private src?: Tensor;
  private res?: Tensor;

  of(src: Tensor, make: (t: Tensor) => Tensor): Tensor {
    if (src !== this.src || !this.res) {
      this.res = make(src);
      this.src = src;
    }
    return this.res;
  }
}

/** Base of the layers whose output is the input with another shape (same elements, same order). */
abstract class ReshapeLike extends Module {
  private readonly outView = new Reshaper();
  private readonly gradView = new Reshaper();

  /** The output shape for this input; throws (badInput) when the input does not fit. */
  protected abstract outputShape(input: Tensor): number[];

  updateOutput(input: Tensor): Tensor {
    requireTensor(this, input, 'a tensor');
    this.output = this.outView.of(input, this.outputShape(input));
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    if (!(gradOutput instanceof Tensor) || gradOutput.numel !== input.numel) {
      const got = gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : 'a table';
      throw new RangeError(`${this.getName()}: gradOutput ${got} does not have the ${input.numel} elements of the input ${shapeStr(input.shape)}`);
    }
    this.gradInput = this.gradView.of(gradOutput, input.shape);
    return this.gradInput;
  }
}

// ---- Identity ---------------------------------------------------------------------------------

/** Passes its input (tensor or table) through unchanged; gradInput is gradOutput. */
export class Identity extends Module<Activity, Activity> {
  updateOutput(input: Activity): Activity {
    this.output = input;
    return this.output;
  }

  updateGradInput(input: Activity, gradOutput: Activity): Activity {
    if (input instanceof Tensor) checkGradOutput(this, gradOutput as Tensor, input.shape);
    else if (!Array.isArray(gradOutput) || gradOutput.length !== input.length) {
      throw new RangeError(`${this.getName()}: gradOutput must be a table of ${input.length} like the input`);
    }
    this.gradInput = gradOutput;
    return this.gradInput;
  }
}

// ---- Reshape, View ----------------------------------------------------------------------------

/**
 * BigDL's `Reshape(size, batchMode)`: the input's elements seen as `size`. The first dim is kept
 * as a batch dim (output [batch, ...size]) when batchMode is true, or when batchMode is unset and
 * the input does not have exactly prod(size) elements (or has a first dim of 1).
 */
export class Reshape extends ReshapeLike {
  readonly size: readonly number[];
  private readonly nElement: number;

  constructor(size: readonly number[], readonly batchMode?: boolean) {
    super();
    if (!Array.isArray(size) || size.length === 0 || size.some((s) => !Number.isInteger(s) || s < 1)) {
      throw new RangeError(`Reshape: size must be a non-empty list of positive integers, got [${String(size)}]`);
    }
    this.size = Object.freeze(size.slice());
    this.nElement = numelOf(size);
  }

  protected outputShape(input: Tensor): number[] {
    const n = input.numel;
    const noBatch = this.batchMode === false || (this.batchMode === undefined && n === this.nElement && input.shape[0] !== 1);
    if (noBatch) {
      if (n !== this.nElement) badInput(this, `${this.nElement} elements (to view as ${shapeStr(this.size)})`, input);
      return this.size.slice();
    }
    if (input.ndim < 1 || n !== this.nElement * input.shape[0]) {
      badInput(this, `[batch, ...] with batch * ${this.nElement} elements (to view as [batch, ${this.size.join(', ')}])`, input);
    }
    return [input.shape[0], ...this.size];
  }

  protected override extraRepr(): string {
    return `(${this.size.join('x')}${this.batchMode === undefined ? '' : `, batchMode ${this.batchMode}`})`;
  }
}

/**
 * Torch's `nn.View(...sizes)`: one size may be -1 (inferred). Without numInputDims a leading batch
 * dim is added when the input holds a multiple of prod(sizes) elements; with
 * `setNumInputDims(n)` the dims before the last n are the batch (flattened into one).
 */
export class View extends ReshapeLike {
  readonly sizes: readonly number[];
  numInputDims: number | undefined;
  private readonly numElements: number;
  private readonly inferDim: boolean;

  constructor(...sizes: number[] | [readonly number[]]) {
    super();
    const flat = (sizes.length === 1 && Array.isArray(sizes[0]) ? sizes[0] : sizes) as number[];
    if (flat.length === 0 || flat.some((s) => !Number.isInteger(s) || (s < 1 && s !== -1))) {
      throw new RangeError(`View: sizes must be positive integers or -1, got [${flat.join(', ')}]`);
    }
    if (flat.filter((s) => s === -1).length > 1) throw new RangeError(`View: only one size may be -1, got [${flat.join(', ')}]`);
    this.sizes = Object.freeze(flat.slice());
    this.inferDim = flat.includes(-1);
    this.numElements = flat.reduce((p, s) => (s === -1 ? p : p * s), 1);
  }

  /** The number of non-batch input dims (Torch's setNumInputDims). */
  setNumInputDims(n: number | undefined): this {
    if (n !== undefined) checkInt('View', 'numInputDims', n, 1);
    this.numInputDims = n;
    return this;
  }

  protected outputShape(input: Tensor): number[] {
    const nd = input.ndim;
    const maxdim = this.numInputDims === undefined ? nd : Math.min(this.numInputDims, nd);
    const ine = numelOf(input.shape.slice(nd - maxdim));
    const mismatch = (): never => badInput(this, `a multiple of ${this.numElements} elements in its last ${maxdim} dims (to view as ${shapeStr(this.sizes)})`, input);
    if (ine % this.numElements !== 0) mismatch();
    let bsz = this.inferDim ? 1 : ine / this.numElements;
    bsz *= numelOf(input.shape.slice(0, nd - maxdim));
    const batched = !(bsz === 1 && (this.numInputDims === undefined || nd <= this.numInputDims));
    const shape = batched ? [bsz, ...this.sizes] : this.sizes.slice();
    if (this.inferDim) {
      const known = shape.reduce((p, s) => (s === -1 ? p : p * s), 1);
      if (known === 0 || input.numel % known !== 0) mismatch();
      shape[shape.indexOf(-1)] = input.numel / known;
    }
    if (numelOf(shape) !== input.numel) mismatch();
    return shape;
  }

  protected override extraRepr(): string {
    return `(${this.sizes.join('x')})`;
  }
}

// ---- Squeeze, Unsqueeze -----------------------------------------------------------------------

/**
 * Torch's `nn.Squeeze(dim, numInputDims)`: removes `dim` if it has size 1 (all size-1 dims when
 * dim is undefined). With numInputDims, an input of numInputDims+1 dims has a batch dim first: a
 * non-negative dim is shifted past it, and a batch of one is never squeezed away.
 */
export class Squeeze extends ReshapeLike {
  constructor(readonly dim?: number, readonly numInputDims?: number) {
    super();
    if (dim !== undefined && !Number.isInteger(dim)) throw new RangeError(`Squeeze: dim must be an integer, got ${dim}`);
    if (numInputDims !== undefined) checkInt('Squeeze', 'numInputDims', numInputDims, 1);
  }

  protected outputShape(input: Tensor): number[] {
    const batched = this.numInputDims !== undefined && input.ndim === this.numInputDims + 1;
    const shape = input.shape.slice();
    if (this.dim === undefined) {
      const rest = shape.filter((s, i) => s !== 1 || (batched && i === 0));
      return rest;
    }
    const d = resolveDim(this.dim >= 0 && batched ? this.dim + 1 : this.dim, input.ndim);
    if (d === null) badInput(this, `a tensor with a dim ${this.dim}${batched ? ' (after the batch dim)' : ''}`, input);
    if (shape[d] === 1) shape.splice(d, 1);
    return shape;
  }

  protected override extraRepr(): string {
    return this.dim === undefined ? '' : `(${this.dim})`;
  }
}

/**
 * Torch's `nn.Unsqueeze(dim, numInputDims)`: inserts a size-1 dim at `dim` (0..ndim; negative
 * counts from the end, -1 appending). With numInputDims, extra leading input dims are batch dims
 * and a non-negative dim counts after them.
 */
export class Unsqueeze extends ReshapeLike {
  constructor(readonly dim: number, readonly numInputDims?: number) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Unsqueeze: dim must be an integer, got ${dim}`);
    if (numInputDims !== undefined) checkInt('Unsqueeze', 'numInputDims', numInputDims, 0);
  }

  protected outputShape(input: Tensor): number[] {
    const nd = input.ndim;
    const offset = this.numInputDims === undefined ? 0 : nd - this.numInputDims;
    if (offset < 0) badInput(this, `at least numInputDims = ${this.numInputDims} dims`, input);
    const pos = this.dim >= 0 ? this.dim + offset : nd + 1 + this.dim;
    if (pos < offset || pos > nd) badInput(this, `a tensor that has a position ${this.dim} to insert a dim at`, input);
    const shape = input.shape.slice();
    shape.splice(pos, 0, 1);
    return shape;
  }

  protected override extraRepr(): string {
    return `(${this.dim})`;
  }
}

// ---- Transpose ----------------------------------------------------------------------------------

/**
 * BigDL's `Transpose(permutations)`: swaps the dims of each pair in turn. The output is a
 * (strided) view of the input; gradInput is a contiguous buffer.
 */
export class Transpose extends Module {
  readonly permutations: readonly (readonly [number, number])[];
  private readonly memo = new ViewMemo();

  constructor(permutations: readonly (readonly [number, number])[]) {
    super();
    if (!Array.isArray(permutations) || permutations.some((p) => !Array.isArray(p) || p.length !== 2 || !p.every(Number.isInteger))) {
      throw new RangeError('Transpose: permutations must be a list of [dim, dim] integer pairs');
    }
    this.permutations = Object.freeze(permutations.map((p) => Object.freeze([p[0], p[1]] as const)));
  }

  private check(input: Tensor): void {
    requireTensor(this, input, 'a tensor');
    for (const [a, b] of this.permutations) {
      if (resolveDim(a, input.ndim) === null || resolveDim(b, input.ndim) === null) {
        badInput(this, `a tensor with dims ${a} and ${b}`, input);
      }
    }
  }

  updateOutput(input: Tensor): Tensor {
    this.check(input);
    this.output = this.memo.of(input, (t) => {
      for (const [a, b] of this.permutations) t = t.transpose(a, b);
      return t;
    });
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.check(input);
    const outShape = input.shape.slice();
    for (const [a, b] of this.permutations) {
      const i = a < 0 ? a + input.ndim : a, j = b < 0 ? b + input.ndim : b;
      [outShape[i], outShape[j]] = [outShape[j], outShape[i]];
    }
    checkGradOutput(this, gradOutput, outShape);
    let g = gradOutput;
    for (let i = this.permutations.length - 1; i >= 0; i--) g = g.transpose(this.permutations[i][0], this.permutations[i][1]);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.gradInput.copy_(g);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.permutations.map(([a, b]) => `${a}<->${b}`).join(', ')})`;
  }
}

// ---- Select, Narrow -------------------------------------------------------------------------------

/** Torch's `nn.Select(dim, index)`: the slice at `index` of `dim` (negative index from the end). */
export class Select extends Module {
  private readonly memo = new ViewMemo();

  constructor(readonly dim: number, readonly index: number) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Select: dim must be an integer, got ${dim}`);
    if (!Number.isInteger(index)) throw new RangeError(`Select: index must be an integer, got ${index}`);
  }

  private resolve(input: Tensor): [number, number] {
    requireTensor(this, input, 'a tensor');
    const d = resolveDim(this.dim, input.ndim);
    if (d === null) badInput(this, `a tensor with a dim ${this.dim}`, input);
    const n = input.shape[d];
    if (this.index < -n || this.index >= n) badInput(this, `a tensor with an index ${this.index} in dim ${this.dim}`, input);
    return [d, this.index < 0 ? this.index + n : this.index];
  }

  updateOutput(input: Tensor): Tensor {
    const [d, i] = this.resolve(input);
    this.output = this.memo.of(input, (t) => t.select(d, i));
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const [d, i] = this.resolve(input);
    const outShape = input.shape.filter((_, k) => k !== d);
    checkGradOutput(this, gradOutput, outShape);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.gradInput.zero_();
    this.gradInput.select(d, i).copy_(gradOutput);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.dim}, ${this.index})`;
  }
}

/**
 * Torch's `nn.Narrow(dim, offset, length)`: `length` elements of `dim` from `offset`. A negative
 * length counts from the end (-1: up to the end, -2: up to the end minus one); a negative offset
 * too (-1: the last element).
 */
export class Narrow extends Module {
  private readonly memo = new ViewMemo();

  constructor(readonly dim: number, readonly offset: number, readonly length: number) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Narrow: dim must be an integer, got ${dim}`);
    if (!Number.isInteger(offset)) throw new RangeError(`Narrow: offset must be an integer, got ${offset}`);
    if (!Number.isInteger(length) || length === 0) throw new RangeError(`Narrow: length must be a non-zero integer, got ${length}`);
  }

  private resolve(input: Tensor): [number, number, number] {
    requireTensor(this, input, 'a tensor');
    const d = resolveDim(this.dim, input.ndim);
    if (d === null) badInput(this, `a tensor with a dim ${this.dim}`, input);
    const n = input.shape[d];
    const off = this.offset < 0 ? n + this.offset : this.offset;
    const len = this.length < 0 ? n - off + this.length + 1 : this.length;
    if (off < 0 || len < 1 || off + len > n) badInput(this, `dim ${this.dim} to hold offset ${this.offset} and length ${this.length}`, input);
    return [d, off, len];
  }

  updateOutput(input: Tensor): Tensor {
    const [d, off, len] = this.resolve(input);
    this.output = this.memo.of(input, (t) => t.narrow(d, off, len));
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const [d, off, len] = this.resolve(input);
    const outShape = input.shape.slice();
    outShape[d] = len;
    checkGradOutput(this, gradOutput, outShape);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    const n = input.shape[d];
    if (off > 0) this.gradInput.narrow(d, 0, off).zero_();
    if (off + len < n) this.gradInput.narrow(d, off + len, n - off - len).zero_();
    this.gradInput.narrow(d, off, len).copy_(gradOutput);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.dim}, ${this.offset}, ${this.length})`;
  }
}

// ---- Padding --------------------------------------------------------------------------------------

/**
 * Torch's `nn.Padding(dim, pad, nInputDim, value, index)`: |pad| entries of `value` are added along
 * `dim`, before the data when pad < 0 and after it when pad > 0. `nIndex` (0-based) moves the
 * padding inside: pad < 0 inserts it before element nIndex, pad > 0 before the nIndex-th element
 * from the end. When the input has more than nInputDim dims the first is a batch dim and a
 * non-negative dim counts after it.
 */
export class Padding extends Module {
  constructor(readonly dim: number, readonly pad: number, readonly nInputDim: number, readonly value = 0, readonly nIndex = 0) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Padding: dim must be an integer, got ${dim}`);
    if (!Number.isInteger(pad)) throw new RangeError(`Padding: pad must be an integer, got ${pad}`);
    checkInt('Padding', 'nInputDim', nInputDim, 1);
    checkInt('Padding', 'nIndex', nIndex, 0);
    if (typeof value !== 'number') throw new RangeError(`Padding: value must be a number, got ${typeof value}`);
  }

  /** [dim, insertion position, input size along dim] */
  private resolve(input: Tensor): [number, number, number] {
    requireTensor(this, input, 'a tensor');
    const shifted = this.dim >= 0 && input.ndim !== this.nInputDim ? this.dim + 1 : this.dim;
    const d = resolveDim(shifted, input.ndim);
    if (d === null) badInput(this, `a tensor with a dim ${this.dim} (nInputDim ${this.nInputDim})`, input);
    const n = input.shape[d];
    if (this.nIndex > n) badInput(this, `at least nIndex = ${this.nIndex} elements in dim ${this.dim}`, input);
    return [d, this.pad > 0 ? n - this.nIndex : this.nIndex, n];
  }

  updateOutput(input: Tensor): Tensor {
    const [d, p, n] = this.resolve(input);
    const P = Math.abs(this.pad);
    const shape = input.shape.slice();
    shape[d] += P;
    const out = ensureLike(this.output, shape, input.dtype);
    if (p > 0) out.narrow(d, 0, p).copy_(input.narrow(d, 0, p));
    if (P > 0) out.narrow(d, p, P).fill_(this.value);
    if (n > p) out.narrow(d, p + P, n - p).copy_(input.narrow(d, p, n - p));
    this.output = out;
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const [d, p, n] = this.resolve(input);
    const P = Math.abs(this.pad);
    const outShape = input.shape.slice();
    outShape[d] += P;
    checkGradOutput(this, gradOutput, outShape);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    if (p > 0) this.gradInput.narrow(d, 0, p).copy_(gradOutput.narrow(d, 0, p));
    if (n > p) this.gradInput.narrow(d, p, n - p).copy_(gradOutput.narrow(d, p + P, n - p));
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(dim ${this.dim}, pad ${this.pad}${this.value ? `, value ${this.value}` : ''}${this.nIndex ? `, index ${this.nIndex}` : ''})`;
  }
}

// ---- Replicate --------------------------------------------------------------------------------------

/**
 * Torch's `nn.Replicate(nFeatures, dim, nDim)`: a new dim of size nFeatures inserted at `dim`, as
 * a stride-0 view of the input (no copy). When the input has more than nDim dims the first is a
 * batch dim and `dim` counts after it. A negative dim counts from the end of the output (-1
 * appends). The gradient sums over the replicated dim.
 */
export class Replicate extends Module {
  private readonly memo = new ViewMemo();

  constructor(readonly nFeatures: number, readonly dim = 0, readonly nDim = Infinity) {
    super();
    checkInt('Replicate', 'nFeatures', nFeatures, 1);
    if (!Number.isInteger(dim)) throw new RangeError(`Replicate: dim must be an integer, got ${dim}`);
    if (!(nDim >= 0)) throw new RangeError(`Replicate: nDim must be >= 0, got ${nDim}`);
  }

  private resolve(input: Tensor): number {
    requireTensor(this, input, 'a tensor');
    const nd = input.ndim;
    const rdim = this.dim >= 0 ? this.dim + (this.nDim < nd ? 1 : 0) : nd + 1 + this.dim;
    if (rdim < 0 || rdim > nd) badInput(this, `enough dims to replicate along dim ${this.dim}`, input);
    return rdim;
  }

  updateOutput(input: Tensor): Tensor {
    const r = this.resolve(input);
    this.output = this.memo.of(input, (t) => {
      const shape = t.shape.slice();
      shape.splice(r, 0, this.nFeatures);
      return t.unsqueeze(r).expand(...shape);
    });
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const r = this.resolve(input);
    const outShape = input.shape.slice();
    outShape.splice(r, 0, this.nFeatures);
    checkGradOutput(this, gradOutput, outShape);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.sum(gradOutput, r, false, this.gradInput);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.nFeatures}, dim ${this.dim})`;
  }
}
