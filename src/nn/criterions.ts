import { UnaryOp } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { shapeStr } from '../tensor/shape.js';
import { Criterion } from './criterion.js';
import { ensureShape, type Activity } from './module.js';

/*
 * More criterions after Torch7/BigDL (and PyTorch where the brief of a loss is PyTorch's). The
 * contract is criterion.ts's: forward(input, target) returns the loss, backward(input, target) the
 * gradient with respect to the input in a buffer the criterion owns; table inputs get a table
 * gradient whose array and tensors are kept across calls. Each backward recomputes what it needs
 * from (input, target), so it does not depend on a preceding forward.
 */

const empty = (): Tensor => Tensor.empty([0]);

/** out = a*x + b in one pass */
const affine = (x: Tensor, a: number, b: number, out: Tensor): Tensor => ops.unary('affine', UnaryOp.Affine, x, a, b, out);

function describe(v: unknown): string {
  if (v instanceof Tensor) return `${v.dtype} ${shapeStr(v.shape)}`;
  if (Array.isArray(v)) return `a table {${v.map(describe).join(', ')}}`;
  return v === undefined ? 'nothing' : typeof v;
}

/** sum of all elements through a reused 0-d buffer (0 for an empty tensor) */
function total(t: Tensor, scalar: Tensor): number {
  if (t.numel === 0) return 0;
  ops.sum(t, undefined, false, scalar);
  return scalar.data[scalar.offset];
}

function totalSquares(t: Tensor, scalar: Tensor): number {
  if (t.numel === 0) return 0;
  ops.sumSquares(t, undefined, false, scalar);
  return scalar.data[scalar.offset];
}

/** Throws (naming the criterion) unless input and target are float32 tensors of one shape. */
function requireSameShape(c: Criterion<any, any>, input: unknown, target: unknown): asserts input is Tensor {
  if (!(input instanceof Tensor) || !(target instanceof Tensor) || input.dtype !== 'float32' || target.dtype !== 'float32' || !input.equalShape(target)) {
    throw new RangeError(`${c.getName()}: input and target must be float32 tensors of the same shape, got input ${describe(input)} and target ${describe(target)}`);
  }
}

function checkWeightsArg(name: string, w: Tensor | null | undefined): Tensor | null {
  if (w === undefined || w === null) return null;
  if (!(w instanceof Tensor) || w.dtype !== 'float32') throw new RangeError(`${name}: weights must be a float32 tensor, got ${describe(w)}`);
  return w;
}

/** Weights must broadcast to the input's shape (e.g. [nClasses] against [batch, nClasses]). */
function checkWeightsFit(c: Criterion<any, any>, w: Tensor | null, input: Tensor): void {
  if (!w) return;
  const off = input.ndim - w.ndim;
  if (off < 0 || !w.shape.every((s, i) => s === 1 || s === input.shape[off + i])) {
    throw new RangeError(`${c.getName()}: weights ${shapeStr(w.shape)} do not broadcast to input ${shapeStr(input.shape)}`);
  }
}

