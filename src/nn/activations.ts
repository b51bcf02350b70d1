import type { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { ensureShape, Module } from './module.js';

/**
 * Pointwise activations. Each forward and backward is one fused kernel pass into the module's
 * own buffers.
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
