import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { sameShape, shapeStr, type Shape } from '../tensor/shape.js';
import { Default, type InitializationMethod } from './init.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';

/*
 * Arithmetic layers after Torch7/BigDL (nn.MulConstant, nn.AddConstant, nn.Sum, nn.Mean, nn.Max,
 * nn.Normalize, nn.MM, nn.MV, nn.Bilinear), with 0-based dims; negative dims count from the end.
 */

const empty = (): Tensor => Tensor.empty([0]);

function ensureInt(buf: Tensor, shape: Shape): Tensor {
  if (buf.dtype === 'int32' && sameShape(buf.shape, shape) && buf.isContiguous()) return buf;
  return Tensor.zeros(shape, { dtype: 'int32' });
}

function requireFloatTensor(m: Module<any, any>, input: unknown, expected: string): asserts input is Tensor {
  if (!(input instanceof Tensor) || input.dtype !== 'float32') badInput(m, expected, input as Tensor);
}

function checkGradOutput(m: Module<any, any>, gradOutput: Tensor, expected: Shape): void {
  if (!(gradOutput instanceof Tensor) || !sameShape(gradOutput.shape, expected)) {
    const got = gradOutput instanceof Tensor ? shapeStr(gradOutput.shape) : 'a table';
    throw new RangeError(`${m.getName()}: gradOutput ${got} does not match the output ${shapeStr(expected)}`);
  }
}

/** A table input of exactly two float32 tensors, or a RangeError naming the module and what came. */
function pair(m: Module<any, any>, input: unknown, expected: string): [Tensor, Tensor] {
  if (!Array.isArray(input) || input.length !== 2 || !input.every((t) => t instanceof Tensor && t.dtype === 'float32')) {
    badTable(m, expected, input);
  }
  return input as [Tensor, Tensor];
}

function badTable(m: Module<any, any>, expected: string, input: unknown): never {
  const desc = (t: unknown): string => (t instanceof Tensor ? `${t.dtype} ${shapeStr(t.shape)}` : Array.isArray(t) ? `a table of ${t.length}` : String(t));
  const got = Array.isArray(input) ? `{${input.map(desc).join(', ')}}` : desc(input);
  throw new RangeError(`${m.getName()}: expected input ${expected}, got ${got}`);
}

/**
 * Torch's dimension rule for reductions with nInputDims: a negative dim counts from the end; a
 * non-negative one is shifted past the batch dim when the input has nInputDims + 1 dims.
 */
function reductionDim(m: Module<any, any>, input: Tensor, dim: number, nInputDims: number | undefined): number {
  const nd = input.ndim;
  let d = dim;
  if (d < 0) d += nd;
  else if (nInputDims !== undefined && nInputDims > 0 && nd === nInputDims + 1) d += 1;
  if (d < 0 || d >= nd) badInput(m, `a float32 tensor with a dim ${dim}${nInputDims ? ` (nInputDims ${nInputDims})` : ''}`, input);
  return d;
}

// ---- MulConstant, AddConstant ---------------------------------------------------------------------

/**
 * Torch's `nn.MulConstant(c, inplace)`: y = c·x. In place, the input itself is scaled and
 * returned; backward then scales gradOutput in place and restores the input (x / c).
 */
export class MulConstant extends Module {
  constructor(readonly constant: number, readonly inplace = false) {
    super();
    if (typeof constant !== 'number' || !Number.isFinite(constant)) throw new RangeError(`MulConstant: the constant must be a finite number, got ${constant}`);
    if (inplace && constant === 0) throw new RangeError('MulConstant: an in-place constant must not be 0 (backward divides the input by it to restore it)');
  }

