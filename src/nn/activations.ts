import { UnaryOp } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { ConstInitMethod, type InitializationMethod } from './init.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';

/**
 * Pointwise activations. Each forward and backward is a fused kernel pass (or two or three, see
 * below) into the module's own buffers.
 */
abstract class Pointwise extends Module {
  protected abstract fwd(x: Tensor, out: Tensor): void;
  /** gradInput from input x, output y and gradOutput gy */
  protected abstract bwd(x: Tensor, y: Tensor, gy: Tensor, out: Tensor): void;

  updateOutput(input: Tensor): Tensor {
    if (input.dtype !== 'float32') throw new TypeError(`${this.getName()}: expects a float32 input, got ${input.dtype}`);
    this.output = ensureShape(this.output, input.shape);
    this.fwd(input, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    if (!gradOutput.equalShape(input)) {
      throw new RangeError(`${this.getName()}: gradOutput [${gradOutput.shape}] does not match input [${input.shape}]`);
    }
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.bwd(input, this.output, gradOutput, this.gradInput);
    return this.gradInput;
  }
}

export class Tanh extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.tanh(x, out); }
  protected bwd(_x: Tensor, y: Tensor, gy: Tensor, out: Tensor): void { ops.tanhBackward(y, gy, out); }
}

export class Sigmoid extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.sigmoid(x, out); }
  protected bwd(_x: Tensor, y: Tensor, gy: Tensor, out: Tensor): void { ops.sigmoidBackward(y, gy, out); }
}

/** x > threshold ? x : value (Torch's Threshold); ReLU is Threshold(0, 0). */
export class Threshold extends Pointwise {
  constructor(readonly threshold = 1e-6, readonly value = 0) { super(); }
  protected fwd(x: Tensor, out: Tensor): void { ops.threshold(x, this.threshold, this.value, out); }
  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void { ops.thresholdBackward(x, gy, this.threshold, out); }
  protected override extraRepr(): string { return `(${this.threshold}, ${this.value})`; }
}

export class ReLU extends Threshold {
  constructor() { super(0, 0); }
  protected override extraRepr(): string { return ''; }
}

// ---- helpers for the layers below -------------------------------------------------------------
//
// The tensor layer has fused backward kernels only for tanh, sigmoid and threshold, so the other
// gradients are composed from two or three fused passes through a scratch buffer the layer owns
// (allocated once per shape, like output/gradInput).

/** out = a*x + b in one pass */
const affine = (x: Tensor, a: number, b: number, out: Tensor): Tensor => ops.unary('affine', UnaryOp.Affine, x, a, b, out);

/** out = gy * (x > 0 ? 1 : slope), in three passes through `scratch`; Torch's choice at x == 0 (slope). */
function leakyBackward(x: Tensor, gy: Tensor, slope: number, scratch: Tensor, out: Tensor): void {
  ops.thresholdBackward(x, gy, 0, scratch); // gy where x > 0
  ops.mul(gy, slope, out);
  ops.axpy(1 - slope, scratch, out, out);
}

