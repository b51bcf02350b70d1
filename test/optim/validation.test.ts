// Validation methods against values worked out by hand (or by brute force in the test), merges
// of partial results against the whole, and the errors bad input must produce.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { ClassNLLCriterion, MSECriterion } from '../../src/nn/criterion.js';
import {
  AUC, AccuracyResult, AucResult, ContiguousResult, HitRatio, Loss, MAE, NDCG, Top1Accuracy, Top5Accuracy, TopKAccuracy,
  validationResultFromJSON, type ValidationResult,
} from '../../src/optim/validation.js';
import { backendsUnderTest } from '../helpers.js';

const labels = (v: number[]): Tensor => Tensor.from(v, undefined, { dtype: 'int32' });
const f32 = Math.fround;

function close(actual: number, expected: number, what: string, tol = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

describe('Top1Accuracy / TopKAccuracy', () => {
  it('counts argmax hits; a tie goes to the lower class index', () => {
    const out = Tensor.from([
      [0.1, 0.7, 0.2], // argmax 1
      [0.5, 0.3, 0.2], // argmax 0
      [0.3, 0.3, 0.4], // argmax 2
      [0.4, 0.4, 0.2], // tie between 0 and 1: class 0 ranks first
    ]);
    const r = new Top1Accuracy().apply(out, labels([1, 1, 2, 1]));
    assert.deepEqual(r.result(), { value: 0.5, count: 4 });
    assert.equal(r.correct, 2);
    assert.equal(r.toString(), 'Top1Accuracy is Accuracy(correct: 2, count: 4, accuracy: 0.5)');
    assert.equal(r.format(), 'Accuracy(correct: 2, count: 4, accuracy: 0.5)');
    assert.equal(new Top1Accuracy().toString(), 'Top1Accuracy');
    // the tied row is correct for label 0; labels as [batch, 1] and as float are accepted
    assert.equal(new Top1Accuracy().apply(out, Tensor.from([[1], [0], [2], [0]])).correct, 4);
  });

  it('BigDL style text for a full run', () => {
    const r = new AccuracyResult('Top1Accuracy', 8930, 10000);
    assert.equal(r.toString(), 'Top1Accuracy is Accuracy(correct: 8930, count: 10000, accuracy: 0.893)');
  });

  it('agrees with argmax on random scores, and merging halves gives the whole', () => {
    const rng = new RandomGenerator(7);
    const out = Tensor.rand([50, 6], 0, 1, rng);
    // quantise so ties happen
    for (let i = 0; i < out.data.length; i++) out.data[i] = Math.round(out.data[i] * 4) / 4;
    const t = labels(Array.from({ length: 50 }, () => rng.randInt(6)));
    const am = out.argmax(1).toArray();
    const expected = am.filter((a, i) => a === t.data[i]).length;
    const m = new Top1Accuracy();
    const whole = m.apply(out, t);
    assert.equal(whole.correct, expected);
    const merged = m.apply(out.narrow(0, 0, 20), t.narrow(0, 0, 20)).merge(m.apply(out.narrow(0, 20, 30), t.narrow(0, 20, 30)));
    assert.deepEqual(merged.result(), whole.result());
    assert.equal(merged.toString(), whole.toString());
  });

  it('binary single output: [batch, 1] or [batch] probabilities thresholded at 0.5', () => {
    const m = new Top1Accuracy();
    // predictions 0, 1 (0.5 counts as 1, as BigDL), 1, 0
    const r = m.apply(Tensor.from([[0.2], [0.5], [0.9], [0.49]]), labels([0, 1, 0, 1]));
    assert.deepEqual(r.result(), { value: 0.5, count: 4 });
    assert.equal(m.apply(Tensor.from([0.2, 0.5, 0.9, 0.49]), labels([0, 1, 1, 0])).correct, 4);
    assert.throws(() => m.apply(Tensor.from([[0.2], [0.7]]), labels([0, 2])), /Top1Accuracy: target 2 at position 1 is not a binary label/);
  });

  it('top-k with ties, one-sample output, and Top5', () => {
    const m = new TopKAccuracy(2);
    assert.equal(m.format(), 'Top2Accuracy');
    const row = Tensor.from([[0.1, 0.5, 0.5, 0.2]]);
    assert.equal(m.apply(row, labels([1])).correct, 1); // rank 0
    assert.equal(m.apply(row, labels([2])).correct, 1); // tied with class 1 (lower index): rank 1
    assert.equal(m.apply(row, labels([3])).correct, 0); // rank 2
    assert.equal(m.apply(row, labels([0])).correct, 0); // rank 3
    // one sample as [nClasses] with a single label
    assert.equal(m.apply(Tensor.from([0.1, 0.5, 0.5, 0.2]), labels([2])).count, 1);
    assert.equal(m.apply(Tensor.from([0.1, 0.5, 0.5, 0.2]), Tensor.scalar(3, { dtype: 'int32' })).correct, 0);
    const t5 = new Top5Accuracy();
    const out = Tensor.from([[6, 5, 4, 3, 2, 1], [1, 1, 1, 1, 1, 1], [1, 2, 3, 4, 5, 6]]);
    // row 0: label 4 has rank 4 (hit); row 1: all tied, label 5 has rank 5 (miss); row 2: label 0 is last (miss)
    const r = t5.apply(out, labels([4, 5, 0]));
    assert.equal(r.toString(), `Top5Accuracy is Accuracy(correct: 1, count: 3, accuracy: ${1 / 3})`);
    assert.equal(t5.apply(out, labels([0, 4, 1])).correct, 3);
  });

  it('NaN scores rank highest, as max/argmax treat them', () => {
    const out = Tensor.from([[0.1, NaN, 0.9], [NaN, NaN, 0.3]]);
    assert.equal(new Top1Accuracy().apply(out, labels([1, 0])).correct, 2);
  });

  it('reads strided outputs', () => {
    for (const name of backendsUnderTest()) {
      setBackend(name);
      const base = Tensor.from([[0.9, 0.1, 0.3], [0.05, 0.8, 0.1]]); // columns are samples
      const out = base.t(); // [3, 2]: argmax per row = 0, 1, 0
      assert.equal(out.isContiguous(), false);
      assert.equal(new Top1Accuracy().apply(out, labels([0, 1, 1])).correct, 2);
    }
  });

  it('bad shapes and labels name the method', () => {
    const m = new Top1Accuracy();
    assert.throws(() => m.apply(Tensor.zeros([4, 3]), labels([0, 1, 2])), /Top1Accuracy: target int32 \[3\] does not match output float32 \[4, 3\]: expected 4 labels/);
    assert.throws(() => m.apply(Tensor.zeros([2, 3]), Tensor.zeros([2, 3], { dtype: 'int32' })), /Top1Accuracy: target int32 \[2, 3\]/);
    assert.throws(() => m.apply(Tensor.zeros([2, 3, 4]), labels([0, 1])), /Top1Accuracy: output must be \[batch, nClasses\]/);
    assert.throws(() => m.apply(Tensor.zeros([2, 3]), labels([0, 3])), /Top1Accuracy: target 3 at position 1 is not a class in \[0, 3\) \(labels are 0-based\)/);
    assert.throws(() => m.apply(Tensor.zeros([2, 3]), Tensor.from([0, 1.5])), /Top1Accuracy: target 1.5/);
    assert.throws(() => new Top5Accuracy().apply(Tensor.zeros([2, 3]), labels([0, 1])), /Top5Accuracy: output float32 \[2, 3\] has 3 classes, fewer than k = 5/);
    assert.throws(() => new Top5Accuracy().apply(Tensor.zeros([4]), labels([0, 1, 0, 1])), /Top5Accuracy: output must be/);
    assert.throws(() => new TopKAccuracy(0), /TopKAccuracy: k must be an integer >= 1/);
  });
});

describe('Loss', () => {
  it('is the mean over samples of the criterion loss, batches weighted by size', () => {
    const logp = (rows: number[][]) => Tensor.from(rows.map((r) => r.map(Math.log)));
    const p1 = [[0.2, 0.8], [0.6, 0.4]];
    const p2 = [[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]];
    const t1 = [1, 1], t2 = [0, 1, 1];
    const m = new Loss(); // ClassNLLCriterion
    const a = m.apply(logp(p1), labels(t1));
    const b = m.apply(logp(p2), labels(t2));
    const perSample = [...p1.map((r, i) => -Math.log(f32(r[t1[i]]))), ...p2.map((r, i) => -Math.log(f32(r[t2[i]])))];
    const mean = perSample.reduce((x, y) => x + y) / 5;
    const ab = a.merge(b);
    close(ab.result().value, mean, 'merged loss', 1e-6);
    assert.equal(ab.result().count, 5);
    assert.match(ab.toString(), /^Loss is \(Loss: [\d.]+, count: 5, Average Loss: [\d.]+\)$/);
    // the whole batch at once gives the same
    close(m.apply(logp([...p1, ...p2]), labels([...t1, ...t2])).result().value, mean, 'whole', 1e-6);
  });

  it('works with any criterion, and names it on bad input', () => {
    const m = new Loss(new MSECriterion());
    const r = m.apply(Tensor.from([[1, 2], [3, 5]]), Tensor.from([[1, 1], [1, 1]]));
    // mean squared error (0 + 1 + 4 + 16) / 4, weighted by the 2 samples
    assert.deepEqual(r.result(), { value: 21 / 4, count: 2 });
    assert.throws(() => m.apply(Tensor.zeros([2, 2]), Tensor.zeros([2, 3])), /Loss\(MSECriterion\): MSECriterion: input \[2, 2\] and target \[2, 3\]/);
    assert.throws(() => new Loss(new ClassNLLCriterion()).apply(Tensor.zeros([2, 3]), labels([0])), { name: 'RangeError', message: /^Loss\(ClassNLLCriterion\): ClassNLLCriterion: 1 targets/ });
  });
});

describe('MAE', () => {
  it('classification: |label - argmax| averaged over samples (BigDL)', () => {
    const out = Tensor.from([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2]]);
    // predictions 2, 0, 1, 0 (tie -> lower index)
    const r = new MAE().apply(out, labels([0, 0, 2, 2]));
    assert.deepEqual(r.result(), { value: (2 + 0 + 1 + 2) / 4, count: 4 });
    assert.equal(r.toString(), 'MAE is (MAE: 5, count: 4, Average MAE: 1.25)');
  });

  it('regression: mean absolute difference over elements; merge is exact', () => {
    const m = new MAE();
    const a = m.apply(Tensor.from([[1], [2], [3]]), Tensor.from([1.5, 2, 1]));
    assert.deepEqual(a.result(), { value: 2.5 / 3, count: 3 });
    const b = m.apply(Tensor.from([[0, 1], [2, 3]]), Tensor.from([[1, 1], [2, 0]]));
    assert.deepEqual(b.result(), { value: 1, count: 4 });
    assert.deepEqual(a.merge(b).result(), { value: 6.5 / 7, count: 7 });
  });

  it('mismatched shapes name MAE', () => {
    assert.throws(() => new MAE().apply(Tensor.zeros([3]), Tensor.zeros([4])), /MAE: output float32 \[3\] and target float32 \[4\] do not match/);
    assert.throws(() => new MAE().apply(Tensor.zeros([2, 3]), labels([0, 5])), /MAE: target 5 at position 1 is not a class in \[0, 3\)/);
  });
});

