// ResNet: ResNet-50 at 224x224 on the native backend only; the small CIFAR-10 ResNet-20 on both.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { CrossEntropyCriterion } from '../../src/nn/criterion.js';
import { SpatialBatchNormalization } from '../../src/nn/normalization.js';
import type { Module } from '../../src/nn/module.js';
import { ResNet, ResNet50 } from '../../src/models/index.js';
import { backendsUnderTest, nativeAvailable } from '../helpers.js';
import { labels, sgdStep } from './util.js';

/** every module of a tree, depth first */
function walk(m: Module<any, any>): Module<any, any>[] {
  return [m, ...m.children().flatMap(walk)];
}

describe('ResNet-50 (native)', { skip: !nativeAvailable() && 'needs the native backend' }, () => {
  it('parameter counts', () => {
    // bottleneck block without conv biases: 1x1, 3x3, 1x1 convs + 3 BNs (+ projection conv + BN)
    const block = (nIn: number, n: number, proj: boolean) =>
      nIn * n + 2 * n + n * n * 9 + 2 * n + n * 4 * n + 2 * 4 * n + (proj ? nIn * 4 * n + 2 * 4 * n : 0);
    const stage = (nIn: number, n: number, count: number) => block(nIn, n, true) + (count - 1) * block(4 * n, n, false);
    const total = 3 * 64 * 49 + 2 * 64 + stage(64, 64, 3) + stage(256, 128, 4) + stage(512, 256, 6) + stage(1024, 512, 3) + 2048 * 1000 + 1000;
    assert.equal(total, 25_557_032);
    assert.equal(ResNet({ depth: 18 }).parameterCount(), 11_689_512);
    assert.equal(ResNet({ dataset: 'cifar10', depth: 20 }).parameterCount(), 272_474);
  });

  it('[2, 3, 224, 224] -> [2, 1000]; one SGD step at 64x64 lowers the loss', () => {
    setBackend('native');
    const rng = new RandomGenerator(4);
    const m = ResNet50();
    assert.equal(m.parameterCount(), 25_557_032);
    // BigDL starts the last BN of each bottleneck at gamma = 0
    const bns = walk(m).filter((x): x is SpatialBatchNormalization => x instanceof SpatialBatchNormalization);
    assert.equal(bns.length, 53);
    assert.equal(bns.filter((b) => b.weight!.weight.sum().item() === 0).length, 16);
    const y = m.forward(Tensor.rand([2, 3, 224, 224], -1, 1, rng));
    assert.deepEqual(y.shape, [2, 1000]);
    // the global average pool accepts smaller images: train on 64x64 (a 2x2 final map)
    const x = Tensor.rand([2, 3, 64, 64], -1, 1, rng);
    const { before, after } = sgdStep(m, new CrossEntropyCriterion(), x, labels(2, 1000, 3), 0.05);
    assert.ok(after < before, `loss ${before} -> ${after}`);
  });

});

describe('ResNet options', () => {
  it('shortcut types, zero-init of the residual BN, bad arguments', () => {
    const zeroBNs = (m: Module<any, any>) => walk(m).filter((x) => x instanceof SpatialBatchNormalization && x.weight!.weight.abs().max().item() === 0).length;
    // C: a 1x1 projection + BN on every block (9 blocks: 16x16, 3x(16x32 or 32x32), 3x(...64))
    const projections = 3 * (16 * 16 + 32) + (16 * 32 + 64) + 2 * (32 * 32 + 64) + (32 * 64 + 128) + 2 * (64 * 64 + 128);
    assert.equal(ResNet({ dataset: 'cifar10', shortcutType: 'C' }).parameterCount(), 269_722 + projections);
    assert.equal(zeroBNs(ResNet({ dataset: 'cifar10' })), 0);
    assert.equal(zeroBNs(ResNet({ dataset: 'cifar10', zeroInitResidual: true })), 9);
    assert.throws(() => ResNet({ depth: 51 }), /depth/);
    assert.throws(() => ResNet({ dataset: 'cifar10', depth: 21 }), /6n\+2/);
    assert.throws(() => ResNet({ classNum: 0 }), /classNum/);
  });
});

for (const name of backendsUnderTest()) {
  describe(`ResNet-20 (CIFAR-10) on ${name}`, () => {
    it('[2, 3, 32, 32] -> [2, 10] and one SGD step lowers the loss', () => {
      setBackend(name);
      const rng = new RandomGenerator(8);
      // both shortcut types on native; the (default) B on the slower reference backend
      for (const shortcutType of name === 'native' ? ['A', 'B'] as const : ['B'] as const) {
        const m = ResNet({ dataset: 'cifar10', depth: 20, shortcutType });
        // A: zero-padded identities, no projections; B: two 1x1 projections + BN
        assert.equal(m.parameterCount(), shortcutType === 'A' ? 269_722 : 272_474);
        const x = Tensor.rand([2, 3, 32, 32], -1, 1, rng);
        assert.deepEqual(m.forward(x).shape, [2, 10]);
        const { before, after } = sgdStep(m, new CrossEntropyCriterion(), x, labels(2, 10, 5), 0.05);
        assert.ok(after < before, `shortcut ${shortcutType}: loss ${before} -> ${after}`);
      }
    });
  });
}