function checkFinite(layer: string, what: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${layer}: ${what} must be a finite number, got ${v}`);
}

// ---- HardTanh, ReLU6, Clamp --------------------------------------------------------------------

/**
 * Torch/BigDL HardTanh: clamps to [min, max]. The gradient passes where min < x < max and is 0
 * elsewhere, including at x == min and x == max (as Torch, BigDL and PyTorch).
 */
export class HardTanh extends Pointwise {
  private mask = Tensor.empty([0]);
  private readonly maxValue: Tensor;

  constructor(readonly min = -1, readonly max = 1) {
    super();
    checkFinite(new.target.name, 'min', min);
    checkFinite(new.target.name, 'max', max);
    if (!(max > min)) throw new RangeError(`${new.target.name}: max (${max}) must be greater than min (${min})`);
    this.maxValue = Tensor.full([], max);
  }

  protected fwd(x: Tensor, out: Tensor): void { ops.clamp(x, this.min, this.max, out); }

  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void {
    this.mask = ensureShape(this.mask, x.shape);
    ops.lt(x, this.maxValue, this.mask); // 1 where x < max
    ops.thresholdBackward(x, gy, this.min, out); // gy where x > min
    ops.mul(out, this.mask, out);
  }

  protected override extraRepr(): string { return `(${this.min}, ${this.max})`; }
}

/** min(max(x, 0), 6): BigDL's ReLU6, a HardTanh(0, 6). */
export class ReLU6 extends HardTanh {
  constructor() { super(0, 6); }
  protected override extraRepr(): string { return ''; }
}

/** BigDL's Clamp(min, max): a HardTanh(min, max) under its own name. */
export class Clamp extends HardTanh {
  constructor(min: number, max: number) { super(min, max); }
}

// ---- LeakyReLU, PReLU, ELU, SoftPlus -----------------------------------------------------------

/** x > 0 ? x : negval * x (BigDL LeakyReLU). */
export class LeakyReLU extends Pointwise {
  private scratch = Tensor.empty([0]);

  constructor(readonly negval = 0.01) {
    super();
    checkFinite('LeakyReLU', 'negval', negval);
  }

  protected fwd(x: Tensor, out: Tensor): void { ops.leakyRelu(x, this.negval, out); }

  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void {
    this.scratch = ensureShape(this.scratch, x.shape);
    leakyBackward(x, gy, this.negval, this.scratch, out);
  }

  protected override extraRepr(): string { return `(${this.negval})`; }
}

/**
 * Parametric ReLU (BigDL/Torch PReLU): x > 0 ? x : a * x with a learnt slope a, initialised to
 * 0.25. nOutputPlane = 0 learns one slope shared by every element (any input shape); otherwise one
 * slope per channel, where the channel dim follows BigDL/Torch: dim 0 of a 1-d [C] or 3-d [C, H, W]
 * input, dim 1 of a 2-d [N, C] or 4-d [N, C, H, W] batch.
 */
export class PReLU extends Module {
  readonly weight: Parameter;
  /** per-channel path: the derivative d = (x > 0 ? 1 : a), kept from forward for backward */
  private deriv = Tensor.empty([0]);
  /** per-channel path: 1 - a */
  private oneMinusA = Tensor.empty([0]);
  /** scratch for the shared-slope gradient and the slope-gradient terms */
  private scratch = Tensor.empty([0]);
  private rowSums = Tensor.empty([0]);
  private channelSums = Tensor.empty([0]);
  private readonly total = Tensor.empty([]);

  constructor(readonly nOutputPlane = 0) {
    super();
    if (!Number.isInteger(nOutputPlane) || nOutputPlane < 0) {
      throw new RangeError(`PReLU: nOutputPlane must be a non-negative integer (0 = one shared slope), got ${nOutputPlane}`);
    }
    this.weight = this.registerParameter('weight', Tensor.empty([Math.max(1, nOutputPlane)]));
    this.reset();
  }

  /** Re-initialises the slopes (0.25, as Torch/BigDL, unless given). */
  reset(weightInit: InitializationMethod = ConstInitMethod(0.25)): this {
    const n = Math.max(1, this.nOutputPlane);
    weightInit.init(this.weight.weight, n, n);
    return this;
  }

  /** [outer, C, inner] geometry of a per-channel input; checks the channel count. */
  private geometry(input: Tensor): [number, number, number] {
    const c = this.nOutputPlane;
    const expected = `float32 [${c}], [batch, ${c}], [${c}, H, W] or [batch, ${c}, H, W]`;
    if (input.dtype !== 'float32') badInput(this, expected, input);
    const s = input.shape;
    switch (input.ndim) {
      case 1: if (s[0] === c) return [1, c, 1]; break;
      case 2: if (s[1] === c) return [s[0], c, 1]; break;
      case 3: if (s[0] === c) return [1, c, s[1] * s[2]]; break;
      case 4: if (s[1] === c) return [s[0], c, s[2] * s[3]]; break;
    }
    return badInput(this, expected, input);
  }

  /** The slopes (or 1 - slopes) viewed to broadcast against the input. */
  private channelView(t: Tensor, ndim: number): Tensor {
    return ndim >= 3 ? t.view(this.nOutputPlane, 1, 1) : t;
  }

  private checkShared(input: Tensor): void {
    if (input.dtype !== 'float32') badInput(this, 'a float32 tensor', input);
  }

  private checkGradOutput(input: Tensor, gradOutput: Tensor): void {
    if (!gradOutput.equalShape(input)) {
      throw new RangeError(`${this.getName()}: gradOutput [${gradOutput.shape}] does not match input [${input.shape}]`);
    }
  }

  updateOutput(input: Tensor): Tensor {
    const w = this.weight.weight;
    if (this.nOutputPlane === 0) {
      this.checkShared(input);
      this.output = ensureShape(this.output, input.shape);
      ops.leakyRelu(input, w.data[w.offset], this.output);
      return this.output;
    }
    this.geometry(input);
    this.oneMinusA = ensureShape(this.oneMinusA, [this.nOutputPlane]);
    affine(w, -1, 1, this.oneMinusA);
    this.deriv = ensureShape(this.deriv, input.shape);
    this.output = ensureShape(this.output, input.shape);
    // d = [x > 0](1 - a) + a; y = x * d
    ops.thresholdBackward(input, this.channelView(this.oneMinusA, input.ndim), 0, this.deriv);
    ops.add(this.deriv, this.channelView(w, input.ndim), 1, this.deriv);
    ops.mul(input, this.deriv, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.checkGradOutput(input, gradOutput);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    if (this.nOutputPlane === 0) {
      this.checkShared(input);
      const w = this.weight.weight;
      this.scratch = ensureShape(this.scratch, input.shape);
      leakyBackward(input, gradOutput, w.data[w.offset], this.scratch, this.gradInput);
      return this.gradInput;
    }
    this.geometry(input);
    if (!this.deriv.equalShape(input)) this.updateOutput(input);
    ops.mul(gradOutput, this.deriv, this.gradInput);
    return this.gradInput;
  }

  /** dL/da += scale * sum of gy * x over the elements (of a's channel) where x <= 0. */
  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    this.checkGradOutput(input, gradOutput);
    const g = this.weight.gradient;
    this.scratch = ensureShape(this.scratch, input.shape);
    ops.clamp(input, -Infinity, 0, this.scratch); // min(x, 0)
    ops.mul(this.scratch, gradOutput, this.scratch);
    if (this.nOutputPlane === 0) {
      this.checkShared(input);
      ops.sum(this.scratch, undefined, false, this.total);
      ops.axpy(scale, this.total, g, g);
      return;
    }
    const [outer, c, inner] = this.geometry(input);
    this.rowSums = ensureShape(this.rowSums, [outer, c]);
    this.channelSums = ensureShape(this.channelSums, [c]);
    ops.sum(this.scratch.view(outer, c, inner), 2, false, this.rowSums);
    ops.sum(this.rowSums, 0, false, this.channelSums);
    ops.axpy(scale, this.channelSums, g, g);
  }

  protected override extraRepr(): string { return this.nOutputPlane ? `(${this.nOutputPlane})` : ''; }
}

/**
 * x > 0 ? x : alpha * (exp(x) - 1) (BigDL/Torch ELU). The gradient below 0 is gy * (y + alpha),
 * from the output, as Torch.
 */
export class ELU extends Pointwise {
  private scratch = Tensor.empty([0]);

  constructor(readonly alpha = 1) {
    super();
    checkFinite('ELU', 'alpha', alpha);
  }

  protected fwd(x: Tensor, out: Tensor): void { ops.elu(x, this.alpha, out); }

  protected bwd(_x: Tensor, y: Tensor, gy: Tensor, out: Tensor): void {
    const s = this.scratch = ensureShape(this.scratch, y.shape);
    const a = this.alpha;
    if (a === 1) {
      // d = min(y + 1, 1): e^x below 0, 1 above
      affine(y, 1, 1, s);
      ops.clamp(s, -Infinity, 1, s);
      ops.mul(gy, s, out);
      return;
    }
    // t = 1 - d = (y < 0 ? 1 - alpha - y : 0); gx = gy - gy * t
    affine(y, -1, 1 - a, s);
    ops.threshold(s, 1 - a, 0, s);
    ops.mul(s, gy, s);
    ops.sub(gy, s, 1, out);
  }

  protected override extraRepr(): string { return `(${this.alpha})`; }
}

/**
 * log(1 + exp(beta * x)) / beta (BigDL/Torch SoftPlus), linear where beta * x > 20 as Torch. The
 * gradient is sigmoid(beta * x), which is 1 in float32 in the linear region.
 */
export class SoftPlus extends Pointwise {
  static readonly threshold = 20;
  private scratch = Tensor.empty([0]);

  constructor(readonly beta = 1) {
    super();
    if (typeof beta !== 'number' || !(beta > 0) || !Number.isFinite(beta)) throw new RangeError(`SoftPlus: beta must be a positive number, got ${beta}`);
  }

  protected fwd(x: Tensor, out: Tensor): void { ops.softplus(x, this.beta, SoftPlus.threshold, out); }

  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void {
    if (this.beta === 1) {
      ops.sigmoid(x, out);
    } else {
      this.scratch = ensureShape(this.scratch, x.shape);
      ops.mul(x, this.beta, this.scratch);
      ops.sigmoid(this.scratch, out);
    }
    ops.mul(out, gy, out);
  }

  protected override extraRepr(): string { return this.beta === 1 ? '' : `(${this.beta})`; }
}

// ---- SoftMax, LogSoftMax -----------------------------------------------------------------------

/**
 * Softmax over one dim. Without an explicit `dim` the dim follows Torch7's nn.SoftMax and
 * BigDL's SoftMax: the last dim of a 1-d [n] or 2-d [batch, n] input, dim 0 of a 3-d [C, H, W]
 * input and dim 1 of a 4-d [N, C, H, W] input (the channels of an image, per pixel). Note that a
 * 3-d input is taken as one unbatched image, not as [batch, time, n]: give `dim` (0-based,
 * negative counts from the end, any rank) for that, e.g. `new SoftMax(-1)`. BigDL's LogSoftMax
 * takes only 1-d/2-d input; here it follows the same rule as SoftMax (as Torch7's).
 */
abstract class SoftMaxBase extends Module {
  protected abstract readonly log: boolean;

  constructor(readonly dim?: number) {
    super();
    if (dim !== undefined && !Number.isInteger(dim)) throw new RangeError(`${new.target.name}: dim must be an integer, got ${dim}`);
  }

  private softmaxDim(input: Tensor): number {
    if (this.dim !== undefined) {
      const nd = input.ndim;
      const d = this.dim < 0 ? this.dim + nd : this.dim;
      if (input.dtype !== 'float32' || d < 0 || d >= nd) badInput(this, `a float32 tensor with a dim ${this.dim}`, input);
      return d;
    }
    if (input.dtype === 'float32') {
      switch (input.ndim) {
        case 1: return 0;
        case 2: return 1;
        case 3: return 0;
        case 4: return 1;
      }
    }
    return badInput(this, 'float32 [n], [batch, n], [C, H, W] or [N, C, H, W]', input);
  }

  updateOutput(input: Tensor): Tensor {
    const d = this.softmaxDim(input);
    this.output = ensureShape(this.output, input.shape);
    if (this.log) ops.logSoftmax(input, d, this.output);
    else ops.softmax(input, d, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const d = this.softmaxDim(input);
    if (!gradOutput.equalShape(input)) {
      throw new RangeError(`${this.getName()}: gradOutput [${gradOutput.shape}] does not match input [${input.shape}]`);
    }
    this.gradInput = ensureShape(this.gradInput, input.shape);
    if (this.log) ops.logSoftmaxBackward(this.output, gradOutput, d, this.gradInput);
    else ops.softmaxBackward(this.output, gradOutput, d, this.gradInput);
    return this.gradInput;
  }

  protected override extraRepr(): string { return this.dim === undefined ? '' : `(dim ${this.dim})`; }
}

/** exp(x_i) / sum_j exp(x_j) along a dim (see SoftMaxBase for which). */
export class SoftMax extends SoftMaxBase {
  protected readonly log = false;
}

/** x_i - log(sum_j exp(x_j)) along a dim (see SoftMaxBase for which). */
export class LogSoftMax extends SoftMaxBase {
  protected readonly log = true;
}

// ---- Power and the elementwise math layers ------------------------------------------------------

/** y = (shift + scale * x)^power (BigDL/Torch Power). */
export class Power extends Pointwise {
  /** shift + scale * x, kept from forward for backward (unused when scale 1, shift 0) */
  private base = Tensor.empty([0]);

  constructor(readonly power: number, readonly scale = 1, readonly shift = 0) {
    super();
    checkFinite('Power', 'power', power);
    checkFinite('Power', 'scale', scale);
    checkFinite('Power', 'shift', shift);
  }

  private get identity(): boolean { return this.scale === 1 && this.shift === 0; }

  protected fwd(x: Tensor, out: Tensor): void {
    let b = x;
    if (!this.identity) {
      b = this.base = ensureShape(this.base, x.shape);
      affine(x, this.scale, this.shift, b);
    }
    ops.pow(b, this.power, out);
  }

  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void {
    const p = this.power, s = this.scale;
    if (p === 1) {
      ops.mul(gy, s, out);
      return;
    }
    let b = x;
    if (!this.identity) {
      // normally kept from forward; recomputed if backward comes without one
      if (!this.base.equalShape(x)) affine(x, s, this.shift, this.base = ensureShape(this.base, x.shape));
      b = this.base;
    }
    // gx = gy * power * scale * b^(power - 1)
    if (p === 2) ops.mul(b, gy, out);
    else {
      ops.pow(b, p - 1, out);
      ops.mul(out, gy, out);
    }
    ops.mul(out, p * s, out);
  }

  protected override extraRepr(): string { return `(${this.power}, ${this.scale}, ${this.shift})`; }
}

/** sqrt(x); gradient gy / (2 sqrt(x)). */
export class Sqrt extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.sqrt(x, out); }
  protected bwd(_x: Tensor, y: Tensor, gy: Tensor, out: Tensor): void {
    ops.div(gy, y, out);
    ops.mul(out, 0.5, out);
  }
}

/** x²; gradient 2x·gy. */
export class Square extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.square(x, out); }
  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void {
    ops.mul(x, gy, out);
    ops.mul(out, 2, out);
  }
}

/** exp(x); gradient y·gy. */
export class Exp extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.exp(x, out); }
  protected bwd(_x: Tensor, y: Tensor, gy: Tensor, out: Tensor): void { ops.mul(y, gy, out); }
}

/** log(x); gradient gy / x. */
export class Log extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.log(x, out); }
  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void { ops.div(gy, x, out); }
}

/** |x|; gradient sign(x)·gy (0 at x == 0, as Torch). */
export class Abs extends Pointwise {
  protected fwd(x: Tensor, out: Tensor): void { ops.abs(x, out); }
  protected bwd(x: Tensor, _y: Tensor, gy: Tensor, out: Tensor): void {
    ops.sign(x, out);
    ops.mul(out, gy, out);
  }
}