function checkFiniteArg(name: string, what: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${name}: ${what} must be a finite number, got ${v}`);
}

// ---- AbsCriterion, SmoothL1Criterion -----------------------------------------------------------

/** Mean (or sum) of |x - t| (Torch/BigDL AbsCriterion, PyTorch L1Loss). Gradient sign(x - t), 0 at x == t. */
export class AbsCriterion extends Criterion {
  private diff = empty();
  private readonly scalar = Tensor.empty([]);

  constructor(readonly sizeAverage = true) { super(); }

  updateOutput(input: Tensor, target: Tensor): number {
    requireSameShape(this, input, target);
    const d = this.diff = ensureShape(this.diff, input.shape);
    ops.sub(input, target, 1, d);
    ops.abs(d, d);
    const s = total(d, this.scalar);
    return this.sizeAverage ? s / input.numel : s;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    requireSameShape(this, input, target);
    const g = this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.sub(input, target, 1, g);
    ops.sign(g, g);
    if (this.sizeAverage) ops.mul(g, 1 / input.numel, g);
    return g;
  }
}

/**
 * Huber loss with beta 1 (Torch/BigDL SmoothL1Criterion, PyTorch SmoothL1Loss): per element
 * 0.5 d² where |d| < 1, else |d| - 0.5, with d = x - t; mean (or sum). Gradient clamp(d, -1, 1).
 */
export class SmoothL1Criterion extends Criterion {
  private diff = empty();
  private clipped = empty();
  private readonly scalar = Tensor.empty([]);

  constructor(readonly sizeAverage = true) { super(); }

  updateOutput(input: Tensor, target: Tensor): number {
    requireSameShape(this, input, target);
    const d = this.diff = ensureShape(this.diff, input.shape);
    const c = this.clipped = ensureShape(this.clipped, input.shape);
    ops.sub(input, target, 1, d);
    ops.clamp(d, -1, 1, c);
    // c * (d - c/2) is 0.5 d² inside [-1, 1] and |d| - 0.5 outside
    ops.axpy(-0.5, c, d, d);
    ops.mul(d, c, d);
    const s = total(d, this.scalar);
    return this.sizeAverage ? s / input.numel : s;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    requireSameShape(this, input, target);
    const g = this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.sub(input, target, 1, g);
    ops.clamp(g, -1, 1, g);
    if (this.sizeAverage) ops.mul(g, 1 / input.numel, g);
    return g;
  }
}

// ---- BCECriterion, MultiLabelSoftMarginCriterion -----------------------------------------------

/**
 * Binary cross-entropy on probabilities (BigDL BCECriterion, PyTorch BCELoss):
 * -w·(t·log(x) + (1 - t)·log(1 - x)), each log clamped at -100 as PyTorch, mean over all elements
 * (or sum). `weights` broadcast against the input ([nClasses] for [batch, nClasses]). The gradient
 * is w·(x - t) / max(x(1 - x), 1e-12), as PyTorch. Input values are not checked to lie in [0, 1]
 * (outside it the loss is NaN).
 */
export class BCECriterion extends Criterion {
  static readonly EPSILON = 1e-12;
  readonly weights: Tensor | null;
  private logX = empty();
  private log1mX = empty();
  private readonly scalar = Tensor.empty([]);

  constructor(weights?: Tensor | null, readonly sizeAverage = true) {
    super();
    this.weights = checkWeightsArg('BCECriterion', weights);
  }

  private check(input: Tensor, target: Tensor): void {
    requireSameShape(this, input, target);
    checkWeightsFit(this, this.weights, input);
  }

  updateOutput(input: Tensor, target: Tensor): number {
    this.check(input, target);
    const a = this.logX = ensureShape(this.logX, input.shape);
    const b = this.log1mX = ensureShape(this.log1mX, input.shape);
    ops.log(input, a);
    ops.clamp(a, -100, Infinity, a);
    affine(input, -1, 1, b);
    ops.log(b, b);
    ops.clamp(b, -100, Infinity, b);
    // t·a + (1 - t)·b = b + t·(a - b)
    ops.sub(a, b, 1, a);
    ops.mul(a, target, a);
    ops.add(a, b, 1, a);
    if (this.weights) ops.mul(a, this.weights, a);
    const s = -total(a, this.scalar);
    return this.sizeAverage ? s / input.numel : s;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    this.check(input, target);
    const d = this.logX = ensureShape(this.logX, input.shape);
    const g = this.gradInput = ensureShape(this.gradInput, input.shape);
    affine(input, -1, 1, d);
    ops.mul(d, input, d);
    ops.clamp(d, BCECriterion.EPSILON, Infinity, d);
    ops.sub(input, target, 1, g);
    ops.div(g, d, g);
    if (this.weights) ops.mul(g, this.weights, g);
    if (this.sizeAverage) ops.mul(g, 1 / input.numel, g);
    return g;
  }
}

/**
 * PyTorch's multilabel_soft_margin_loss on raw scores x [batch, nClasses] (or [nClasses]) and 0/1
 * targets of the same shape: per element w·(softplus(x) - t·x) = -w·(t·logσ(x) + (1-t)·logσ(-x)),
 * averaged over the classes, then averaged (sizeAverage) or summed over the batch. With
 * sizeAverage this equals BigDL's MultiLabelSoftMarginCriterion; summed, BigDL would not divide by
 * nClasses and this (as PyTorch) does. The gradient is w·(σ(x) - t) over the same normaliser.
 */
export class MultiLabelSoftMarginCriterion extends Criterion {
  readonly weights: Tensor | null;
  private buf = empty();
  private tx = empty();
  private readonly scalar = Tensor.empty([]);

  constructor(weights?: Tensor | null, readonly sizeAverage = true) {
    super();
    this.weights = checkWeightsArg('MultiLabelSoftMarginCriterion', weights);
  }

  /** the divisor: nClasses, times the batch size when averaging */
  private check(input: Tensor, target: Tensor): number {
    requireSameShape(this, input, target);
    if (input.ndim === 0 || input.numel === 0) {
      throw new RangeError(`${this.getName()}: expected input [batch, nClasses] or [nClasses], got ${describe(input)}`);
    }
    checkWeightsFit(this, this.weights, input);
    const classes = input.shape[input.ndim - 1];
    return this.sizeAverage ? input.numel : classes;
  }

  updateOutput(input: Tensor, target: Tensor): number {
    const norm = this.check(input, target);
    const a = this.buf = ensureShape(this.buf, input.shape);
    const tx = this.tx = ensureShape(this.tx, input.shape);
    ops.softplus(input, 1, 20, a);
    ops.mul(input, target, tx);
    ops.sub(a, tx, 1, a);
    if (this.weights) ops.mul(a, this.weights, a);
    return total(a, this.scalar) / norm;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    const norm = this.check(input, target);
    const g = this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.sigmoid(input, g);
    ops.sub(g, target, 1, g);
    if (this.weights) ops.mul(g, this.weights, g);
    ops.mul(g, 1 / norm, g);
    return g;
  }
}

// ---- MarginCriterion ----------------------------------------------------------------------------

/**
 * Hinge loss for ±1 targets (Torch/BigDL MarginCriterion): mean (or sum) of max(0, margin - x·t),
 * or of its square when `squared`.
 */
export class MarginCriterion extends Criterion {
  private hinge = empty();
  private readonly scalar = Tensor.empty([]);

  constructor(readonly margin = 1, readonly sizeAverage = true, readonly squared = false) {
    super();
    checkFiniteArg('MarginCriterion', 'margin', margin);
  }

  /** margin - x·t into the hinge buffer */
  private slack(input: Tensor, target: Tensor): Tensor {
    requireSameShape(this, input, target);
    const z = this.hinge = ensureShape(this.hinge, input.shape);
    ops.mul(input, target, z);
    affine(z, -1, this.margin, z);
    return z;
  }

  updateOutput(input: Tensor, target: Tensor): number {
    const z = this.slack(input, target);
    ops.relu(z, z);
    const s = this.squared ? totalSquares(z, this.scalar) : total(z, this.scalar);
    return this.sizeAverage ? s / input.numel : s;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    const z = this.slack(input, target);
    const g = this.gradInput = ensureShape(this.gradInput, input.shape);
    const norm = this.sizeAverage ? 1 / input.numel : 1;
    if (this.squared) {
      // -2·t·max(0, margin - x·t)
      ops.relu(z, z);
      ops.mul(z, target, g);
      ops.mul(g, -2 * norm, g);
    } else {
      // -t where margin - x·t > 0
      ops.thresholdBackward(z, target, 0, g);
      ops.mul(g, -norm, g);
    }
    return g;
  }
}

// ---- CosineEmbeddingCriterion -------------------------------------------------------------------

/**
 * Torch/BigDL CosineEmbeddingCriterion (PyTorch cosine_embedding_loss) on a table {x1, x2} of
 * [batch, d] (or [d]) tensors and targets ±1 [batch]: 1 - cos(x1, x2) for t = 1,
 * max(0, cos - margin) for t = -1; mean over the batch (or sum). As PyTorch, 1e-12 is added to each
 * squared norm. Per-sample bookkeeping (O(batch)) runs in TypeScript; per-element work in kernels.
 */
export class CosineEmbeddingCriterion extends Criterion<Tensor[], Tensor> {
  static readonly EPSILON = 1e-12;
  private prod = empty();
  private dots = empty();
  private sq1 = empty();
  private sq2 = empty();
  private coefA = empty();
  private coef1 = empty();
  private coef2 = empty();
  private tmp = empty();
  private g1 = empty();
  private g2 = empty();

  constructor(readonly margin = 0, readonly sizeAverage = true) {
    super();
    checkFiniteArg('CosineEmbeddingCriterion', 'margin', margin);
    this.gradInput = [];
  }

  private check(input: Tensor[], target: Tensor): { x1: Tensor; x2: Tensor; y: Tensor } {
    const ok = Array.isArray(input) && input.length === 2 && input.every((t) => t instanceof Tensor && t.dtype === 'float32')
      && input[0].equalShape(input[1]) && (input[0].ndim === 1 || input[0].ndim === 2);
    if (!ok) {
      throw new RangeError(`${this.getName()}: expected input a table {x1, x2} of two float32 [batch, d] or [d] tensors of one shape, got ${describe(input)}`);
    }
    const x1 = input[0].ndim === 1 ? input[0].unsqueeze(0) : input[0];
    const x2 = input[1].ndim === 1 ? input[1].unsqueeze(0) : input[1];
    const n = x1.shape[0];
    if (!(target instanceof Tensor) || target.numel !== n) {
      throw new RangeError(`${this.getName()}: expected ${n} targets (one per pair), got ${describe(target)}`);
    }
    const y = target.contiguous();
    for (let i = 0; i < n; i++) {
      const v = y.data[y.offset + i];
      if (v !== 1 && v !== -1) throw new RangeError(`${this.getName()}: target ${v} at position ${i} is not 1 or -1`);
    }
    return { x1, x2, y };
  }

  /** per-row x1·x2, |x1|², |x2|² into the row buffers */
  private rowStats(x1: Tensor, x2: Tensor): void {
    const n = x1.shape[0];
    this.prod = ensureShape(this.prod, x1.shape);
    this.dots = ensureShape(this.dots, [n]);
    this.sq1 = ensureShape(this.sq1, [n]);
    this.sq2 = ensureShape(this.sq2, [n]);
    ops.mul(x1, x2, this.prod);
    ops.sum(this.prod, 1, false, this.dots);
    ops.sumSquares(x1, 1, false, this.sq1);
    ops.sumSquares(x2, 1, false, this.sq2);
  }

  /** cos of row i, with its squared norms (EPSILON added) and their root product */
  private row(i: number): { cos: number; m1: number; m2: number; denom: number } {
    const m1 = this.sq1.data[this.sq1.offset + i] + CosineEmbeddingCriterion.EPSILON;
    const m2 = this.sq2.data[this.sq2.offset + i] + CosineEmbeddingCriterion.EPSILON;
    const denom = Math.sqrt(m1 * m2);
    return { cos: this.dots.data[this.dots.offset + i] / denom, m1, m2, denom };
  }

  updateOutput(input: Tensor[], target: Tensor): number {
    const { x1, x2, y } = this.check(input, target);
    this.rowStats(x1, x2);
    const n = x1.shape[0];
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const { cos } = this.row(i);
      loss += y.data[y.offset + i] === 1 ? 1 - cos : Math.max(0, cos - this.margin);
    }
    return this.sizeAverage ? loss / n : loss;
  }

  updateGradInput(input: Tensor[], target: Tensor): Tensor[] {
    const { x1, x2, y } = this.check(input, target);
    this.rowStats(x1, x2);
    const n = x1.shape[0];
    const norm = this.sizeAverage ? 1 / n : 1;
    const a = this.coefA = ensureShape(this.coefA, [n, 1]);
    const b1 = this.coef1 = ensureShape(this.coef1, [n, 1]);
    const b2 = this.coef2 = ensureShape(this.coef2, [n, 1]);
    for (let i = 0; i < n; i++) {
      const { cos, m1, m2, denom } = this.row(i);
      // d cos/d x1 = x2/denom - cos·x1/m1; the loss is -cos (t = 1) or +cos (t = -1, cos > margin)
      const sgn = y.data[y.offset + i] === 1 ? -1 : cos > this.margin ? 1 : 0;
      a.data[a.offset + i] = (sgn * norm) / denom;
      b1.data[b1.offset + i] = (-sgn * norm * cos) / m1;
      b2.data[b2.offset + i] = (-sgn * norm * cos) / m2;
    }
    this.g1 = ensureShape(this.g1, input[0].shape);
    this.g2 = ensureShape(this.g2, input[1].shape);
    this.tmp = ensureShape(this.tmp, x1.shape);
    const g1 = this.g1.ndim === 1 ? this.g1.unsqueeze(0) : this.g1;
    const g2 = this.g2.ndim === 1 ? this.g2.unsqueeze(0) : this.g2;
    ops.mul(x2, a, g1);
    ops.mul(x1, b1, this.tmp);
    ops.add(g1, this.tmp, 1, g1);
    ops.mul(x1, a, g2);
    ops.mul(x2, b2, this.tmp);
    ops.add(g2, this.tmp, 1, g2);
    const gi = this.gradInput;
    gi.length = 2;
    gi[0] = this.g1;
    gi[1] = this.g2;
    return gi;
  }
}

// ---- KLDCriterion -------------------------------------------------------------------------------

/**
 * BigDL's KLDCriterion for VAEs: the KL divergence of N(mean, exp(logVar)) from N(0, 1), on the
 * input table {mean, logVar}: -0.5·sum(1 + logVar - mean² - exp(logVar)), divided by the batch size
 * (dim 0; a 1-d input is one sample) when sizeAverage. The target is ignored. Gradients are
 * mean/batch and 0.5·(exp(logVar) - 1)/batch, as BigDL.
 */
export class KLDCriterion extends Criterion<Tensor[], unknown> {
  private buf = empty();
  private gMean = empty();
  private gLogVar = empty();
  private readonly s1 = Tensor.empty([]);
  private readonly s2 = Tensor.empty([]);

  constructor(readonly sizeAverage = true) {
    super();
    this.gradInput = [];
  }

  /** [mean, logVar] and the divisor */
  private check(input: Tensor[]): [Tensor, Tensor, number] {
    const ok = Array.isArray(input) && input.length === 2 && input.every((t) => t instanceof Tensor && t.dtype === 'float32')
      && input[0].equalShape(input[1]) && input[0].ndim >= 1;
    if (!ok) throw new RangeError(`${this.getName()}: expected input a table {mean, logVar} of two float32 tensors of one shape, got ${describe(input)}`);
    const [m, lv] = input;
    const batch = this.sizeAverage && m.ndim >= 2 ? m.shape[0] : 1;
    return [m, lv, batch];
  }

  updateOutput(input: Tensor[], _target?: unknown): number {
    const [m, lv, batch] = this.check(input);
    const e = this.buf = ensureShape(this.buf, lv.shape);
    // exp(logVar) - logVar - 1 >= 0 per element, summed without cancellation
    ops.exp(lv, e);
    ops.sub(e, lv, 1, e);
    affine(e, 1, -1, e);
    return (0.5 * (total(e, this.s1) + totalSquares(m, this.s2))) / batch;
  }

  updateGradInput(input: Tensor[], _target?: unknown): Tensor[] {
    const [m, lv, batch] = this.check(input);
    this.gMean = ensureShape(this.gMean, m.shape);
    this.gLogVar = ensureShape(this.gLogVar, lv.shape);
    ops.mul(m, 1 / batch, this.gMean);
    ops.exp(lv, this.gLogVar);
    affine(this.gLogVar, 0.5 / batch, -0.5 / batch, this.gLogVar);
    const gi = this.gradInput;
    gi.length = 2;
    gi[0] = this.gMean;
    gi[1] = this.gLogVar;
    return gi;
  }
}

// ---- TimeDistributedCriterion -------------------------------------------------------------------

/**
 * BigDL's TimeDistributedCriterion: applies `criterion` to every time step of an input
 * [batch, time, ...] and a target [batch, time, ...] (time at `dimension`, 0-based) and sums the
 * losses, or averages them over the time steps when sizeAverage; the gradient is each step's
 * gradient in its slice (divided by the number of steps when averaging). A step slice that is not
 * contiguous is copied into a reused buffer first, so the inner criterion sees contiguous tensors.
 */
export class TimeDistributedCriterion extends Criterion {
  private stepInput = empty();
  private stepTarget = empty();

  constructor(readonly criterion: Criterion<Tensor, Tensor>, readonly sizeAverage = false, readonly dimension = 1) {
    super();
    if (!(criterion instanceof Criterion)) throw new RangeError(`TimeDistributedCriterion: expected a criterion, got ${describe(criterion)}`);
    if (!Number.isInteger(dimension) || dimension < 0) throw new RangeError(`TimeDistributedCriterion: dimension must be a non-negative integer, got ${dimension}`);
  }

  override getName(): string {
    return `TimeDistributedCriterion(${this.criterion.getName()})`;
  }

  private steps(input: Tensor, target: Tensor): number {
    const d = this.dimension;
    if (!(input instanceof Tensor) || input.ndim <= d) {
      throw new RangeError(`${this.getName()}: expected an input with a time dim ${d} ([batch, time, ...]), got ${describe(input)}`);
    }
    if (!(target instanceof Tensor) || target.ndim <= d || target.shape[d] !== input.shape[d]) {
      throw new RangeError(`${this.getName()}: target ${describe(target)} must have the input's ${input.shape[d]} time steps at dim ${d} (input ${describe(input)})`);
    }
    return input.shape[d];
  }

  /** step i of `src`: a view when contiguous, else a copy in the reused buffer */
  private slice(src: Tensor, i: number, which: 'input' | 'target'): Tensor {
    const s = src.select(this.dimension, i);
    if (s.isContiguous()) return s;
    let buf = which === 'input' ? this.stepInput : this.stepTarget;
    if (buf.dtype !== s.dtype || !buf.equalShape(s)) buf = Tensor.zeros(s.shape, { dtype: s.dtype });
    buf.copy_(s);
    if (which === 'input') this.stepInput = buf;
    else this.stepTarget = buf;
    return buf;
  }

  updateOutput(input: Tensor, target: Tensor): number {
    const n = this.steps(input, target);
    let loss = 0;
    for (let i = 0; i < n; i++) loss += this.criterion.forward(this.slice(input, i, 'input'), this.slice(target, i, 'target'));
    return this.sizeAverage && n > 0 ? loss / n : loss;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    const n = this.steps(input, target);
    const g = this.gradInput = ensureShape(this.gradInput, input.shape);
    for (let i = 0; i < n; i++) {
      const gi = this.criterion.backward(this.slice(input, i, 'input'), this.slice(target, i, 'target'));
      g.select(this.dimension, i).copy_(gi);
    }
    if (this.sizeAverage && n > 0) ops.mul(g, 1 / n, g);
    return g;
  }
}

