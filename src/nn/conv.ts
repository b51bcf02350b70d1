import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import type { Conv2dOptions } from '../tensor/dnn.js';
import { Default, type InitializationMethod } from './init.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';

/**
 * `t` [1, ...] without its batch dim, for layers that accept unbatched input. Returns `prev` when
 * it already is that view (so a second forward of the same shape returns the same object, as for
 * batched input), else a new view.
 */
export function dropBatchDim(t: Tensor, prev: Tensor): Tensor {
  const same = prev.ndim === t.ndim - 1 && prev.data === t.data && prev.offset === t.offset && prev.isContiguous() &&
    prev.shape.every((s, i) => s === t.shape[i + 1]);
  return same ? prev : t.squeeze(0);
}

export interface ConvOptions {
  withBias?: boolean;
  dilationW?: number;
  dilationH?: number;
  weightInit?: InitializationMethod;
  biasInit?: InitializationMethod;
  /**
   * BigDL's propagateBack (default true). false: backward computes no gradient w.r.t. the input
   * (gradInput is zeros): for a first layer on data, whose input gradient nobody reads.
   */
  propagateBack?: boolean;
}

/**
 * 2-d convolution over [N, C, H, W] (or [C, H, W]) input, BigDL's argument order:
 * `new SpatialConvolution(nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH, nGroup)`.
 * Weights are [nOutputPlane, nInputPlane/nGroup, kH, kW] (PyTorch's layout).
 */
export class SpatialConvolution extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private readonly conv: Conv2dOptions;
  private gradWeightTmp = Tensor.empty([0]);
  private gradBiasTmp = Tensor.empty([0]);
  /** see ConvOptions.propagateBack; models saved before it existed load as true */
  propagateBack = true;

  constructor(readonly nInputPlane: number, readonly nOutputPlane: number, readonly kW: number, readonly kH: number,
    readonly dW = 1, readonly dH = 1, readonly padW = 0, readonly padH = 0, readonly nGroup = 1, opts: ConvOptions = {}) {
    super();
    for (const [k, v] of Object.entries({ nInputPlane, nOutputPlane, kW, kH, dW, dH, nGroup })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`SpatialConvolution: ${k} must be a positive integer, got ${v}`);
    }
    if (nInputPlane % nGroup !== 0 || nOutputPlane % nGroup !== 0) {
      throw new RangeError(`SpatialConvolution: nGroup ${nGroup} must divide nInputPlane ${nInputPlane} and nOutputPlane ${nOutputPlane}`);
    }
    this.conv = { stride: [dH, dW], padding: [padH, padW], dilation: [opts.dilationH ?? 1, opts.dilationW ?? 1], groups: nGroup };
    this.weight = this.registerParameter('weight', Tensor.empty([nOutputPlane, nInputPlane / nGroup, kH, kW]));
    this.bias = opts.withBias === false ? null : this.registerParameter('bias', Tensor.empty([nOutputPlane]));
    this.propagateBack = opts.propagateBack ?? true;
    this.reset(opts.weightInit, opts.biasInit);
  }

  /** BigDL's setPropagateBack: false skips the input gradient (gradInput becomes zeros). */
  setPropagateBack(propagate: boolean): this {
    // a fresh buffer: the zeros a non-propagating backward returns are never written
    if (!propagate && this.propagateBack !== false) this.gradInput = Tensor.empty([0]);
    this.propagateBack = propagate;
    return this;
  }

  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    const fanIn = (this.nInputPlane / this.nGroup) * this.kH * this.kW;
    const fanOut = (this.nOutputPlane / this.nGroup) * this.kH * this.kW;
    weightInit.init(this.weight.weight, fanIn, fanOut);
    if (this.bias) biasInit.init(this.bias.weight, fanIn, fanOut);
    return this;
  }

  private batched(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || (input.ndim !== 3 && input.ndim !== 4) || input.shape[input.ndim - 3] !== this.nInputPlane) {
      badInput(this, `[N, ${this.nInputPlane}, H, W] or [${this.nInputPlane}, H, W] float32`, input);
    }
    return input.ndim === 3 ? input.unsqueeze(0) : input;
  }

  private unbatched(t: Tensor, input: Tensor, prev: Tensor): Tensor {
    return input.ndim === 3 ? dropBatchDim(t, prev) : t;
  }

  updateOutput(input: Tensor): Tensor {
    const x = this.batched(input);
    const p = ops.convParams(this.getName(), x.shape, this.weight.weight.shape, this.conv);
    const out = ensureShape(this.output.ndim === 3 ? this.output.unsqueeze(0) : this.output, [p.n, p.oc, p.oh, p.ow]);
    ops.conv2d(x, this.weight.weight, this.bias?.weight ?? null, this.conv, out);
    this.output = this.unbatched(out, input, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const x = this.batched(input);
    const gy = gradOutput.ndim === 3 ? gradOutput.unsqueeze(0) : gradOutput;
    const gi = ensureShape(this.gradInput.ndim === 3 ? this.gradInput.unsqueeze(0) : this.gradInput, x.shape);
    // not propagating: gi stays the zeros it was allocated with (setPropagateBack resets it)
    if (this.propagateBack !== false) ops.conv2dBackwardData(gy, this.weight.weight, x.shape, this.conv, gi);
    this.gradInput = this.unbatched(gi, input, this.gradInput);
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    const x = this.batched(input);
    const gy = gradOutput.ndim === 3 ? gradOutput.unsqueeze(0) : gradOutput;
    // kernels overwrite; gradients accumulate, so go through scratch buffers
    this.gradWeightTmp = ensureShape(this.gradWeightTmp, this.weight.weight.shape);
    if (this.bias) this.gradBiasTmp = ensureShape(this.gradBiasTmp, [this.nOutputPlane]);
    ops.conv2dBackwardWeights(x, gy, this.weight.weight.shape, this.conv, this.gradWeightTmp, this.bias ? this.gradBiasTmp : false);
    ops.add(this.weight.gradient, this.gradWeightTmp, scale, this.weight.gradient);
    if (this.bias) ops.add(this.bias.gradient, this.gradBiasTmp, scale, this.bias.gradient);
  }

  protected override extraRepr(): string {
    const g = (this.nGroup > 1 ? `, groups ${this.nGroup}` : '') + (this.propagateBack === false ? ', no input gradient' : '');
    return `(${this.nInputPlane} -> ${this.nOutputPlane}, ${this.kW}x${this.kH}, ${this.dW},${this.dH}, ${this.padW},${this.padH}${g})`;
  }
}

