// Containers: Concat, ConcatTable, ParallelTable, MapTable. Finite differences, values against
// Linear written out in plain JS, buffer reuse, parameters (shared in MapTable), clones, modes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ensureShape, Module, type Activity } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { Tanh } from '../../src/nn/activations.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Sequential } from '../../src/nn/sequential.js';
import { Concat, ConcatTable, MapTable, ParallelTable } from '../../src/nn/containers.js';
import { CAddTable, JoinTable, SelectTable } from '../../src/nn/tables.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

type Mat = number[][];
const nested2 = (t: Tensor) => t.toNested() as Mat;

/** y = x Wᵀ + b, by loops */
function linearRef(l: Linear, x: Tensor): Mat {
  const W = nested2(l.weight.weight), b = l.bias!.weight.toArray();
  return nested2(x).map((row) => W.map((w, o) => b[o] + w.reduce((s, wk, k) => s + wk * row[k], 0)));
}

/** gx = gy W */
function linearGradInputRef(l: Linear, gy: Mat): Mat {
  const W = nested2(l.weight.weight);
  return gy.map((g) => W[0].map((_, k) => g.reduce((s, gv, o) => s + gv * W[o][k], 0)));
}

/** gW = sum over rows of gyᵀ x, gb = column sums of gy */
function linearGradWeightRef(x: Mat, gy: Mat): { gW: Mat; gb: number[] } {
  const gW = gy[0].map((_, o) => x[0].map((_, k) => x.reduce((s, row, n) => s + gy[n][o] * row[k], 0)));
  const gb = gy[0].map((_, o) => gy.reduce((s, g) => s + g[o], 0));
  return { gW, gb };
}

const flat = (m: Mat) => m.flat();
const addMat = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((v, j) => v + b[i][j]));
const cols = (m: Mat, from: number, to: number): Mat => m.map((r) => r.slice(from, to));

