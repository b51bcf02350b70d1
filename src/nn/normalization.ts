import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import type { LrnParams } from '../backend/backend.js';
import type { DnnState } from '../tensor/dnn.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';

export interface BatchNormOptions {
  eps?: number;
  /** running = (1 - momentum)*running + momentum*batch, as PyTorch and BigDL */
  momentum?: number;
  /** learnable scale and shift (default true) */
  affine?: boolean;
}

/**
 * Batch normalisation over dim 1: [N, C] input for BatchNormalization, [N, C, H, W] for
 * SpatialBatchNormalization. Training normalises with the batch statistics and updates the
 * running ones (unbiased variance, as PyTorch); evaluation uses the running statistics.
 * Scale starts at 1 and shift at 0 (PyTorch).
 */
export class BatchNormalization extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  runningMean: Tensor;
  runningVar: Tensor;
  readonly eps: number;
  readonly momentum: number;
  private readonly fixedScale: Tensor;
  private readonly fixedShift: Tensor;
  private batchMean: Tensor;
  private batchVar: Tensor;
  private gradScaleTmp: Tensor;
  private gradShiftTmp: Tensor;
  private gradInputScratch = Tensor.empty([0]);
  private evalK: Tensor;
  private evalKScale: Tensor;
  private evalXhat = Tensor.empty([0]);
  private evalRowSums = Tensor.empty([0]);
  protected readonly spatial: boolean = false;

  constructor(readonly nOutput: number, opts: BatchNormOptions = {}) {
    super();
    if (!Number.isInteger(nOutput) || nOutput < 1) throw new RangeError(`${this.getName()}: nOutput must be a positive integer, got ${nOutput}`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', Tensor.ones([nOutput])) : null;
    this.bias = affine ? this.registerParameter('bias', Tensor.zeros([nOutput])) : null;
    this.fixedScale = Tensor.ones([nOutput]);
    this.fixedShift = Tensor.zeros([nOutput]);
    this.runningMean = Tensor.zeros([nOutput]);
    this.runningVar = Tensor.ones([nOutput]);
    this.registerBuffer('runningMean');
    this.registerBuffer('runningVar');
    this.batchMean = Tensor.zeros([nOutput]);
    this.batchVar = Tensor.zeros([nOutput]);
    this.gradScaleTmp = Tensor.zeros([nOutput]);
    this.gradShiftTmp = Tensor.zeros([nOutput]);
    this.evalK = Tensor.zeros([nOutput]);
    this.evalKScale = Tensor.zeros([nOutput]);
  }

  protected check(input: Tensor): void {
    const want = this.spatial ? 4 : 2;
    if (input.dtype !== 'float32' || input.ndim !== want || input.shape[1] !== this.nOutput) {
      badInput(this, this.spatial ? `[N, ${this.nOutput}, H, W] float32` : `[N, ${this.nOutput}] float32`, input);
    }
  }

  private scale(): Tensor {
    return this.weight ? this.weight.weight : this.fixedScale;
  }

  updateOutput(input: Tensor): Tensor {
    this.check(input);
    this.output = ensureShape(this.output, input.shape);
    const shift = this.bias ? this.bias.weight : this.fixedShift;
    if (!this.train) {
      return ops.batchNorm(input, this.scale(), shift, this.runningMean, this.runningVar, false, this.eps, this.output);
    }
    if (input.numel / this.nOutput < 2) badInput(this, 'with more than one value per channel in training (batch statistics)', input);
    ops.batchNorm(input, this.scale(), shift, this.batchMean, this.batchVar, true, this.eps, this.output);
    const m = input.numel / this.nOutput;
    const mom = this.momentum;
    ops.mul(this.runningMean, 1 - mom, this.runningMean).add_(this.batchMean, mom);
    // running variance is unbiased: n/(n-1) times the batch's biased one
    ops.mul(this.runningVar, 1 - mom, this.runningVar).add_(this.batchVar, (mom * m) / Math.max(m - 1, 1));
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.backwardInto(input, gradOutput, 0);
    return this.gradInput;
  }

  override backward(input: Tensor, gradOutput: Tensor, scale = 1): Tensor {
    this.backwardInto(input, gradOutput, scale);
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    // the kernel yields input and parameter gradients together: when asked for the parameter
    // part alone, the input gradient goes to a scratch buffer so gradInput stays as it was
    const keep = this.gradInput;
    this.gradInput = this.gradInputScratch;
    this.backwardInto(input, gradOutput, scale);
    this.gradInputScratch = this.gradInput;
    this.gradInput = keep;
  }

  private backwardInto(input: Tensor, gradOutput: Tensor, scale: number): void {
    this.check(input);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    if (!this.train) {
      this.evalBackward(input, gradOutput, scale);
      return;
    }
    ops.batchNormBackward(input, gradOutput, this.scale(), this.batchMean, this.batchVar, this.eps,
      { gradInput: this.gradInput, gradScale: this.gradScaleTmp, gradShift: this.gradShiftTmp });
    if (scale !== 0 && this.weight && this.bias) {
      ops.add(this.weight.gradient, this.gradScaleTmp, scale, this.weight.gradient);
      ops.add(this.bias.gradient, this.gradShiftTmp, scale, this.bias.gradient);
    }
  }

  /**
   * Evaluation mode is a fixed per-channel affine map y = k*(x - runningMean)*scale + shift with
   * k = 1/sqrt(runningVar + eps): gradInput = gy*k*scale, gradScale = sum(gy*xhat),
   * gradShift = sum(gy) over every axis but the channel one.
   */
  private evalBackward(input: Tensor, gradOutput: Tensor, scale: number): void {
    const c = this.nOutput;
    const perChannel = (t: Tensor): Tensor => (this.spatial ? t.view(1, c, 1, 1) : t.view(1, c));
    ops.rsqrt(ops.add(this.runningVar, this.eps, 1, this.evalK), this.evalK);
    ops.mul(this.evalK, this.scale(), this.evalKScale);
    ops.mul(gradOutput, perChannel(this.evalKScale), this.gradInput);
    if (scale === 0 || !this.weight || !this.bias) return;
    this.evalXhat = ensureShape(this.evalXhat, input.shape);
    ops.sub(input, perChannel(this.runningMean), 1, this.evalXhat);
    ops.mul(this.evalXhat, perChannel(this.evalK), this.evalXhat).mul_(gradOutput);
    this.sumPerChannel(this.evalXhat, this.gradScaleTmp);
    this.sumPerChannel(gradOutput, this.gradShiftTmp);
    ops.add(this.weight.gradient, this.gradScaleTmp, scale, this.weight.gradient);
    ops.add(this.bias.gradient, this.gradShiftTmp, scale, this.bias.gradient);
  }

  /** out[c] = sum of t over every axis but 1 ([N, C] or [N, C, H, W]). */
  private sumPerChannel(t: Tensor, out: Tensor): void {
    if (!this.spatial) {
      ops.sum(t, 0, false, out);
      return;
    }
    const [n, c, h, w] = t.shape;
    this.evalRowSums = ensureShape(this.evalRowSums, [n, c]);
    ops.sum(t.contiguous().view(n, c, h * w), 2, false, this.evalRowSums);
    ops.sum(this.evalRowSums, 0, false, out);
  }

  protected override extraRepr(): string {
    return `(${this.nOutput}, eps ${this.eps}, momentum ${this.momentum}${this.weight ? '' : ', no affine'})`;
  }
}

