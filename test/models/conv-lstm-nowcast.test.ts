import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { BCECriterion } from '../../src/nn/criterions.js';
import { ConvLSTMNowcast } from '../../src/models/index.js';
import { backendsUnderTest } from '../helpers.js';
import { sgdStep } from './util.js';

/** ConvLSTMPeephole(in, C, k, k): W_ih [4C, in, k, k], W_hh [4C, C, k, k], bias [4C], peepholes [3, C] */
const convLstm = (inp: number, c: number, k: number) => 4 * c * inp * k * k + 4 * c * c * k * k + 4 * c + 3 * c;

for (const name of backendsUnderTest()) {
  describe(`ConvLSTMNowcast on ${name}`, () => {
    it('parameters; [batch, time, 1, H, W] -> next frame [batch, 1, H, W] in (0, 1); one SGD step lowers the loss', () => {
      setBackend(name);
      const rng = new RandomGenerator(41);
      const m = ConvLSTMNowcast({ hiddenChannels: [8, 8], kernel: 3 });
      assert.equal(m.parameterCount(), convLstm(1, 8, 3) + convLstm(8, 8, 3) + (8 + 1));
      assert.equal(ConvLSTMNowcast().parameterCount(), convLstm(1, 64, 3) + convLstm(64, 64, 3) + 65);
      // radar-like frames: a blob drifting one pixel per step
      const T = 5, S = 16;
      const frames = Tensor.zeros([2, T + 1, 1, S, S]);
      for (let b = 0; b < 2; b++) for (let t = 0; t <= T; t++) for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
        const ci = 4 + t + b, cj = 6 + t;
        frames.set(Math.exp(-((i - ci) ** 2 + (j - cj) ** 2) / 6), b, t, 0, i, j);
      }
      const x = frames.narrow(1, 0, T).contiguous();
      const next = frames.select(1, T).contiguous();
      const y = m.forward(x);
      assert.deepEqual(y.shape, [2, 1, S, S]);
      assert.ok(y.min().item() > 0 && y.max().item() < 1);
      const { before, after } = sgdStep(m, new BCECriterion(), x, next, 1);
      assert.ok(after < before, `loss ${before} -> ${after}`);

      // every step: the prediction after each frame, [batch, time, 1, H, W]
      const e = ConvLSTMNowcast({ hiddenChannels: [4], everyStep: true });
      assert.deepEqual(e.forward(x.narrow(2, 0, 1).contiguous().narrow(3, 0, 8).contiguous()).shape, [2, T, 1, 8, S]);
      const targets = frames.narrow(1, 1, T).contiguous();
      const r = sgdStep(e, new BCECriterion(), x, targets, 1);
      assert.ok(r.after < r.before, `every step: loss ${r.before} -> ${r.after}`);
      assert.throws(() => ConvLSTMNowcast({ kernel: 4 }), /odd/);
    });
  });
}
