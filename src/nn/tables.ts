import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { shapeStr, type Shape } from '../tensor/shape.js';
import { badInput, ensureShape, Module, type Activity } from './module.js';

/**
 * Table layers (Torch/BigDL): modules whose input or output is a table (an array of
 * activities). Indices and dims are 0-based; negative values count from the end.
 *
 * Buffers follow the module contract: table outputs/gradInputs keep their array object and their
 * element tensors across calls, so once shapes settle nothing is allocated.
 */

// ---- helpers shared with containers.ts ------------------------------------------------------

/** `buf` reused when it is a contiguous tensor of `shape`, else a fresh zeroed tensor. */
export function reuseTensor(buf: Activity | undefined, shape: Shape): Tensor {
  return buf instanceof Tensor ? ensureShape(buf, shape) : Tensor.zeros(shape);
}

/** `buf` reused when it is an array (its length set to n), else a new array. */
export function reuseTable(buf: Activity | undefined, n: number): Activity[] {
  const t = Array.isArray(buf) ? buf : [];
  t.length = n;
  return t;
}

/** Copies `src` into `buf` (same table structure), reusing buf's arrays and tensors. */
export function copyActivity(buf: Activity | undefined, src: Activity): Activity {
  if (src instanceof Tensor) return reuseTensor(buf, src.shape).copy_(src);
  const t = reuseTable(buf, src.length);
  for (let i = 0; i < src.length; i++) t[i] = copyActivity(t[i], src[i]);
  return t;
}

/** acc += src, elementwise through the table structure (which must match). */
export function addActivity(module: Module<any, any>, acc: Activity, src: Activity): void {
  if (acc instanceof Tensor) {
    if (!(src instanceof Tensor) || !acc.equalShape(src)) {
      throw new RangeError(`${module.getName()}: gradients to sum disagree: ${describeActivity(acc)} vs ${describeActivity(src)}`);
    }
    ops.add(acc, src, 1, acc);
    return;
  }
  if (!Array.isArray(src) || src.length !== acc.length) {
    throw new RangeError(`${module.getName()}: gradients to sum disagree: ${describeActivity(acc)} vs ${describeActivity(src)}`);
  }
  for (let i = 0; i < acc.length; i++) addActivity(module, acc[i], src[i]);
}

/** A zero activity shaped like `like`, reusing `buf`; only re-zeroes buffers that were reused. */
function zeroActivity(buf: Activity | undefined, like: Activity): Activity {
  if (like instanceof Tensor) {
    const t = reuseTensor(buf, like.shape);
    if (t === buf) t.zero_();
    return t;
  }
  const t = reuseTable(buf, like.length);
  for (let i = 0; i < like.length; i++) t[i] = zeroActivity(t[i], like[i]);
  return t;
}

function sameStructure(a: Activity, b: Activity): boolean {
  if (a instanceof Tensor) return b instanceof Tensor && a.equalShape(b);
  if (!Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameStructure(a[i], b[i])) return false;
  return true;
}

/** `[2, 3]` for a tensor, `{[2], {[3], [4]}}` for a table. */
export function describeActivity(a: Activity): string {
  return a instanceof Tensor ? shapeStr(a.shape) : `{${a.map(describeActivity).join(', ')}}`;
}

/** Throws (naming the module) unless `input` is a table. */
export function requireTable(module: Module<any, any>, input: Activity, expected = 'a table'): asserts input is Activity[] {
  if (!Array.isArray(input)) badInput(module, expected, input);
}

/** Throws (naming the module) unless `input` is a table of at least `min` tensors. */
function requireTensorTable(module: Module<any, any>, input: Activity, min: number, expected: string): asserts input is Tensor[] {
  if (!Array.isArray(input) || input.length < min) badInput(module, expected, input);
  for (let i = 0; i < input.length; i++) {
    if (!(input[i] instanceof Tensor)) throw new RangeError(`${module.getName()}: expected input ${expected}, element ${i} is a table`);
  }
}

