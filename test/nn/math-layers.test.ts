// Math layers: finite-difference gradients, values against loops written out here, errors naming
// the module, and buffer reuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Activity, Module } from '../../src/nn/module.js';
import { Sequential } from '../../src/nn/sequential.js';
import { AddConstant, Bilinear, Max, Mean, MM, MulConstant, MV, Normalize, Sum } from '../../src/nn/math-layers.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

function indices(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const n of shape) out = out.flatMap((p) => Array.from({ length: n }, (_, i) => [...p, i]));
  return out;
}

function expectTensor(actual: Tensor, shape: readonly number[], f: (idx: number[]) => number, what: string, rtol = 1e-5, atol = 1e-5): void {
  assert.deepEqual(actual.shape, shape, `${what}: shape`);
  assertClose(actual.toArray(), indices(shape).map(f), what, rtol, atol);
}

const randn = (shape: number[], rng: RandomGenerator) => Tensor.randn(shape, 0, 1, rng);

/** Values with no two closer than 0.1 (a shuffled grid plus a little noise): no max ties, even after a ±0.01 nudge. */
function spread(shape: number[], rng: RandomGenerator): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const perm = rng.randperm(n);
  return Tensor.from(Array.from(perm, (p) => (p - n / 2) * 0.15 + rng.uniform(-0.02, 0.02)), shape);
}

/** Random values with |x| >= 0.2 (away from the kinks of |x|). */
function awayFromZero(shape: number[], rng: RandomGenerator): Tensor {
  const t = randn(shape, rng);
  return Tensor.from(t.toArray().map((v) => (Math.abs(v) < 0.2 ? Math.sign(v || 1) * (0.2 + Math.abs(v)) : v)), shape);
}

function assertReuse(what: string, m: Module<any, any>, x: Activity, g: Tensor): void {
  const y1 = m.forward(x);
  const gi1 = m.backward(x, g);
  const parts1 = Array.isArray(gi1) ? [...gi1] : [gi1];
  const y2 = m.forward(x);
  const gi2 = m.backward(x, g);
  assert.equal(y2, y1, `${what}: output reallocated`);
  assert.equal(gi2, gi1, `${what}: gradInput reallocated`);
  (Array.isArray(gi2) ? gi2 : [gi2]).forEach((t, i) => assert.equal(t, parts1[i], `${what}: gradInput[${i}] reallocated`));
}