describe('HitRatio and NDCG', () => {
  // three users, 1 positive + 4 negatives each
  const scores = [
    0.9, 0.1, 0.95, 0.3, 0.2, // positive first; one negative above it: rank 2
    0.6, 0.7, 0.5, 0.8, 0.1, // positive third; three above: rank 4
    0.4, 0.4, 0.4, 0.4, 0.4, // all tied: ties favour the positive, rank 1
  ];
  const target = [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0];

  it('hand-made groups', () => {
    const hr = new HitRatio(2, 4).apply(Tensor.from(scores), Tensor.from(target));
    assert.deepEqual(hr.result(), { value: 2 / 3, count: 3 });
    assert.equal(hr.toString(), `HitRate@2 is (HitRate@2: 2, count: 3, Average HitRate@2: ${2 / 3})`);
    const nd = new NDCG(2, 4).apply(Tensor.from(scores, [15, 1]), Tensor.from(target, [15, 1]));
    close(nd.result().value, (1 / Math.log2(3) + 0 + 1) / 3, 'NDCG@2');
    // k = 5 covers every rank: all hit; NDCG = (1/log2 3 + 1/log2 5 + 1) / 3
    assert.equal(new HitRatio(5, 4).apply(Tensor.from(scores), Tensor.from(target)).result().value, 1);
    close(new NDCG(5, 4).apply(Tensor.from(scores), Tensor.from(target)).result().value, (1 / Math.log2(3) + 1 / Math.log2(5) + 1) / 3, 'NDCG@5');
  });

  it('merging users from two batches equals scoring them together', () => {
    const m = new NDCG(2, 4);
    const whole = m.apply(Tensor.from(scores), Tensor.from(target));
    const parts = m.apply(Tensor.from(scores.slice(0, 5)), Tensor.from(target.slice(0, 5)))
      .merge(m.apply(Tensor.from(scores.slice(5)), Tensor.from(target.slice(5))));
    close(parts.result().value, whole.result().value, 'merged NDCG', 1e-15);
    assert.equal(parts.result().count, 3);
  });

  it('the last item of a group is compared too (BigDL skips it)', () => {
    const r = new HitRatio(1, 4).apply(Tensor.from([0.5, 0.1, 0.1, 0.1, 0.9]), Tensor.from([1, 0, 0, 0, 0]));
    assert.equal(r.result().value, 0);
  });

  it('defaults k = 10, negNum = 100', () => {
    const m = new HitRatio();
    assert.equal(m.format(), 'HitRate@10');
    assert.equal(new NDCG().format(), 'NDCG@10');
    const s = Array.from({ length: 101 }, (_, i) => i / 101); // positive (first) is the lowest: rank 101
    const t = s.map((_, i) => (i === 0 ? 1 : 0));
    assert.equal(m.apply(Tensor.from(s), Tensor.from(t)).result().value, 0);
    s[0] = 90.5 / 101; // negatives 91/101..100/101 are above it: rank 11
    assert.equal(m.apply(Tensor.from(s), Tensor.from(t)).result().value, 0);
    s[0] = 91.5 / 101; // 9 above: rank 10
    assert.equal(m.apply(Tensor.from(s), Tensor.from(t)).result().value, 1);
  });

  it('bad groups and shapes name the method', () => {
    const m = new HitRatio(2, 4);
    assert.throws(() => m.apply(Tensor.zeros([7]), Tensor.zeros([7])), /HitRate@2: output has 7 scores, not a whole number of groups of 1 positive \+ 4 negatives \(5 rows each\)/);
    assert.throws(() => m.apply(Tensor.zeros([5]), Tensor.from([1, 0, 1, 0, 0])), /HitRate@2: group 0 \(rows 0..4\) has more than one positive/);
    assert.throws(() => m.apply(Tensor.zeros([10]), Tensor.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /HitRate@2: group 1 \(rows 5..9\) has no positive/);
    assert.throws(() => m.apply(Tensor.zeros([5]), Tensor.from([1, 0, 2, 0, 0])), /HitRate@2: target 2 at row 2 is neither 1/);
    assert.throws(() => m.apply(Tensor.from([0, NaN, 0, 0, 0]), Tensor.from([1, 0, 0, 0, 0])), /HitRate@2: score at row 1 is NaN/);
    assert.throws(() => new NDCG(2, 4).apply(Tensor.zeros([5, 2]), Tensor.zeros([5])), /NDCG@2: output must hold one score per row/);
    assert.throws(() => new NDCG(2, 4).apply(Tensor.zeros([5]), Tensor.zeros([6])), /NDCG@2: target float32 \[6\] does not match output float32 \[5\]/);
    assert.throws(() => new NDCG(0), /NDCG@0: k must be an integer >= 1/);
    assert.throws(() => new HitRatio(10, -1), /negNum must be an integer >= 0/);
  });
});

/** Pairwise AUC: P(positive above negative), a tie counting 1/2, over keys (scores or bins). */
function pairwiseAuc(keys: number[], ys: number[]): number {
  let win = 0, pairs = 0;
  for (let i = 0; i < keys.length; i++) {
    if (ys[i] !== 1) continue;
    for (let j = 0; j < keys.length; j++) {
      if (ys[j] !== 0) continue;
      pairs++;
      if (keys[i] > keys[j]) win += 1;
      else if (keys[i] === keys[j]) win += 0.5;
    }
  }
  return win / pairs;
}

describe('AUC', () => {
  it('thresholds: -1e-7, i/(T-1), 1+1e-7', () => {
    assert.deepEqual(Array.from(new AUC(5).thresholds), [-1e-7, 0.25, 0.5, 0.75, 1 + 1e-7]);
    assert.equal(new AUC().thresholds.length, 200);
  });

  it('hand-computed: 3 of 4 positive-negative pairs in order', () => {
    const m = new AUC();
    const r = m.apply(Tensor.from([0.9, 0.8, 0.3, 0.1]), labels([1, 0, 1, 0]));
    close(r.result().value, 0.75, 'AUC', 1e-12);
    assert.equal(r.result().count, 4);
    assert.equal(r.toString(), 'AUC is AucScore: 0.75 (positives: 2, negatives: 2)');
    // [batch, 1] and [batch, 2] (column 1 = class 1) give the same
    close(m.apply(Tensor.from([[0.9], [0.8], [0.3], [0.1]]), labels([1, 0, 1, 0])).result().value, 0.75, '[b,1]', 1e-12);
    close(m.apply(Tensor.from([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.9, 0.1]]), labels([1, 0, 1, 0])).result().value, 0.75, '[b,2]', 1e-12);
    // log-probabilities and logits through the option
    const lp = new AUC(200, { scores: 'logProbability' }).apply(Tensor.from([[0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.9, 0.1]].map((r) => r.map(Math.log))), labels([1, 0, 1, 0]));
    close(lp.result().value, 0.75, 'log-probabilities', 1e-12);
    const lg = new AUC(200, { scores: 'logit' }).apply(Tensor.from([3, 2, -1, -2.5]), labels([1, 0, 1, 0]));
    close(lg.result().value, 0.75, 'logits', 1e-12);
  });

  it('counts per threshold (thresholdNum 3: -eps, 0.5, 1+eps)', () => {
    // scores 0.5 (not > 0.5), 0.7, 0.2, 1.0; labels 1, 1, 0, 0
    const r = new AUC(3).apply(Tensor.from([0.5, 0.7, 0.2, 1.0]), labels([1, 1, 0, 0]));
    assert.deepEqual(r.tp, [2, 1, 0]);
    assert.deepEqual(r.fp, [2, 1, 0]);
    // ROC points (1,1), (0.5,0.5), (0,0): area 0.5
    close(r.result().value, 0.5, 'AUC', 1e-12);
  });

  it('equals the brute-force pairwise AUC of binned scores, approximates the exact one, merges exactly', () => {
    const rng = new RandomGenerator(11);
    const n = 400;
    const ys = Array.from({ length: n }, () => rng.bernoulli(0.4));
    // informative scores: positives shifted up, squashed into (0, 1)
    const ps = ys.map((y) => 1 / (1 + Math.exp(-(rng.normal() + 1.2 * y))));
    const out = Tensor.from(ps);
    const m = new AUC();
    const whole = m.apply(out, Tensor.from(ys));
    // bins computed independently: how many thresholds each (float32) score exceeds
    const thr = [-1e-7, ...Array.from({ length: 198 }, (_, i) => (i + 1) / 199), 1 + 1e-7];
    const bins = Array.from(out.data).map((p) => thr.filter((t) => p > t).length);
    close(whole.result().value, pairwiseAuc(bins, ys), 'binned pairwise', 1e-12);
    close(whole.result().value, pairwiseAuc(Array.from(out.data), ys), 'exact pairwise', 5e-3);
    // halves merged, in either order, give the whole
    const a = m.apply(out.narrow(0, 0, 150), Tensor.from(ys.slice(0, 150)));
    const b = m.apply(out.narrow(0, 150, 250), Tensor.from(ys.slice(150)));
    for (const merged of [a.merge(b), b.merge(a)]) {
      assert.deepEqual(merged.tp, whole.tp);
      assert.deepEqual(merged.fp, whole.fp);
      assert.deepEqual(merged.result(), whole.result());
    }
    // unchanged operands
    assert.equal(a.result().count, 150);
  });

  it('is NaN without positives or negatives, which merging fixes', () => {
    const m = new AUC();
    const a = m.apply(Tensor.from([0.2, 0.6]), labels([0, 0]));
    assert.ok(Number.isNaN(a.result().value));
    const b = m.apply(Tensor.from([0.7]), labels([1]));
    close(a.merge(b).result().value, 1, 'merged', 1e-12);
  });

  it('bad input names the method', () => {
    const m = new AUC();
    assert.throws(() => m.apply(Tensor.from([0.2, 1.3]), labels([0, 1])), /AUC: score 1\.\d+ at row 1 is not a probability in \[0, 1\] \(for log-probabilities or raw scores/);
    assert.throws(() => m.apply(Tensor.from([0.2, NaN]), labels([0, 1])), /AUC: score NaN at row 1/);
    assert.throws(() => m.apply(Tensor.from([0.2, 0.3]), labels([0, 2])), /AUC: target 2 at position 1 is not a binary label/);
    assert.throws(() => m.apply(Tensor.zeros([2, 3]), labels([0, 1])), /AUC: output must be binary scores/);
    assert.throws(() => m.apply(Tensor.zeros([3]), labels([0, 1])), /AUC: target int32 \[2\] does not match output float32 \[3\]/);
    assert.throws(() => new AUC(1), /AUC: thresholdNum must be an integer >= 2/);
    assert.throws(() => new AUC(200, { scores: 'odds' as never }), /AUC: scores must be/);
    assert.throws(() => new AUC(10).apply(Tensor.from([0.5]), labels([1])).merge(new AUC(20).apply(Tensor.from([0.5]), labels([1]))), /10 thresholds vs 20|20 thresholds vs 10/);
  });
});

describe('ValidationResult plumbing', () => {
  it('merging results of different methods throws', () => {
    const acc = new Top1Accuracy().apply(Tensor.from([[1, 0]]), labels([0]));
    const top5 = new AccuracyResult('Top5Accuracy', 1, 1);
    const loss = new ContiguousResult('Loss', 'Loss', 1, 1);
    assert.throws(() => acc.merge(top5), /cannot merge a Top5Accuracy result \(AccuracyResult\) into a Top1Accuracy result/);
    assert.throws(() => acc.merge(loss), /TypeError|cannot merge a Loss result/);
  });

  it('JSON round trip (for worker messages)', () => {
    const results: ValidationResult[] = [
      new Top1Accuracy().apply(Tensor.from([[1, 0], [0, 1]]), labels([0, 0])),
      new Loss(new MSECriterion()).apply(Tensor.from([[1]]), Tensor.from([[3]])),
      new AUC(4).apply(Tensor.from([0.1, 0.9, 0.6]), labels([0, 1, 0])),
    ];
    for (const r of results) {
      const back = validationResultFromJSON(JSON.parse(JSON.stringify(r.toJSON())));
      assert.equal(back.toString(), r.toString());
      assert.deepEqual(back.result(), r.result());
      assert.equal(back.constructor, r.constructor);
    }
    assert.ok(results[2] instanceof AucResult);
  });
});