function checkIntArg(layer: string, what: string, v: number | undefined, min = -Infinity): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new RangeError(`${layer}: ${what} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${v}`);
}

/**
 * Torch's dim rule for JoinTable/SplitTable: a negative dim counts from the end; otherwise, when
 * nInputDims is given and the input has one more dim (a batch), dim shifts by one.
 */
function resolveDim(module: Module<any, any>, dim: number, nInputDims: number | undefined, ndim: number, got: Activity): number {
  let d = dim;
  if (d < 0) d += ndim;
  else if (nInputDims !== undefined && ndim === nInputDims + 1) d += 1;
  if (d < 0 || d >= ndim) badInput(module, `with a dim ${dim}${nInputDims !== undefined ? ` (nInputDims ${nInputDims})` : ''} in range`, got);
  return d;
}

// ---- JoinTable, SplitTable -------------------------------------------------------------------

/** Concatenates a table of tensors along `dim` (Torch's JoinTable; see resolveDim for nInputDims). */
export class JoinTable extends Module<Tensor[], Tensor> {
  private d = 0;

  constructor(readonly dim: number, readonly nInputDims?: number) {
    super();
    checkIntArg('JoinTable', 'dim', dim);
    checkIntArg('JoinTable', 'nInputDims', nInputDims, 0);
    this.gradInput = [];
  }

  updateOutput(input: Tensor[]): Tensor {
    requireTensorTable(this, input, 1, 'a table of tensors');
    const first = input[0];
    const d = (this.d = resolveDim(this, this.dim, this.nInputDims, first.ndim, first));
    let total = 0;
    for (const x of input) {
      if (x.ndim !== first.ndim || x.shape.some((s, k) => k !== d && s !== first.shape[k])) {
        throw new RangeError(`${this.getName()}: tensors to join along dim ${d} must agree in every other dim, got ${describeActivity(input)}`);
      }
      total += x.shape[d];
    }
    const shape = first.shape.slice();
    shape[d] = total;
    this.output = ensureShape(this.output, shape);
    let off = 0;
    for (const x of input) {
      this.output.narrow(d, off, x.shape[d]).copy_(x);
      off += x.shape[d];
    }
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    requireTensorTable(this, input, 1, 'a table of tensors');
    if (!(gradOutput instanceof Tensor) || !gradOutput.equalShape(this.output)) {
      throw new RangeError(`${this.getName()}: gradOutput ${describeActivity(gradOutput)} does not match output ${shapeStr(this.output.shape)}`);
    }
    const d = this.d;
    const gi = reuseTable(this.gradInput, input.length) as Tensor[];
    let off = 0;
    for (let i = 0; i < input.length; i++) {
      const n = input[i].shape[d];
      gi[i] = reuseTensor(gi[i], input[i].shape).copy_(gradOutput.narrow(d, off, n));
      off += n;
    }
    this.gradInput = gi;
    return gi;
  }

  protected override extraRepr(): string {
    return `(${this.dim}${this.nInputDims !== undefined ? `, ${this.nInputDims}` : ''})`;
  }
}

/**
 * Splits a tensor along `dim` into a table of its slices (Torch's SplitTable). The slices are
 * views of the input (no copy); they are kept while the input's storage and layout stay the same.
 */
export class SplitTable extends Module<Tensor, Tensor[]> {
  private d = 0;
  private viewsOf: Tensor | null = null;

  constructor(readonly dim: number, readonly nInputDims?: number) {
    super();
    checkIntArg('SplitTable', 'dim', dim);
    checkIntArg('SplitTable', 'nInputDims', nInputDims, 0);
    this.output = [];
  }

  /** True when the cached views were taken from a tensor with input's storage and layout. */
  private viewsValid(input: Tensor, d: number): boolean {
    const v = this.viewsOf;
    if (!v || d !== this.d || v.data !== input.data || v.offset !== input.offset || v.ndim !== input.ndim) return false;
    for (let k = 0; k < v.ndim; k++) if (v.shape[k] !== input.shape[k] || v.strides[k] !== input.strides[k]) return false;
    return true;
  }

