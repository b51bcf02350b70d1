import { add, div, sqrt, square } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { affine, checkHyper, OptimMethod, type LearningRateOptions } from './optim-method.js';

export interface AdagradOptions extends LearningRateOptions {
  /** L2 penalty added to the gradient (default 0) */
  weightDecay?: number;
  /** added to the root of the accumulated squares (default 1e-10, as both BigDL and PyTorch) */
  epsilon?: number;
  /** starting value of the accumulated squares (PyTorch's initial_accumulator_value; default 0) */
  initialAccumulatorValue?: number;
}

/**
 * Adagrad (Duchi et al. 2011), as BigDL's and PyTorch's torch.optim.Adagrad:
 *
 *   g' = g + weightDecay * w
 *   s  = s + g'^2
 *   w  = w - lr * g' / (sqrt(s) + epsilon)
 *
 * with lr = learningRate / (1 + neval * learningRateDecay) by default (PyTorch's lr_decay is the
 * same rule). Defaults are BigDL's: learningRate 1e-3 (PyTorch: 1e-2).
 */
export class Adagrad extends OptimMethod {
  readonly name = 'Adagrad';
  readonly weightDecay: number;
  readonly epsilon: number;
  readonly initialAccumulatorValue: number;
  private readonly opts: AdagradOptions;

  constructor(opts: AdagradOptions = {}) {
    super('Adagrad', opts, 1e-3);
    this.opts = { ...opts };
    this.weightDecay = checkHyper('Adagrad', 'weightDecay', opts.weightDecay ?? 0, 0);
    this.epsilon = checkHyper('Adagrad', 'epsilon', opts.epsilon ?? 1e-10, 0);
    this.initialAccumulatorValue = checkHyper('Adagrad', 'initialAccumulatorValue', opts.initialAccumulatorValue ?? 0, 0);
  }

  protected update(w: Tensor, g: Tensor, lr: number): void {
    const n = w.numel;
    const sum = this.buffer('sum', n, this.initialAccumulatorValue);
    const t = this.scratch('tmp', n);
    const grad = this.weightDecay !== 0 ? add(g, w, this.weightDecay, this.scratch('grad', n)) : g;
    square(grad, t);
    add(sum, t, 1, sum);
    sqrt(sum, t);
    affine(t, 1, this.epsilon, t);
    div(grad, t, t);
    add(w, t, -lr, w);
  }

  protected create(): Adagrad {
    return new Adagrad(this.cloneOptions(this.opts));
  }
}
