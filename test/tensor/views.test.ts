// Views share storage and follow PyTorch's semantics; copies happen only where documented.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';

const grid = () => Tensor.arange(24).view(2, 3, 4);

describe('views', () => {
  it('narrow, select and transpose read the right elements without copying', () => {
    const x = grid();
    const n = x.narrow(2, 1, 2);
    assert.deepEqual(n.shape, [2, 3, 2]);
    assert.equal(n.data, x.data);
    assert.deepEqual(n.toArray(), [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22]);
    assert.deepEqual(x.select(1, -1).toArray(), [8, 9, 10, 11, 20, 21, 22, 23]);
    const t = x.transpose(0, 2);
    assert.deepEqual(t.shape, [4, 3, 2]);
    assert.equal(t.get(3, 1, 1), x.get(1, 1, 3));
    assert.equal(t.isContiguous(), false);
  });

  it('permute is the inverse of its inverse and matches explicit indexing', () => {
    const x = grid();
    const p = x.permute(2, 0, 1);
    assert.deepEqual(p.shape, [4, 2, 3]);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) assert.equal(p.get(a, b, c), x.get(b, c, a));
    assert.deepEqual(p.permute(1, 2, 0).toArray(), x.toArray());
    assert.throws(() => x.permute(0, 0, 1), /permute: dim 0 repeated/);
  });

  it('view shares storage; reshape copies only when it must', () => {
    const x = grid();
    const v = x.view(6, -1);
    assert.deepEqual(v.shape, [6, 4]);
    v.set(100, 0, 0);
    assert.equal(x.get(0, 0, 0), 100, 'a view writes through');
    const t = x.transpose(1, 2);
    assert.throws(() => t.view(24), /cannot be viewed as \[24\] without a copy/);
    const r = t.reshape(24);
    assert.notEqual(r.data, x.data, 'reshape of a transposed tensor copies');
    assert.deepEqual(r.toArray(), t.toArray());
    // merging dims that are contiguous among themselves needs no copy even in a narrowed tensor
    const rows = x.narrow(1, 1, 2);
    assert.equal(rows.view(2, 8).data, x.data);
    assert.throws(() => x.view(5, -1), /cannot reshape \[2, 3, 4\] \(24 elements\) to \[5, -1\]/);
  });

  it('expand, unsqueeze and squeeze', () => {
    const col = Tensor.from([[1], [2], [3]]);
    const e = col.expand(2, 3, 4);
    assert.deepEqual(e.strides, [0, 1, 0]);
    assert.deepEqual(e.select(0, 1).select(1, 3).toArray(), [1, 2, 3]);
    assert.throws(() => Tensor.zeros([3, 2]).expand(3, 4), /expand: cannot broadcast \[3, 2\] to \[3, 4\]/);
    assert.deepEqual(col.unsqueeze(0).shape, [1, 3, 1]);
    assert.deepEqual(col.unsqueeze(-1).shape, [3, 1, 1]);
    assert.deepEqual(col.squeeze().shape, [3]);
    assert.deepEqual(col.squeeze(0).shape, [3, 1]);
  });

  it('copy_ broadcasts and converts dtypes; clone is independent', () => {
    const x = Tensor.zeros([2, 3]);
    x.copy_(Tensor.from([1.9, -2.7, 3]));
    assert.deepEqual(x.toArray(), [1.9, -2.7, 3, 1.9, -2.7, 3].map(Math.fround));
    const i = x.to('int32');
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(i.toArray(), [1, -2, 3, 1, -2, 3]);
    const c = x.clone();
    c.fill_(0);
    assert.equal(x.get(0, 0), Math.fround(1.9));
  });

  it('fill_ and zero_ respect views', () => {
    const x = Tensor.ones([3, 4]);
    x.narrow(1, 1, 2).fill_(7);
    assert.deepEqual(x.toArray(), [1, 7, 7, 1, 1, 7, 7, 1, 1, 7, 7, 1]);
    x.t().select(0, 0).zero_();
    assert.deepEqual(x.select(1, 0).toArray(), [0, 0, 0]);
  });

  it('shared tensors live in a SharedArrayBuffer', () => {
    const s = Tensor.zeros([4], { shared: true });
    assert.ok(s.data.buffer instanceof SharedArrayBuffer);
  });

  it('bad geometry names the op and the shapes', () => {
    const x = grid();
    assert.throws(() => x.narrow(1, 2, 2), /narrow: start 2 \+ length 2 exceeds size 3 of dim 1 of \[2, 3, 4\]/);
    assert.throws(() => x.select(0, 2), /select: index 2 is out of range for dim 0 of size 2 in \[2, 3, 4\]/);
    assert.throws(() => x.transpose(0, 3), /transpose: dim 3 is out of range for a tensor of shape \[2, 3, 4\]/);
    assert.throws(() => x.get(0, 0), /get: 2 indices for a 3-d tensor/);
    assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), /does not fit a storage of 5 elements/);
    assert.throws(() => Tensor.from([[1, 2], [3]]), /ragged/);
    assert.throws(() => Tensor.zeros([2, -1]), /invalid shape \[2, -1\]/);
  });
});