for (const name of backendsUnderTest()) {
  describe(`math layers on ${name}`, () => {
    it('finite-difference gradients: constants and reductions', () => {
      setBackend(name);
      const rng = new RandomGenerator(21);
      checkModuleGradients('MulConstant', new MulConstant(-2.5), randn([3, 4], rng));
      // an in-place layer scales its input and gradOutput: give it buffers of other layers
      checkModuleGradients('MulConstant in place', new Sequential().add(new MulConstant(1)).add(new MulConstant(1.5, true)).add(new MulConstant(1)), randn([3, 4], rng));
      checkModuleGradients('AddConstant', new AddConstant(3), randn([3, 4], rng));
      checkModuleGradients('AddConstant in place', new Sequential().add(new MulConstant(1)).add(new AddConstant(-2, true)).add(new MulConstant(1)), randn([3, 4], rng));
      checkModuleGradients('Sum', new Sum(1), randn([3, 4], rng));
      checkModuleGradients('Sum nInputDims', new Sum(0, 1), randn([3, 4], rng));
      checkModuleGradients('Sum average, no squeeze', new Sum(-1, undefined, true, false), randn([2, 3, 4], rng));
      checkModuleGradients('Sum 1-d', new Sum(0), randn([5], rng));
      checkModuleGradients('Mean', new Mean(1), randn([2, 3, 4], rng));
      checkModuleGradients('Mean nInputDims', new Mean(1, 2), randn([2, 3, 4], rng));
      checkModuleGradients('Max', new Max(1), spread([3, 5], rng));
      checkModuleGradients('Max 1-d', new Max(0), spread([6], rng));
      checkModuleGradients('Max nInputDims', new Max(0, 2), spread([2, 3, 4], rng));
      checkModuleGradients('Max negative dim', new Max(-3), spread([2, 3, 4], rng));
    });

    it('finite-difference gradients: Normalize, MM, MV, Bilinear', () => {
      setBackend(name);
      const rng = new RandomGenerator(22);
      checkModuleGradients('Normalize L2', new Normalize(2), randn([4, 5], rng));
      checkModuleGradients('Normalize L2 1-d', new Normalize(2), randn([6], rng));
      checkModuleGradients('Normalize L1', new Normalize(1), awayFromZero([3, 5], rng));
      checkModuleGradients('Normalize L3', new Normalize(3), awayFromZero([3, 5], rng));
      checkModuleGradients('Normalize L1.5', new Normalize(1.5), awayFromZero([3, 4], rng));
      checkModuleGradients('Normalize Linf', new Normalize(Infinity), spread([3, 5], rng));
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const a = ta ? [4, 3] : [3, 4], b = tb ? [5, 4] : [4, 5];
        checkModuleGradients(`MM ${ta} ${tb}`, new MM(ta, tb), [randn(a, rng), randn(b, rng)]);
        checkModuleGradients(`MM batched ${ta} ${tb}`, new MM(ta, tb), [randn([2, ...a], rng), randn([2, ...b], rng)]);
      }
      checkModuleGradients('MV', new MV(), [randn([3, 4], rng), randn([4], rng)]);
      checkModuleGradients('MV trans', new MV(true), [randn([3, 4], rng), randn([3], rng)]);
      checkModuleGradients('MV batched', new MV(), [randn([2, 3, 4], rng), randn([2, 4], rng)]);
      checkModuleGradients('MV batched trans', new MV(true), [randn([2, 3, 4], rng), randn([2, 3], rng)]);
      checkModuleGradients('Bilinear', new Bilinear(3, 4, 5), [randn([2, 3], rng), randn([2, 4], rng)]);
      checkModuleGradients('Bilinear no bias', new Bilinear(2, 3, 2, false), [randn([4, 2], rng), randn([4, 3], rng)]);
      checkModuleGradients('Bilinear 1-d', new Bilinear(3, 2, 4), [randn([3], rng), randn([2], rng)]);
    });

    it('MulConstant and AddConstant, in place or not', () => {
      setBackend(name);
      const x = Tensor.from([[1, -2], [3, 0.5]]);
      const g = Tensor.from([[1, 2], [3, 4]]);
      const mul = new MulConstant(3);
      assert.deepEqual(mul.forward(x).toNested(), [[3, -6], [9, 1.5]]);
      assert.deepEqual(mul.backward(x, g).toNested(), [[3, 6], [9, 12]]);
      assert.deepEqual(x.toNested(), [[1, -2], [3, 0.5]], 'the input is left alone');
      const add = new AddConstant(-1);
      assert.deepEqual(add.forward(x).toNested(), [[0, -3], [2, -0.5]]);
      assert.deepEqual(add.backward(x, g).toNested(), g.toNested());
      assert.notEqual(add.gradInput, g);

      const xi = x.clone(), gi = g.clone();
      const mulIn = new MulConstant(2, true);
      assert.equal(mulIn.forward(xi), xi, 'in place: the output is the input');
      assert.deepEqual(xi.toNested(), [[2, -4], [6, 1]]);
      assert.equal(mulIn.backward(xi, gi), gi, 'in place: gradInput is gradOutput');
      assert.deepEqual(gi.toNested(), [[2, 4], [6, 8]]);
      assert.deepEqual(xi.toNested(), x.toNested(), 'backward restores the input');
      const addIn = new AddConstant(5, true);
      assert.equal(addIn.forward(xi), xi);
      assert.deepEqual(xi.toNested(), [[6, 3], [8, 5.5]]);
      assert.equal(addIn.backward(xi, gi), gi);
      assert.deepEqual(xi.toNested(), x.toNested(), 'backward restores the input');
    });

    it('Sum, Mean and Max against loops', () => {
      setBackend(name);
      const rng = new RandomGenerator(23);
      const x = randn([2, 3, 4], rng);
      const total = (keep: (i: number[]) => boolean) => indices([2, 3, 4]).filter(keep).reduce((s, i) => s + x.get(...i), 0);
      expectTensor(new Sum(1).forward(x), [2, 4], ([a, c]) => total(([i, , k]) => i === a && k === c), 'Sum(1)');
      expectTensor(new Sum(0, 2).forward(x), [2, 4], ([a, c]) => total(([i, , k]) => i === a && k === c), 'Sum(0, nInputDims 2): batched');
      expectTensor(new Sum(0, 2).forward(x.select(0, 0)), [4], ([c]) => total(([i, , k]) => i === 0 && k === c), 'Sum(0, nInputDims 2): one sample');
      expectTensor(new Sum(-1, undefined, false, false).forward(x), [2, 3, 1], ([a, b]) => total(([i, j]) => i === a && j === b), 'Sum(-1) no squeeze');
      expectTensor(new Mean(2).forward(x), [2, 3], ([a, b]) => total(([i, j]) => i === a && j === b) / 4, 'Mean(2)');
      expectTensor(new Sum(0, -1, true).forward(x), [3, 4], ([b, c]) => total(([, j, k]) => j === b && k === c) / 2, 'Sum sizeAverage');
      const v = Tensor.from([1, 2, 4]);
      assert.deepEqual(new Sum(0).forward(v).toArray(), [7], 'a 1-d input sums to [1] (Torch)');
      const mean = new Mean(1);
      const g = randn([2, 4], rng);
      mean.forward(x);
      expectTensor(mean.backward(x, g), [2, 3, 4], ([a, , c]) => g.get(a, c) / 3, 'Mean gradInput');

      const xm = spread([3, 5], rng);
      const max = new Max(1);
      const argmax = (r: number) => [0, 1, 2, 3, 4].reduce((best, j) => (xm.get(r, j) > xm.get(r, best) ? j : best), 0);
      expectTensor(max.forward(xm), [3], ([r]) => xm.get(r, argmax(r)), 'Max values');
      const gm = randn([3], rng);
      expectTensor(max.backward(xm, gm), [3, 5], ([r, j]) => (j === argmax(r) ? gm.get(r) : 0), 'Max gradInput');
      const max0 = new Max(0, 1);
      expectTensor(max0.forward(xm), [3], ([r]) => xm.get(r, argmax(r)), 'Max(0, nInputDims 1) on a batch');
      assert.deepEqual(new Max(0).forward(Tensor.from([1, 5, 2])).toArray(), [5], 'a 1-d input gives [1]');
    });

    it('Normalize against its definition', () => {
      setBackend(name);
      const rng = new RandomGenerator(24);
      const x = randn([3, 4], rng);
      for (const p of [1, 2, 3, Infinity]) {
        const y = new Normalize(p).forward(x);
        const norm = (r: number) => {
          const row = [0, 1, 2, 3].map((j) => Math.abs(x.get(r, j)));
          return p === Infinity ? Math.max(...row) : row.reduce((s, a) => s + a ** p, 0) ** (1 / p);
        };
        expectTensor(y, [3, 4], ([r, j]) => x.get(r, j) / norm(r), `Normalize(${p})`);
      }
      expectTensor(new Normalize(2).forward(Tensor.from([3, 4])), [2], ([j]) => [0.6, 0.8][j], 'Normalize 1-d');
      // the eps keeps a zero row finite
      assert.deepEqual(new Normalize(2).forward(Tensor.zeros([1, 3])).toArray(), [0, 0, 0]);
    });

    it('MM and MV against loops', () => {
      setBackend(name);
      const rng = new RandomGenerator(25);
      const a = randn([3, 4], rng), b = randn([4, 2], rng);
      const dot = (f: (k: number) => number, n: number) => Array.from({ length: n }, (_, k) => f(k)).reduce((s, v) => s + v, 0);
      expectTensor(new MM().forward([a, b]), [3, 2], ([i, j]) => dot((k) => a.get(i, k) * b.get(k, j), 4), 'MM');
      const at = randn([4, 3], rng), bt = randn([2, 4], rng);
      expectTensor(new MM(true, true).forward([at, bt]), [3, 2], ([i, j]) => dot((k) => at.get(k, i) * bt.get(j, k), 4), 'MM transA transB');
      const ab = randn([2, 3, 4], rng), bb = randn([2, 4, 5], rng);
      expectTensor(new MM().forward([ab, bb]), [2, 3, 5], ([n, i, j]) => dot((k) => ab.get(n, i, k) * bb.get(n, k, j), 4), 'MM batched');
      const mm = new MM(false, true);
      const bb2 = randn([2, 5, 4], rng);
      mm.forward([ab, bb2]);
      const g = randn([2, 3, 5], rng);
      const [ga, gb] = mm.backward([ab, bb2], g);
      expectTensor(ga, [2, 3, 4], ([n, i, k]) => dot((j) => g.get(n, i, j) * bb2.get(n, j, k), 5), 'MM transB dA');
      expectTensor(gb, [2, 5, 4], ([n, j, k]) => dot((i) => g.get(n, i, j) * ab.get(n, i, k), 3), 'MM transB dB');

      const m = randn([3, 4], rng), v = randn([4], rng), w = randn([3], rng);
      expectTensor(new MV().forward([m, v]), [3], ([i]) => dot((k) => m.get(i, k) * v.get(k), 4), 'MV');
      expectTensor(new MV(true).forward([m, w]), [4], ([j]) => dot((k) => m.get(k, j) * w.get(k), 3), 'MV trans');
      const mb = randn([2, 3, 4], rng), vb = randn([2, 4], rng);
      const mv = new MV();
      expectTensor(mv.forward([mb, vb]), [2, 3], ([n, i]) => dot((k) => mb.get(n, i, k) * vb.get(n, k), 4), 'MV batched');
      const gv = randn([2, 3], rng);
      const [gm, gvec] = mv.backward([mb, vb], gv);
      expectTensor(gm, [2, 3, 4], ([n, i, k]) => gv.get(n, i) * vb.get(n, k), 'MV batched dM');
      expectTensor(gvec, [2, 4], ([n, k]) => dot((i) => mb.get(n, i, k) * gv.get(n, i), 3), 'MV batched dv');
    });

    it('Bilinear against its definition, with Torch initialisation', () => {
      setBackend(name);
      const rng = new RandomGenerator(26);
      const bl = new Bilinear(3, 4, 2);
      const W = bl.weight.weight, bias = bl.bias!.weight;
      const bound = 1 / Math.sqrt(3);
      for (const t of [W, bias]) assert.ok(t.toArray().every((u) => Math.abs(u) <= bound) && t.toArray().some((u) => u !== 0), 'uniform ±1/sqrt(inputSize1)');
      assert.deepEqual(W.shape, [2, 3, 4]);
      const x1 = randn([5, 3], rng), x2 = randn([5, 4], rng);
      const y = bl.forward([x1, x2]);
      const form = (b: number, k: number) => indices([3, 4]).reduce((s, [i, j]) => s + x1.get(b, i) * W.get(k, i, j) * x2.get(b, j), 0);
      expectTensor(y, [5, 2], ([b, k]) => form(b, k) + bias.get(k), 'Bilinear output');
      const g = randn([5, 2], rng);
      bl.zeroGradParameters();
      const [g1, g2] = bl.backward([x1, x2], g);
      expectTensor(g1, [5, 3], ([b, i]) => [0, 1].reduce((s, k) => s + g.get(b, k) * [0, 1, 2, 3].reduce((t, j) => t + W.get(k, i, j) * x2.get(b, j), 0), 0), 'Bilinear dx1');
      expectTensor(g2, [5, 4], ([b, j]) => [0, 1].reduce((s, k) => s + g.get(b, k) * [0, 1, 2].reduce((t, i) => t + x1.get(b, i) * W.get(k, i, j), 0), 0), 'Bilinear dx2');
      expectTensor(bl.weight.gradient, [2, 3, 4], ([k, i, j]) => [0, 1, 2, 3, 4].reduce((s, b) => s + g.get(b, k) * x1.get(b, i) * x2.get(b, j), 0), 'Bilinear dW');
      expectTensor(bl.bias!.gradient, [2], ([k]) => [0, 1, 2, 3, 4].reduce((s, b) => s + g.get(b, k), 0), 'Bilinear db');
      // 1-d inputs give a 1-d output equal to the batched one's row
      const y0 = bl.forward([x1.select(0, 2), x2.select(0, 2)]);
      expectTensor(y0, [2], ([k]) => form(2, k) + bias.get(k), 'Bilinear 1-d');
      assert.equal(new Bilinear(2, 2, 3, false).parameterCount(), 12);
    });

    it('bad inputs and arguments name the module', () => {
      setBackend(name);
      const x = Tensor.zeros([2, 3]);
      const ints = Tensor.zeros([2, 3], { dtype: 'int32' });
      assert.throws(() => new MulConstant(2).forward(ints), /MulConstant: expected input a float32 tensor, got int32 \[2, 3\]/);
      assert.throws(() => new MulConstant(2).backward(x, Tensor.zeros([3])), /MulConstant: gradOutput \[3\] does not match/);
      assert.throws(() => new MulConstant(0, true), /MulConstant: an in-place constant must not be 0/);
      assert.throws(() => new AddConstant(1).forward([x] as unknown as Tensor), /AddConstant: expected input a float32 tensor, got a table of 1/);
      assert.throws(() => new Sum(2).forward(x), /Sum: expected input a float32 tensor with a dim 2, got float32 \[2, 3\]/);
      assert.throws(() => new Mean(-3).forward(x), /Mean: expected input/);
      assert.throws(() => new Mean(0).backward(x, Tensor.zeros([2])), /Mean: gradOutput \[2\] does not match the output \[3\]/);
      assert.throws(() => new Max(3, 2).forward(Tensor.zeros([2, 3, 4])), /Max: expected input a float32 tensor with a dim 3 \(nInputDims 2\)/);
      assert.throws(() => new Normalize(2).forward(Tensor.zeros([2, 3, 4])), /Normalize: expected input \[n\] or \[batch, n\] float32, got float32 \[2, 3, 4\]/);
      assert.throws(() => new Normalize(0), /Normalize: p must be > 0/);
      assert.throws(() => new MM().forward([x, Tensor.zeros([2, 3])]), /MM: expected input .*got \{float32 \[2, 3\], float32 \[2, 3\]\}/);
      assert.throws(() => new MM().forward([Tensor.zeros([2, 2, 3]), Tensor.zeros([3, 3, 4])]), /MM: expected input/);
      assert.throws(() => new MM().forward(x as unknown as Tensor[]), /MM: expected input .*got float32 \[2, 3\]/);
      assert.throws(() => new MV().forward([x, Tensor.zeros([2])]), /MV: expected input .*got \{float32 \[2, 3\], float32 \[2\]\}/);
      assert.throws(() => new MV().forward([x]), /MV: expected input/);
      assert.throws(() => new Bilinear(3, 4, 2).forward([Tensor.zeros([2, 3]), Tensor.zeros([3, 4])]), /Bilinear: expected input .*got \{float32 \[2, 3\], float32 \[3, 4\]\}/);
      assert.throws(() => new Bilinear(3, 0, 2), /Bilinear: inputSize2 must be a positive integer/);
    });

    it('reuses output and gradInput buffers once shapes settle', () => {
      setBackend(name);
      const rng = new RandomGenerator(27);
      const x = randn([3, 4], rng);
      assertReuse('MulConstant', new MulConstant(2), x, randn([3, 4], rng));
      assertReuse('AddConstant', new AddConstant(2), x, randn([3, 4], rng));
      assertReuse('Sum', new Sum(1), x, randn([3], rng));
      assertReuse('Mean', new Mean(0, undefined, false), x, randn([1, 4], rng));
      assertReuse('Max', new Max(1), spread([3, 4], rng), randn([3], rng));
      for (const p of [2, 1, 3, Infinity]) assertReuse(`Normalize(${p})`, new Normalize(p), x, randn([3, 4], rng));
      assertReuse('MM', new MM(true), [randn([2, 4, 3], rng), randn([2, 4, 5], rng)], randn([2, 3, 5], rng));
      assertReuse('MV', new MV(), [randn([3, 4], rng), randn([4], rng)], randn([3], rng));
      assertReuse('Bilinear', new Bilinear(4, 2, 3), [x, randn([3, 2], rng)], randn([3, 3], rng));
    });
  });
}