  updateOutput(input: Tensor): Tensor[] {
    if (!(input instanceof Tensor) || input.ndim < 1) badInput(this, 'a tensor of at least 1 dim', input);
    const d = resolveDim(this, this.dim, this.nInputDims, input.ndim, input);
    if (!this.viewsValid(input, d)) {
      const n = input.shape[d];
      const out = this.output;
      out.length = n;
      for (let i = 0; i < n; i++) out[i] = input.select(d, i);
      this.d = d;
      this.viewsOf = input;
    }
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor[]): Tensor {
    if (!(input instanceof Tensor)) badInput(this, 'a tensor of at least 1 dim', input);
    const d = resolveDim(this, this.dim, this.nInputDims, input.ndim, input);
    const n = input.shape[d];
    if (!Array.isArray(gradOutput) || gradOutput.length !== n) {
      throw new RangeError(`${this.getName()}: gradOutput must be a table of ${n} tensors, got ${describeActivity(gradOutput)}`);
    }
    this.gradInput = ensureShape(this.gradInput, input.shape);
    for (let i = 0; i < n; i++) {
      const slice = this.gradInput.select(d, i);
      const g = gradOutput[i];
      if (!(g instanceof Tensor) || !g.equalShape(slice)) {
        throw new RangeError(`${this.getName()}: gradOutput[${i}] ${describeActivity(g)} does not match slice ${shapeStr(slice.shape)}`);
      }
      slice.copy_(g);
    }
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.dim}${this.nInputDims !== undefined ? `, ${this.nInputDims}` : ''})`;
  }
}

// ---- SelectTable, FlattenTable ---------------------------------------------------------------

/**
 * Picks element `index` of a table (0-based, negative from the end). The output is that element
 * itself; gradInput is a table shaped like the input, zero except at `index`.
 */
export class SelectTable extends Module<Activity[], Activity> {
  constructor(readonly index: number) {
    super();
    checkIntArg('SelectTable', 'index', index);
    this.gradInput = [];
  }

  private position(input: Activity[]): number {
    requireTable(this, input, `a table with an element at index ${this.index}`);
    const n = input.length;
    const i = this.index < 0 ? this.index + n : this.index;
    if (i < 0 || i >= n) badInput(this, `a table with an element at index ${this.index}`, input);
    return i;
  }

  updateOutput(input: Activity[]): Activity {
    this.output = input[this.position(input)];
    return this.output;
  }

  updateGradInput(input: Activity[], gradOutput: Activity): Activity[] {
    const at = this.position(input);
    if (!sameStructure(gradOutput, input[at])) {
      throw new RangeError(`${this.getName()}: gradOutput ${describeActivity(gradOutput)} does not match the selected element ${describeActivity(input[at])}`);
    }
    const gi = reuseTable(this.gradInput, input.length);
    for (let i = 0; i < input.length; i++) gi[i] = i === at ? copyActivity(gi[i], gradOutput) : zeroActivity(gi[i], input[i]);
    this.gradInput = gi;
    return gi;
  }

  protected override extraRepr(): string {
    return `(${this.index})`;
  }
}

/**
 * Flattens a nested table into a flat table of its tensors, depth first (Torch's FlattenTable).
 * No copies: the output holds the input's tensors, gradInput the gradOutput's, re-nested.
 */
export class FlattenTable extends Module<Activity[], Tensor[]> {
  private pos = 0;

  constructor() {
    super();
    this.output = [];
    this.gradInput = [];
  }

  private flatten(a: Activity): void {
    if (a instanceof Tensor) this.output[this.pos++] = a;
    else for (const x of a) this.flatten(x);
  }

  updateOutput(input: Activity[]): Tensor[] {
    requireTable(this, input, 'a (nested) table');
    this.pos = 0;
    this.flatten(input);
    this.output.length = this.pos;
    return this.output;
  }

  private nest(buf: Activity | undefined, like: Activity, gradOutput: Tensor[]): Activity {
    if (like instanceof Tensor) {
      const k = this.pos++;
      const g = gradOutput[k];
      if (!(g instanceof Tensor) || !g.equalShape(like)) {
        throw new RangeError(`${this.getName()}: gradOutput[${k}] ${g === undefined ? 'is missing' : describeActivity(g)} does not match output[${k}] ${shapeStr(like.shape)}`);
      }
      return g;
    }
    const t = reuseTable(buf, like.length);
    for (let i = 0; i < like.length; i++) t[i] = this.nest(t[i], like[i], gradOutput);
    return t;
  }

  updateGradInput(input: Activity[], gradOutput: Tensor[]): Activity[] {
    requireTable(this, input, 'a (nested) table');
    if (!Array.isArray(gradOutput)) throw new RangeError(`${this.getName()}: gradOutput must be a table, got ${describeActivity(gradOutput)}`);
    this.pos = 0;
    this.gradInput = this.nest(this.gradInput, input, gradOutput) as Activity[];
    if (this.pos !== gradOutput.length) throw new RangeError(`${this.getName()}: gradOutput has ${gradOutput.length} tensors, the flattened input ${this.pos}`);
    return this.gradInput;
  }
}

// ---- elementwise tables ----------------------------------------------------------------------

/** Base of CAddTable & co: a table of same-shape float32 tensors in, one tensor out. */
abstract class ElementwiseTable extends Module<Tensor[], Tensor> {
  constructor(private readonly minInputs: number, private readonly maxInputs = Infinity) {
    super();
    this.gradInput = [];
  }

  private expected(): string {
    const n = this.minInputs === this.maxInputs ? `${this.minInputs}` : `at least ${this.minInputs}`;
    return `a table of ${n} float32 tensors of one shape`;
  }

  protected checkInput(input: Tensor[]): void {
    requireTensorTable(this, input, this.minInputs, this.expected());
    if (input.length > this.maxInputs) badInput(this, this.expected(), input);
    const first = input[0];
    for (const x of input) {
      if (x.dtype !== 'float32' || !x.equalShape(first)) {
        throw new RangeError(`${this.getName()}: expected input ${this.expected()}, got ${describeActivity(input)}${x.dtype !== 'float32' ? ` with a ${x.dtype} tensor` : ''}`);
      }
    }
  }

  protected checkGradOutput(input: Tensor[], gradOutput: Tensor): void {
    this.checkInput(input);
    if (!(gradOutput instanceof Tensor) || !gradOutput.equalShape(input[0])) {
      throw new RangeError(`${this.getName()}: gradOutput ${describeActivity(gradOutput)} does not match the inputs' shape ${shapeStr(input[0].shape)}`);
    }
  }

  /** The gradInput table with n tensors of `shape` (reused). */
  protected gradTable(n: number, shape: Shape): Tensor[] {
    const gi = reuseTable(this.gradInput, n) as Tensor[];
    for (let i = 0; i < n; i++) gi[i] = reuseTensor(gi[i], shape);
    this.gradInput = gi;
    return gi;
  }
}