  updateOutput(input: Tensor): Tensor {
    requireFloatTensor(this, input, 'a float32 tensor');
    if (this.inplace) {
      ops.mul(input, this.constant, input);
      this.output = input;
    } else {
      this.output = ensureShape(this.output, input.shape);
      ops.mul(input, this.constant, this.output);
    }
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    checkGradOutput(this, gradOutput, input.shape);
    if (this.inplace) {
      ops.mul(gradOutput, this.constant, gradOutput);
      this.gradInput = gradOutput;
      ops.div(input, this.constant, input);
    } else {
      this.gradInput = ensureShape(this.gradInput, input.shape);
      ops.mul(gradOutput, this.constant, this.gradInput);
    }
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.constant}${this.inplace ? ', inplace' : ''})`;
  }
}

/**
 * Torch's `nn.AddConstant(c, inplace)`: y = x + c. In place, the input itself is shifted and
 * returned; backward passes gradOutput through and restores the input (x - c).
 */
export class AddConstant extends Module {
  constructor(readonly constant: number, readonly inplace = false) {
    super();
    if (typeof constant !== 'number' || !Number.isFinite(constant)) throw new RangeError(`AddConstant: the constant must be a finite number, got ${constant}`);
  }

  updateOutput(input: Tensor): Tensor {
    requireFloatTensor(this, input, 'a float32 tensor');
    if (this.inplace) {
      ops.add(input, this.constant, 1, input);
      this.output = input;
    } else {
      this.output = ensureShape(this.output, input.shape);
      ops.add(input, this.constant, 1, this.output);
    }
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    checkGradOutput(this, gradOutput, input.shape);
    if (this.inplace) {
      this.gradInput = gradOutput;
      ops.sub(input, this.constant, 1, input);
    } else {
      this.gradInput = ensureShape(this.gradInput, input.shape);
      this.gradInput.copy_(gradOutput);
    }
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.constant}${this.inplace ? ', inplace' : ''})`;
  }
}

// ---- Sum, Mean, Max -----------------------------------------------------------------------------

/**
 * BigDL's `Sum(dim, nInputDims, sizeAverage, squeeze)`: sums over `dim` (the mean with
 * sizeAverage). With squeeze the reduced dim is removed, except from a 1-d input, which gives [1]
 * as in Torch. nInputDims (or -1 for none) marks a leading batch dim, see reductionDim.
 */
export class Sum extends Module {
  readonly nInputDims: number | undefined;

