import { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import { ClassNLLCriterion, type Criterion } from '../nn/criterion.js';

/**
 * Validation methods (BigDL's `ValidationMethod`): `apply(output, target)` scores one batch and
 * returns a `ValidationResult`; results of batches, and of distributed workers, are combined with
 * `merge`, which is exact (counts and per-threshold counts are summed, never averages of
 * averages). Class labels are 0-based (int32, or float32 holding integers).
 *
 * Text follows BigDL: `result.toString()` is e.g.
 * `Top1Accuracy is Accuracy(correct: 8930, count: 10000, accuracy: 0.893)`, `result.format()`
 * the part after "is", `method.format()` / `method.toString()` the method's name.
 */

export interface ValidationResult {
  /** The metric (accuracy, mean loss, AUC, ...) and how many samples (or groups) it covers. */
  result(): { value: number; count: number };
  /** A new result covering both operands (neither is changed). Throws for another method's result. */
  merge(other: ValidationResult): ValidationResult;
  /** BigDL's text of the result, e.g. `Accuracy(correct: 8930, count: 10000, accuracy: 0.893)`. */
  format(): string;
  /** `<method> is <format()>`, as BigDL logs it. */
  toString(): string;
  /** Plain data (for worker messages or checkpoints); `validationResultFromJSON` restores it. */
  toJSON(): ValidationResultJSON;
  /** The name of the method that produced it (its `format()`). */
  readonly method: string;
}

export interface ValidationMethod {
  apply(output: Tensor, target: Tensor): ValidationResult;
  /** The method's name in BigDL's style: `Top1Accuracy`, `Loss`, `HitRate@10`, ... */
  format(): string;
  toString(): string;
}

export type ValidationResultJSON =
  | { kind: 'accuracy'; method: string; correct: number; count: number }
  | { kind: 'contiguous'; method: string; name: string; total: number; count: number }
  | { kind: 'auc'; method: string; tp: number[]; fp: number[]; positives: number; negatives: number };

// ---- results ----------------------------------------------------------------------------------

function mergeError(a: ValidationResult, b: ValidationResult, why = ''): never {
  throw new TypeError(`ValidationResult.merge: cannot merge a ${b.method} result (${b.constructor.name}) into a ${a.method} result (${a.constructor.name})${why}`);
}

/** Correct predictions out of a count (Top1Accuracy, Top5Accuracy, TopKAccuracy). */
export class AccuracyResult implements ValidationResult {
  constructor(readonly method: string, readonly correct: number, readonly count: number) {}

  result(): { value: number; count: number } {
    return { value: this.correct / this.count, count: this.count };
  }

  merge(other: ValidationResult): AccuracyResult {
    if (!(other instanceof AccuracyResult) || other.method !== this.method) mergeError(this, other);
    return new AccuracyResult(this.method, this.correct + other.correct, this.count + other.count);
  }

  format(): string {
    return `Accuracy(correct: ${this.correct}, count: ${this.count}, accuracy: ${this.correct / this.count})`;
  }

  toString(): string {
    return `${this.method} is ${this.format()}`;
  }

  toJSON(): ValidationResultJSON {
    return { kind: 'accuracy', method: this.method, correct: this.correct, count: this.count };
  }
}

/**
 * A sum over samples (or groups) and their count; the value is the mean (BigDL's
 * ContiguousResult / LossResult). Used by Loss, MAE, HitRatio and NDCG.
 */
export class ContiguousResult implements ValidationResult {
  constructor(readonly method: string, readonly name: string, readonly total: number, readonly count: number) {}

  result(): { value: number; count: number } {
    return { value: this.total / this.count, count: this.count };
  }

  merge(other: ValidationResult): ContiguousResult {
    if (!(other instanceof ContiguousResult) || other.method !== this.method || other.name !== this.name) mergeError(this, other);
    return new ContiguousResult(this.method, this.name, this.total + other.total, this.count + other.count);
  }

  format(): string {
    return `(${this.name}: ${this.total}, count: ${this.count}, Average ${this.name}: ${this.total / this.count})`;
  }

  toString(): string {
    return `${this.method} is ${this.format()}`;
  }

  toJSON(): ValidationResultJSON {
    return { kind: 'contiguous', method: this.method, name: this.name, total: this.total, count: this.count };
  }
}

/**
 * Per-threshold true- and false-positive counts plus the numbers of positives and negatives
 * (BigDL's AucScore): merging sums the counts, so the merged AUC equals the AUC of all the data.
 */
export class AucResult implements ValidationResult {
  readonly tp: readonly number[];
  readonly fp: readonly number[];

  constructor(readonly method: string, tp: ArrayLike<number>, fp: ArrayLike<number>,
    readonly positives: number, readonly negatives: number) {
    if (tp.length !== fp.length || tp.length < 2) throw new RangeError(`AucResult: ${tp.length} true-positive and ${fp.length} false-positive counts (need the same number, at least 2)`);
    this.tp = Object.freeze(Array.from(tp));
    this.fp = Object.freeze(Array.from(fp));
  }

  /**
   * Area under the ROC curve through the thresholds (trapezoids). NaN when the data has no
   * positive or no negative (the AUC is undefined then).
   */
  auc(): number {
    if (this.positives === 0 || this.negatives === 0) return NaN;
    let area = 0;
    for (let i = 0; i + 1 < this.tp.length; i++) {
      const dx = (this.fp[i] - this.fp[i + 1]) / this.negatives;
      area += dx * (this.tp[i] + this.tp[i + 1]) / (2 * this.positives);
    }
    return area;
  }

  result(): { value: number; count: number } {
    return { value: this.auc(), count: this.positives + this.negatives };
  }

  merge(other: ValidationResult): AucResult {
    if (!(other instanceof AucResult) || other.method !== this.method) mergeError(this, other);
    if (other.tp.length !== this.tp.length) mergeError(this, other, `: ${other.tp.length} thresholds vs ${this.tp.length}`);
    return new AucResult(this.method, this.tp.map((v, i) => v + other.tp[i]), this.fp.map((v, i) => v + other.fp[i]),
      this.positives + other.positives, this.negatives + other.negatives);
  }

  format(): string {
    return `AucScore: ${this.auc()} (positives: ${this.positives}, negatives: ${this.negatives})`;
  }

  toString(): string {
    return `${this.method} is ${this.format()}`;
  }

  toJSON(): ValidationResultJSON {
    return { kind: 'auc', method: this.method, tp: this.tp.slice(), fp: this.fp.slice(), positives: this.positives, negatives: this.negatives };
  }
}

export function validationResultFromJSON(json: ValidationResultJSON): ValidationResult {
  switch (json.kind) {
    case 'accuracy': return new AccuracyResult(json.method, json.correct, json.count);
    case 'contiguous': return new ContiguousResult(json.method, json.name, json.total, json.count);
    case 'auc': return new AucResult(json.method, json.tp, json.fp, json.positives, json.negatives);
    default: throw new TypeError(`validationResultFromJSON: unknown kind '${String((json as { kind: unknown }).kind)}'`);
  }
}

// ---- helpers ----------------------------------------------------------------------------------

/** Row-major values of t, as a contiguous storage and an offset (no copy when contiguous). */
function flat(t: Tensor): { d: ArrayLike<number>; o: number } {
  const c = t.contiguous();
  return { d: c.data, o: c.offset };
}

const desc = (t: Tensor): string => `${t.dtype} ${shapeStr(t.shape)}`;

/** A label tensor of n entries: [n], [n, 1], or (n = 1) a scalar. */
function checkLabelShape(method: string, target: Tensor, n: number, output: Tensor): void {
  const ok = target.numel === n && (target.ndim === 1 || (target.ndim === 2 && target.shape[1] === 1) || (target.ndim === 0 && n === 1));
  if (!ok) {
    throw new RangeError(`${method}: target ${desc(target)} does not match output ${desc(output)}: expected ${n} label${n === 1 ? '' : 's'} as [${n}] or [${n}, 1]`);
  }
}

/** Integer labels in [0, nClasses), as an array. */
function labels(method: string, target: Tensor, nClasses: number, what = 'a class'): number[] {
  const { d, o } = flat(target);
  const out = new Array<number>(target.numel);
  for (let i = 0; i < out.length; i++) {
    const v = d[o + i];
    if (!Number.isInteger(v) || v < 0 || v >= nClasses) {
      throw new RangeError(`${method}: target ${v} at position ${i} is not ${what} in [0, ${nClasses}) (labels are 0-based)`);
    }
    out[i] = v;
  }
  return out;
}

function positiveInt(method: string, arg: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${method}: ${arg} must be an integer >= ${min}, got ${v}`);
}

/** a ranks above b: greater, with NaN above every number (as max/argmax treat it). */
function above(a: number, b: number): boolean {
  if (Number.isNaN(a)) return !Number.isNaN(b);
  return a > b;
}

// ---- accuracy ---------------------------------------------------------------------------------

/**
 * Fraction of samples whose label is among the k highest-scoring classes.
 *
 * Output [batch, nClasses] (scores, probabilities or log-probabilities: only the order matters)
 * with labels [batch] or [batch, 1]; or one sample's [nClasses] with a single label.
 *
 * Ties: a class scoring the same as the label's class ranks above it when its index is lower
 * (as `argmax`, which takes the first maximum, and a stable sort do), so with k = 1 a sample is
 * correct exactly when `argmax` of its row is the label. NaN scores rank highest, as in `max`.
 *
 * k = 1 also covers BigDL's single-output binary case: output [batch, 1] (or [batch] with
 * [batch] labels) is a probability of class 1, predicted 1 when >= 0.5, and labels are 0 or 1.
 */
export class TopKAccuracy implements ValidationMethod {
  constructor(readonly k: number) {
    positiveInt('TopKAccuracy', 'k', k);
  }

  apply(output: Tensor, target: Tensor): AccuracyResult {
    const name = this.format();
    let batch: number, nClasses: number;
    if (output.ndim === 2) {
      [batch, nClasses] = output.shape as [number, number];
    } else if (output.ndim === 1 && this.k === 1 && target.numel === output.numel) {
      // [batch] probabilities of a binary classifier
      batch = output.shape[0];
      nClasses = 1;
    } else if (output.ndim === 1 && target.numel === 1) {
      // one sample's scores
      batch = 1;
      nClasses = output.shape[0];
    } else {
      throw new RangeError(`${name}: output must be [batch, nClasses], one sample's [nClasses] with one label${this.k === 1 ? ', or binary [batch, 1] / [batch] probabilities' : ''}; got output ${desc(output)} with target ${desc(target)}`);
    }
    checkLabelShape(name, target, batch, output);
    const { d, o } = flat(output);
    let correct = 0;
    if (nClasses === 1 && this.k === 1) {
      const ls = labels(name, target, 2, 'a binary label (0 or 1)');
      for (let i = 0; i < batch; i++) {
        const predicted = 0.5 > d[o + i] ? 0 : 1; // as BigDL: NaN counts as class 1
        if (predicted === ls[i]) correct++;
      }
      return new AccuracyResult(name, correct, batch);
    }
    if (nClasses < this.k) throw new RangeError(`${name}: output ${desc(output)} has ${nClasses} class${nClasses === 1 ? '' : 'es'}, fewer than k = ${this.k}`);
    const ls = labels(name, target, nClasses);
    for (let i = 0; i < batch; i++) {
      const row = o + i * nClasses;
      const t = ls[i];
      const s = d[row + t];
      let rank = 0;
      for (let j = 0; j < nClasses && rank < this.k; j++) {
        const v = d[row + j];
        if (above(v, s) || (j < t && !above(s, v))) rank++;
      }
      if (rank < this.k) correct++;
    }
    return new AccuracyResult(name, correct, batch);
  }

  format(): string {
    return `Top${this.k}Accuracy`;
  }

  toString(): string {
    return this.format();
  }
}

