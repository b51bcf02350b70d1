// Dropout draws its mask from the seeded RNG: check the statistics, the scaling, that backward
// uses the same mask, and that evaluation is the identity.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Dropout, SpatialDropout2D } from '../../src/nn/dropout.js';

describe('Dropout', () => {
  it('drops about p of the elements and scales the rest by 1/(1-p)', () => {
    const d = new Dropout(0.3, new RandomGenerator(1));
    const x = Tensor.ones([200, 100]);
    const y = d.forward(x).toArray();
    const zeros = y.filter((v) => v === 0).length / y.length;
    assert.ok(Math.abs(zeros - 0.3) < 0.01, `dropped fraction ${zeros}`);
    assert.ok(y.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
  });

  it('backward applies the forward mask; evaluation is the identity', () => {
    const d = new Dropout(0.5, new RandomGenerator(2));
    const x = Tensor.rand([10, 10], 1, 2);
    const y = d.forward(x).toArray();
    const g = d.backward(x, Tensor.ones([10, 10])).toArray();
    y.forEach((v, i) => assert.equal(g[i], v === 0 ? 0 : 2));
    d.evaluate();
    assert.deepEqual(d.forward(x).toArray(), x.toArray());
    assert.deepEqual(d.backward(x, x).toArray(), x.toArray());
  });

  it('the same seed gives the same mask', () => {
    const x = Tensor.ones([50]);
    const a = new Dropout(0.5, new RandomGenerator(9)).forward(x).toArray();
    const b = new Dropout(0.5, new RandomGenerator(9)).forward(x).toArray();
    assert.deepEqual(a, b);
  });

  it('SpatialDropout2D drops whole channels', () => {
    const d = new SpatialDropout2D(0.5, new RandomGenerator(3));
    const y = d.forward(Tensor.ones([4, 6, 3, 3]));
    for (let n = 0; n < 4; n++) for (let c = 0; c < 6; c++) {
      const vals = new Set(y.select(0, n).select(0, c).toArray());
      assert.equal(vals.size, 1, 'one value per feature map');
    }
    assert.throws(() => d.forward(Tensor.ones([2, 3])), /SpatialDropout2D: expected input \[N, C, H, W\], got \[2,3\]/);
    assert.throws(() => new Dropout(1), /p must be in \[0, 1\)/);
  });
});
