// One suite, run on every backend: ops against values worked out by hand, and the errors bad
// input must produce.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/tensor/ops.js';
import { assertClose, backendsUnderTest } from '../helpers.js';

const f = (v: number[]) => v.map(Math.fround);

for (const name of backendsUnderTest()) {
  describe(`tensor ops on ${name}`, () => {
    it('elementwise with broadcasting, scalars and in-place forms', () => {
      setBackend(name);
      const a = Tensor.from([[1, 2, 3], [4, 5, 6]]);
      const row = Tensor.from([10, 20, 30]);
      const col = Tensor.from([[100], [200]]);
      assert.deepEqual(a.add(row).toArray(), [11, 22, 33, 14, 25, 36]);
      assert.deepEqual(a.sub(col, 0.5).toArray(), [-49, -48, -47, -96, -95, -94]);
      assert.deepEqual(row.mul(col).toArray(), [1000, 2000, 3000, 2000, 4000, 6000]);
      assert.deepEqual(a.div(2).toArray(), [0.5, 1, 1.5, 2, 2.5, 3]);
      assert.deepEqual(a.add(Tensor.scalar(1)).toArray(), [2, 3, 4, 5, 6, 7]);
      assert.deepEqual(a.pow(2).toArray(), [1, 4, 9, 16, 25, 36]);
      assert.deepEqual(a.clamp(2, 4).toArray(), [2, 2, 3, 4, 4, 4]);
      assert.deepEqual(a.neg().relu().toArray(), [0, 0, 0, 0, 0, 0]);
      assert.deepEqual(ops.maximum(a, Tensor.from([3])).toArray(), [3, 3, 3, 4, 5, 6]);
      assert.deepEqual(ops.gt(a, Tensor.from([2, 5, 3])).toArray(), [0, 0, 0, 1, 0, 1]);
      const b = a.clone();
      b.mul_(row).add_(1);
      assert.deepEqual(b.toArray(), [11, 41, 91, 41, 101, 181]);
      assertClose(Tensor.from([0, 1, -1]).sigmoid().toArray(), f([0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(1))]), 'sigmoid', 1e-6);
      assertClose(Tensor.from([0, 0.5]).tanh().toArray(), f([0, Math.tanh(0.5)]), 'tanh', 1e-6);
      assert.deepEqual(ops.thresholdBackward(Tensor.from([-1, 0, 2]), Tensor.from([5, 6, 7])).toArray(), [0, 0, 7]);
      assert.deepEqual(ops.tanhBackward(Tensor.from([0.5]), Tensor.from([2])).toArray(), [1.5]);
    });

    it('reductions along dims and over the whole tensor', () => {
      setBackend(name);
      const a = Tensor.from([[1, 5, 3], [4, 2, 6]]);
      assert.deepEqual(a.sum(0).toArray(), [5, 7, 9]);
      assert.deepEqual(a.sum(1, true).shape, [2, 1]);
      assert.equal(a.sum().item(), 21);
      assert.deepEqual(a.sum().shape, []);
      assert.deepEqual(a.mean(1).toArray(), [3, 4]);
      assert.deepEqual(a.max(1).toArray(), [5, 6]);
      assert.deepEqual(a.argmax(1).toArray(), [1, 2]);
      assert.equal(a.argmax(1).dtype, 'int32');
      assert.deepEqual(a.min(0).toArray(), [1, 2, 3]);
      assert.equal(a.argmin().item(), 0);
      assert.equal(ops.sumSquares(a).item(), 91);
      assert.deepEqual(ops.prod(a, 0).toArray(), [4, 10, 18]);
      // a reduction of a transposed view
      assert.deepEqual(a.t().sum(1).toArray(), [5, 7, 9]);
    });

    it('matmul family', () => {
      setBackend(name);
      const a = Tensor.from([[1, 2], [3, 4], [5, 6]]);
      const b = Tensor.from([[1, 0, 2], [0, 1, 3]]);
      assert.deepEqual(a.matmul(b).toNested(), [[1, 2, 8], [3, 4, 18], [5, 6, 28]]);
      assert.deepEqual(a.t().matmul(a).toNested(), [[35, 44], [44, 56]]);
      assert.deepEqual(ops.addmm(Tensor.from([1, 1, 1]), a, b, { beta: 2, alpha: -1 }).toNested(), [[1, 0, -6], [-1, -2, -16], [-3, -4, -26]]);
      assert.deepEqual(ops.mv(a, Tensor.from([1, -1])).toArray(), [-1, -1, -1]);
      assert.equal(ops.matmul(Tensor.from([1, 2, 3]), Tensor.from([4, 5, 6])).item(), 32);
      const batch = Tensor.from([[[1, 0], [0, 1]], [[2, 0], [0, 2]]]);
      assert.deepEqual(ops.bmm(batch, a.narrow(0, 0, 2).unsqueeze(0).expand(2, 2, 2)).toNested(), [[[1, 2], [3, 4]], [[2, 4], [6, 8]]]);
      assert.deepEqual(ops.matmul(batch, Tensor.from([[1], [1]])).shape, [2, 2, 1]);
      const out = Tensor.zeros([3, 3]);
      assert.equal(ops.mm(a, b, out), out, 'mm writes into out');
      assert.deepEqual(out.get(2, 2), 28);
    });

    it('softmax and log-softmax', () => {
      setBackend(name);
      const x = Tensor.from([[1, 2, 3], [1, 1, 1]]);
      const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
      const s = e[0] + e[1] + e[2];
      assertClose(x.softmax(1).toArray(), f([e[0] / s, e[1] / s, e[2] / s, 1 / 3, 1 / 3, 1 / 3]), 'softmax', 1e-6);
      assertClose(x.logSoftmax(1).toArray(), f([1 - Math.log(s), 2 - Math.log(s), 3 - Math.log(s), -Math.log(3), -Math.log(3), -Math.log(3)]), 'logSoftmax', 1e-6);
      assertClose(x.softmax(0).sum(0).toArray(), [1, 1, 1], 'softmax columns sum to 1', 1e-6);
      // large logits must not overflow
      assertClose(Tensor.from([1000, 1000]).softmax().toArray(), [0.5, 0.5], 'stable softmax');
    });

    it('gather, scatterAdd, indexSelect, indexAdd', () => {
      setBackend(name);
      const x = Tensor.from([[1, 2, 3], [4, 5, 6]]);
      const idx = Tensor.from([[2, 0], [1, 1]], undefined, { dtype: 'int32' });
      assert.deepEqual(x.gather(1, idx).toNested(), [[3, 1], [5, 5]]);
      const acc = Tensor.zeros([2, 3]).scatterAdd_(1, idx, Tensor.from([[1, 2], [3, 4]]));
      assert.deepEqual(acc.toNested(), [[2, 0, 1], [0, 7, 0]]);
      const rows = Tensor.from([1, 0, 1], undefined, { dtype: 'int32' });
      assert.deepEqual(x.indexSelect(0, rows).toNested(), [[4, 5, 6], [1, 2, 3], [4, 5, 6]]);
      assert.deepEqual(x.indexSelect(1, Tensor.from([2], undefined, { dtype: 'int32' })).toNested(), [[3], [6]]);
      const table = Tensor.zeros([2, 2]).indexAdd_(0, rows, Tensor.from([[1, 1], [2, 2], [3, 3]]), 2);
      assert.deepEqual(table.toNested(), [[4, 4], [8, 8]]);
    });

    it('errors name the op, the shapes and what to do', () => {
      setBackend(name);
      const a = Tensor.zeros([2, 3]);
      assert.throws(() => a.add(Tensor.zeros([4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
      assert.throws(() => a.add_(Tensor.zeros([2, 2, 3])), /add: out has shape \[2, 3\] but the result has shape \[2, 2, 3\]/);
      assert.throws(() => a.matmul(Tensor.zeros([2, 3])), /matmul: shapes \[2, 3\] and \[2, 3\] cannot be multiplied \(inner dimensions 3 and 2 differ\)/);
      assert.throws(() => ops.bmm(Tensor.zeros([2, 2, 2]), Tensor.zeros([3, 2, 2])), /bmm: batch sizes differ/);
      assert.throws(() => a.to('int32').add(1), /add: expects float32 tensors, got int32 \[2, 3\]/);
      assert.throws(() => a.sum(2), /sum: dim 2 is out of range for a tensor of shape \[2, 3\]/);
      assert.throws(() => a.indexSelect(0, Tensor.from([0, 2], undefined, { dtype: 'int32' })),
        /indexSelect: index 2 at position 1 of the index \[2\] is out of range for dim 0 \(size 2\) of \[2, 3\]/);
      assert.throws(() => a.indexSelect(0, Tensor.from([0, 1])), /indexSelect: index must be an int32 tensor, got float32/);
      assert.throws(() => a.gather(1, Tensor.from([[0], [-1]], undefined, { dtype: 'int32' })), /gather: index -1 at position 1/);
      const before = a.clone();
      assert.throws(() => a.scatterAdd_(1, Tensor.from([[0], [3]], undefined, { dtype: 'int32' }), Tensor.ones([2, 1])), /scatterAdd_: index 3/);
      assert.deepEqual(a.toArray(), before.toArray(), 'a rejected scatter writes nothing');
      assert.throws(() => Tensor.from([1, NaN, 2]).softmax(), /softmax: input \[3\] contains NaN or infinity/);
      assert.throws(() => Tensor.from([1, Infinity]).logSoftmax(), /logSoftmax: input \[2\] contains NaN or infinity/);
      assert.throws(() => a.clamp(2, 1), /clamp: min 2 must not exceed max 1/);
    });
  });
}
