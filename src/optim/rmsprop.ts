import { add, div, mul, sqrt, square, sub } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { affine, checkHyper, OptimMethod, type LearningRateOptions } from './optim-method.js';

export interface RMSpropOptions extends LearningRateOptions {
  /** decay of the squared-gradient average (PyTorch's alpha; default 0.99) */
  decayRate?: number;
  /** added to the root (default 1e-8) */
  epsilon?: number;
  /** L2 penalty added to the gradient (default 0) */
  weightDecay?: number;
  /** momentum on the scaled step (PyTorch extension; default 0) */
  momentum?: number;
  /** divide by the centred (variance) estimate instead (PyTorch extension; default false) */
  centered?: boolean;
}

/**
 * RMSprop (Tieleman & Hinton 2012), as BigDL's and PyTorch's torch.optim.RMSprop:
 *
 *   g' = g + weightDecay * w
 *   s  = decayRate * s + (1 - decayRate) * g'^2
 *   centered: a = decayRate * a + (1 - decayRate) * g';  r = sqrt(s - a^2) + epsilon
 *   else:     r = sqrt(s) + epsilon
 *   momentum: b = momentum * b + g' / r;  w = w - lr * b
 *   else:     w = w - lr * g' / r
 *
 * `momentum` and `centered` are PyTorch's; BigDL has neither. lr comes from the schedule
 * (default: learningRate / (1 + neval * learningRateDecay), as BigDL). Defaults as both:
 * learningRate 1e-2, decayRate 0.99, epsilon 1e-8.
 */
export class RMSprop extends OptimMethod {
  readonly name = 'RMSprop';
  readonly decayRate: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
  private readonly opts: RMSpropOptions;

  constructor(opts: RMSpropOptions = {}) {
    super('RMSprop', opts, 1e-2);
    this.opts = { ...opts };
    this.decayRate = checkHyper('RMSprop', 'decayRate', opts.decayRate ?? 0.99, 0, 1);
    this.epsilon = checkHyper('RMSprop', 'epsilon', opts.epsilon ?? 1e-8, 0);
    this.weightDecay = checkHyper('RMSprop', 'weightDecay', opts.weightDecay ?? 0, 0);
    this.momentum = checkHyper('RMSprop', 'momentum', opts.momentum ?? 0, 0);
    this.centered = opts.centered ?? false;
  }

  protected update(w: Tensor, g: Tensor, lr: number): void {
    const n = w.numel;
    const a = this.decayRate;
    const sq = this.buffer('squareAvg', n);
    const t = this.scratch('tmp', n);
    const grad = this.weightDecay !== 0 ? add(g, w, this.weightDecay, this.scratch('grad', n)) : g;
    mul(sq, a, sq);
    square(grad, t);
    add(sq, t, 1 - a, sq);
    if (this.centered) {
      const ga = this.buffer('gradAvg', n);
      mul(ga, a, ga);
      add(ga, grad, 1 - a, ga);
      square(ga, t);
      sub(sq, t, 1, t);
      sqrt(t, t);
    } else {
      sqrt(sq, t);
    }
    affine(t, 1, this.epsilon, t);
    div(grad, t, t);
    if (this.momentum > 0) {
      const buf = this.buffer('momentumBuffer', n);
      mul(buf, this.momentum, buf);
      add(buf, t, 1, buf);
      add(w, buf, -lr, w);
    } else {
      add(w, t, -lr, w);
    }
  }

  protected create(): RMSprop {
    return new RMSprop(this.cloneOptions(this.opts));
  }
}
