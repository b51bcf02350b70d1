import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import type { PoolParams } from '../backend/backend.js';
import type { DnnState, Pool2dOptions } from '../tensor/dnn.js';
import { badInput, ensureShape, Module } from './module.js';
import { dropBatchDim } from './conv.js';

/** Shared pooling plumbing: [N, C, H, W] or [C, H, W] input, state kept for backward. */
abstract class Pooling2D extends Module {
  protected state: DnnState<PoolParams> | undefined;
  protected ceilMode = false;

  constructor(readonly kW: number, readonly kH: number, readonly dW: number, readonly dH: number,
    readonly padW: number, readonly padH: number) {
    super();
  }

  /** Use ceil instead of floor for the output size (BigDL's `.ceil()`). */
  ceil(): this {
    this.ceilMode = true;
    return this;
  }

  floor(): this {
    this.ceilMode = false;
    return this;
  }

  protected abstract poolOptions(x: Tensor): Pool2dOptions;
  protected abstract max: boolean;

  private batched(input: Tensor): Tensor {
    if (input.dtype !== 'float32' || (input.ndim !== 3 && input.ndim !== 4)) badInput(this, '[N, C, H, W] or [C, H, W] float32', input);
    return input.ndim === 3 ? input.unsqueeze(0) : input;
  }

  updateOutput(input: Tensor): Tensor {
    const x = this.batched(input);
    const opts = this.poolOptions(x);
    const p = ops.poolParams(this.getName(), 0, x.shape, opts);
    const out = ensureShape(this.output.ndim === 3 ? this.output.unsqueeze(0) : this.output, [p.n, p.c, p.oh, p.ow]);
    const r = this.max ? ops.maxPool2d(x, opts, out, this.state) : ops.avgPool2d(x, opts, out, this.state);
    this.state = r.state;
    this.output = input.ndim === 3 ? dropBatchDim(out, this.output) : out;
    return this.output;
  }

  updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    if (!this.state) throw new Error(`${this.getName()}: backward before forward`);
    const x = this.batched(input);
    const gy = gradOutput.ndim === 3 ? gradOutput.unsqueeze(0) : gradOutput;
    const gi = ensureShape(this.gradInput.ndim === 3 ? this.gradInput.unsqueeze(0) : this.gradInput, x.shape);
    ops.pool2dBackward(this.state, gy, gi);
    this.gradInput = input.ndim === 3 ? dropBatchDim(gi, this.gradInput) : gi;
    return this.gradInput;
  }

  protected override extraRepr(): string {
    return `(${this.kW}x${this.kH}, ${this.dW},${this.dH}, ${this.padW},${this.padH}${this.ceilMode ? ', ceil' : ''})`;
  }
}

/** BigDL's `new SpatialMaxPooling(kW, kH, dW = kW, dH = kH, padW = 0, padH = 0)`; `.ceil()` for ceil mode. */
export class SpatialMaxPooling extends Pooling2D {
  protected max = true;
  constructor(kW: number, kH: number, dW = kW, dH = kH, padW = 0, padH = 0) {
    super(kW, kH, dW, dH, padW, padH);
  }
  protected poolOptions(): Pool2dOptions {
    return { kernel: [this.kH, this.kW], stride: [this.dH, this.dW], padding: [this.padH, this.padW], ceilMode: this.ceilMode };
  }
}

export interface AvgPoolOptions {
  /** pool over the whole input plane, whatever its size */
  globalPooling?: boolean;
  ceilMode?: boolean;
  /** count padded cells in the divisor (default true, as Torch and PyTorch) */
  countIncludePad?: boolean;
  /** false: sum instead of average (BigDL's `divide`) */
  divide?: boolean;
}

/** BigDL's `new SpatialAveragePooling(kW, kH, dW = 1, dH = 1, padW = 0, padH = 0, { globalPooling, ceilMode, countIncludePad, divide })`. */
export class SpatialAveragePooling extends Pooling2D {
  protected max = false;
  private readonly opts: AvgPoolOptions;
  constructor(kW: number, kH: number, dW = 1, dH = 1, padW = 0, padH = 0, opts: AvgPoolOptions = {}) {
    super(kW, kH, dW, dH, padW, padH);
    this.opts = opts;
    this.ceilMode = opts.ceilMode ?? false;
  }
  protected poolOptions(x: Tensor): Pool2dOptions {
    const global = this.opts.globalPooling ?? false;
    return {
      kernel: global ? [x.shape[2], x.shape[3]] : [this.kH, this.kW],
      stride: global ? [x.shape[2], x.shape[3]] : [this.dH, this.dW],
      padding: global ? 0 : [this.padH, this.padW],
      ceilMode: this.ceilMode,
      countIncludePad: this.opts.countIncludePad ?? true,
    };
  }
  override updateOutput(input: Tensor): Tensor {
    const y = super.updateOutput(input);
    // sum pooling = average times the window area (all windows are full when divide is off)
    if (this.opts.divide === false) ops.mul(y, this.windowArea(input), y);
    return y;
  }
  override updateGradInput(input: Tensor, gradOutput: Tensor): Tensor {
    const g = super.updateGradInput(input, gradOutput);
    if (this.opts.divide === false) ops.mul(g, this.windowArea(input), g);
    return g;
  }
  private windowArea(input: Tensor): number {
    const x = input.ndim === 3 ? input.unsqueeze(0) : input;
    const k = this.poolOptions(x).kernel as [number, number];
    return k[0] * k[1];
  }
}