  constructor(readonly dim = 0, nInputDims?: number, readonly sizeAverage = false, readonly squeeze = true) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`${new.target.name}: dim must be an integer, got ${dim}`);
    if (nInputDims !== undefined && nInputDims !== -1 && (!Number.isInteger(nInputDims) || nInputDims < 1)) {
      throw new RangeError(`${new.target.name}: nInputDims must be a positive integer (or -1 for none), got ${nInputDims}`);
    }
    this.nInputDims = nInputDims === -1 ? undefined : nInputDims;
  }

  private plan(input: Tensor): { d: number; keep: boolean; outShape: number[] } {
    requireFloatTensor(this, input, 'a float32 tensor');
    const d = reductionDim(this, input, this.dim, this.nInputDims);
    const keep = !this.squeeze || input.ndim === 1;
    const outShape = input.shape.slice();
    if (keep) outShape[d] = 1;
    else outShape.splice(d, 1);
    return { d, keep, outShape };
  }

  updateOutput(input: Tensor): Tensor {
    const { d, keep, outShape } = this.plan(input);
    this.output = ensureShape(this.output, outShape);
    if (this.sizeAverage) ops.mean(input, d, keep, this.output);
    else ops.sum(input, d, keep, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const { d, keep, outShape } = this.plan(input);
    checkGradOutput(this, gradOutput, outShape);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.gradInput.copy_(keep ? gradOutput : gradOutput.unsqueeze(d));
    if (this.sizeAverage) ops.mul(this.gradInput, 1 / input.shape[d], this.gradInput);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.dim})`;
  }
}

/** BigDL's `Mean(dim, nInputDims, squeeze)`: Sum with sizeAverage. */
export class Mean extends Sum {
  constructor(dim = 0, nInputDims?: number, squeeze = true) {
    super(dim, nInputDims, true, squeeze);
  }
}

/**
 * Torch's `nn.Max(dim, nInputDims)`: the maximum over `dim` (removed, except from a 1-d input,
 * which gives [1]). The gradient goes to the (first) position of each maximum.
 */
export class Max extends Module {
  readonly nInputDims: number | undefined;
  /** argmax positions from the last forward, shaped like the output */
  private indices = empty();

  constructor(readonly dim = 0, nInputDims?: number) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Max: dim must be an integer, got ${dim}`);
    if (nInputDims !== undefined && nInputDims !== -1 && (!Number.isInteger(nInputDims) || nInputDims < 1)) {
      throw new RangeError(`Max: nInputDims must be a positive integer (or -1 for none), got ${nInputDims}`);
    }
    this.nInputDims = nInputDims === -1 ? undefined : nInputDims;
  }

  private plan(input: Tensor): { d: number; keep: boolean; outShape: number[] } {
    requireFloatTensor(this, input, 'a float32 tensor');
    const d = reductionDim(this, input, this.dim, this.nInputDims);
    if (input.shape[d] === 0) badInput(this, `a non-empty dim ${this.dim}`, input);
    const keep = input.ndim === 1;
    const outShape = input.shape.slice();
    if (keep) outShape[d] = 1;
    else outShape.splice(d, 1);
    return { d, keep, outShape };
  }

  updateOutput(input: Tensor): Tensor {
    const { d, keep, outShape } = this.plan(input);
    this.output = ensureShape(this.output, outShape);
    this.indices = ensureInt(this.indices, outShape);
    ops.max(input, d, keep, { values: this.output, indices: this.indices });
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const { d, keep, outShape } = this.plan(input);
    checkGradOutput(this, gradOutput, outShape);
    if (!sameShape(this.indices.shape, outShape)) throw new Error(`${this.getName()}: backward needs the forward of the same input first`);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.gradInput.zero_();
    ops.scatterAdd_(this.gradInput, d, keep ? this.indices : this.indices.unsqueeze(d), keep ? gradOutput : gradOutput.unsqueeze(d));
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.dim})`;
  }
}

// ---- Normalize ------------------------------------------------------------------------------------

/**
 * Torch/BigDL's `Normalize(p, eps)`: each row x of a [batch, n] (or [n]) input becomes x / N with
 * N = (Σ|x_i|^p + eps)^(1/p), or N = max|x_i| + eps for p = Infinity. The gradient is exact:
 * dx_j = g_j / N - (Σ_i g_i x_i) · sign(x_j)|x_j|^(p-1) / N^(p+1)  (for p = ∞ the second term
 * only at the argmax, with N^2).
 */
export class Normalize extends Module {
  private norm = empty(); // [b, 1]
  private dot = empty(); // [b, 1]
  private coef = empty(); // [b, 1]
  private buf = empty(); // [b, n]
  private buf2 = empty(); // [b, n]
  private argmax = empty(); // [b, 1] int32, p = ∞
  private picked = empty(); // [b, 1], p = ∞

  constructor(readonly p: number, readonly eps = 1e-10) {
    super();
    if (typeof p !== 'number' || !(p > 0)) throw new RangeError(`Normalize: p must be > 0 (or Infinity), got ${p}`);
    if (typeof eps !== 'number' || !(eps >= 0)) throw new RangeError(`Normalize: eps must be >= 0, got ${eps}`);
  }

  private rows(input: Tensor): Tensor {
    requireFloatTensor(this, input, '[n] or [batch, n] float32');
    if (input.ndim !== 1 && input.ndim !== 2) badInput(this, '[n] or [batch, n] float32', input);
    return input.ndim === 1 ? input.unsqueeze(0) : input;
  }

  updateOutput(input: Tensor): Tensor {
    const x = this.rows(input);
    const [b, n] = x.shape;
    this.norm = ensureShape(this.norm, [b, 1]);
    this.buf = ensureShape(this.buf, [b, n]);
    const norm = this.norm, buf = this.buf, p = this.p;
    if (p === Infinity) {
      this.argmax = ensureInt(this.argmax, [b, 1]);
      ops.abs(x, buf);
      ops.max(buf, 1, true, { values: norm, indices: this.argmax });
      ops.add(norm, this.eps, 1, norm);
    } else {
      if (p === 2) ops.square(x, buf);
      else {
        ops.abs(x, buf);
        if (p !== 1) ops.pow(buf, p, buf);
      }
      ops.sum(buf, 1, true, norm);
      ops.add(norm, this.eps, 1, norm);
      if (p === 2) ops.sqrt(norm, norm);
      else if (p !== 1) ops.pow(norm, 1 / p, norm);
    }
    this.output = ensureShape(this.output, input.shape);
    ops.div(x, norm, input.ndim === 1 ? this.output.unsqueeze(0) : this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const x = this.rows(input);
    checkGradOutput(this, gradOutput, input.shape);
    const g = input.ndim === 1 ? gradOutput.unsqueeze(0) : gradOutput;
    const [b, n] = x.shape;
    if (!sameShape(this.norm.shape, [b, 1])) throw new Error(`${this.getName()}: backward needs the forward of the same input first`);
    const norm = this.norm, p = this.p;
    this.dot = ensureShape(this.dot, [b, 1]);
    this.coef = ensureShape(this.coef, [b, 1]);
    this.buf = ensureShape(this.buf, [b, n]);
    this.buf2 = ensureShape(this.buf2, [b, n]);
    const buf = this.buf, buf2 = this.buf2, dot = this.dot, coef = this.coef;
    // dot = Σ_i g_i x_i per row
    ops.mul(g, x, buf);
    ops.sum(buf, 1, true, dot);
    // w = dN/dx · N^(p-1) into `w`; coef = dot / N^(p+1)
    let w: Tensor = buf;
    if (p === Infinity) {
      this.picked = ensureShape(this.picked, [b, 1]);
      ops.gather(x, 1, this.argmax, this.picked);
      ops.sign(this.picked, this.picked);
      buf.zero_();
      ops.scatterAdd_(buf, 1, this.argmax, this.picked);
      ops.square(norm, coef);
    } else {
      if (p === 2) w = x;
      else if (p === 1) ops.sign(x, buf);
      else {
        ops.abs(x, buf);
        ops.pow(buf, p - 1, buf);
        ops.sign(x, buf2);
        ops.mul(buf, buf2, buf);
      }
      ops.pow(norm, p + 1, coef);
    }
    ops.div(dot, coef, coef);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    const gi = input.ndim === 1 ? this.gradInput.unsqueeze(0) : this.gradInput;
    ops.div(g, norm, gi);
    ops.mul(w, coef, buf2);
    ops.sub(gi, buf2, 1, gi);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.p})`;
  }
}

