import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { TextClassifier } from '../../src/models/index.js';
import { backendsUnderTest } from '../helpers.js';
import { labels, sgdStep } from './util.js';

const V = 60, E = 16, T = 20, C = 4, H = 24, K = 5;

function tokens(n: number, rng: RandomGenerator): Tensor {
  const t = Tensor.zeros([n, T], { dtype: 'int32' });
  for (let i = 0; i < t.numel; i++) t.data[i] = rng.randInt(V);
  return t;
}

for (const name of backendsUnderTest()) {
  describe(`TextClassifier on ${name}`, () => {
    const encoders = {
      // embedding + encoder + classifier
      lstm: V * E + (4 * H * E + 4 * H * H + 8 * H) + (H * C + C),
      gru: V * E + (3 * H * E + 3 * H * H + 6 * H) + (H * C + C),
      cnn: V * E + (H * K * E + H) + (H * C + C),
    } as const;
    for (const [encoder, params] of Object.entries(encoders) as [keyof typeof encoders, number][]) {
      it(`${encoder}: parameters, [batch, ${T}] ids -> [batch, ${C}] log-probabilities, one SGD step lowers the loss`, () => {
        setBackend(name);
        const rng = new RandomGenerator(21);
        const m = TextClassifier({ vocabSize: V, embeddingDim: E, sequenceLength: T, classNum: C, encoder, hidden: H, kernelSize: K });
        assert.equal(m.parameterCount(), params);
        const x = tokens(6, rng);
        const y = m.forward(x);
        assert.deepEqual(y.shape, [6, C]);
        for (const s of y.exp().sum(1).toArray()) assert.ok(Math.abs(s - 1) < 1e-4, `row sums to ${s}`);
        // float ids give the same result
        assert.deepEqual(m.forward(x.to('float32')).toArray(), y.toArray());
        const { before, after } = sgdStep(m, new ClassNLLCriterion(), x, labels(6, C, 9), 0.2);
        assert.ok(after < before, `loss ${before} -> ${after}`);
      });
    }

    it('the BigDL default sizes (cnn, hidden 128) and bad options', () => {
      setBackend(name);
      const m = TextClassifier({ vocabSize: 1000, embeddingDim: 50, sequenceLength: 50, classNum: 20 });
      assert.deepEqual(m.forward(Tensor.zeros([2, 50], { dtype: 'int32' })).shape, [2, 20]);
      assert.throws(() => TextClassifier({ vocabSize: 10, embeddingDim: 4, sequenceLength: 3, classNum: 2 }), /kernelSize/);
      assert.throws(() => TextClassifier({ vocabSize: 10, embeddingDim: 4, sequenceLength: 8, classNum: 2, encoder: 'rnn' as 'cnn' }), /encoder/);
    });
  });
}
