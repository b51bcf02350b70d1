// VGG-16 at 224x224 on the native backend only (138M parameters).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { Vgg16 } from '../../src/models/index.js';
import { nativeAvailable } from '../helpers.js';
import { assertFinite, labels } from './util.js';

describe('Vgg16 (native)', { skip: !nativeAvailable() && 'needs the native backend' }, () => {
  it('138,357,544 parameters; [2, 3, 224, 224] -> [2, 1000]; backward gives finite gradients of the right shapes', () => {
    setBackend('native');
    const convs = [[3, 64], [64, 64], [64, 128], [128, 128], [128, 256], [256, 256], [256, 256],
      [256, 512], [512, 512], [512, 512], [512, 512], [512, 512], [512, 512]];
    const expected = convs.reduce((s, [i, o]) => s + o * i * 9 + o, 0) + (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000);
    assert.equal(expected, 138_357_544);
    const m = Vgg16({ hasDropout: false });
    assert.equal(m.parameterCount(), 138_357_544);
    assert.equal(m.length, 13 * 2 + 5 + 1 + 3 * 2);

    const rng = new RandomGenerator(9);
    const x = Tensor.rand([2, 3, 224, 224], -1, 1, rng);
    assert.deepEqual(m.forward(x).shape, [2, 1000]);
    // a full step at 224x224 takes well over 20 s on two cores: check the backward pass instead
    const x1 = x.narrow(0, 0, 1).contiguous();
    const crit = new ClassNLLCriterion();
    const t = labels(1, 1000, 2);
    m.zeroGradParameters();
    const y = m.forward(x1);
    assert.ok(Number.isFinite(crit.forward(y, t)));
    const gx = m.backward(x1, crit.backward(y, t));
    assert.deepEqual(gx.shape, [1, 3, 224, 224]);
    assertFinite(gx, 'gradInput');
    const { weights, gradients } = m.parameters();
    assert.equal(gradients.length, 32);
    let nonzero = 0;
    gradients.forEach((g, i) => {
      assert.deepEqual(g.shape, weights[i].shape);
      assertFinite(g, `gradient ${i}`);
      if (g.abs().max().item() > 0) nonzero++;
    });
    assert.equal(nonzero, 32, 'every parameter receives a gradient');
  });
});
