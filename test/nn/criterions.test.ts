// The criterions of src/nn/criterions.ts: finite-difference gradients (table inputs included),
// values against plain-JS definitions, the PyTorch BCE fixture, bad inputs and buffer reuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ClassNLLCriterion, CrossEntropyCriterion, Criterion, MSECriterion } from '../../src/nn/criterion.js';
import {
  AbsCriterion, BCECriterion, CosineEmbeddingCriterion, KLDCriterion, MarginCriterion, MultiLabelSoftMarginCriterion,
  ParallelCriterion, SmoothL1Criterion, TimeDistributedCriterion,
} from '../../src/nn/criterions.js';
import type { Activity } from '../../src/nn/module.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { torchFixture } from '../fixtures/load.js';
import { checkCriterionGradients } from './gradcheck.js';

const labels = (v: number[], shape?: number[]) => Tensor.from(v, shape, { dtype: 'int32' });
const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

function tensorsOf(a: Activity): Tensor[] {
  return a instanceof Tensor ? [a] : a.flatMap(tensorsOf);
}

/**
 * Finite-difference check for criterions whose input is a table: central differences of the loss
 * at every element of every (float) input tensor against backward's table of gradients.
 */
function checkTableCriterionGradients(name: string, c: Criterion<any, any>, input: Activity, target: unknown, eps = 1e-2, rtol = 2e-2, atol = 2e-3): void {
  c.forward(input, target);
  const grads = tensorsOf(c.backward(input, target)).map((g) => g.clone());
  const xs = tensorsOf(input);
  assert.equal(grads.length, xs.length, `${name}: ${grads.length} gradients for ${xs.length} inputs`);
  xs.forEach((x, k) => {
    assert.deepEqual(grads[k].shape, x.shape, `${name}: gradient ${k} shape`);
    assert.ok(x.isContiguous());
    const g = grads[k].toArray();
    for (let i = 0; i < x.numel; i++) {
      const at = x.offset + i, orig = x.data[at];
      x.data[at] = orig + eps;
      const lp = c.forward(input, target);
      x.data[at] = orig - eps;
      const lm = c.forward(input, target);
      x.data[at] = orig;
      const num = (lp - lm) / (2 * eps);
      assert.ok(Math.abs(num - g[i]) <= atol + rtol * Math.max(Math.abs(num), Math.abs(g[i])), `${name}: d/dinput${k}[${i}] numeric ${num} vs analytic ${g[i]}`);
    }
  });
}

/** Uniform values in [lo, hi] whose `key(v, i)` stays at least `gap` from every kink. */
function awayFrom(rng: RandomGenerator, shape: number[], lo: number, hi: number, bad: (v: number, i: number) => boolean): Tensor {
  const t = Tensor.empty(shape);
  for (let i = 0; i < t.numel; i++) {
    let v = rng.uniform(lo, hi);
    while (bad(v, i)) v = rng.uniform(lo, hi);
    t.data[i] = v;
  }
  return t;
}

const signs = (rng: RandomGenerator, shape: number[]) => Tensor.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng.uniform(0, 1) < 0.5 ? -1 : 1)), shape);
const bits = (rng: RandomGenerator, shape: number[]) => Tensor.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng.uniform(0, 1) < 0.5 ? 0 : 1)), shape);

/** Pairs x1, x2 [n, d] whose cosines are far from `margin` for the -1 targets: alternately close to +1 and -1. */
function cosinePairs(rng: RandomGenerator, n: number, d: number): { x1: Tensor; x2: Tensor } {
  const x1 = Tensor.randn([n, d], 0, 1, rng);
  const noise = Tensor.randn([n, d], 0, 0.2, rng);
  const x2 = Tensor.empty([n, d]);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const s = i % 3 === 1 ? -1 : 1;
      x2.data[i * d + j] = 1.3 * s * x1.data[i * d + j] + noise.data[i * d + j];
    }
  }
  return { x1, x2 };
}