// ---- MM, MV -----------------------------------------------------------------------------------------

/**
 * Torch's `nn.MM(transA, transB)`: the product of a table [a, b] of matrices ([m, k]·[k, n]) or of
 * batches of them ([B, m, k]·[B, k, n]), each optionally transposed first.
 */
export class MM extends Module<Tensor[], Tensor> {
  constructor(readonly transA = false, readonly transB = false) {
    super();
    this.gradInput = [empty(), empty()];
  }

  private operands(input: Tensor[]): { a: Tensor; b: Tensor; A: Tensor; B: Tensor; batched: boolean } {
    const what = `a table of two float32 matrices [m, k], [k, n] or batches [B, m, k], [B, k, n]${this.transA || this.transB ? ` (transA ${this.transA}, transB ${this.transB})` : ''}`;
    const [a, b] = pair(this, input, what);
    const batched = a.ndim === 3;
    if ((a.ndim !== 2 && a.ndim !== 3) || b.ndim !== a.ndim || (batched && a.shape[0] !== b.shape[0])) badTable(this, what, input);
    const A = this.transA ? a.transpose(-1, -2) : a;
    const B = this.transB ? b.transpose(-1, -2) : b;
    if (A.shape[A.ndim - 1] !== B.shape[B.ndim - 2]) badTable(this, what, input);
    return { a, b, A, B, batched };
  }

  updateOutput(input: Tensor[]): Tensor {
    const { A, B, batched } = this.operands(input);
    if (batched) {
      this.output = ensureShape(this.output, [A.shape[0], A.shape[1], B.shape[2]]);
      ops.bmm(A, B, this.output);
    } else {
      this.output = ensureShape(this.output, [A.shape[0], B.shape[1]]);
      ops.mm(A, B, this.output);
    }
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    const { a, b, A, B, batched } = this.operands(input);
    const outShape = batched ? [A.shape[0], A.shape[1], B.shape[2]] : [A.shape[0], B.shape[1]];
    checkGradOutput(this, gradOutput, outShape);
    const ga = ensureShape(this.gradInput[0], a.shape);
    const gb = ensureShape(this.gradInput[1], b.shape);
    const t = (m: Tensor) => m.transpose(-1, -2);
    const mul = batched ? ops.bmm : ops.mm;
    // C = A·B: dA = G·Bᵀ, dB = Aᵀ·G; a transposed operand takes the transpose of its gradient
    if (this.transA) mul(B, t(gradOutput), ga);
    else mul(gradOutput, t(B), ga);
    if (this.transB) mul(t(gradOutput), A, gb);
    else mul(t(A), gradOutput, gb);
    this.gradInput[0] = ga;
    this.gradInput[1] = gb;
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return this.transA || this.transB ? `(transA ${this.transA}, transB ${this.transB})` : '';
  }
}

