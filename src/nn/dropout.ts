import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { RNG, type RandomGenerator } from '../tensor/random.js';
import { ensureShape, Module } from './module.js';

/**
 * Dropout (BigDL/Torch): in training, zeroes each element with probability p and scales the
 * survivors by 1/(1-p) so that evaluation is the identity. The mask comes from the seeded RNG.
 */
export class Dropout extends Module {
  protected mask = Tensor.empty([0]);

  /** null: the process-wide RNG, looked up at each use, so clones, saved models and replicas in
   * worker threads draw from their own thread's RNG rather than from a copy of it */
  protected readonly rng: RandomGenerator | null;

  constructor(readonly p = 0.5, rng?: RandomGenerator) {
    super();
    this.rng = rng && rng !== RNG ? rng : null;
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }

  /** Shape of the mask for an input shape (SpatialDropout2D drops whole channels). */
  protected maskShape(input: Tensor): number[] {
    return input.shape.slice();
  }

  updateOutput(input: Tensor): Tensor {
    this.output = ensureShape(this.output, input.shape);
    if (!this.train || this.p === 0) return this.output.copy_(input);
    this.mask = ensureShape(this.mask, this.maskShape(input));
    this.mask.bernoulli_(1 - this.p, this.rng ?? RNG);
    ops.mul(this.mask, 1 / (1 - this.p), this.mask);
    return ops.mul(input, this.mask, this.output);
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    if (!gradOutput.equalShape(input)) throw new RangeError(`${this.getName()}: gradOutput [${gradOutput.shape}] does not match input [${input.shape}]`);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    if (!this.train || this.p === 0) return this.gradInput.copy_(gradOutput);
    return ops.mul(gradOutput, this.mask, this.gradInput);
  }

  protected override extraRepr(): string {
    return `(${this.p})`;
  }
}

/** Drops whole feature maps of [N, C, H, W] input (one draw per sample and channel). */
export class SpatialDropout2D extends Dropout {
  protected override maskShape(input: Tensor): number[] {
    if (input.ndim !== 4) throw new RangeError(`SpatialDropout2D: expected input [N, C, H, W], got [${input.shape}]`);
    return [input.shape[0], input.shape[1], 1, 1];
  }
}