/** TopKAccuracy with k = 1, including the single-output binary case (see TopKAccuracy). */
export class Top1Accuracy extends TopKAccuracy {
  constructor() {
    super(1);
  }
}

export class Top5Accuracy extends TopKAccuracy {
  constructor() {
    super(5);
  }
}

// ---- loss and MAE -----------------------------------------------------------------------------

/**
 * Mean of a criterion's loss over the validation set. Each batch's loss is weighted by its
 * batch size (the target's first dim; 1 for a scalar target), so the value is the mean over
 * samples even when the last batch is short. This assumes the criterion averages over the batch
 * (the default `sizeAverage`). BigDL counts batches instead; the text is BigDL's
 * `(Loss: <sum>, count: <n>, Average Loss: <mean>)`. The default criterion is ClassNLLCriterion.
 * `apply` runs `criterion.forward`, overwriting `criterion.output`: give it an instance of its own
 * rather than the one being trained with.
 */
export class Loss implements ValidationMethod {
  readonly criterion: Criterion<Tensor, Tensor>;

  constructor(criterion?: Criterion<Tensor, Tensor>) {
    this.criterion = criterion ?? new ClassNLLCriterion();
  }

  apply(output: Tensor, target: Tensor): ContiguousResult {
    const n = target.ndim === 0 ? 1 : target.shape[0];
    let loss: number;
    try {
      loss = this.criterion.forward(output, target);
    } catch (e) {
      const err = e as Error;
      const Ctor = err instanceof TypeError ? TypeError : RangeError;
      throw new Ctor(`Loss(${this.criterion.getName()}): ${err.message}`, { cause: e });
    }
    return new ContiguousResult(this.format(), 'Loss', n === 0 ? 0 : loss * n, n);
  }

