// Shape layers: finite-difference gradients, values against index arithmetic written out here,
// views without copies, errors naming the module, and buffer reuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Activity, Module } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { Sequential } from '../../src/nn/sequential.js';
import { Identity, Narrow, Padding, Replicate, Reshape, Select, Squeeze, Transpose, Unsqueeze, View } from '../../src/nn/shape-layers.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

/** Every multi-index of `shape`, in row-major order. */
function indices(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const n of shape) out = out.flatMap((p) => Array.from({ length: n }, (_, i) => [...p, i]));
  return out;
}

/** A tensor of `shape` whose element at idx is f(idx). */
function build(shape: readonly number[], f: (idx: number[]) => number): Tensor {
  return Tensor.from(indices(shape).map(f), shape);
}

function expectTensor(actual: Tensor, shape: readonly number[], f: (idx: number[]) => number, what: string): void {
  assert.deepEqual(actual.shape, shape, `${what}: shape`);
  assertClose(actual.toArray(), indices(shape).map(f), what);
}

const randn = (shape: number[], rng: RandomGenerator) => Tensor.randn(shape, 0, 1, rng);

/** forward + backward twice: the same output and gradInput objects come back. */
function assertReuse(what: string, m: Module<any, any>, x: Activity, g: Activity): void {
  const y1 = m.forward(x);
  const gi1 = m.backward(x, g);
  const y2 = m.forward(x);
  const gi2 = m.backward(x, g);
  assert.equal(y2, y1, `${what}: output reallocated`);
  assert.equal(gi2, gi1, `${what}: gradInput reallocated`);
}

