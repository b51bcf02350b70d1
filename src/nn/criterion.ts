import { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import * as ops from '../tensor/ops.js';
import { ensureShape } from './module.js';

/**
 * The criterion contract (Torch/BigDL): forward(input, target) returns the loss as a number;
 * backward(input, target) returns the gradient of that loss with respect to the input, in a
 * buffer the criterion owns and reuses.
 */
export abstract class Criterion<In = Tensor, Target = Tensor> {
  output = 0;
  gradInput: In = Tensor.empty([0]) as unknown as In;

  abstract updateOutput(input: In, target: Target): number;
  abstract updateGradInput(input: In, target: Target): In;

  forward(input: In, target: Target): number {
    this.output = this.updateOutput(input, target);
    return this.output;
  }

  backward(input: In, target: Target): In {
    this.gradInput = this.updateGradInput(input, target);
    return this.gradInput;
  }

  getName(): string {
    return this.constructor.name;
  }
}

export interface ClassNLLOptions {
  /** per-class weights [nClasses] */
  weights?: Tensor;
  /** divide by the total weight of the batch (default true) */
  sizeAverage?: boolean;
  /** targets equal to this contribute nothing (default -100, as PyTorch) */
  ignoreIndex?: number;
}

/**
 * Negative log-likelihood of 0-based class labels given log-probabilities [batch, nClasses]
 * (or [nClasses] for one sample). Labels are an int32 tensor [batch] (float labels holding
 * integers are accepted).
 */
export class ClassNLLCriterion extends Criterion {
  readonly sizeAverage: boolean;
  readonly ignoreIndex: number;
  readonly weights: Tensor | null;
  private totalWeight = 0;

  constructor(opts: ClassNLLOptions = {}) {
    super();
    this.sizeAverage = opts.sizeAverage ?? true;
    this.ignoreIndex = opts.ignoreIndex ?? -100;
    this.weights = opts.weights ? opts.weights.contiguous() : null;
    if (this.weights && this.weights.ndim !== 1) throw new RangeError(`ClassNLLCriterion: weights must be 1-d [nClasses], got ${shapeStr(this.weights.shape)}`);
  }

  private check(input: Tensor, target: Tensor): { x: Tensor; labels: Tensor } {
    if (input.dtype !== 'float32' || (input.ndim !== 1 && input.ndim !== 2)) {
      throw new RangeError(`${this.getName()}: input must be float32 [batch, nClasses] or [nClasses], got ${input.dtype} ${shapeStr(input.shape)}`);
    }
    const x = input.ndim === 1 ? input.unsqueeze(0) : input;
    const labels = (target.dtype === 'int32' ? target : target.to('int32')).reshape(-1).contiguous();
    if (labels.numel !== x.shape[0]) {
      throw new RangeError(`${this.getName()}: ${labels.numel} targets ${shapeStr(target.shape)} for a batch of ${x.shape[0]} (input ${shapeStr(input.shape)})`);
    }
    const c = x.shape[1];
    if (this.weights && this.weights.numel !== c) throw new RangeError(`${this.getName()}: ${this.weights.numel} class weights for ${c} classes`);
    for (let i = 0; i < labels.numel; i++) {
      const t = labels.data[labels.offset + i];
      if (t !== this.ignoreIndex && (t < 0 || t >= c)) {
        throw new RangeError(`${this.getName()}: target ${t} at position ${i} is not a class in [0, ${c}) (labels are 0-based)`);
      }
    }
    return { x, labels };
  }

  private weightOf(t: number): number {
    if (t === this.ignoreIndex) return 0;
    return this.weights ? this.weights.data[this.weights.offset + t] : 1;
  }

  // Per-sample bookkeeping (O(batch)), not per-element work.
  updateOutput(input: Tensor, target: Tensor): number {
    const { x, labels } = this.check(input, target);
    let loss = 0, total = 0;
    for (let i = 0; i < labels.numel; i++) {
      const t = labels.data[labels.offset + i];
      const w = this.weightOf(t);
      if (w !== 0) loss -= w * x.get(i, t);
      total += w;
    }
    this.totalWeight = total;
    return this.sizeAverage ? (total === 0 ? 0 : loss / total) : loss;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    const { x, labels } = this.check(input, target);
    const g = ensureShape(this.gradInput, x.shape);
    g.zero_();
    let total = 0;
    for (let i = 0; i < labels.numel; i++) total += this.weightOf(labels.data[labels.offset + i]);
    this.totalWeight = total;
    const norm = this.sizeAverage ? (total === 0 ? 0 : 1 / total) : 1;
    for (let i = 0; i < labels.numel; i++) {
      const t = labels.data[labels.offset + i];
      const w = this.weightOf(t);
      if (w !== 0) g.set(-w * norm, i, t);
    }
    this.gradInput = input.ndim === 1 ? g.view(x.shape[1]) : g;
    return this.gradInput;
  }
}

/** LogSoftMax + ClassNLLCriterion in one criterion, on raw scores [batch, nClasses]. */
export class CrossEntropyCriterion extends Criterion {
  private readonly nll: ClassNLLCriterion;
  private logProbs = Tensor.empty([0]);

  constructor(opts: ClassNLLOptions = {}) {
    super();
    this.nll = new ClassNLLCriterion(opts);
  }

  updateOutput(input: Tensor, target: Tensor): number {
    this.logProbs = ensureShape(this.logProbs, input.shape);
    ops.logSoftmax(input, -1, this.logProbs);
    return this.nll.forward(this.logProbs, target);
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    this.updateOutput(input, target);
    const g = this.nll.backward(this.logProbs, target);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.logSoftmaxBackward(this.logProbs, g, -1, this.gradInput);
    return this.gradInput;
  }
}

/** Mean (or sum) of squared differences. */
export class MSECriterion extends Criterion {
  private diff = Tensor.empty([0]);
  constructor(readonly sizeAverage = true) {
    super();
  }

  private check(input: Tensor, target: Tensor): void {
    if (!input.equalShape(target)) throw new RangeError(`${this.getName()}: input ${shapeStr(input.shape)} and target ${shapeStr(target.shape)} must have the same shape`);
  }

  updateOutput(input: Tensor, target: Tensor): number {
    this.check(input, target);
    this.diff = ensureShape(this.diff, input.shape);
    ops.sub(input, target, 1, this.diff);
    const s = ops.sumSquares(this.diff).item();
    return this.sizeAverage ? s / input.numel : s;
  }

  updateGradInput(input: Tensor, target: Tensor): Tensor {
    this.check(input, target);
    this.gradInput = ensureShape(this.gradInput, input.shape);
    ops.sub(input, target, 1, this.gradInput);
    ops.mul(this.gradInput, this.sizeAverage ? 2 / input.numel : 2, this.gradInput);
    return this.gradInput;
  }
}