function cosRef(a: number[], b: number[]): number {
  const dot = sum(a.map((v, i) => v * b[i]));
  const m1 = sum(a.map((v) => v * v)) + 1e-12, m2 = sum(b.map((v) => v * v)) + 1e-12;
  return dot / Math.sqrt(m1 * m2);
}

const rows = (t: Tensor): number[][] => {
  const d = t.shape[t.ndim - 1], v = t.toArray();
  return Array.from({ length: v.length / d }, (_, i) => v.slice(i * d, (i + 1) * d));
};

for (const name of backendsUnderTest()) {
  describe(`criterions on ${name}`, () => {
    it('finite-difference gradients: tensor-input criterions', () => {
      setBackend(name);
      const rng = new RandomGenerator(21);
      const t = Tensor.randn([4, 5], 0, 1, rng);
      const tv = t.toArray();
      const absX = awayFrom(rng, [4, 5], -3, 3, (v, i) => Math.abs(v - tv[i]) < 0.05);
      checkCriterionGradients('Abs', new AbsCriterion(), absX, t);
      checkCriterionGradients('Abs summed', new AbsCriterion(false), absX, t);
      const l1X = awayFrom(rng, [4, 5], -3, 3, (v, i) => Math.abs(Math.abs(v - tv[i]) - 1) < 0.05);
      checkCriterionGradients('SmoothL1', new SmoothL1Criterion(), l1X, t);
      checkCriterionGradients('SmoothL1 summed', new SmoothL1Criterion(false), l1X, t);
      const p = Tensor.rand([4, 5], 0.2, 0.8, rng);
      const y = bits(rng, [4, 5]);
      checkCriterionGradients('BCE', new BCECriterion(), p, y);
      checkCriterionGradients('BCE soft targets', new BCECriterion(), p, Tensor.rand([4, 5], 0, 1, rng));
      checkCriterionGradients('BCE weighted, summed', new BCECriterion(Tensor.from([1, 2, 0.5, 1, 3]), false), p, y);
      checkCriterionGradients('BCE 1-d', new BCECriterion(), Tensor.rand([6], 0.2, 0.8, rng), bits(rng, [6]));
      const scores = Tensor.randn([4, 5], 0, 2, rng);
      checkCriterionGradients('MultiLabelSoftMargin', new MultiLabelSoftMarginCriterion(), scores, y);
      checkCriterionGradients('MultiLabelSoftMargin weighted, summed', new MultiLabelSoftMarginCriterion(Tensor.from([1, 2, 0.5, 1, 3]), false), scores, y);
      const pm = signs(rng, [4, 5]);
      const pmv = pm.toArray();
      for (const margin of [1, 0.5]) {
        const mx = awayFrom(rng, [4, 5], -2, 2, (v, i) => Math.abs(margin - v * pmv[i]) < 0.05);
        checkCriterionGradients(`Margin(${margin})`, new MarginCriterion(margin), mx, pm);
        checkCriterionGradients(`Margin(${margin}) summed, squared`, new MarginCriterion(margin, false, true), mx, pm);
      }
    });

    it('finite-difference gradients: TimeDistributedCriterion', () => {
      setBackend(name);
      const rng = new RandomGenerator(22);
      checkCriterionGradients('TimeDistributed(MSE)', new TimeDistributedCriterion(new MSECriterion()), Tensor.randn([2, 3, 4], 0, 1, rng), Tensor.randn([2, 3, 4], 0, 1, rng));
      checkCriterionGradients('TimeDistributed(MSE) averaged', new TimeDistributedCriterion(new MSECriterion(), true), Tensor.randn([2, 3, 4], 0, 1, rng), Tensor.randn([2, 3, 4], 0, 1, rng));
      checkCriterionGradients('TimeDistributed(CrossEntropy)', new TimeDistributedCriterion(new CrossEntropyCriterion()), Tensor.randn([3, 4, 5], 0, 1, rng), labels([0, 4, 2, 1, 3, 3, 0, 1, 2, 4, 4, 0], [3, 4]));
      checkCriterionGradients('TimeDistributed(ClassNLL) over dim 0', new TimeDistributedCriterion(new ClassNLLCriterion(), true, 0),
        Tensor.randn([4, 3, 5], 0, 1, rng).logSoftmax(-1), labels([0, 4, 2, 1, 3, 3, 0, 1, 2, 4, 4, 0], [4, 3]));
    });

    it('finite-difference gradients: table-input criterions', () => {
      setBackend(name);
      const rng = new RandomGenerator(23);
      const { x1, x2 } = cosinePairs(rng, 6, 4);
      const y = Tensor.from([1, -1, -1, 1, -1, -1]);
      checkTableCriterionGradients('CosineEmbedding', new CosineEmbeddingCriterion(), [x1, x2], y);
      checkTableCriterionGradients('CosineEmbedding margin 0.2, summed', new CosineEmbeddingCriterion(0.2, false), [x1, x2], y);
      checkTableCriterionGradients('CosineEmbedding 1-d', new CosineEmbeddingCriterion(), [Tensor.randn([5], 0, 1, rng), Tensor.randn([5], 0, 1, rng)], Tensor.from([1]));
      checkTableCriterionGradients('KLD', new KLDCriterion(), [Tensor.randn([3, 4], 0, 1, rng), Tensor.randn([3, 4], 0, 0.5, rng)], null);
      checkTableCriterionGradients('KLD summed', new KLDCriterion(false), [Tensor.randn([3, 4], 0, 1, rng), Tensor.randn([3, 4], 0, 0.5, rng)], null);
      const par = new ParallelCriterion().add(new MSECriterion(), 0.5).add(new BCECriterion()).add(new CosineEmbeddingCriterion(), 2);
      const t2 = bits(rng, [2, 3]);
      checkTableCriterionGradients('Parallel (nested table)', par,
        [Tensor.randn([2, 3], 0, 1, rng), Tensor.rand([2, 3], 0.2, 0.8, rng), [x1, x2]], [Tensor.randn([2, 3], 0, 1, rng), t2, y]);
      const rep = new ParallelCriterion(true).add(new MSECriterion()).add(new SmoothL1Criterion(), 3);
      const target = Tensor.randn([2, 3], 0, 1, rng);
      const tv = target.toArray();
      checkTableCriterionGradients('Parallel repeatTarget', rep,
        [Tensor.randn([2, 3], 0, 1, rng), awayFrom(rng, [2, 3], -3, 3, (v, i) => Math.abs(Math.abs(v - tv[i]) - 1) < 0.05)], target);
    });

    it('values match their definitions', () => {
      setBackend(name);
      const rng = new RandomGenerator(24);
      const close = (a: number, e: number, what: string, rtol = 1e-5) => assert.ok(Math.abs(a - e) <= 1e-6 + rtol * Math.abs(e), `${what}: ${a} vs ${e}`);
      const x = Tensor.randn([3, 4], 0, 1.5, rng), t = Tensor.randn([3, 4], 0, 1, rng);
      const xv = x.toArray(), tv = t.toArray(), n = xv.length;
      const d = xv.map((v, i) => v - tv[i]);

      close(new AbsCriterion().forward(x, t), sum(d.map(Math.abs)) / n, 'Abs');
      close(new AbsCriterion(false).forward(x, t), sum(d.map(Math.abs)), 'Abs summed');
      assertClose(new AbsCriterion().backward(x, t).toArray(), d.map((v) => Math.sign(v) / n), 'Abs grad');

      const huber = (v: number) => (Math.abs(v) < 1 ? 0.5 * v * v : Math.abs(v) - 0.5);
      close(new SmoothL1Criterion().forward(x, t), sum(d.map(huber)) / n, 'SmoothL1');
      close(new SmoothL1Criterion(false).forward(x, t), sum(d.map(huber)), 'SmoothL1 summed');
      assertClose(new SmoothL1Criterion().backward(x, t).toArray(), d.map((v) => Math.max(-1, Math.min(1, v)) / n), 'SmoothL1 grad');

      // BCE with class weights broadcast over the batch
      const p = Tensor.rand([3, 4], 0.05, 0.95, rng), y = Tensor.rand([3, 4], 0, 1, rng);
      const pv = p.toArray(), yv = y.toArray(), w = [1, 2, 0.5, 3];
      const bce = (i: number) => -w[i % 4] * (yv[i] * Math.log(pv[i]) + (1 - yv[i]) * Math.log(1 - pv[i]));
      const bc = new BCECriterion(Tensor.from(w));
      close(bc.forward(p, y), sum(pv.map((_, i) => bce(i))) / n, 'BCE weighted');
      assertClose(bc.backward(p, y).toArray(), pv.map((v, i) => (w[i % 4] * (v - yv[i])) / (v * (1 - v)) / n), 'BCE weighted grad', 1e-4, 1e-6);
      close(new BCECriterion(null, false).forward(p, y), sum(pv.map((_, i) => bce(i) / w[i % 4])), 'BCE summed');
      // log clamped at -100: a confident wrong answer costs 100, and the gradient stays finite
      const sure = new BCECriterion();
      close(sure.forward(Tensor.from([0, 1, 1]), Tensor.from([1, 1, 0])), 200 / 3, 'BCE clamp');
      // (x - t) / max(x(1 - x), 1e-12) / n, as PyTorch
      assertClose(sure.backward(Tensor.from([0, 1, 1]), Tensor.from([1, 1, 0])).toArray(), [-1e12 / 3, 0, 1e12 / 3], 'BCE clamp grad', 1e-5, 0);

      // MultiLabelSoftMargin: -(t logσ(x) + (1 - t) logσ(-x)), mean over classes, then over the batch
      const s = Tensor.randn([3, 4], 0, 2, rng), b = bits(rng, [3, 4]);
      const sv = s.toArray(), bv = b.toArray();
      const mlsm = (i: number) => -w[i % 4] * (bv[i] * Math.log(sigmoid(sv[i])) + (1 - bv[i]) * Math.log(sigmoid(-sv[i])));
      close(new MultiLabelSoftMarginCriterion(Tensor.from(w)).forward(s, b), sum(sv.map((_, i) => mlsm(i))) / 4 / 3, 'MultiLabelSoftMargin');
      close(new MultiLabelSoftMarginCriterion(Tensor.from(w), false).forward(s, b), sum(sv.map((_, i) => mlsm(i))) / 4, 'MultiLabelSoftMargin summed');
      assertClose(new MultiLabelSoftMarginCriterion(Tensor.from(w)).backward(s, b).toArray(), sv.map((v, i) => (w[i % 4] * (sigmoid(v) - bv[i])) / 12), 'MultiLabelSoftMargin grad');

      // Margin
      const pm = signs(rng, [3, 4]), pmv = pm.toArray();
      const hinge = xv.map((v, i) => Math.max(0, 0.7 - v * pmv[i]));
      close(new MarginCriterion(0.7).forward(x, pm), sum(hinge) / n, 'Margin');
      close(new MarginCriterion(0.7, false, true).forward(x, pm), sum(hinge.map((h) => h * h)), 'Margin squared');
      assertClose(new MarginCriterion(0.7).backward(x, pm).toArray(), hinge.map((h, i) => (h > 0 ? -pmv[i] / n : 0)), 'Margin grad');
      assertClose(new MarginCriterion(0.7, true, true).backward(x, pm).toArray(), hinge.map((h, i) => (-2 * pmv[i] * h) / n), 'Margin squared grad');

      // CosineEmbedding
      const { x1, x2 } = cosinePairs(rng, 6, 4);
      const cy = [1, -1, -1, 1, -1, 1];
      const r1 = rows(x1), r2 = rows(x2);
      const ce = (margin: number) => sum(cy.map((yi, i) => { const c = cosRef(r1[i], r2[i]); return yi === 1 ? 1 - c : Math.max(0, c - margin); }));
      close(new CosineEmbeddingCriterion().forward([x1, x2], Tensor.from(cy)), ce(0) / 6, 'CosineEmbedding');
      close(new CosineEmbeddingCriterion(0.5, false).forward([x1, x2], Tensor.from(cy)), ce(0.5), 'CosineEmbedding margin, summed');
      close(new CosineEmbeddingCriterion().forward([Tensor.from([1, 0]), Tensor.from([0, 1])], Tensor.from([1])), 1, 'CosineEmbedding orthogonal');

      // KLD (BigDL): -0.5 * sum(1 + logVar - mean² - exp(logVar)) / batch
      const m = Tensor.randn([3, 4], 0, 1, rng), lv = Tensor.randn([3, 4], 0, 0.5, rng);
      const mv = m.toArray(), lvv = lv.toArray();
      const kld = -0.5 * sum(mv.map((v, i) => 1 + lvv[i] - v * v - Math.exp(lvv[i])));
      close(new KLDCriterion().forward([m, lv], null), kld / 3, 'KLD');
      close(new KLDCriterion(false).forward([m, lv], null), kld, 'KLD summed');
      const kg = new KLDCriterion().backward([m, lv], null);
      assertClose(kg[0].toArray(), mv.map((v) => v / 3), 'KLD d/dmean');
      assertClose(kg[1].toArray(), lvv.map((v) => (0.5 * (Math.exp(v) - 1)) / 3), 'KLD d/dlogVar');
      close(new KLDCriterion().forward([Tensor.zeros([2, 5]), Tensor.zeros([2, 5])], null), 0, 'KLD of N(0, 1)');

      // TimeDistributed: the sum (or time-mean) of the per-step losses
      const seq = Tensor.randn([2, 3, 4], 0, 1, rng), seqT = Tensor.randn([2, 3, 4], 0, 1, rng);
      const qv = seq.toArray(), qt = seqT.toArray();
      const stepMse = (k: number) => sum([0, 1].flatMap((bi) => [0, 1, 2, 3].map((j) => (qv[bi * 12 + k * 4 + j] - qt[bi * 12 + k * 4 + j]) ** 2))) / 8;
      const totalMse = stepMse(0) + stepMse(1) + stepMse(2);
      close(new TimeDistributedCriterion(new MSECriterion()).forward(seq, seqT), totalMse, 'TimeDistributed(MSE)');
      close(new TimeDistributedCriterion(new MSECriterion(), true).forward(seq, seqT), totalMse / 3, 'TimeDistributed(MSE) averaged');
      assertClose(new TimeDistributedCriterion(new MSECriterion(), true).backward(seq, seqT).toArray(), qv.map((v, i) => (2 * (v - qt[i])) / 8 / 3), 'TimeDistributed(MSE) grad');
      const logp = Tensor.randn([2, 3, 4], 0, 1, rng).logSoftmax(-1), lab = labels([0, 3, 2, 1, 1, 0], [2, 3]);
      const lp = logp.toArray(), lb = lab.toArray();
      const nll = [0, 1, 2].reduce((acc, k) => acc - (lp[0 * 12 + k * 4 + lb[k]] + lp[1 * 12 + k * 4 + lb[3 + k]]) / 2, 0);
      close(new TimeDistributedCriterion(new ClassNLLCriterion()).forward(logp, lab), nll, 'TimeDistributed(ClassNLL)');

      // Parallel: weighted sum
      const par = new ParallelCriterion().add(new AbsCriterion(), 0.5).add(new SmoothL1Criterion(false), 2);
      close(par.forward([x, x], [t, t]), (0.5 * sum(d.map(Math.abs))) / n + 2 * sum(d.map(huber)), 'Parallel');
      const pg = par.backward([x, x], [t, t]) as Tensor[];
      assertClose(pg[0].toArray(), d.map((v) => (0.5 * Math.sign(v)) / n), 'Parallel grad 0');
      assertClose(pg[1].toArray(), d.map((v) => 2 * Math.max(-1, Math.min(1, v))), 'Parallel grad 1');
      close(new ParallelCriterion(true).add(new AbsCriterion()).add(new AbsCriterion(), -1).forward([x, t], t), sum(d.map(Math.abs)) / n, 'Parallel repeatTarget');
      assert.equal(new ParallelCriterion().forward([], []), 0);
    });

    it('BCECriterion matches PyTorch (fixture)', () => {
      setBackend(name);
      const f = torchFixture('bce');
      const c = new BCECriterion();
      const loss = c.forward(f.inputs.input, f.inputs.target);
      assertClose([loss], f.outputs.loss.toArray(), 'bce loss', 1e-5, 1e-6);
      assertClose(c.backward(f.inputs.input, f.inputs.target).toArray(), f.grads.input.toArray(), 'bce grad', 1e-5, 1e-6);
    });

    it('bad inputs name the criterion', () => {
      setBackend(name);
      const a = Tensor.zeros([2, 3]), b = Tensor.zeros([3, 2]);
      const same = (c: string) => new RegExp(`^RangeError: ${c}: input and target must be float32 tensors of the same shape, got input float32 \\[2, 3\\] and target float32 \\[3, 2\\]`);
      assert.throws(() => new AbsCriterion().forward(a, b), same('AbsCriterion'));
      assert.throws(() => new AbsCriterion().backward(a, b), same('AbsCriterion'));
      assert.throws(() => new SmoothL1Criterion().forward(a, b), same('SmoothL1Criterion'));
      assert.throws(() => new BCECriterion().forward(a, b), same('BCECriterion'));
      assert.throws(() => new BCECriterion().forward(a, Tensor.zeros([2, 3], { dtype: 'int32' })), /BCECriterion: .* target int32 \[2, 3\]/);
      assert.throws(() => new BCECriterion(Tensor.ones([2])).forward(a, a), /BCECriterion: weights \[2\] do not broadcast to input \[2, 3\]/);
      assert.throws(() => new BCECriterion(Tensor.ones([2], { dtype: 'int32' })), /BCECriterion: weights must be a float32 tensor/);
      assert.throws(() => new MultiLabelSoftMarginCriterion().forward(a, b), same('MultiLabelSoftMarginCriterion'));
      assert.throws(() => new MultiLabelSoftMarginCriterion(Tensor.ones([4])).backward(a, a), /MultiLabelSoftMarginCriterion: weights \[4\]/);
      assert.throws(() => new MarginCriterion().forward(a, b), same('MarginCriterion'));
      assert.throws(() => new MarginCriterion(Number.NaN), /MarginCriterion: margin must be a finite number/);
      const cos = new CosineEmbeddingCriterion();
      assert.throws(() => cos.forward(a as any, Tensor.ones([2])), /CosineEmbeddingCriterion: expected input a table \{x1, x2\} of two float32 \[batch, d\] or \[d\] tensors of one shape, got float32 \[2, 3\]/);
      assert.throws(() => cos.forward([a, b], Tensor.ones([2])), /CosineEmbeddingCriterion: expected input a table .* got a table \{float32 \[2, 3\], float32 \[3, 2\]\}/);
      assert.throws(() => cos.forward([a, a], Tensor.ones([3])), /CosineEmbeddingCriterion: expected 2 targets \(one per pair\), got float32 \[3\]/);
      assert.throws(() => cos.backward([a, a], Tensor.from([1, 0])), /CosineEmbeddingCriterion: target 0 at position 1 is not 1 or -1/);
      assert.throws(() => new KLDCriterion().forward(a as any, null), /KLDCriterion: expected input a table \{mean, logVar\}/);
      assert.throws(() => new KLDCriterion().backward([a, b], null), /KLDCriterion: expected input a table/);
      const td = new TimeDistributedCriterion(new MSECriterion());
      assert.throws(() => td.forward(Tensor.zeros([2, 3, 4]), Tensor.zeros([2, 2, 4])), /TimeDistributedCriterion\(MSECriterion\): target float32 \[2, 2, 4\] must have the input's 3 time steps at dim 1/);
      assert.throws(() => td.forward(Tensor.zeros([2]), Tensor.zeros([2])), /TimeDistributedCriterion\(MSECriterion\): expected an input with a time dim 1/);
      assert.throws(() => new TimeDistributedCriterion(new MSECriterion(), false, -1), /TimeDistributedCriterion: dimension must be a non-negative integer/);
      // the inner criterion's own check still names it
      assert.throws(() => td.forward(Tensor.zeros([2, 3, 4]), Tensor.zeros([2, 3, 5])), /MSECriterion: input \[2, 4\] and target \[2, 5\]/);
      const par = new ParallelCriterion().add(new MSECriterion()).add(new AbsCriterion());
      assert.throws(() => par.forward([a], [a, a]), /ParallelCriterion: expected a table of 2 inputs \(one per criterion\), got a table \{float32 \[2, 3\]\}/);
      assert.throws(() => par.forward([a, a], a), /ParallelCriterion: expected a table of 2 targets/);
      assert.throws(() => par.add({} as any), /ParallelCriterion.add: expected a criterion/);
    });

    it('reuses gradInput buffers (and tables) once shapes settle', () => {
      setBackend(name);
      const rng = new RandomGenerator(25);
      const check = (what: string, c: Criterion<any, any>, x: Activity, t: unknown) => {
        c.forward(x, t);
        const first = c.backward(x, t);
        const before = [first, ...tensorsOf(first)];
        const scratch = Object.entries(c).filter(([, v]) => v instanceof Tensor);
        for (let i = 0; i < 2; i++) {
          c.forward(x, t);
          c.backward(x, t);
        }
        const after = [c.gradInput, ...tensorsOf(c.gradInput)];
        assert.equal(after.length, before.length, what);
        after.forEach((g, i) => assert.equal(g, before[i], `${what}: gradInput part ${i} was reallocated`));
        for (const [k, v] of scratch) assert.equal((c as any)[k], v, `${what}: scratch ${k} was reallocated`);
      };
      const x = Tensor.rand([3, 4], 0.2, 0.8, rng), t = bits(rng, [3, 4]);
      check('Abs', new AbsCriterion(), x, t);
      check('SmoothL1', new SmoothL1Criterion(), x, t);
      check('BCE', new BCECriterion(Tensor.ones([4])), x, t);
      check('MultiLabelSoftMargin', new MultiLabelSoftMarginCriterion(), x, t);
      check('Margin', new MarginCriterion(), x, signs(rng, [3, 4]));
      check('CosineEmbedding', new CosineEmbeddingCriterion(), [x, t], Tensor.from([1, -1, 1]));
      check('CosineEmbedding 1-d', new CosineEmbeddingCriterion(), [Tensor.randn([4], 0, 1, rng), Tensor.randn([4], 0, 1, rng)], Tensor.from([-1]));
      check('KLD', new KLDCriterion(), [x, t], null);
      check('TimeDistributed', new TimeDistributedCriterion(new CrossEntropyCriterion()), Tensor.randn([2, 3, 4], 0, 1, rng), labels([0, 1, 2, 3, 0, 1], [2, 3]));
      check('Parallel', new ParallelCriterion().add(new AbsCriterion()).add(new KLDCriterion()), [x, [x, t]], [t, null]);
    });
  });
}

describe('criterions: scratch buffers', () => {
  it('TimeDistributedCriterion copies non-contiguous steps into one reused buffer', () => {
    const td = new TimeDistributedCriterion(new MSECriterion());
    const x = Tensor.randn([2, 3, 4]), t = Tensor.randn([2, 3, 4]);
    td.forward(x, t);
    td.backward(x, t);
    const fields = Object.entries(td).filter(([, v]) => v instanceof Tensor);
    assert.equal(fields.length, 3, 'gradInput and the two step buffers');
    td.forward(x, t);
    td.backward(x, t);
    for (const [k, v] of fields) assert.equal((td as any)[k], v, `${k} was reallocated`);
  });
});