/**
 * Torch's `nn.MV(trans)`: the product of a table [M, v] of a matrix [m, n] and a vector [n] (Mᵀ
 * [n, m] and [m] with trans), or of batches [B, m, n] and [B, n].
 */
export class MV extends Module<Tensor[], Tensor> {
  constructor(readonly trans = false) {
    super();
    this.gradInput = [empty(), empty()];
  }

  private operands(input: Tensor[]): { m: Tensor; v: Tensor; M: Tensor; batched: boolean } {
    const what = `a table of a float32 matrix [m, n] and vector [${this.trans ? 'm' : 'n'}], or batches [B, m, n] and [B, ${this.trans ? 'm' : 'n'}]`;
    const [m, v] = pair(this, input, what);
    const batched = m.ndim === 3;
    if ((m.ndim !== 2 && m.ndim !== 3) || v.ndim !== m.ndim - 1 || (batched && m.shape[0] !== v.shape[0])) badTable(this, what, input);
    const M = this.trans ? m.transpose(-1, -2) : m;
    if (M.shape[M.ndim - 1] !== v.shape[v.ndim - 1]) badTable(this, what, input);
    return { m, v, M, batched };
  }

  updateOutput(input: Tensor[]): Tensor {
    const { M, v, batched } = this.operands(input);
    if (batched) {
      this.output = ensureShape(this.output, [M.shape[0], M.shape[1]]);
      ops.bmm(M, v.unsqueeze(2), this.output.unsqueeze(2));
    } else {
      this.output = ensureShape(this.output, [M.shape[0]]);
      ops.mm(M, v.unsqueeze(1), this.output.unsqueeze(1));
    }
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    const { m, v, M, batched } = this.operands(input);
    checkGradOutput(this, gradOutput, batched ? [M.shape[0], M.shape[1]] : [M.shape[0]]);
    const gm = ensureShape(this.gradInput[0], m.shape);
    const gv = ensureShape(this.gradInput[1], v.shape);
    // y = M'·v: dM' = g ⊗ v (dM = v ⊗ g with trans), dv = M'ᵀ·g
    const col = batched ? 2 : 1, row = batched ? 1 : 0;
    const mul = batched ? ops.bmm : ops.mm;
    if (this.trans) mul(v.unsqueeze(col), gradOutput.unsqueeze(row), gm);
    else mul(gradOutput.unsqueeze(col), v.unsqueeze(row), gm);
    mul(M.transpose(-1, -2), gradOutput.unsqueeze(col), gv.unsqueeze(col));
    this.gradInput[0] = gm;
    this.gradInput[1] = gv;
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return this.trans ? '(trans)' : '';
  }
}

// ---- Bilinear ---------------------------------------------------------------------------------------

export interface BilinearOptions {
  weightInit?: InitializationMethod;
  biasInit?: InitializationMethod;
}

/**
 * Torch/BigDL's `Bilinear(inputSize1, inputSize2, outputSize, biasRes)`: for a table [x1, x2] of
 * [batch, inputSize1] and [batch, inputSize2] (or unbatched vectors), y_k = x1ᵀ·W_k·x2 + b_k, with
 * weight [outputSize, inputSize1, inputSize2]. Torch's init: uniform ±1/sqrt(inputSize1) for both.
 */
export class Bilinear extends Module<Tensor[], Tensor> {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /** x2·W_(k,i)ᵀ from the forward: [batch, out * in1] = Σ_j W[k, i, j] x2[j] */
  private wx2 = empty();
  /** g[k]·x1[i]: [batch, out, in1] */
  private gx1 = empty();
  private ones = empty();

