import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { LeNet5 } from '../../src/models/index.js';
import { backendsUnderTest } from '../helpers.js';
import { labels, sgdStep } from './util.js';

for (const name of backendsUnderTest()) {
  describe(`LeNet5 on ${name}`, () => {
    it('has 22,278 parameters for 10 classes', () => {
      // conv1 6*(1*25)+6, conv2 12*(6*25)+12, fc1 192*100+100, fc2 100*10+10
      const expected = (6 * 25 + 6) + (12 * 6 * 25 + 12) + (192 * 100 + 100) + (100 * 10 + 10);
      assert.equal(expected, 22278);
      assert.equal(LeNet5().parameterCount(), 22278);
      assert.equal(LeNet5(5).parameterCount(), 22278 - 5 * 101);
    });

    it('maps [batch, 28, 28] and [batch, 1, 28, 28] to log-probabilities [batch, classNum]', () => {
      setBackend(name);
      const rng = new RandomGenerator(3);
      const m = LeNet5(10);
      for (const shape of [[4, 28, 28], [4, 1, 28, 28], [4, 784]]) {
        const y = m.forward(Tensor.rand(shape, 0, 1, rng));
        assert.deepEqual(y.shape, [4, 10]);
        // rows are log-probabilities
        const p = y.exp().sum(1).toArray();
        for (const s of p) assert.ok(Math.abs(s - 1) < 1e-4, `row sums to ${s}`);
      }
      assert.deepEqual(m.forward(Tensor.rand([28, 28], 0, 1, rng)).shape, [10]);
      assert.throws(() => m.forward(Tensor.rand([2, 27, 27], 0, 1, rng)), /Reshape/);
    });

    it('one SGD step lowers the loss on a fixed batch', () => {
      setBackend(name);
      const rng = new RandomGenerator(5);
      const m = LeNet5(10);
      const x = Tensor.rand([8, 28, 28], 0, 1, rng);
      const { before, after } = sgdStep(m, new ClassNLLCriterion(), x, labels(8, 10), 0.1);
      assert.ok(after < before, `loss ${before} -> ${after}`);
    });
  });
}
