import { backend } from '../backend/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkHyper, OptimMethod, type LearningRateOptions } from './optim-method.js';

export interface SGDOptions extends LearningRateOptions {
  /** L2 penalty: the gradient used is g + weightDecay * w (default 0) */
  weightDecay?: number;
  /** momentum factor (default 0) */
  momentum?: number;
  /**
   * dampening of the gradient added to the momentum buffer. Default: equal to `momentum`, as in
   * BigDL (PyTorch's default is 0 — pass `dampening: 0` for PyTorch's behaviour).
   */
  dampening?: number;
  /** Nesterov momentum; needs momentum > 0 and dampening 0 (default false) */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent with weight decay, momentum and Nesterov momentum, as BigDL's SGD
 * and PyTorch's torch.optim.SGD (identical rules):
 *
 *   g' = g + weightDecay * w
 *   b  = g' at the first update, then momentum * b + (1 - dampening) * g'
 *   d  = nesterov ? g' + momentum * b : (momentum ? b : g')
 *   w  = w - lr * d
 *
 * where lr comes from the schedule (default: learningRate / (1 + neval * learningRateDecay)).
 * Defaults are BigDL's: learningRate 1e-3 and dampening = momentum. BigDL's per-element
 * `learningRates` / `weightDecays` tensors are not supported.
 */
export class SGD extends OptimMethod {
  readonly name = 'SGD';
  readonly weightDecay: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  private readonly opts: SGDOptions;

  constructor(opts: SGDOptions = {}) {
    super('SGD', opts, 1e-3);
    this.opts = { ...opts };
    this.weightDecay = checkHyper('SGD', 'weightDecay', opts.weightDecay ?? 0, 0);
    this.momentum = checkHyper('SGD', 'momentum', opts.momentum ?? 0, 0);
    this.dampening = checkHyper('SGD', 'dampening', opts.dampening ?? this.momentum);
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError(`SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ${this.momentum}, dampening ${this.dampening}; note dampening defaults to the momentum, as in BigDL)`);
    }
  }

  /**
   * One fused pass over the slice (the backend's sgdUpdate: weight decay, momentum, dampening,
   * Nesterov and the update together), so a step reads w, g and the momentum buffer once each.
   */
  protected update(w: Tensor, g: Tensor, lr: number): void {
    const n = w.numel;
    let buf: Tensor | null = null, first = false;
    if (this.momentum !== 0) {
      first = !this.hasBuffer('momentumBuffer');
      buf = this.buffer('momentumBuffer', n);
    }
    backend().sgdUpdate(n, w.data as Float32Array, w.offset, g.data as Float32Array, g.offset,
      buf ? (buf.data as Float32Array) : null, buf ? buf.offset : 0, lr, this.weightDecay, this.momentum, this.dampening,
      this.nesterov, first);
  }

  protected create(): SGD {
    return new SGD(this.cloneOptions(this.opts));
  }
}