for (const name of backendsUnderTest()) {
  describe(`shape layers on ${name}`, () => {
    it('finite-difference gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(11);
      checkModuleGradients('Identity', new Identity(), randn([3, 4], rng));
      checkModuleGradients('Identity table', new Identity(), [randn([2, 3], rng), randn([4], rng)]);
      checkModuleGradients('Reshape', new Reshape([3, 4]), randn([12], rng));
      checkModuleGradients('Reshape batch', new Reshape([6]), randn([2, 3, 2], rng));
      checkModuleGradients('Reshape batchMode false', new Reshape([2, 6], false), randn([4, 3], rng));
      checkModuleGradients('View -1', new View(-1, 2), randn([3, 4], rng));
      checkModuleGradients('View numInputDims', new View(6).setNumInputDims(2), randn([4, 2, 3], rng));
      checkModuleGradients('Squeeze', new Squeeze(), randn([3, 1, 4, 1], rng));
      checkModuleGradients('Squeeze dim', new Squeeze(-1), randn([3, 1, 4, 1], rng));
      checkModuleGradients('Unsqueeze', new Unsqueeze(1), randn([3, 4], rng));
      checkModuleGradients('Unsqueeze batched', new Unsqueeze(0, 2), randn([2, 3, 4], rng));
      checkModuleGradients('Transpose', new Transpose([[0, 1], [1, 2]]), randn([2, 3, 4], rng));
      checkModuleGradients('Transpose negative dims', new Transpose([[-1, 0]]), randn([3, 5], rng));
      checkModuleGradients('Select', new Select(1, -1), randn([2, 3, 4], rng));
      checkModuleGradients('Select 1-d', new Select(0, 2), randn([5], rng));
      checkModuleGradients('Narrow', new Narrow(1, 1, 2), randn([3, 5], rng));
      checkModuleGradients('Narrow negative length', new Narrow(-1, 1, -2), randn([2, 3, 6], rng));
      checkModuleGradients('Padding before', new Padding(0, -2, 1, 0.5), randn([4], rng));
      checkModuleGradients('Padding after, batched', new Padding(0, 3, 1), randn([2, 4], rng));
      checkModuleGradients('Padding inside', new Padding(1, 2, 3, -1, 1), randn([2, 3, 4], rng));
      checkModuleGradients('Replicate', new Replicate(3), randn([2, 4], rng));
      checkModuleGradients('Replicate batched', new Replicate(3, 0, 1), randn([2, 4], rng));
      checkModuleGradients('Replicate last', new Replicate(2, -1), randn([3, 2], rng));
      const net = new Sequential().add(new Linear(6, 12)).add(new Reshape([3, 4])).add(new Transpose([[1, 2]]))
        .add(new Narrow(1, 1, 3)).add(new View(-1).setNumInputDims(2)).add(new Linear(9, 2));
      checkModuleGradients('Sequential of shape layers', net, randn([5, 6], rng));
    });

    it('Identity, Reshape, View, Squeeze and Unsqueeze give views with the right shapes', () => {
      setBackend(name);
      const rng = new RandomGenerator(12);
      const x = randn([2, 3, 4], rng);
      assert.equal(new Identity().forward(x), x);
      const flatX = x.toArray();
      const cases: [Module, Tensor, number[]][] = [
        [new Reshape([12]), x, [2, 12]],
        [new Reshape([24]), x, [24]],
        [new Reshape([24], true), x.view(1, 24), [1, 24]],
        [new Reshape([2, 12], false), x, [2, 12]],
        [new Reshape([4, 6]), x.view(1, 24), [1, 4, 6]],
        [new View(-1), x, [24]],
        [new View(4), x, [6, 4]],
        [new View(3, -1).setNumInputDims(2), x, [2, 3, 4]],
        [new View(12).setNumInputDims(2), x, [2, 12]],
        [new View(24).setNumInputDims(2), x.view(6, 4), [24]],
        [new View(24).setNumInputDims(2), x.view(1, 6, 4), [1, 24]],
        [new Squeeze(), x.view(2, 1, 12, 1), [2, 12]],
        [new Squeeze(1), x.view(2, 1, 12, 1), [2, 12, 1]],
        [new Squeeze(-1), x.view(2, 1, 12, 1), [2, 1, 12]],
        [new Squeeze(0), x, [2, 3, 4]],
        [new Squeeze(undefined, 2), x.view(1, 24, 1), [1, 24]],
        [new Squeeze(1, 2), x.view(2, 12, 1), [2, 12]],
        [new Unsqueeze(1), x, [2, 1, 3, 4]],
        [new Unsqueeze(3), x, [2, 3, 4, 1]],
        [new Unsqueeze(-1), x, [2, 3, 4, 1]],
        [new Unsqueeze(-4), x, [1, 2, 3, 4]],
        [new Unsqueeze(0, 2), x, [2, 1, 3, 4]],
      ];
      for (const [m, input, shape] of cases) {
        const y = m.forward(input);
        const what = `${m.toString()} on [${input.shape}]`;
        assert.deepEqual(y.shape, shape, what);
        assert.deepEqual(y.toArray(), flatX, `${what}: elements in order`);
        assert.equal(y.data, x.data, `${what}: a view, not a copy`);
        const g = Tensor.randn(shape, 0, 1, rng);
        const gi = m.backward(input, g);
        assert.deepEqual(gi.shape, input.shape, `${what}: gradInput shape`);
        assert.deepEqual(gi.toArray(), g.toArray(), `${what}: gradInput elements`);
      }
    });

    it('Reshape and View copy a layout they cannot view, and still reuse buffers', () => {
      setBackend(name);
      const rng = new RandomGenerator(13);
      const xt = randn([4, 3], rng).t(); // [3, 4], not viewable as [12]
      for (const m of [new Reshape([12]), new View(-1)]) {
        const y = m.forward(xt);
        assert.deepEqual(y.shape, [12]);
        assert.deepEqual(y.toArray(), xt.toArray());
        assert.equal(m.forward(xt), y, 'the copy buffer and its view are reused');
        xt.set(42, 1, 2);
        assert.equal(m.forward(xt).get(6), 42, 'a new forward sees the new values');
        const gt = randn([12], rng);
        const gi = m.backward(xt, gt);
        assert.deepEqual(gi.shape, [3, 4]);
        assert.deepEqual(gi.toArray(), gt.toArray());
      }
    });

    it('Transpose applies its swaps in order; gradInput undoes them', () => {
      setBackend(name);
      const rng = new RandomGenerator(14);
      const x = randn([2, 3, 4], rng);
      const m = new Transpose([[0, 1], [1, 2]]);
      // [2,3,4] -swap 0,1-> [3,2,4] -swap 1,2-> [3,4,2]: y[i][j][k] = x[k][i][j]
      const y = m.forward(x);
      expectTensor(y, [3, 4, 2], ([i, j, k]) => x.get(k, i, j), 'Transpose output');
      assert.equal(y.data, x.data, 'a view');
      const g = randn([3, 4, 2], rng);
      const gi = m.backward(x, g);
      expectTensor(gi, [2, 3, 4], ([a, b, c]) => g.get(b, c, a), 'Transpose gradInput');
      assert.ok(gi.isContiguous(), 'gradInput is a contiguous buffer');
    });

    it('Select and Narrow: slices, negative indices and lengths, zero gradient elsewhere', () => {
      setBackend(name);
      const rng = new RandomGenerator(15);
      const x = randn([2, 5, 3], rng);
      const sel = new Select(1, -2);
      expectTensor(sel.forward(x), [2, 3], ([i, k]) => x.get(i, 3, k), 'Select output');
      const gs = randn([2, 3], rng);
      expectTensor(sel.backward(x, gs), [2, 5, 3], ([i, j, k]) => (j === 3 ? gs.get(i, k) : 0), 'Select gradInput');
      expectTensor(new Select(-1, 0).forward(x), [2, 5], ([i, j]) => x.get(i, j, 0), 'Select last dim');

      const narrows: [Narrow, number, number][] = [
        [new Narrow(1, 1, 2), 1, 2],
        [new Narrow(1, 1, -1), 1, 4], // up to the end
        [new Narrow(1, 1, -2), 1, 3], // up to the end minus one
        [new Narrow(1, -2, 2), 3, 2], // the last two
        [new Narrow(-2, 0, -1), 0, 5],
      ];
      for (const [m, off, len] of narrows) {
        const what = m.toString();
        const y = m.forward(x);
        expectTensor(y, [2, len, 3], ([i, j, k]) => x.get(i, off + j, k), `${what} output`);
        assert.equal(y.data, x.data, `${what}: a view`);
        const g = randn([2, len, 3], rng);
        expectTensor(m.backward(x, g), [2, 5, 3], ([i, j, k]) => (j >= off && j < off + len ? g.get(i, j - off, k) : 0), `${what} gradInput`);
      }
    });

    it('Padding pads before (pad < 0), after (pad > 0) or inside (nIndex), batched or not', () => {
      setBackend(name);
      const x = Tensor.from([1, 2, 3]);
      const v = (m: Padding, t: Tensor) => m.forward(t).toArray();
      assert.deepEqual(v(new Padding(0, -2, 1), x), [0, 0, 1, 2, 3]);
      assert.deepEqual(v(new Padding(0, 2, 1, 7), x), [1, 2, 3, 7, 7]);
      assert.deepEqual(v(new Padding(0, -1, 1, 9, 1), x), [1, 9, 2, 3]);
      assert.deepEqual(v(new Padding(0, 1, 1, 9, 1), x), [1, 2, 9, 3]);
      assert.deepEqual(v(new Padding(-1, 1, 1, 5), x), [1, 2, 3, 5]);
      // a [2, 3] input with nInputDim 1 is a batch: dim 0 means the feature dim
      const xb = Tensor.from([[1, 2, 3], [4, 5, 6]]);
      const mb = new Padding(0, -1, 1, -1);
      assert.deepEqual(mb.forward(xb).toNested(), [[-1, 1, 2, 3], [-1, 4, 5, 6]]);
      assert.deepEqual(mb.backward(xb, Tensor.from([[10, 11, 12, 13], [14, 15, 16, 17]])).toNested(), [[11, 12, 13], [15, 16, 17]]);
      // with nInputDim 2 the same input is one sample: dim 0 pads rows
      assert.deepEqual(new Padding(0, 1, 2).forward(xb).toNested(), [[1, 2, 3], [4, 5, 6], [0, 0, 0]]);
      const mi = new Padding(0, 1, 1, 0, 1);
      mi.forward(x);
      assert.deepEqual(mi.backward(x, Tensor.from([10, 20, 30, 40])).toArray(), [10, 20, 40]);
      // padding keeps the dtype of an int32 input (padded id sequences)
      const ids = new Padding(0, 2, 1, -1).forward(Tensor.from([4, 5], undefined, { dtype: 'int32' }));
      assert.equal(ids.dtype, 'int32');
      assert.deepEqual(ids.toArray(), [4, 5, -1, -1]);
    });

    it('Replicate is a stride-0 view; its gradient sums over the copies', () => {
      setBackend(name);
      const rng = new RandomGenerator(16);
      const x = randn([2, 4], rng);
      const cases: [Replicate, number[], (i: number[]) => number[]][] = [
        [new Replicate(3), [3, 2, 4], ([, a, b]) => [a, b]],
        [new Replicate(3, 1), [2, 3, 4], ([a, , b]) => [a, b]],
        [new Replicate(3, 0, 1), [2, 3, 4], ([a, , b]) => [a, b]], // first dim is the batch
        [new Replicate(3, 2), [2, 4, 3], ([a, b]) => [a, b]],
        [new Replicate(3, -1), [2, 4, 3], ([a, b]) => [a, b]],
      ];
      for (const [m, shape, src] of cases) {
        const what = m.toString();
        const y = m.forward(x);
        expectTensor(y, shape, (i) => x.get(...src(i)), `${what} output`);
        assert.equal(y.data, x.data, `${what}: a view`);
        const g = randn(shape, rng);
        const expected = Tensor.zeros([2, 4]);
        for (const i of indices(shape)) {
          const [a, b] = src(i);
          expected.set(expected.get(a, b) + g.get(...i), a, b);
        }
        assertClose(m.backward(x, g).toArray(), expected.toArray(), `${what} gradInput`, 1e-5, 1e-5);
      }
    });

    it('bad inputs and arguments name the module', () => {
      setBackend(name);
      const x = Tensor.zeros([2, 3]);
      assert.throws(() => new Identity().backward(x, Tensor.zeros([3, 2])), /Identity: gradOutput \[3, 2\] does not match/);
      assert.throws(() => new Reshape([4]).forward(Tensor.zeros([5])), /Reshape: expected input .*got float32 \[5\]/);
      assert.throws(() => new Reshape([4], true).forward(Tensor.zeros([2, 3])), /Reshape: expected input \[batch, \.\.\.\]/);
      assert.throws(() => new Reshape([2, 3], false).forward(Tensor.zeros([2, 6])), /Reshape: expected input 6 elements/);
      assert.throws(() => new Reshape([6]).backward(x, Tensor.zeros([5])), /Reshape: gradOutput \[5\]/);
      assert.throws(() => new Reshape([0]), /Reshape: size must be/);
      assert.throws(() => new View(5).forward(x), /View: expected input a multiple of 5/);
      assert.throws(() => new View(-1, -1), /View: only one size may be -1/);
      assert.throws(() => new View(4, -1).forward(x), /View: expected input/);
      assert.throws(() => new Squeeze(2).forward(x), /Squeeze: expected input a tensor with a dim 2/);
      assert.throws(() => new Unsqueeze(3).forward(x), /Unsqueeze: expected input/);
      assert.throws(() => new Unsqueeze(0, 3).forward(x), /Unsqueeze: expected input at least numInputDims = 3 dims/);
      assert.throws(() => new Transpose([[0, 2]]).forward(x), /Transpose: expected input a tensor with dims 0 and 2, got float32 \[2, 3\]/);
      assert.throws(() => new Transpose([[0, 1]]).backward(x, Tensor.zeros([2, 3])), /Transpose: gradOutput \[2, 3\] does not match the output \[3, 2\]/);
      assert.throws(() => new Select(1, 3).forward(x), /Select: expected input a tensor with an index 3 in dim 1/);
      assert.throws(() => new Select(2, 0).forward(x), /Select: expected input a tensor with a dim 2/);
      assert.throws(() => new Narrow(1, 2, 2).forward(x), /Narrow: expected input dim 1 to hold offset 2 and length 2/);
      assert.throws(() => new Narrow(1, 0, -5).forward(x), /Narrow: expected input/);
      assert.throws(() => new Narrow(0, 0, 0), /Narrow: length must be a non-zero integer/);
      assert.throws(() => new Padding(2, 1, 2).forward(x), /Padding: expected input a tensor with a dim 2/);
      assert.throws(() => new Padding(0, 1, 1, 0, 4).forward(Tensor.zeros([3])), /Padding: expected input at least nIndex = 4/);
      assert.throws(() => new Replicate(2, 4).forward(x), /Replicate: expected input enough dims/);
      assert.throws(() => new Replicate(0), /Replicate: nFeatures must be an integer >= 1/);
      assert.throws(() => new Replicate(2).backward(x, Tensor.zeros([2, 3])), /Replicate: gradOutput \[2, 3\] does not match the output \[2, 2, 3\]/);
      assert.throws(() => new Select(0, 0).forward([x] as unknown as Tensor), /Select: expected input a tensor, got a table of 1/);
    });

    it('reuses output and gradInput objects for the same input', () => {
      setBackend(name);
      const rng = new RandomGenerator(17);
      const x = randn([2, 3, 4], rng);
      const modules: [Module<any, any>, number[]][] = [
        [new Identity(), [2, 3, 4]],
        [new Reshape([12]), [2, 12]],
        [new View(-1), [24]],
        [new Squeeze(), [2, 3, 4]],
        [new Unsqueeze(1), [2, 1, 3, 4]],
        [new Transpose([[0, 2]]), [4, 3, 2]],
        [new Select(2, 1), [2, 3]],
        [new Narrow(1, 0, 2), [2, 2, 4]],
        [new Padding(1, 2, 3), [2, 5, 4]],
        [new Replicate(2, 1), [2, 2, 3, 4]],
      ];
      for (const [m, shape] of modules) assertReuse(m.getName(), m, x, randn(shape, rng));
      // in a network, each layer sees its predecessor's reused output: nothing new in steady state
      const net = new Sequential().add(new Linear(4, 6)).add(new View(2, 3).setNumInputDims(1)).add(new Transpose([[1, 2]]))
        .add(new Padding(1, -1, 2)).add(new Reshape([9])).add(new Replicate(2, 0, 1)).add(new Select(1, 0)).add(new Linear(9, 2));
      const xb = randn([5, 4], rng), gb = randn([5, 2], rng);
      net.forward(xb);
      net.backward(xb, gb);
      const before = net.children().flatMap((c) => [c.output, c.gradInput]);
      net.forward(xb);
      net.backward(xb, gb);
      net.children().flatMap((c) => [c.output, c.gradInput]).forEach((b, i) => assert.equal(b, before[i], `buffer ${i} was reallocated`));
    });
  });
}