export class SpatialBatchNormalization extends BatchNormalization {
  protected override readonly spatial = true;
}

/**
 * Local response normalisation across channels (AlexNet/Inception-v1):
 * y = x / (k + alpha/size * sum over `size` neighbouring channels of x^2)^beta.
 * BigDL's `new SpatialCrossMapLRN(size = 5, alpha = 1, beta = 0.75, k = 1)`.
 */
export class SpatialCrossMapLRN extends Module {
  private state: DnnState<LrnParams> | undefined;

  constructor(readonly size = 5, readonly alpha = 1, readonly beta = 0.75, readonly k = 1) {
    super();
    if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new RangeError(`SpatialCrossMapLRN: size must be a positive odd integer, got ${size}`);
    if (!(k > 0) || !(alpha >= 0) || !Number.isFinite(beta)) throw new RangeError(`SpatialCrossMapLRN: k must be positive, alpha non-negative and beta finite, got k ${k}, alpha ${alpha}, beta ${beta}`);
  }

  updateOutput(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || input.ndim !== 4) badInput(this, '[N, C, H, W] float32', input);
    this.output = ensureShape(this.output, input.shape);
    this.state = ops.lrn(input, { size: this.size, alpha: this.alpha, beta: this.beta, k: this.k }, this.output, this.state).state;
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    if (!this.state) throw new Error(`${this.getName()}: backward before forward`);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    return ops.lrnBackward(this.state, input, gradOutput, this.gradInput);
  }

  protected override extraRepr(): string {
    return `(${this.size}, ${this.alpha}, ${this.beta}, ${this.k})`;
  }
}

