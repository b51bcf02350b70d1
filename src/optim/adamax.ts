import { abs, add, div, maximum, mul } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { affine, checkHyper, OptimMethod, type LearningRateOptions } from './optim-method.js';

export interface AdamaxOptions extends LearningRateOptions {
  /** decay of the first-moment average (default 0.9) */
  beta1?: number;
  /** decay of the infinity norm (default 0.999) */
  beta2?: number;
  /** added to |g| in the infinity norm (default 1e-8; see below) */
  epsilon?: number;
  /** L2 penalty added to the gradient (default 0) */
  weightDecay?: number;
}

/**
 * Adamax (Kingma & Ba 2015, section 7), as BigDL's and PyTorch's torch.optim.Adamax. At update
 * t = neval + 1:
 *
 *   g' = g + weightDecay * w
 *   m  = beta1 * m + (1 - beta1) * g'
 *   u  = max(beta2 * u, |g'| + epsilon)
 *   w  = w - lr / (1 - beta1^t) * m / u
 *
 * Defaults are BigDL's (learningRate 0.002) except epsilon: BigDL's 1e-38 is below float32's
 * smallest normal number (flushed to zero where denormals are disabled, giving 0/0), so the
 * default here is PyTorch's 1e-8.
 */
export class Adamax extends OptimMethod {
  readonly name = 'Adamax';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly opts: AdamaxOptions;

  constructor(opts: AdamaxOptions = {}) {
    super('Adamax', opts, 0.002);
    this.opts = { ...opts };
    this.beta1 = checkHyper('Adamax', 'beta1', opts.beta1 ?? 0.9, 0, 1, { hi: true });
    this.beta2 = checkHyper('Adamax', 'beta2', opts.beta2 ?? 0.999, 0, 1, { hi: true });
    this.epsilon = checkHyper('Adamax', 'epsilon', opts.epsilon ?? 1e-8, 0);
    this.weightDecay = checkHyper('Adamax', 'weightDecay', opts.weightDecay ?? 0, 0);
  }

  protected update(w: Tensor, g: Tensor, lr: number): void {
    const n = w.numel;
    const m = this.buffer('expAvg', n);
    const u = this.buffer('expInf', n);
    const t = this.scratch('tmp', n);
    const grad = this.weightDecay !== 0 ? add(g, w, this.weightDecay, t) : g;
    mul(m, this.beta1, m);
    add(m, grad, 1 - this.beta1, m);
    mul(u, this.beta2, u);
    abs(grad, t);
    affine(t, 1, this.epsilon, t);
    maximum(u, t, u);
    const clr = lr / (1 - Math.pow(this.beta1, this.state.neval + 1));
    div(m, u, t);
    add(w, t, -clr, w);
  }

  protected create(): Adamax {
    return new Adamax(this.cloneOptions(this.opts));
  }
}
