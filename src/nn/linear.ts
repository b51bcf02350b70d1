import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { Default, type InitializationMethod } from './init.js';
import { badInput, ensureShape, Module, type Parameter } from './module.js';

export interface LinearOptions {
  withBias?: boolean;
  weightInit?: InitializationMethod;
  biasInit?: InitializationMethod;
}

/** y = x·Wᵀ + b for x of shape [inputSize] or [batch, inputSize]; W is [outputSize, inputSize]. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private ones = Tensor.empty([0]);

  constructor(readonly inputSize: number, readonly outputSize: number, opts: LinearOptions = {}) {
    super();
    if (!Number.isInteger(inputSize) || inputSize < 1 || !Number.isInteger(outputSize) || outputSize < 1) {
      throw new RangeError(`Linear(${inputSize}, ${outputSize}): sizes must be positive integers`);
    }
    this.weight = this.registerParameter('weight', Tensor.empty([outputSize, inputSize]));
    this.bias = opts.withBias === false ? null : this.registerParameter('bias', Tensor.empty([outputSize]));
    this.reset(opts.weightInit, opts.biasInit);
  }

  /** Re-initialises the parameters (Torch default unless given). */
  reset(weightInit: InitializationMethod = Default, biasInit: InitializationMethod = Default): this {
    weightInit.init(this.weight.weight, this.inputSize, this.outputSize);
    if (this.bias) biasInit.init(this.bias.weight, this.inputSize, this.outputSize);
    return this;
  }

  private asBatch(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || (input.ndim !== 1 && input.ndim !== 2) || input.shape[input.ndim - 1] !== this.inputSize) {
      badInput(this, `[${this.inputSize}] or [batch, ${this.inputSize}] float32`, input);
    }
    return input.ndim === 1 ? input.unsqueeze(0) : input;
  }

  updateOutput(input: Tensor): Tensor {
    const x = this.asBatch(input);
    const out = ensureShape(this.output, [x.shape[0], this.outputSize]);
    if (this.bias) ops.addmm(this.bias.weight, x, this.weight.weight.t(), {}, out);
    else ops.mm(x, this.weight.weight.t(), out);
    this.output = input.ndim === 1 ? out.view(this.outputSize) : out;
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const x = this.asBatch(input);
    const gy = gradOutput.ndim === 1 ? gradOutput.unsqueeze(0) : gradOutput;
    const gi = ensureShape(this.gradInput, x.shape);
    ops.mm(gy, this.weight.weight, gi);
    this.gradInput = input.ndim === 1 ? gi.view(this.inputSize) : gi;
    return this.gradInput;
  }

  override accGradParameters(input: Tensor, gradOutput: Tensor, scale = 1): void {
    const x = this.asBatch(input);
    const gy = gradOutput.ndim === 1 ? gradOutput.unsqueeze(0) : gradOutput;
    const gw = this.weight.gradient;
    ops.addmm(gw, gy.t(), x, { alpha: scale, beta: 1 }, gw);
    if (this.bias) {
      // gb += scale * 1ᵀ·gy as one GEMM, with a cached row of ones
      if (this.ones.numel !== gy.shape[0]) this.ones = Tensor.ones([1, gy.shape[0]]);
      const gb = this.bias.gradient.view(1, this.outputSize);
      ops.addmm(gb, this.ones, gy, { alpha: scale, beta: 1 }, gb);
    }
  }

  protected override extraRepr(): string {
    return `(${this.inputSize} -> ${this.outputSize}${this.bias ? '' : ', no bias'})`;
  }
}