/**
 * Elementwise sum of a table of tensors. With `inplace`, the first input tensor becomes the
 * output (it is overwritten) and every gradInput entry is gradOutput itself, as in Torch.
 */
export class CAddTable extends ElementwiseTable {
  constructor(readonly inplace = false) {
    super(1);
  }

  updateOutput(input: Tensor[]): Tensor {
    this.checkInput(input);
    if (this.inplace) this.output = input[0];
    else {
      this.output = ensureShape(this.output, input[0].shape);
      if (input.length === 1) this.output.copy_(input[0]);
      else ops.add(input[0], input[1], 1, this.output);
    }
    for (let i = this.inplace ? 1 : 2; i < input.length; i++) ops.add(this.output, input[i], 1, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    this.checkGradOutput(input, gradOutput);
    if (this.inplace) {
      const gi = reuseTable(this.gradInput, input.length) as Tensor[];
      for (let i = 0; i < input.length; i++) gi[i] = gradOutput;
      this.gradInput = gi;
      return gi;
    }
    const gi = this.gradTable(input.length, gradOutput.shape);
    for (const g of gi) g.copy_(gradOutput);
    return gi;
  }

  protected override extraRepr(): string {
    return this.inplace ? '(inplace)' : '';
  }
}

/** Elementwise product of a table of tensors; gradInput[i] = gradOutput * prod_{j != i} input[j]. */
export class CMulTable extends ElementwiseTable {
  constructor() {
    super(1);
  }