  format(): string {
    return 'Loss';
  }

  toString(): string {
    return this.format();
  }
}

/**
 * Mean absolute error.
 * - Classification (BigDL's MAE, used for ratings): output [batch, nClasses > 1] and labels
 *   [batch] or [batch, 1]; the prediction is the argmax class (ties: the lowest index; NaN
 *   ranks highest) and the error is |label - prediction|, averaged over samples.
 * - Regression: output and target with the same number of elements and the same shape (a
 *   trailing size-1 dim may differ, [batch, 1] vs [batch]); the error is averaged over elements.
 */
export class MAE implements ValidationMethod {
  apply(output: Tensor, target: Tensor): ContiguousResult {
    const name = this.format();
    const { d, o } = flat(output);
    if (output.ndim === 2 && output.shape[1] > 1 && target.numel === output.shape[0]) {
      const [batch, nClasses] = output.shape as [number, number];
      checkLabelShape(name, target, batch, output);
      const ls = labels(name, target, nClasses);
      let total = 0;
      for (let i = 0; i < batch; i++) {
        const row = o + i * nClasses;
        let best = 0;
        for (let j = 1; j < nClasses; j++) if (above(d[row + j], d[row + best])) best = j;
        total += Math.abs(ls[i] - best);
      }
      return new ContiguousResult(name, 'MAE', total, batch);
    }
    const squeezeEnd = (s: readonly number[]): readonly number[] => (s.length > 1 && s[s.length - 1] === 1 ? s.slice(0, -1) : s);
    const a = squeezeEnd(output.shape), b = squeezeEnd(target.shape);
    if (output.numel !== target.numel || a.length !== b.length || a.some((s, i) => s !== b[i])) {
      throw new RangeError(`${name}: output ${desc(output)} and target ${desc(target)} do not match: give [batch, nClasses] scores with [batch] labels, or an output and a target of the same shape`);
    }
    const t = flat(target);
    let total = 0;
    for (let i = 0; i < output.numel; i++) total += Math.abs(d[o + i] - t.d[t.o + i]);
    return new ContiguousResult(name, 'MAE', total, output.numel);
  }