// ---- ParallelCriterion --------------------------------------------------------------------------

/** `scale * src` into `buf` (same table structure), reusing buf's arrays and tensors. */
function scaledInto(buf: Activity | undefined, src: Activity, scale: number): Activity {
  if (src instanceof Tensor) {
    const t = buf instanceof Tensor ? ensureShape(buf, src.shape) : Tensor.zeros(src.shape);
    ops.mul(src, scale, t);
    return t;
  }
  const t = Array.isArray(buf) ? buf : [];
  t.length = src.length;
  for (let i = 0; i < src.length; i++) t[i] = scaledInto(t[i], src[i], scale);
  return t;
}

/**
 * BigDL/Torch ParallelCriterion: a weighted sum of criterions, the i-th applied to input[i] and
 * target[i] (or to the one shared target when repeatTarget). Add criterions with
 * `.add(criterion, weight = 1)`. The gradient is the table of weight·gradient.
 */
export class ParallelCriterion extends Criterion<Activity[], Activity> {
  private readonly criterions: Criterion<any, any>[] = [];
  private readonly weights: number[] = [];

  constructor(readonly repeatTarget = false) {
    super();
    this.gradInput = [];
  }

  add(criterion: Criterion<any, any>, weight = 1): this {
    if (!(criterion instanceof Criterion)) throw new RangeError(`ParallelCriterion.add: expected a criterion, got ${describe(criterion)}`);
    checkFiniteArg('ParallelCriterion.add', 'weight', weight);
    this.criterions.push(criterion);
    this.weights.push(weight);
    return this;
  }