  constructor(readonly inputSize1: number, readonly inputSize2: number, readonly outputSize: number, readonly biasRes = true,
    opts: BilinearOptions = {}) {
    super();
    for (const [k, v] of Object.entries({ inputSize1, inputSize2, outputSize })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`Bilinear: ${k} must be a positive integer, got ${v}`);
    }
    this.weight = this.registerParameter('weight', Tensor.empty([outputSize, inputSize1, inputSize2]));
    this.bias = biasRes ? this.registerParameter('bias', Tensor.empty([outputSize])) : null;
    this.gradInput = [empty(), empty()];
    this.reset(opts.weightInit, opts.biasInit);
  }

  /** Re-initialises the parameters (Torch's uniform ±1/sqrt(inputSize1) unless given). */
  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    weightInit.init(this.weight.weight, this.inputSize1, this.outputSize);
    if (this.bias) biasInit.init(this.bias.weight, this.inputSize1, this.outputSize);
    return this;
  }

  private operands(input: Tensor[]): [Tensor, Tensor] {
    const what = `a table of float32 [batch, ${this.inputSize1}] and [batch, ${this.inputSize2}] (or [${this.inputSize1}] and [${this.inputSize2}])`;
    const [x1, x2] = pair(this, input, what);
    const ok = (x1.ndim === 1 || x1.ndim === 2) && x2.ndim === x1.ndim && x1.shape[x1.ndim - 1] === this.inputSize1
      && x2.shape[x2.ndim - 1] === this.inputSize2 && (x1.ndim === 1 || x1.shape[0] === x2.shape[0]);
    if (!ok) badTable(this, what, input);
    return x1.ndim === 1 ? [x1.unsqueeze(0), x2.unsqueeze(0)] : [x1, x2];
  }

  private flatWeight(which: 'weight' | 'gradient'): Tensor {
    return this.weight[which].view(this.outputSize * this.inputSize1, this.inputSize2);
  }

  /** gx1[b, k, i] = g[b, k]·x1[b, i] */
  private outer(x1: Tensor, g: Tensor): Tensor {
    this.gx1 = ensureShape(this.gx1, [x1.shape[0], this.outputSize, this.inputSize1]);
    ops.mul(g.unsqueeze(2), x1.unsqueeze(1), this.gx1);
    return this.gx1;
  }

  updateOutput(input: Tensor[]): Tensor {
    const [x1, x2] = this.operands(input);
    const batch = x1.shape[0], out = this.outputSize;
    this.wx2 = ensureShape(this.wx2, [batch, out * this.inputSize1]);
    ops.mm(x2, this.flatWeight('weight').t(), this.wx2);
    this.output = ensureShape(this.output, input[0].ndim === 1 ? [out] : [batch, out]);
    const y = this.output.view(batch, out, 1);
    ops.bmm(this.wx2.view(batch, out, this.inputSize1), x1.unsqueeze(2), y);
    if (this.bias) ops.add(this.output, this.bias.weight, 1, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor[], gradOutput: Tensor): Tensor[] {
    const [x1, x2] = this.operands(input);
    const batch = x1.shape[0], out = this.outputSize;
    checkGradOutput(this, gradOutput, input[0].ndim === 1 ? [out] : [batch, out]);
    if (!sameShape(this.wx2.shape, [batch, out * this.inputSize1])) throw new Error(`${this.getName()}: backward needs the forward of the same input first`);
    const g = gradOutput.ndim === 1 ? gradOutput.unsqueeze(0) : gradOutput;
    const g1 = ensureShape(this.gradInput[0], input[0].shape);
    const g2 = ensureShape(this.gradInput[1], input[1].shape);
    // dx1[b, i] = Σ_k g[b, k]·(W_k x2)[i]
    ops.bmm(g.unsqueeze(1), this.wx2.view(batch, out, this.inputSize1), g1.view(batch, 1, this.inputSize1));
    // dx2[b, j] = Σ_(k,i) g[b, k] x1[b, i] W[k, i, j]
    ops.mm(this.outer(x1, g).view(batch, out * this.inputSize1), this.flatWeight('weight'), g2.view(batch, this.inputSize2));
    this.gradInput[0] = g1;
    this.gradInput[1] = g2;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor[], gradOutput: Tensor, scale = 1): void {
    const [x1, x2] = this.operands(input);
    const batch = x1.shape[0];
    const g = gradOutput.ndim === 1 ? gradOutput.unsqueeze(0) : gradOutput;
    // dW[k, i, j] += scale·Σ_b g[b, k] x1[b, i] x2[b, j]
    const gw = this.flatWeight('gradient');
    ops.addmm(gw, this.outer(x1, g).view(batch, this.outputSize * this.inputSize1).t(), x2, { alpha: scale, beta: 1 }, gw);
    if (this.bias) {
      if (this.ones.numel !== batch) this.ones = Tensor.ones([1, batch]);
      const gb = this.bias.gradient.view(1, this.outputSize);
      ops.addmm(gb, this.ones, g, { alpha: scale, beta: 1 }, gb);
    }
  }

  protected override extraRepr(): string {
    return `(${this.inputSize1} x ${this.inputSize2} -> ${this.outputSize}${this.bias ? '' : ', no bias'})`;
  }
}