  format(): string {
    return 'MAE';
  }

  toString(): string {
    return this.format();
  }
}

// ---- ranking: HitRatio, NDCG ------------------------------------------------------------------

/**
 * BigDL's NCF evaluation. The output holds one score per row ([n] or [n, 1]) and is cut into
 * groups of 1 + negNum rows, one group per user: one positive item (target 1) and negNum
 * negatives (target 0); BigDL lays the positive out first, but it may be anywhere in its group.
 * The positive's rank is 1 + the number of items of its group scoring strictly higher, so ties
 * go in the positive's favour (as in BigDL). Unlike BigDL, the last item of a group is compared
 * too, and a batch may hold several groups. NaN scores are an error.
 */
abstract class RankingMethod implements ValidationMethod {
  constructor(readonly k: number, readonly negNum: number) {
    positiveInt(this.format(), 'k', k);
    positiveInt(this.format(), 'negNum', negNum, 0);
  }

  protected abstract gain(rank: number): number;
  abstract format(): string;

  apply(output: Tensor, target: Tensor): ContiguousResult {
    const name = this.format();
    const g = 1 + this.negNum;
    const column = (t: Tensor): boolean => t.ndim === 1 || (t.ndim === 2 && t.shape[1] === 1);
    if (!column(output)) throw new RangeError(`${name}: output must hold one score per row, [n] or [n, 1], got ${desc(output)}`);
    if (!column(target) || target.numel !== output.numel) {
      throw new RangeError(`${name}: target ${desc(target)} does not match output ${desc(output)}: expected ${output.numel} labels (1 positive, 0 negative) as [n] or [n, 1]`);
    }
    const n = output.numel;
    if (n === 0 || n % g !== 0) {
      throw new RangeError(`${name}: output has ${n} scores, not a whole number of groups of 1 positive + ${this.negNum} negatives (${g} rows each)`);
    }
    const s = flat(output), t = flat(target);
    let total = 0;
    for (let start = 0; start < n; start += g) {
      let pos = -1;
      for (let j = start; j < start + g; j++) {
        const v = t.d[t.o + j];
        const x = s.d[s.o + j];
        if (Number.isNaN(x)) throw new RangeError(`${name}: score at row ${j} is NaN`);
        if (v === 1) {
          if (pos >= 0) throw new RangeError(`${name}: group ${start / g} (rows ${start}..${start + g - 1}) has more than one positive (target 1 at rows ${pos} and ${j}), expected exactly 1`);
          pos = j;
        } else if (v !== 0) {
          throw new RangeError(`${name}: target ${v} at row ${j} is neither 1 (positive) nor 0 (negative)`);
        }
      }
      if (pos < 0) throw new RangeError(`${name}: group ${start / g} (rows ${start}..${start + g - 1}) has no positive (target 1)`);
      const p = s.d[s.o + pos];
      let rank = 1;
      for (let j = start; j < start + g && rank <= this.k; j++) if (s.d[s.o + j] > p) rank++;
      total += rank <= this.k ? this.gain(rank) : 0;
    }
    return new ContiguousResult(name, name, total, n / g);
  }

