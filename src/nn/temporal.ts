import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import type { PoolParams } from '../backend/backend.js';
import type { DnnState } from '../tensor/dnn.js';
import { Default, type InitializationMethod } from './init.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';
import { dropBatchDim } from './conv.js';

/*
 * Temporal (1-d) layers over [batch, time, frame] input. Both run on the 2-d kernels by viewing
 * the input, without copying, as a one-channel image [batch, 1, time, frame]: a temporal
 * convolution is a 2-d convolution whose kernel spans the whole frame, a temporal max pooling a
 * 2-d pooling with a kernel one cell wide.
 */

/**
 * BigDL's `new TemporalConvolution(inputFrameSize, outputFrameSize, kW, dW = 1)`: input
 * [batch, time, inputFrameSize] (or [time, inputFrameSize]), output [batch, outTime, outputFrameSize]
 * with outTime = floor((time - kW) / dW) + 1. Weight [outputFrameSize, kW * inputFrameSize].
 */
export class TemporalConvolution extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  private convOut = Tensor.empty([0]);
  private gradConvOut = Tensor.empty([0]);
  private gradWeightTmp = Tensor.empty([0]);
  private gradBiasTmp = Tensor.empty([0]);

  constructor(readonly inputFrameSize: number, readonly outputFrameSize: number, readonly kW: number, readonly dW = 1,
    opts: { weightInit?: InitializationMethod; biasInit?: InitializationMethod } = {}) {
    super();
    for (const [k, v] of Object.entries({ inputFrameSize, outputFrameSize, kW, dW })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`TemporalConvolution: ${k} must be a positive integer, got ${v}`);
    }
    this.weight = this.registerParameter('weight', Tensor.empty([outputFrameSize, kW * inputFrameSize]));
    this.bias = this.registerParameter('bias', Tensor.empty([outputFrameSize]));
    const fanIn = kW * inputFrameSize;
    (opts.weightInit ?? Default).init(this.weight.weight, fanIn, outputFrameSize);
    (opts.biasInit ?? Default).init(this.bias.weight, fanIn, outputFrameSize);
  }

  private image(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || (input.ndim !== 2 && input.ndim !== 3) || input.shape[input.ndim - 1] !== this.inputFrameSize) {
      badInput(this, `[batch, time, ${this.inputFrameSize}] or [time, ${this.inputFrameSize}] float32`, input);
    }
    const x = (input.ndim === 2 ? input.unsqueeze(0) : input).contiguous();
    if (x.shape[1] < this.kW) badInput(this, `at least ${this.kW} time steps`, input);
    return x.view(x.shape[0], 1, x.shape[1], this.inputFrameSize);
  }

  private kernel(): Tensor {
    return this.weight.weight.view(this.outputFrameSize, 1, this.kW, this.inputFrameSize);
  }

  private opts() {
    return { stride: [this.dW, 1] as [number, number] };
  }

  updateOutput(input: Tensor): Tensor {
    const x = this.image(input);
    const p = ops.convParams(this.getName(), x.shape, this.kernel().shape, this.opts());
    this.convOut = ensureShape(this.convOut, [p.n, p.oc, p.oh, 1]);
    ops.conv2d(x, this.kernel(), this.bias.weight, this.opts(), this.convOut);
    // [batch, out, time', 1] -> [batch, time', out]
    const out = ensureShape(this.output.ndim === 2 ? this.output.unsqueeze(0) : this.output, [p.n, p.oh, p.oc]);
    out.copy_(this.convOut.squeeze(3).transpose(1, 2));
    this.output = input.ndim === 2 ? dropBatchDim(out, this.output) : out;
    return this.output;
  }

  private gradImage(gradOutput: Tensor): Tensor {
    const gy = gradOutput.ndim === 2 ? gradOutput.unsqueeze(0) : gradOutput;
    this.gradConvOut = ensureShape(this.gradConvOut, [gy.shape[0], gy.shape[2], gy.shape[1], 1]);
    this.gradConvOut.squeeze(3).copy_(gy.transpose(1, 2));
    return this.gradConvOut;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const x = this.image(input);
    const gi = ensureShape(this.gradInput.ndim === 2 ? this.gradInput.unsqueeze(0) : this.gradInput, [x.shape[0], x.shape[2], x.shape[3]]);
    ops.conv2dBackwardData(this.gradImage(gradOutput), this.kernel(), x.shape, this.opts(), gi.view(x.shape[0], 1, x.shape[2], x.shape[3]));
    this.gradInput = input.ndim === 2 ? dropBatchDim(gi, this.gradInput) : gi;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    const x = this.image(input);
    this.gradWeightTmp = ensureShape(this.gradWeightTmp, this.kernel().shape);
    this.gradBiasTmp = ensureShape(this.gradBiasTmp, [this.outputFrameSize]);
    ops.conv2dBackwardWeights(x, this.gradImage(gradOutput), this.kernel().shape, this.opts(), this.gradWeightTmp, this.gradBiasTmp);
    ops.add(this.weight.gradient, this.gradWeightTmp.view(this.outputFrameSize, -1), scale, this.weight.gradient);
    ops.add(this.bias.gradient, this.gradBiasTmp, scale, this.bias.gradient);
  }

  protected override extraRepr(): string {
    return `(${this.inputFrameSize} -> ${this.outputFrameSize}, kW ${this.kW}, dW ${this.dW})`;
  }
}

