import { add, div, mul, sqrt, square } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { affine, checkHyper, OptimMethod, type LearningRateOptions } from './optim-method.js';

export interface AdamOptions extends LearningRateOptions {
  /** decay of the first-moment average (PyTorch's betas[0]; default 0.9) */
  beta1?: number;
  /** decay of the second-moment average (PyTorch's betas[1]; default 0.999) */
  beta2?: number;
  /** added to the root of the second moment (PyTorch's eps; default 1e-8) */
  epsilon?: number;
  /** L2 penalty added to the gradient, as torch.optim.Adam (not AdamW's decoupled decay; default 0) */
  weightDecay?: number;
}

/**
 * Adam (Kingma & Ba 2015), as PyTorch's torch.optim.Adam (amsgrad off). At update t = neval + 1:
 *
 *   g' = g + weightDecay * w
 *   m  = beta1 * m + (1 - beta1) * g'
 *   v  = beta2 * v + (1 - beta2) * g'^2
 *   w  = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
 *
 * BigDL differs slightly: it folds the second bias correction into the step,
 * w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon), which moves epsilon's
 * weight by the factor sqrt(1 - beta2^t); BigDL has no weight decay. lr comes from the schedule
 * (default: learningRate / (1 + neval * learningRateDecay), BigDL's Adam decay).
 */
export class Adam extends OptimMethod {
  readonly name = 'Adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly opts: AdamOptions;

  constructor(opts: AdamOptions = {}) {
    super('Adam', opts, 1e-3);
    this.opts = { ...opts };
    this.beta1 = checkHyper('Adam', 'beta1', opts.beta1 ?? 0.9, 0, 1, { hi: true });
    this.beta2 = checkHyper('Adam', 'beta2', opts.beta2 ?? 0.999, 0, 1, { hi: true });
    this.epsilon = checkHyper('Adam', 'epsilon', opts.epsilon ?? 1e-8, 0);
    this.weightDecay = checkHyper('Adam', 'weightDecay', opts.weightDecay ?? 0, 0);
  }

  protected update(w: Tensor, g: Tensor, lr: number): void {
    const n = w.numel;
    const m = this.buffer('expAvg', n);
    const v = this.buffer('expAvgSq', n);
    const t = this.scratch('tmp', n);
    const step = this.state.neval + 1;
    // with weight decay the decayed gradient lives in t, which is then squared in place
    const grad = this.weightDecay !== 0 ? add(g, w, this.weightDecay, t) : g;
    mul(m, this.beta1, m);
    add(m, grad, 1 - this.beta1, m);
    mul(v, this.beta2, v);
    square(grad, t);
    add(v, t, 1 - this.beta2, v);
    const bc1 = 1 - Math.pow(this.beta1, step);
    const bc2 = 1 - Math.pow(this.beta2, step);
    sqrt(v, t);
    affine(t, 1 / Math.sqrt(bc2), this.epsilon, t);
    div(m, t, t);
    add(w, t, -lr / bc1, w);
  }

  protected create(): Adam {
    return new Adam(this.cloneOptions(this.opts));
  }
}