  private check(input: Activity[], target: Activity): void {
    const k = this.criterions.length;
    if (!Array.isArray(input) || input.length !== k) {
      throw new RangeError(`${this.getName()}: expected a table of ${k} inputs (one per criterion), got ${describe(input)}`);
    }
    if (!this.repeatTarget && (!Array.isArray(target) || target.length !== k)) {
      throw new RangeError(`${this.getName()}: expected a table of ${k} targets (one per criterion; or repeatTarget), got ${describe(target)}`);
    }
  }

  private targetOf(target: Activity, i: number): Activity {
    return this.repeatTarget ? target : (target as Activity[])[i];
  }

  updateOutput(input: Activity[], target: Activity): number {
    this.check(input, target);
    let loss = 0;
    for (let i = 0; i < this.criterions.length; i++) {
      loss += this.weights[i] * this.criterions[i].forward(input[i], this.targetOf(target, i));
    }
    return loss;
  }

  updateGradInput(input: Activity[], target: Activity): Activity[] {
    this.check(input, target);
    const gi = this.gradInput;
    gi.length = this.criterions.length;
    for (let i = 0; i < this.criterions.length; i++) {
      gi[i] = scaledInto(gi[i], this.criterions[i].backward(input[i], this.targetOf(target, i)), this.weights[i]);
    }
    return gi;
  }
}
