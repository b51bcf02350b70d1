// Inception-v1 (GoogLeNet) at 224x224 on the native backend only (it is big).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { ParallelCriterion } from '../../src/nn/criterions.js';
import { InceptionV1, InceptionLayerV1 } from '../../src/models/index.js';
import { nativeAvailable } from '../helpers.js';
import { labels, sgdStep } from './util.js';

/** conv k x k from nIn to nOut planes, with bias */
const conv = (nIn: number, nOut: number, k = 1) => nOut * nIn * k * k + nOut;

describe('InceptionV1 (native)', { skip: !nativeAvailable() && 'needs the native backend' }, () => {
  it('parameter counts match bvlc_googlenet', () => {
    // one inception module, from its config
    const inc = (n: number, c1: number, r3: number, c3: number, r5: number, c5: number, cp: number) =>
      conv(n, c1) + conv(n, r3) + conv(r3, c3, 3) + conv(n, r5) + conv(r5, c5, 5) + conv(n, cp);
    assert.equal(InceptionLayerV1(192, [64, [96, 128], [16, 32], 32]).parameterCount(), inc(192, 64, 96, 128, 16, 32, 32));
    const main = conv(3, 64, 7) + conv(64, 64) + conv(64, 192, 3)
      + inc(192, 64, 96, 128, 16, 32, 32) + inc(256, 128, 128, 192, 32, 96, 64)
      + inc(480, 192, 96, 208, 16, 48, 64) + inc(512, 160, 112, 224, 24, 64, 64) + inc(512, 128, 128, 256, 24, 64, 64)
      + inc(512, 112, 144, 288, 32, 64, 64) + inc(528, 256, 160, 320, 32, 128, 128)
      + inc(832, 256, 160, 320, 32, 128, 128) + inc(832, 384, 192, 384, 48, 128, 128)
      + 1024 * 1000 + 1000;
    assert.equal(main, 6_998_552);
    const aux = (n: number) => conv(n, 128) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000;
    assert.equal(main + aux(512) + aux(528), 13_378_280);
    assert.equal(InceptionV1().parameterCount(), 6_998_552);
    assert.equal(InceptionV1({ classNum: 10, hasDropout: false }).parameterCount(), 6_998_552 - 990 * 1025);
  });

  it('with aux heads: [main, aux1, aux2] in training, main only in evaluation; one step lowers the loss', () => {
    setBackend('native');
    const rng = new RandomGenerator(11);
    const m = InceptionV1({ auxHeads: true, hasDropout: false });
    assert.equal(m.parameterCount(), 13_378_280);
    const x2 = Tensor.rand([2, 3, 224, 224], -1, 1, rng);
    m.evaluate();
    const y = m.forward(x2);
    assert.ok(y instanceof Tensor);
    assert.deepEqual(y.shape, [2, 1000]);
    for (const s of y.exp().sum(1).toArray()) assert.ok(Math.abs(s - 1) < 1e-3, `row sums to ${s}`);

    // training at batch 1: the three heads, and one SGD step on main + 0.3 aux1 + 0.3 aux2
    m.training();
    const x1 = x2.narrow(0, 0, 1).contiguous();
    const t = labels(1, 1000, 7);
    const crit = new ParallelCriterion().add(new ClassNLLCriterion(), 1).add(new ClassNLLCriterion(), 0.3).add(new ClassNLLCriterion(), 0.3);
    const out = m.forward(x1);
    assert.ok(Array.isArray(out) && out.length === 3);
    for (const o of out) assert.deepEqual((o as Tensor).shape, [1, 1000]);
    const { before, after } = sgdStep(m, crit, x1, [t, t, t], 0.01);
    assert.ok(after < before, `loss ${before} -> ${after}`);
  });

  it('without aux heads: [2, 3, 224, 224] -> [2, 1000]', () => {
    setBackend('native');
    const m = InceptionV1({ classNum: 1000 });
    m.evaluate();
    const y = m.forward(Tensor.rand([2, 3, 224, 224], -1, 1, new RandomGenerator(2)));
    assert.deepEqual((y as Tensor).shape, [2, 1000]);
    assert.throws(() => m.forward(Tensor.rand([2, 1, 224, 224])), /conv1\/7x7_s2/);
  });
});