  updateOutput(input: Tensor[]): Tensor {
    this.checkInput(input);
    this.output = ensureShape(this.output, input[0].shape);
    if (input.length === 1) return this.output.copy_(input[0]);
    ops.mul(input[0], input[1], this.output);
    for (let i = 2; i < input.length; i++) ops.mul(this.output, input[i], this.output);
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    this.checkGradOutput(input, gradOutput);
    const gi = this.gradTable(input.length, gradOutput.shape);
    for (let i = 0; i < input.length; i++) {
      // products of the others rather than output / input[i]: exact when an input is zero
      let started = false;
      for (let j = 0; j < input.length; j++) {
        if (j === i) continue;
        ops.mul(started ? gi[i] : gradOutput, input[j], gi[i]);
        started = true;
      }
      if (!started) gi[i].copy_(gradOutput);
    }
    return gi;
  }
}

/** input[0] - input[1] (exactly two tensors). */
export class CSubTable extends ElementwiseTable {
  constructor() {
    super(2, 2);
  }

  updateOutput(input: Tensor[]): Tensor {
    this.checkInput(input);
    this.output = ensureShape(this.output, input[0].shape);
    return ops.sub(input[0], input[1], 1, this.output);
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    this.checkGradOutput(input, gradOutput);
    const gi = this.gradTable(2, gradOutput.shape);
    gi[0].copy_(gradOutput);
    ops.neg(gradOutput, gi[1]);
    return gi;
  }
}

/**
 * Elementwise maximum of a table of tensors. The gradient goes to the input holding the maximum
 * (the first one on ties), as in Torch's CMaxTable.
 */
export class CMaxTable extends ElementwiseTable {
  /** index of the input holding each maximum, as float32 */
  private maxIdx = Tensor.empty([0]);
  private mask = Tensor.empty([0]);
  /** 0-d tensors holding 0, 1, 2, ... for comparisons against maxIdx */
  private indexScalars: Tensor[] = [];

  constructor() {
    super(1);
  }

  updateOutput(input: Tensor[]): Tensor {
    this.checkInput(input);
    const shape = input[0].shape;
    this.output = ensureShape(this.output, shape);
    this.maxIdx = ensureShape(this.maxIdx, shape);
    this.mask = ensureShape(this.mask, shape);
    this.output.copy_(input[0]);
    this.maxIdx.zero_();
    for (let i = 1; i < input.length; i++) {
      // strictly greater: the earlier input keeps ties; indices only grow, so max() records i
      ops.gt(input[i], this.output, this.mask);
      ops.maximum(this.output, input[i], this.output);
      ops.mul(this.mask, i, this.mask);
      ops.maximum(this.maxIdx, this.mask, this.maxIdx);
    }
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    this.checkGradOutput(input, gradOutput);
    if (!this.maxIdx.equalShape(gradOutput)) throw new Error(`${this.getName()}: backward without a forward of this input`);
    const gi = this.gradTable(input.length, gradOutput.shape);
    while (this.indexScalars.length < input.length) this.indexScalars.push(Tensor.scalar(this.indexScalars.length));
    for (let i = 0; i < input.length; i++) {
      ops.eq(this.maxIdx, this.indexScalars[i], gi[i]);
      ops.mul(gi[i], gradOutput, gi[i]);
    }
    return gi;
  }
}