/** BigDL's `new TemporalMaxPooling(kW, dW = kW)` over [batch, time, frame] (or [time, frame]). */
export class TemporalMaxPooling extends Module {
  private state: DnnState<PoolParams> | undefined;

  constructor(readonly kW: number, readonly dW = kW) {
    super();
    if (!Number.isInteger(kW) || kW < 1 || !Number.isInteger(dW) || dW < 1) throw new RangeError(`TemporalMaxPooling: kW and dW must be positive integers, got ${kW}, ${dW}`);
  }

  private image(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || (input.ndim !== 2 && input.ndim !== 3)) badInput(this, '[batch, time, frame] or [time, frame] float32', input);
    const x = (input.ndim === 2 ? input.unsqueeze(0) : input).contiguous();
    if (x.shape[1] < this.kW) badInput(this, `at least ${this.kW} time steps`, input);
    return x.view(x.shape[0], 1, x.shape[1], x.shape[2]);
  }

  updateOutput(input: Tensor): Tensor {
    const x = this.image(input);
    const opts = { kernel: [this.kW, 1] as [number, number], stride: [this.dW, 1] as [number, number] };
    const p = ops.poolParams(this.getName(), 0, x.shape, opts);
    const out = ensureShape(this.output.ndim === 2 ? this.output.unsqueeze(0) : this.output, [p.n, p.oh, p.ow]);
    this.state = ops.maxPool2d(x, opts, out.view(p.n, 1, p.oh, p.ow), this.state).state;
    this.output = input.ndim === 2 ? dropBatchDim(out, this.output) : out;
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    if (!this.state) throw new Error(`${this.getName()}: backward before forward`);
    const x = this.image(input);
    const gy = (gradOutput.ndim === 2 ? gradOutput.unsqueeze(0) : gradOutput).contiguous();
    const gi = ensureShape(this.gradInput.ndim === 2 ? this.gradInput.unsqueeze(0) : this.gradInput, [x.shape[0], x.shape[2], x.shape[3]]);
    ops.pool2dBackward(this.state, gy.view(gy.shape[0], 1, gy.shape[1], gy.shape[2]), gi.view(...x.shape));
    this.gradInput = input.ndim === 2 ? dropBatchDim(gi, this.gradInput) : gi;
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.kW}, ${this.dW})`;
  }
}

/** Nearest-neighbour upsampling of [N, C, H, W] by integer factors (Keras/BigDL UpSampling2D). */
export class UpSampling2D extends Module {
  private readonly sh: number;
  private readonly sw: number;
  private rowSum = Tensor.empty([0]);

  constructor(size: [number, number] = [2, 2]) {
    super();
    [this.sh, this.sw] = size;
    if (!Number.isInteger(this.sh) || this.sh < 1 || !Number.isInteger(this.sw) || this.sw < 1) throw new RangeError(`UpSampling2D: size must be two positive integers, got ${JSON.stringify(size)}`);
  }

  updateOutput(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || input.ndim !== 4) badInput(this, '[N, C, H, W] float32', input);
    const [n, c, h, w] = input.shape;
    this.output = ensureShape(this.output, [n, c, h * this.sh, w * this.sw]);
    // each input cell is broadcast over an sh x sw block: one strided copy
    const src = input.view(n, c, h, 1, w, 1).expand(n, c, h, this.sh, w, this.sw);
    this.output.view(n, c, h, this.sh, w, this.sw).copy_(src);
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const [n, c, h, w] = input.shape;
    if (!gradOutput.equalShape([n, c, h * this.sh, w * this.sw])) badInput(this, `gradOutput [${n}, ${c}, ${h * this.sh}, ${w * this.sw}]`, gradOutput);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    this.rowSum = ensureShape(this.rowSum, [n, c, h, w, this.sw]);
    // sum each block: first over its rows, then over its columns
    ops.sum(gradOutput.contiguous().view(n, c, h, this.sh, w, this.sw), 3, false, this.rowSum);
    ops.sum(this.rowSum, 4, false, this.gradInput);
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.sh}, ${this.sw})`;
  }
}
