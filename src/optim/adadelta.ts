import { add, div, mul, sqrt, square } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { affine, checkHyper, OptimMethod, type LearningRateOptions } from './optim-method.js';

export interface AdadeltaOptions extends LearningRateOptions {
  /** decay of both running averages (PyTorch's rho; default 0.9) */
  decayRate?: number;
  /** added inside both square roots (default 1e-10, BigDL's; PyTorch's is 1e-6) */
  epsilon?: number;
  /** L2 penalty added to the gradient (default 0) */
  weightDecay?: number;
}

/**
 * Adadelta (Zeiler 2012), as BigDL's and PyTorch's torch.optim.Adadelta:
 *
 *   g' = g + weightDecay * w
 *   s  = decayRate * s + (1 - decayRate) * g'^2
 *   d  = sqrt(a + epsilon) / sqrt(s + epsilon) * g'
 *   a  = decayRate * a + (1 - decayRate) * d^2
 *   w  = w - lr * d
 *
 * BigDL has no learning rate (it is 1, PyTorch's default too) and no weight decay; its epsilon
 * default 1e-10 is kept here.
 */
export class Adadelta extends OptimMethod {
  readonly name = 'Adadelta';
  readonly decayRate: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly opts: AdadeltaOptions;

  constructor(opts: AdadeltaOptions = {}) {
    super('Adadelta', opts, 1);
    this.opts = { ...opts };
    this.decayRate = checkHyper('Adadelta', 'decayRate', opts.decayRate ?? 0.9, 0, 1);
    this.epsilon = checkHyper('Adadelta', 'epsilon', opts.epsilon ?? 1e-10, 0);
    this.weightDecay = checkHyper('Adadelta', 'weightDecay', opts.weightDecay ?? 0, 0);
  }

  protected update(w: Tensor, g: Tensor, lr: number): void {
    const n = w.numel;
    const rho = this.decayRate;
    const sq = this.buffer('squareAvg', n);
    const acc = this.buffer('accDelta', n);
    const t = this.scratch('tmp', n);
    const d = this.scratch('delta', n);
    const grad = this.weightDecay !== 0 ? add(g, w, this.weightDecay, this.scratch('grad', n)) : g;
    mul(sq, rho, sq);
    square(grad, t);
    add(sq, t, 1 - rho, sq);
    affine(sq, 1, this.epsilon, t);
    sqrt(t, t);
    affine(acc, 1, this.epsilon, d);
    sqrt(d, d);
    div(d, t, d);
    mul(d, grad, d);
    mul(acc, rho, acc);
    square(d, t);
    add(acc, t, 1 - rho, acc);
    add(w, d, -lr, w);
  }

  protected create(): Adadelta {
    return new Adadelta(this.cloneOptions(this.opts));
  }
}