  toString(): string {
    return this.format();
  }
}

/** Hit ratio @ k: the fraction of groups whose positive ranks in the top k (see RankingMethod). */
export class HitRatio extends RankingMethod {
  constructor(k = 10, negNum = 100) {
    super(k, negNum);
  }

  protected gain(): number {
    return 1;
  }

  format(): string {
    return `HitRate@${this.k}`;
  }
}

/**
 * Normalised discounted cumulative gain @ k with one relevant item per group: 1 / log2(rank + 1)
 * when the positive ranks in the top k, else 0; averaged over groups (see RankingMethod).
 */
export class NDCG extends RankingMethod {
  constructor(k = 10, negNum = 100) {
    super(k, negNum);
  }

  protected gain(rank: number): number {
    return Math.LN2 / Math.log(rank + 1);
  }

  format(): string {
    return `NDCG@${this.k}`;
  }
}

// ---- AUC --------------------------------------------------------------------------------------

export interface AUCOptions {
  /**
   * What the output holds: 'probability' (default, as BigDL: values in [0, 1]),
   * 'logProbability' (e.g. LogSoftMax output) or 'logit' (raw scores: sigmoid for one column,
   * softmax for two).
   */
  scores?: 'probability' | 'logProbability' | 'logit';
}

/**
 * Area under the ROC curve of a binary classifier, as BigDL's AUC: the probability p of class 1
 * is compared with thresholdNum thresholds -1e-7, 1/(T-1), 2/(T-1), ..., (T-2)/(T-1), 1 + 1e-7
 * (a sample is predicted positive at threshold t when p > t), the true- and false-positive
 * counts at each threshold are kept, and the area under the curve through the (FPR, TPR) points
 * is summed by trapezoids. This equals the pairwise AUC (the chance a positive scores above a
 * negative) once scores are binned between thresholds, a pair in the same bin counting 1/2.
 *
 * Output: [batch] or [batch, 1] (p), or [batch, 2] (column 1 is class 1); labels [batch] or
 * [batch, 1], 0 or 1. Differences from BigDL: its interior thresholds are (i+1)/(T-1) (skipping
 * 1/(T-1)), it adds 1e-7 to the rate denominators, and it reports a count of 0; here the
 * thresholds are i/(T-1), the rates are exact (the AUC is NaN without positives or negatives)
 * and the count is the number of samples. Only binary AUC is supported (not BigDL's per-column
 * multi-label form).
 */