/**
 * Layer normalisation over the last dim: y = (x - mean) / sqrt(var + eps) * weight + bias, with
 * weight starting at 1 and bias at 0. Built from tensor ops with buffers kept across calls.
 */
export class LayerNormalization extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  private xhat = Tensor.empty([0]);
  private mean = Tensor.empty([0]);
  private rstd = Tensor.empty([0]);
  private tmp = Tensor.empty([0]);
  private rowTmp = Tensor.empty([0]);
  private colTmp = Tensor.empty([0]);

  constructor(readonly hiddenSize: number, readonly eps = 1e-5) {
    super();
    if (!Number.isInteger(hiddenSize) || hiddenSize < 1) throw new RangeError(`LayerNormalization: hiddenSize must be a positive integer, got ${hiddenSize}`);
    this.weight = this.registerParameter('weight', Tensor.ones([hiddenSize]));
    this.bias = this.registerParameter('bias', Tensor.zeros([hiddenSize]));
  }

  private check(input: Tensor): void {
    if (input.dtype !== 'float32' || input.ndim < 1 || input.shape[input.ndim - 1] !== this.hiddenSize) {
      badInput(this, `[..., ${this.hiddenSize}] float32`, input);
    }
  }

  updateOutput(input: Tensor): Tensor {
    this.check(input);
    const rows = input.shape.slice(0, -1);
    this.output = ensureShape(this.output, input.shape);
    this.xhat = ensureShape(this.xhat, input.shape);
    this.mean = ensureShape(this.mean, [...rows, 1]);
    this.rstd = ensureShape(this.rstd, [...rows, 1]);
    ops.mean(input, -1, true, this.mean);
    ops.sub(input, this.mean, 1, this.xhat);
    this.output = ops.square(this.xhat, this.output);
    ops.mean(this.output, -1, true, this.rstd);
    ops.rsqrt(ops.add(this.rstd, this.eps, 1, this.rstd), this.rstd);
    ops.mul(this.xhat, this.rstd, this.xhat);
    ops.mul(this.xhat, this.weight.weight, this.output);
    return ops.add(this.output, this.bias.weight, 1, this.output);
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    this.check(input);
    const rows = input.shape.slice(0, -1);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.tmp = ensureShape(this.tmp, input.shape);
    this.rowTmp = ensureShape(this.rowTmp, [...rows, 1]);
    // g = gy*w; gx = rstd * (g - mean(g) - xhat * mean(g * xhat))
    const g = ops.mul(gradOutput, this.weight.weight, this.gradInput);
    ops.mul(g, this.xhat, this.tmp);
    ops.mean(this.tmp, -1, true, this.rowTmp);
    ops.mul(this.xhat, this.rowTmp, this.tmp);
    ops.sub(g, this.tmp, 1, g);
    ops.mean(g, -1, true, this.rowTmp);
    ops.sub(g, this.rowTmp, 1, g);
    return ops.mul(g, this.rstd, g);
  }

  override accGradParameters(_input: Tensor, gradOutput: Tensor, scale = 1): void {
    const d = this.hiddenSize;
    this.tmp = ensureShape(this.tmp, gradOutput.shape);
    this.colTmp = ensureShape(this.colTmp, [d]);
    ops.mul(gradOutput, this.xhat, this.tmp);
    ops.sum(this.tmp.reshape(-1, d), 0, false, this.colTmp);
    ops.add(this.weight.gradient, this.colTmp, scale, this.weight.gradient);
    ops.sum(gradOutput.reshape(-1, d), 0, false, this.colTmp);
    ops.add(this.bias.gradient, this.colTmp, scale, this.bias.gradient);
  }

  protected override extraRepr(): string {
    return `(${this.hiddenSize})`;
  }
}