/**
 * Transposed 2-d convolution ("deconvolution"), BigDL's
 * `new SpatialFullConvolution(nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH, adjW, adjH, nGroup)`.
 * Weights are [nInputPlane, nOutputPlane/nGroup, kH, kW] (PyTorch's ConvTranspose2d layout).
 * Output size: (H - 1)*dH - 2*padH + kH + adjH.
 */
export class SpatialFullConvolution extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private readonly conv: Conv2dOptions;
  private gradWeightTmp = Tensor.empty([0]);
  private gradBiasRows = Tensor.empty([0]);
  private gradBiasTmp = Tensor.empty([0]);

  constructor(readonly nInputPlane: number, readonly nOutputPlane: number, readonly kW: number, readonly kH: number,
    readonly dW = 1, readonly dH = 1, readonly padW = 0, readonly padH = 0, readonly adjW = 0, readonly adjH = 0,
    readonly nGroup = 1, opts: ConvOptions = {}) {
    super();
    if (adjW >= dW || adjH >= dH || adjW < 0 || adjH < 0) throw new RangeError(`SpatialFullConvolution: adjW/adjH (${adjW}, ${adjH}) must be below the strides (${dW}, ${dH})`);
    if (nInputPlane % nGroup !== 0 || nOutputPlane % nGroup !== 0) {
      throw new RangeError(`SpatialFullConvolution: nGroup ${nGroup} must divide nInputPlane ${nInputPlane} and nOutputPlane ${nOutputPlane}`);
    }
    this.conv = { stride: [dH, dW], padding: [padH, padW], dilation: [opts.dilationH ?? 1, opts.dilationW ?? 1], groups: nGroup };
    this.weight = this.registerParameter('weight', Tensor.empty([nInputPlane, nOutputPlane / nGroup, kH, kW]));
    this.bias = opts.withBias === false ? null : this.registerParameter('bias', Tensor.empty([nOutputPlane]));
    const fanIn = (nOutputPlane / nGroup) * kH * kW;
    (opts.weightInit ?? Default).init(this.weight.weight, fanIn, (nInputPlane / nGroup) * kH * kW);
    if (this.bias) (opts.biasInit ?? Default).init(this.bias.weight, fanIn, nInputPlane * kH * kW);
  }

  private outShape(x: Tensor): number[] {
    const [dh, dw] = this.conv.dilation as [number, number];
    const oh = (x.shape[2] - 1) * this.dH - 2 * this.padH + dh * (this.kH - 1) + 1 + this.adjH;
    const ow = (x.shape[3] - 1) * this.dW - 2 * this.padW + dw * (this.kW - 1) + 1 + this.adjW;
    if (oh < 1 || ow < 1) badInput(this, 'an input large enough for a positive output size', x);
    return [x.shape[0], this.nOutputPlane, oh, ow];
  }

  private check(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || input.ndim !== 4 || input.shape[1] !== this.nInputPlane) {
      badInput(this, `[N, ${this.nInputPlane}, H, W] float32`, input);
    }
    return input;
  }

  // The forward of a transposed convolution is the data-gradient of the convolution that maps
  // its output back to its input, and vice versa.
  updateOutput(input: Tensor): Tensor {
    const x = this.check(input);
    const shape = this.outShape(x);
    this.output = ensureShape(this.output, shape);
    ops.conv2dBackwardData(x, this.weight.weight, shape, this.conv, this.output);
    if (this.bias) ops.add(this.output, this.bias.weight.view(1, this.nOutputPlane, 1, 1), 1, this.output);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const x = this.check(input);
    this.gradInput = ensureShape(this.gradInput, x.shape);
    ops.conv2d(gradOutput, this.weight.weight, null, this.conv, this.gradInput);
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    const x = this.check(input);
    this.gradWeightTmp = ensureShape(this.gradWeightTmp, this.weight.weight.shape);
    ops.conv2dBackwardWeights(gradOutput, x, this.weight.weight.shape, this.conv, this.gradWeightTmp, false);
    ops.add(this.weight.gradient, this.gradWeightTmp, scale, this.weight.gradient);
    if (this.bias) {
      // bias gradient: gradOutput summed over N, H and W (through reused scratch buffers)
      const [n, c] = gradOutput.shape;
      this.gradBiasRows = ensureShape(this.gradBiasRows, [n, c]);
      this.gradBiasTmp = ensureShape(this.gradBiasTmp, [c]);
      ops.sum(gradOutput.flatten(2), 2, false, this.gradBiasRows);
      ops.sum(this.gradBiasRows, 0, false, this.gradBiasTmp);
      ops.add(this.bias.gradient, this.gradBiasTmp, scale, this.bias.gradient);
    }
  }

  protected override extraRepr(): string {
    return `(${this.nInputPlane} -> ${this.nOutputPlane}, ${this.kW}x${this.kH}, ${this.dW},${this.dH}, ${this.padW},${this.padH})`;
  }
}
