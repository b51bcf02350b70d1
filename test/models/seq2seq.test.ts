import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ClassNLLCriterion, MSECriterion } from '../../src/nn/criterion.js';
import { TimeDistributedCriterion } from '../../src/nn/criterions.js';
import { Seq2seqLSTM } from '../../src/models/index.js';
import { backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from '../nn/gradcheck.js';
import { sgdStep } from './util.js';

/** LSTM(in, H) in PyTorch's layout: W_ih [4H, in], W_hh [4H, H], two biases [4H] */
const lstm = (inp: number, h: number) => 4 * h * inp + 4 * h * h + 8 * h;

for (const name of backendsUnderTest()) {
  describe(`Seq2seq on ${name}`, () => {
    it('teacher forcing: shapes, parameters, finite-difference gradients through the handed-over state', () => {
      setBackend(name);
      const rng = new RandomGenerator(31);
      const m = Seq2seqLSTM({ inputSize: 3, hiddenSize: 4, outputSize: 2, numLayers: 2 });
      assert.equal(m.parameterCount(), lstm(3, 4) + lstm(4, 4) + lstm(2, 4) + lstm(4, 4) + (4 * 2 + 2));
      const enc = Tensor.randn([2, 5, 3], 0, 1, rng), dec = Tensor.randn([2, 4, 2], 0, 1, rng);
      const y = m.forward([enc, dec]);
      assert.deepEqual(y.shape, [2, 4, 2]);
      // the decoder starts from the encoder's final state: another encoder input changes the output
      const y0 = y.clone();
      const enc2 = enc.clone();
      enc2.set(enc.get(0, 0, 0) + 1, 0, 0, 0);
      const d = m.forward([enc2, dec]).sub(y0).abs().max().item();
      assert.ok(d > 1e-6, 'the encoder input reaches the output');
      // gradients w.r.t. both inputs and every parameter (the encoder's only through its final state)
      checkModuleGradients('Seq2seq teacher', m, [enc, dec], { samples: 16 });
      assert.throws(() => m.forward(enc), /Seq2seq/);
    });

    it('feedback (RecurrentDecoder from the encoder input\'s last step): shapes and finite-difference gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(32);
      const m = Seq2seqLSTM({ inputSize: 3, hiddenSize: 4, outputSize: 3, decoderInput: 'feedback', outputLength: 3 });
      assert.equal(m.parameterCount(), lstm(3, 4) + (3 * 4 + 4) + lstm(4, 4) + (4 * 3 + 3));
      const x = Tensor.randn([2, 4, 3], 0, 1, rng);
      assert.deepEqual(m.forward(x).shape, [2, 3, 3]);
      checkModuleGradients('Seq2seq feedback', m, x, { samples: 16 });
      assert.throws(() => Seq2seqLSTM({ inputSize: 3, hiddenSize: 4, outputSize: 3, decoderInput: 'feedback', outputLength: 3, numLayers: 2 }), /one layer/);
    });

    it('one SGD step lowers the loss (real-valued and token sequences)', () => {
      setBackend(name);
      const rng = new RandomGenerator(33);
      // real-valued: predict a target sequence, decoder fed the target shifted by one step
      const m = Seq2seqLSTM({ inputSize: 4, hiddenSize: 16, outputSize: 2 });
      const enc = Tensor.randn([8, 6, 4], 0, 1, rng), target = Tensor.randn([8, 5, 2], 0, 1, rng);
      const dec = Tensor.zeros([8, 5, 2]);
      dec.narrow(1, 1, 4).copy_(target.narrow(1, 0, 4));
      const r1 = sgdStep(m, new MSECriterion(), [enc, dec], target, 0.1);
      assert.ok(r1.after < r1.before, `real-valued: loss ${r1.before} -> ${r1.after}`);

      // tokens: 30-word source vocabulary, 25-word target vocabulary
      const tok = Seq2seqLSTM({ vocabSize: 30, embeddingDim: 8, hiddenSize: 16, outputSize: 25, logSoftMax: true });
      assert.equal(tok.parameterCount(), 30 * 8 + lstm(8, 16) + 25 * 8 + lstm(8, 16) + (16 * 25 + 25));
      const src = Tensor.zeros([4, 7], { dtype: 'int32' }), tgtIn = Tensor.zeros([4, 5], { dtype: 'int32' }), tgtOut = Tensor.zeros([4, 5], { dtype: 'int32' });
      for (let i = 0; i < src.numel; i++) src.data[i] = rng.randInt(30);
      for (let i = 0; i < tgtOut.numel; i++) tgtOut.data[i] = rng.randInt(25);
      for (let b = 0; b < 4; b++) for (let t = 1; t < 5; t++) tgtIn.data[b * 5 + t] = tgtOut.data[b * 5 + t - 1];
      const y = tok.forward([src, tgtIn]);
      assert.deepEqual(y.shape, [4, 5, 25]);
      const r2 = sgdStep(tok, new TimeDistributedCriterion(new ClassNLLCriterion(), true), [src, tgtIn], tgtOut, 0.5);
      assert.ok(r2.after < r2.before, `tokens: loss ${r2.before} -> ${r2.after}`);
    });
  });
}