for (const name of backendsUnderTest()) {
  describe(`containers on ${name}`, () => {
    it('finite-difference gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(21);
      const r = (...s: number[]) => Tensor.randn(s, 0, 1, rng);
      checkModuleGradients('Concat(1)', new Concat(1).add(new Linear(3, 2)).add(new Tanh()).add(new Linear(3, 4)), r(4, 3));
      checkModuleGradients('Concat(0)', new Concat(0).add(new Linear(3, 2)).add(new Linear(3, 2)), r(2, 3));
      checkModuleGradients('Concat(-1) nested', new Concat(-1).add(new Sequential().add(new Linear(3, 3)).add(new Tanh())).add(new Linear(3, 1)), r(5, 3));
      checkModuleGradients('ConcatTable', new ConcatTable().add(new Linear(3, 2)).add(new Tanh()).add(new Linear(3, 3)), r(4, 3));
      checkModuleGradients('ConcatTable on a table', new ConcatTable<Activity[]>().add(new SelectTable(0)).add(new CAddTable()), [r(2, 3), r(2, 3)]);
      checkModuleGradients('ParallelTable', new ParallelTable().add(new Linear(3, 2)).add(new Tanh()), [r(4, 3), r(2, 5)]);
      checkModuleGradients('MapTable(Linear)', new MapTable(new Linear(3, 2)), [r(4, 3), r(2, 3), r(1, 3)]);
      checkModuleGradients('MapTable(Sequential)', new MapTable(new Sequential().add(new Linear(2, 3)).add(new Tanh())), [r(3, 2), r(3, 2)]);
      const siamese = new Sequential<Activity[]>().add(new MapTable(new Linear(3, 2))).add(new JoinTable(1));
      checkModuleGradients('MapTable + JoinTable', siamese, [r(2, 3), r(2, 3)]);
    });

    it('Concat values and gradients against plain JS', () => {
      setBackend(name);
      const rng = new RandomGenerator(22);
      const a = new Linear(3, 2), b = new Linear(3, 4);
      const c = new Concat(1).add(a).add(b);
      const x = Tensor.randn([5, 3], 0, 1, rng);
      const y = nested2(c.forward(x));
      const ya = linearRef(a, x), yb = linearRef(b, x);
      assertClose(flat(y), flat(ya.map((row, i) => [...row, ...yb[i]])), 'Concat output', 1e-5, 1e-5);
      const g = Tensor.randn([5, 6], 0, 1, rng), gm = nested2(g);
      c.zeroGradParameters();
      const gx = c.backward(x, g);
      const expected = addMat(linearGradInputRef(a, cols(gm, 0, 2)), linearGradInputRef(b, cols(gm, 2, 6)));
      assertClose(gx.toArray(), flat(expected), 'Concat gradInput', 1e-5, 1e-5);
      const { gW, gb } = linearGradWeightRef(nested2(x), cols(gm, 2, 6));
      assertClose(b.weight.gradient.toArray(), flat(gW), 'second child weight gradient', 1e-5, 1e-5);
      assertClose(b.bias!.gradient.toArray(), gb, 'second child bias gradient', 1e-5, 1e-5);
      // updateGradInput + accGradParameters equals backward
      const c2 = c.clone();
      c2.zeroGradParameters();
      assertClose(c2.updateGradInput(x, g).toArray(), gx.toArray(), 'updateGradInput', 0, 0);
      c2.accGradParameters(x, g);
      assertClose(c2.getParameters().gradients.toArray(), c.getParameters().gradients.toArray(), 'accGradParameters', 0, 0);
      // dim 0 stacks the children's batches
      const c0 = new Concat(0).add(a).add(new Linear(3, 2));
      const y0 = nested2(c0.forward(x));
      assert.deepEqual(y0.length, 10);
      assertClose(flat(y0.slice(0, 5)), flat(ya), 'Concat(0) first half', 1e-5, 1e-5);
    });

    it('ConcatTable and ParallelTable values', () => {
      setBackend(name);
      const rng = new RandomGenerator(23);
      const a = new Linear(3, 2), b = new Linear(3, 4);
      const ct = new ConcatTable().add(a).add(b);
      const x = Tensor.randn([2, 3], 0, 1, rng);
      const [ya, yb] = ct.forward(x) as Tensor[];
      assertClose(ya.toArray(), flat(linearRef(a, x)), 'ConcatTable[0]', 1e-5, 1e-5);
      assertClose(yb.toArray(), flat(linearRef(b, x)), 'ConcatTable[1]', 1e-5, 1e-5);
      const ga = Tensor.randn([2, 2], 0, 1, rng), gb = Tensor.randn([2, 4], 0, 1, rng);
      const gx = ct.backward(x, [ga, gb]);
      assertClose(gx.toArray(), flat(addMat(linearGradInputRef(a, nested2(ga)), linearGradInputRef(b, nested2(gb)))), 'ConcatTable gradInput', 1e-5, 1e-5);

      const pt = new ParallelTable().add(a).add(new Tanh());
      const x2 = Tensor.randn([4], 0, 1, rng);
      const [p0, p1] = pt.forward([x, x2]) as Tensor[];
      assertClose(p0.toArray(), flat(linearRef(a, x)), 'ParallelTable[0]', 1e-5, 1e-5);
      assertClose(p1.toArray(), x2.toArray().map(Math.tanh), 'ParallelTable[1]', 1e-5, 1e-6);
      const g2 = Tensor.randn([4], 0, 1, rng);
      const [q0, q1] = pt.backward([x, x2], [ga, g2]) as Tensor[];
      assertClose(q0.toArray(), flat(linearGradInputRef(a, nested2(ga))), 'ParallelTable grad 0', 1e-5, 1e-5);
      assertClose(q1.toArray(), g2.toArray().map((g, i) => g * (1 - Math.tanh(x2.toArray()[i]) ** 2)), 'ParallelTable grad 1', 1e-4, 1e-5);
    });

    it('MapTable shares one set of parameters', () => {
      setBackend(name);
      const rng = new RandomGenerator(24);
      const lin = new Linear(3, 2);
      const map = new MapTable(lin);
      assert.equal(map.parameterCount(), lin.parameterCount());
      assert.equal(map.parameters().weights.length, 2);
      const xs = [0, 1, 2].map(() => Tensor.randn([2, 3], 0, 1, rng));
      const ys = map.forward(xs) as Tensor[];
      assert.equal(ys.length, 3);
      ys.forEach((y, i) => assertClose(y.toArray(), flat(linearRef(lin, xs[i])), `MapTable[${i}]`, 1e-5, 1e-5));
      assert.equal(map.parameterCount(), lin.parameterCount(), 'replicas add no parameters');
      const gs = [0, 1, 2].map(() => Tensor.randn([2, 2], 0, 1, rng));
      map.zeroGradParameters();
      const gis = map.backward(xs, gs) as Tensor[];
      gis.forEach((g, i) => assertClose(g.toArray(), flat(linearGradInputRef(lin, nested2(gs[i]))), `MapTable gradInput[${i}]`, 1e-5, 1e-5));
      // gradients are the sum over the elements
      const allX = xs.flatMap(nested2), allG = gs.flatMap(nested2);
      const { gW, gb } = linearGradWeightRef(allX, allG);
      assertClose(lin.weight.gradient.toArray(), flat(gW), 'weight gradient sums over elements', 1e-5, 1e-5);
      assertClose(lin.bias!.gradient.toArray(), gb, 'bias gradient sums over elements', 1e-5, 1e-5);
      // changing the module's weights changes every element's output
      lin.weight.weight.fill_(0);
      lin.bias!.weight.fill_(1);
      (map.forward(xs) as Tensor[]).forEach((y) => assert.ok(y.toArray().every((v) => v === 1)));

      // compaction after the replicas exist: the replicas follow the flat buffers
      const m2 = new MapTable(new Linear(3, 2));
      m2.forward(xs);
      const { weights, gradients } = m2.getParameters();
      assert.equal(weights.numel, 8);
      weights.fill_(0.5);
      (m2.forward(xs) as Tensor[]).forEach((y, i) => {
        const expect = nested2(xs[i]).flatMap((row) => [0, 1].map(() => 0.5 + 0.5 * row.reduce((s, v) => s + v, 0)));
        assertClose(y.toArray(), expect, `compacted MapTable[${i}]`, 1e-5, 1e-5);
      });
      gradients.zero_();
      m2.backward(xs, gs);
      assertClose(gradients.narrow(0, 0, 6).toArray(), flat(gW), 'flat weight gradient', 1e-5, 1e-5);
      assertClose(gradients.narrow(0, 6, 2).toArray(), gb, 'flat bias gradient', 1e-5, 1e-5);
      // more elements later: new replicas share too
      const x4 = [...xs, Tensor.randn([1, 3], 0, 1, rng)];
      const y4 = m2.forward(x4) as Tensor[];
      assertClose(y4[3].toArray(), [0, 1].map(() => 0.5 + 0.5 * x4[3].toArray().reduce((s, v) => s + v, 0)), 'late replica', 1e-5, 1e-5);
      assert.throws(() => m2.add(new Linear(1, 1)), /MapTable: already holds a module/);
    });

    it('bad inputs name the module', () => {
      setBackend(name);
      const t = (...s: number[]) => Tensor.zeros(s);
      assert.throws(() => new Concat(1).add(new Linear(3, 2)).add(new Linear(3, 2)).forward(t(2, 4)), /Linear: expected input/);
      const mismatched = new Concat(1).add(new Linear(3, 2)).add(new BatchPlusOne());
      assert.throws(() => mismatched.forward(t(2, 3)), /Concat: child outputs must agree in every dim but 1: child 0 gave \[2, 2\], child 1 gave \[3, 2\]/);
      assert.throws(() => new Concat(2).add(new Linear(3, 2)).forward(t(2, 3)), /Concat: dim 2 is out of range for child outputs of shape \[2, 2\]/);
      assert.throws(() => new Concat(1).forward(t(2, 3)), /Concat: empty container/);
      assert.throws(() => new Concat(0.5), /Concat: dim must be an integer/);
      const c = new Concat(1).add(new Linear(3, 2));
      c.forward(t(2, 3));
      assert.throws(() => c.backward(t(2, 3), t(2, 3)), /Concat: gradOutput \[2, 3\] does not match output \[2, 2\]/);
      const ct = new ConcatTable().add(new Linear(3, 2)).add(new Linear(3, 2));
      ct.forward(t(1, 3));
      assert.throws(() => ct.backward(t(1, 3), [t(1, 2)]), /ConcatTable: gradOutput must be a table of 2/);
      const pt = new ParallelTable().add(new Tanh()).add(new Tanh());
      assert.throws(() => pt.forward([t(2)]), /ParallelTable: expected input a table of 2 \(one per child\), got a table of 1/);
      assert.throws(() => pt.forward(t(2) as unknown as Tensor[]), /ParallelTable: expected input a table of 2/);
      assert.throws(() => new MapTable(new Tanh()).forward(t(2) as unknown as Tensor[]), /MapTable: expected input a table, got float32 \[2\]/);
      assert.throws(() => new MapTable().forward([t(2)]), /MapTable: empty container/);
      const named = new MapTable(new Tanh()).setName('encoder');
      named.forward([t(2), t(2)]);
      assert.throws(() => named.backward([t(2), t(2)], [t(2)]), /encoder: gradOutput must be a table of 2/);
    });

    it('reuses output and gradInput buffers', () => {
      setBackend(name);
      const rng = new RandomGenerator(25);
      const r = (...s: number[]) => Tensor.randn(s, 0, 1, rng);
      const check = (what: string, m: { forward(x: any): Activity; backward(x: any, g: any): Activity; output: Activity; gradInput: Activity }, mk: () => Activity, g: Activity) => {
        const x1 = mk();
        m.forward(x1);
        m.backward(x1, g);
        const snap = (a: Activity): unknown[] => (a instanceof Tensor ? [a] : [a, ...a.flatMap(snap)]);
        const out = snap(m.output), gi = snap(m.gradInput);
        for (let k = 0; k < 2; k++) {
          const x = mk();
          m.forward(x);
          m.backward(x, g);
        }
        snap(m.output).forEach((o, i) => assert.equal(o, out[i], `${what} output object ${i}`));
        snap(m.gradInput).forEach((o, i) => assert.equal(o, gi[i], `${what} gradInput object ${i}`));
      };
      check('Concat', new Concat(1).add(new Linear(3, 2)).add(new Tanh()), () => r(4, 3), r(4, 5));
      check('ConcatTable', new ConcatTable().add(new Linear(3, 2)).add(new Tanh()), () => r(4, 3), [r(4, 2), r(4, 3)]);
      check('ParallelTable', new ParallelTable().add(new Linear(3, 2)).add(new Tanh()), () => [r(4, 3), r(2)], [r(4, 2), r(2)]);
      check('MapTable', new MapTable(new Sequential().add(new Linear(3, 2)).add(new Tanh())), () => [r(4, 3), r(4, 3), r(4, 3)], [r(4, 2), r(4, 2), r(4, 2)]);
    });

    it('clone, getParameters, toString and modes go through the containers', () => {
      setBackend(name);
      const rng = new RandomGenerator(26);
      const x = Tensor.randn([3, 4], 0, 1, rng);
      const c = new Concat(1).add(new Linear(4, 2)).add(new Sequential().add(new Linear(4, 3)).add(new Tanh()));
      // getParameters compacts every child's parameters
      const { weights, gradients } = c.getParameters();
      assert.equal(weights.numel, 4 * 2 + 2 + 4 * 3 + 3);
      assert.equal(c.parameterCount(), weights.numel);
      const before = c.forward(x).toArray();
      const copy = c.clone();
      assert.deepEqual(copy.forward(x).toArray(), before);
      copy.getParameters().weights.fill_(0);
      assert.ok(copy.forward(x).toArray().every((v) => v === 0));
      assert.deepEqual(c.forward(x).toArray(), before, 'the original is untouched');
      weights.fill_(0);
      assert.ok(c.forward(x).toArray().every((v) => v === 0), 'the model reads the flat buffer');
      c.backward(x, Tensor.ones([3, 5]));
      assert.ok(gradients.toArray().some((v) => v !== 0), 'backward writes the flat gradients');

      // MapTable clones: the copy's replicas follow the copy's weights, not the original's
      const lin = new Linear(4, 2);
      const map = new MapTable(lin);
      const xs = [x, x.clone(), x.clone()];
      const ys = (map.forward(xs) as Tensor[]).map((y) => y.toArray());
      const mcopy = map.clone();
      (mcopy.forward(xs) as Tensor[]).forEach((y, i) => assert.deepEqual(y.toArray(), ys[i]));
      mcopy.parameters().weights.forEach((w) => w.fill_(0));
      (mcopy.forward(xs) as Tensor[]).forEach((y) => assert.ok(y.toArray().every((v) => v === 0)));
      (map.forward(xs) as Tensor[]).forEach((y, i) => assert.deepEqual(y.toArray(), ys[i], `original element ${i}`));

      // toString
      const s = new Concat(1).add(new Linear(4, 2)).add(new Tanh()).toString();
      assert.match(s, /^Concat\(1\) \(10 params\)\n {2}Linear\(4 -> 2\) \{weight\[2, 4\], bias\[2\]\} \(10 params\)\n {2}Tanh$/);
      assert.match(new MapTable(new Linear(4, 2)).toString(), /^MapTable \(10 params\)\n {2}Linear\(4 -> 2\)/);
      assert.match(new ParallelTable().add(new Tanh()).toString(), /^ParallelTable\n {2}Tanh$/);
      assert.match(new ConcatTable().add(new Linear(1, 1)).toString(), /^ConcatTable \(2 params\)\n {2}Linear/);

      // training / evaluate reach the children, and MapTable's replicas
      const drop = () => new Dropout(0.5, new RandomGenerator(5));
      for (const m of [new Concat(1).add(drop()), new ConcatTable().add(drop()), new ParallelTable().add(drop()), new MapTable(drop())]) {
        m.evaluate();
        assert.ok(m.children().every((ch) => !ch.isTraining()), `${m.getName()} evaluate`);
        m.training();
        assert.ok(m.children().every((ch) => ch.isTraining()), `${m.getName()} training`);
      }
      const md = new MapTable(drop());
      const ones = [0, 1, 2].map(() => Tensor.ones([200]));
      assert.ok((md.forward(ones) as Tensor[]).every((y) => y.toArray().some((v) => v === 0)), 'training: every element drops');
      md.evaluate();
      assert.ok((md.forward(ones) as Tensor[]).every((y) => y.toArray().every((v) => v === 1)), 'evaluate: every replica is the identity');
      md.training();
      assert.ok((md.forward(ones) as Tensor[]).every((y) => y.toArray().some((v) => v === 0)), 'training again');
      // the replicas draw from the module's generator: each element gets its own mask
      const masks = (new MapTable(drop()).forward(ones) as Tensor[]).map((y) => y.toArray().join());
      assert.equal(new Set(masks).size, 3, 'dropout masks differ between elements');
      // replicas made while evaluating start in evaluation mode
      const late = new MapTable(drop()).evaluate();
      assert.ok((late.forward(ones) as Tensor[]).every((y) => y.toArray().every((v) => v === 1)), 'replicas created in evaluate mode');
    });
  });
}

/** A stand-in child whose output has a different batch size than its input (for the mismatch test). */
class BatchPlusOne extends Module {
  updateOutput(input: Tensor): Tensor {
    this.output = ensureShape(this.output, [input.shape[0] + 1, 2]);
    return this.output;
  }
  updateGradInput(input: Tensor): Tensor {
    this.gradInput = ensureShape(this.gradInput, input.shape);
    return this.gradInput;
  }
}