export class AUC implements ValidationMethod {
  readonly thresholds: Float64Array;
  readonly scores: NonNullable<AUCOptions['scores']>;

  constructor(readonly thresholdNum = 200, opts: AUCOptions = {}) {
    positiveInt('AUC', 'thresholdNum', thresholdNum, 2);
    this.scores = opts.scores ?? 'probability';
    if (!['probability', 'logProbability', 'logit'].includes(this.scores)) {
      throw new RangeError(`AUC: scores must be 'probability', 'logProbability' or 'logit', got '${String(this.scores)}'`);
    }
    const eps = 1e-7;
    const t = new Float64Array(thresholdNum);
    t[0] = -eps;
    for (let i = 1; i < thresholdNum - 1; i++) t[i] = i / (thresholdNum - 1);
    t[thresholdNum - 1] = 1 + eps;
    this.thresholds = t;
  }

  apply(output: Tensor, target: Tensor): AucResult {
    const name = this.format();
    let batch: number, cols: number;
    if (output.ndim === 1) [batch, cols] = [output.shape[0], 1];
    else if (output.ndim === 2 && (output.shape[1] === 1 || output.shape[1] === 2)) [batch, cols] = output.shape as [number, number];
    else throw new RangeError(`${name}: output must be binary scores [batch], [batch, 1] or [batch, 2], got ${desc(output)}`);
    checkLabelShape(name, target, batch, output);
    const ls = labels(name, target, 2, 'a binary label (0 or 1)');
    const { d, o } = flat(output);
    const T = this.thresholdNum;
    // bin b = the number of thresholds below p; positives per bin, negatives per bin
    const posBin = new Float64Array(T + 1), negBin = new Float64Array(T + 1);
    let positives = 0;
    for (let i = 0; i < batch; i++) {
      const p = this.probability(d, o + i * cols, cols, i);
      let lo = 0, hi = T; // first threshold index with threshold >= p
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.thresholds[mid] < p) lo = mid + 1;
        else hi = mid;
      }
      if (ls[i] === 1) { posBin[lo]++; positives++; } else negBin[lo]++;
    }
    // tp[i] = positives with p > thresholds[i] = those in bins > i
    const tp = new Array<number>(T), fp = new Array<number>(T);
    let accP = 0, accN = 0;
    for (let i = T - 1; i >= 0; i--) {
      accP += posBin[i + 1];
      accN += negBin[i + 1];
      tp[i] = accP;
      fp[i] = accN;
    }
    return new AucResult(name, tp, fp, positives, batch - positives);
  }

  private probability(d: ArrayLike<number>, at: number, cols: number, row: number): number {
    let p: number;
    if (this.scores === 'probability') p = d[at + cols - 1];
    else if (this.scores === 'logProbability') p = Math.exp(d[at + cols - 1]);
    else p = cols === 1 ? 1 / (1 + Math.exp(-d[at])) : 1 / (1 + Math.exp(d[at] - d[at + 1]));
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`${this.format()}: score ${d[at + cols - 1]} at row ${row} is not a probability in [0, 1]${this.scores === 'probability' ? " (for log-probabilities or raw scores pass { scores: 'logProbability' | 'logit' })" : ''}`);
    }
    return p;
  }

  format(): string {
    return 'AUC';
  }

  toString(): string {
    return this.format();
  }
}
