// LookupTable: gradients, values, padding, maxNorm, touched rows, bad input, buffer reuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { LookupTable } from '../../src/nn/lookup-table.js';
import { Sequential } from '../../src/nn/sequential.js';
import { Linear } from '../../src/nn/linear.js';
import { ConstInitMethod } from '../../src/nn/init.js';
import { assertClose, assertTensorClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

const ints = (v: number[][] | number[]) => Tensor.from(v, undefined, { dtype: 'int32' });

/** The row of `w` as a plain array. */
const row = (w: Tensor, r: number) => w.select(0, r).toArray();

for (const name of backendsUnderTest()) {
  describe(`LookupTable on ${name}`, () => {
    it('finite-difference gradients of the table (1-d and 2-d, int32 and float indices, padding)', () => {
      setBackend(name);
      RNG.setSeed(1);
      checkModuleGradients('LookupTable [batch, time]', new LookupTable(7, 3), ints([[1, 4, 4], [0, 6, 1]]), { checkInput: false });
      checkModuleGradients('LookupTable [batch]', new LookupTable(5, 4), ints([3, 0, 3, 2]), { checkInput: false });
      checkModuleGradients('LookupTable float indices', new LookupTable(5, 2), Tensor.from([[2, 2], [4, 0]]), { checkInput: false });
      // with a padding index the other rows are unaffected (the padding row itself is exempt from
      // gradient by design, so it is left out of the input here)
      checkModuleGradients('LookupTable with padding', new LookupTable(6, 3, { paddingValue: 5 }), ints([[1, 2], [3, 1]]), { checkInput: false });
    });

    it('forward returns the rows of the table; backward adds gradOutput rows into the looked-up rows', () => {
      setBackend(name);
      const rng = new RandomGenerator(2);
      const lt = new LookupTable(10, 3);
      const idx = ints([[1, 7, 1], [0, 9, 7]]);
      const y = lt.forward(idx);
      assert.deepEqual(y.shape, [2, 3, 3]);
      const w = lt.weight.weight;
      [[1, 7, 1], [0, 9, 7]].forEach((r, b) => r.forEach((i, t) => assert.deepEqual(y.select(0, b).select(0, t).toArray(), row(w, i))));
      const gy = Tensor.randn([2, 3, 3], 0, 1, rng);
      lt.zeroGradParameters();
      const gi = lt.backward(idx, gy, 0.5);
      assert.deepEqual(gi.shape, [2, 3]);
      assert.ok(gi.toArray().every((v) => v === 0), 'indices get a zero gradient');
      const g = lt.weight.gradient;
      const expected = new Map<number, number[]>();
      [[1, 7, 1], [0, 9, 7]].forEach((r, b) => r.forEach((i, t) => {
        const cur = expected.get(i) ?? [0, 0, 0];
        expected.set(i, cur.map((v, j) => v + 0.5 * gy.get(b, t, j)));
      }));
      for (let i = 0; i < 10; i++) assertClose(row(g, i), expected.get(i) ?? [0, 0, 0], `grad row ${i}`, 1e-6, 1e-6);
    });

    it('padding index: zero row at init, zero gradient, negative values count from the end', () => {
      setBackend(name);
      RNG.setSeed(3);
      const lt = new LookupTable(6, 4, { paddingValue: 2 });
      assert.deepEqual(row(lt.weight.weight, 2), [0, 0, 0, 0]);
      const idx = ints([[2, 1, 2], [3, 2, 1]]);
      const y = lt.forward(idx);
      assert.deepEqual(y.select(0, 0).select(0, 0).toArray(), [0, 0, 0, 0]);
      lt.zeroGradParameters();
      lt.backward(idx, Tensor.ones([2, 3, 4]));
      lt.backward(idx, Tensor.ones([2, 3, 4]));
      assert.deepEqual(row(lt.weight.gradient, 2), [0, 0, 0, 0]);
      assert.deepEqual(row(lt.weight.gradient, 1), [4, 4, 4, 4]);
      assert.deepEqual(row(lt.weight.gradient, 3), [2, 2, 2, 2]);
      // a non-zero padding row (set by the user) is looked up as it is and still gets no gradient
      lt.weight.weight.select(0, 2).fill_(0.5);
      assert.deepEqual(lt.forward(idx).select(0, 1).select(0, 1).toArray(), [0.5, 0.5, 0.5, 0.5]);
      const neg = new LookupTable(6, 2, { paddingValue: -1 });
      assert.equal(neg.paddingIndex, 5);
      assert.deepEqual(row(neg.weight.weight, 5), [0, 0]);
      assert.match(neg.toString(), /LookupTable\(6 -> 2, padding 5\) \{weight\[6, 2\]\} \(12 params\)/);
    });

    it('maxNorm renormalises the looked-up rows in place (PyTorch max_norm), p = 2, 1 and infinity', () => {
      setBackend(name);
      for (const p of [2, 1, Infinity]) {
        const lt = new LookupTable(5, 3, { maxNorm: 1, normType: p, weightInit: ConstInitMethod(2) });
        lt.weight.weight.select(0, 4).fill_(0.1); // already within the norm
        const before = lt.weight.weight.clone();
        const norm = (v: number[]) => (p === Infinity ? Math.max(...v.map(Math.abs)) : v.reduce((s, x) => s + Math.abs(x) ** p, 0) ** (1 / p));
        const y = lt.forward(ints([[0, 4], [0, 2]]));
        for (const r of [0, 2]) {
          const n0 = norm(row(before, r));
          assertClose(row(lt.weight.weight, r), row(before, r).map((v) => v * (1 / (n0 + 1e-7))), `p=${p} row ${r}`, 1e-6, 1e-7);
          assert.ok(Math.abs(norm(row(lt.weight.weight, r)) - 1) < 1e-5);
        }
        assert.deepEqual(row(lt.weight.weight, 1), row(before, 1), 'rows not looked up are left alone');
        assert.deepEqual(row(lt.weight.weight, 4), row(before, 4), 'rows within the norm are left alone');
        assert.deepEqual(y.select(0, 0).select(0, 0).toArray(), row(lt.weight.weight, 0), 'the output uses the renormalised row');
      }
    });

    it('touchedRows: the rows that received gradient since zeroGradParameters, sorted, without the padding row', () => {
      setBackend(name);
      const lt = new LookupTable(12, 2, { paddingValue: 2 });
      lt.zeroGradParameters();
      assert.deepEqual(Array.from(lt.touchedRows()), []);
      const a = ints([[7, 3, 3], [1, 2, 7]]);
      lt.forward(a);
      lt.backward(a, Tensor.ones([2, 3, 2]));
      assert.deepEqual(Array.from(lt.touchedRows()), [1, 3, 7]);
      const b = ints([10, 1]);
      lt.forward(b);
      lt.backward(b, Tensor.ones([2, 2]));
      assert.deepEqual(Array.from(lt.touchedRows()), [1, 3, 7, 10]);
      // only those rows hold gradient
      const g = lt.weight.gradient;
      for (let r = 0; r < 12; r++) assert.equal(row(g, r).some((v) => v !== 0), [1, 3, 7, 10].includes(r), `row ${r}`);
      lt.zeroGradParameters();
      assert.deepEqual(Array.from(lt.touchedRows()), []);
      // a container's zeroGradParameters clears the gradient buffers directly: those rows drop out too
      const model = new Sequential().add(lt);
      lt.forward(b);
      lt.backward(b, Tensor.ones([2, 2]));
      model.zeroGradParameters();
      const c = ints([4]);
      lt.forward(c);
      lt.backward(c, Tensor.ones([1, 2]));
      assert.deepEqual(Array.from(lt.touchedRows()), [4]);
    });

    it('index out of range, non-integer indices and bad shapes name the layer', () => {
      setBackend(name);
      const lt = new LookupTable(10, 3);
      assert.throws(() => lt.forward(ints([[1, 2, 10]])), /LookupTable: index 10 at position \[0, 2\] is out of range for nIndex 10 \(indices are 0-based: 0\.\.9\)/);
      assert.throws(() => lt.forward(ints([3, -1])), /LookupTable: index -1 at position 1 is out of range for nIndex 10/);
      assert.throws(() => lt.forward(Tensor.from([1.5, 2])), /LookupTable: index 1.5 at position 0 is not an integer/);
      assert.throws(() => lt.forward(Tensor.from([Number.NaN])), /LookupTable: index NaN at position 0 is not an integer/);
      assert.throws(() => lt.forward(Tensor.zeros([2, 2, 2], { dtype: 'int32' })), /LookupTable: expected input \[batch\] or \[batch, time\] indices/);
      lt.forward(ints([1, 2]));
      assert.throws(() => lt.backward(ints([1, 2]), Tensor.zeros([2, 4])), /LookupTable: gradOutput \[2, 4\] does not match the output \[2, 3\]/);
      assert.throws(() => new LookupTable(0, 3), /LookupTable: nIndex must be a positive integer/);
      assert.throws(() => new LookupTable(3, 3, { paddingValue: 3 }), /LookupTable: paddingValue 3 must be an index in \[-3, 3\)/);
      assert.throws(() => new LookupTable(3, 3, { maxNorm: 0 }), /LookupTable: maxNorm must be positive/);
      // a named layer is named in the message
      assert.throws(() => new LookupTable(4, 2).setName('words').forward(ints([4])), /words: index 4/);
    });

    it('reuses buffers; works on compacted parameters and strided indices', () => {
      setBackend(name);
      const rng = new RandomGenerator(4);
      const lt = new LookupTable(8, 3);
      const idx = ints([[1, 2], [3, 4]]), gy = Tensor.randn([2, 2, 3], 0, 1, rng);
      lt.forward(idx);
      lt.backward(idx, gy);
      const [out, gi] = [lt.output, lt.gradInput];
      lt.forward(idx);
      lt.backward(idx, gy);
      assert.equal(lt.output, out);
      assert.equal(lt.gradInput, gi);
      // inside a compacted model the table is a view into the flat buffers
      const model = new Sequential().add(lt).add(new Linear(3, 2));
      const { weights, gradients } = model.getParameters();
      gradients.zero_();
      const y = lt.forward(idx);
      assert.deepEqual(y.select(0, 1).select(0, 0).toArray(), row(lt.weight.weight, 3));
      lt.backward(idx, gy);
      assert.deepEqual(Array.from(lt.touchedRows()), [1, 2, 3, 4]);
      assert.ok(gradients.narrow(0, 0, 24).toArray().some((v) => v !== 0));
      weights.narrow(0, 3 * 3, 3).fill_(7);
      assert.deepEqual(lt.forward(ints([3])).toArray(), [7, 7, 7]);
      // strided index tensor (a transposed view)
      const t = ints([[1, 3], [2, 4]]).t();
      assertTensorClose(lt.forward(t), lt.forward(ints([[1, 2], [3, 4]])).clone(), 'transposed indices');
    });

    it('default initialisation is normal(0, 1)', () => {
      setBackend(name);
      RNG.setSeed(5);
      const w = new LookupTable(2000, 50).weight.weight.toArray();
      const mean = w.reduce((s, v) => s + v, 0) / w.length;
      const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
      assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
      assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
    });
  });
}
