// Every model of the zoo survives a save/load round trip: same class, same parameter count,
// bit-identical parameters and bit-identical outputs, in a file on disk.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Activity, Module } from '../../src/nn/module.js';
import {
  LeNet5, InceptionV1, Vgg16, ResNet50, NeuralCF, TextClassifier, Seq2seqLSTM, ConvLSTMNowcast,
} from '../../src/models/index.js';
import { loadModel, saveModel } from '../../src/serialization/index.js';

const ids = (shape: number[], max: number, rng: RandomGenerator) =>
  Tensor.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.randInt(max)), shape, { dtype: 'int32' });

function tensors(a: Activity): Tensor[] {
  return a instanceof Tensor ? [a.clone()] : a.flatMap(tensors);
}

/** Compares float32 bit patterns (no conversion to JS arrays: VGG16 has 138M parameters). */
function sameBits(a: Tensor[], b: Tensor[], what: string): void {
  assert.equal(a.length, b.length, `${what}: tensor counts`);
  a.forEach((x, k) => {
    const y = b[k];
    assert.deepEqual(y.shape, x.shape, `${what}[${k}]: shapes`);
    const xc = x.contiguous(), yc = y.contiguous();
    const ux = new Uint32Array(xc.data.buffer, xc.data.byteOffset + 4 * xc.offset, xc.numel);
    const uy = new Uint32Array(yc.data.buffer, yc.data.byteOffset + 4 * yc.offset, yc.numel);
    const i = ux.findIndex((v, j) => v !== uy[j]);
    assert.equal(i, -1, `${what}[${k}]: differs at element ${i}`);
  });
}

interface Case { name: string; build: () => Module<any, any>; input: (rng: RandomGenerator) => Activity }

const cases: Case[] = [
  { name: 'LeNet5', build: () => LeNet5(), input: (r) => Tensor.randn([2, 1, 28, 28], 0, 1, r) },
  { name: 'Inception-v1', build: () => InceptionV1(), input: (r) => Tensor.randn([1, 3, 224, 224], 0, 1, r) },
  { name: 'Inception-v1 with aux heads', build: () => InceptionV1({ auxHeads: true }), input: (r) => Tensor.randn([1, 3, 224, 224], 0, 1, r) },
  { name: 'VGG16', build: () => Vgg16(), input: (r) => Tensor.randn([1, 3, 224, 224], 0, 1, r) },
  { name: 'ResNet-50', build: () => ResNet50(), input: (r) => Tensor.randn([1, 3, 224, 224], 0, 1, r) },
  { name: 'NeuralCF', build: () => NeuralCF({ userCount: 60, itemCount: 40 }), input: (r) => Tensor.from([[0, 3], [59, 39], [7, 1]], undefined, { dtype: 'int32' }) },
  ...(['lstm', 'gru', 'cnn'] as const).map((encoder): Case => ({
    name: `TextClassifier (${encoder})`,
    build: () => TextClassifier({ vocabSize: 200, embeddingDim: 16, sequenceLength: 12, classNum: 5, encoder, hidden: 8 }),
    input: (r) => ids([3, 12], 200, r),
  })),
  { name: 'Seq2seq', build: () => Seq2seqLSTM({ inputSize: 3, hiddenSize: 4, outputSize: 2, numLayers: 2 }), input: (r) => [Tensor.randn([2, 5, 3], 0, 1, r), Tensor.randn([2, 4, 2], 0, 1, r)] },
  { name: 'ConvLSTM nowcast', build: () => ConvLSTMNowcast({ hiddenChannels: [4, 4] }), input: (r) => Tensor.rand([1, 3, 1, 16, 16], 0, 1, r) },
];

describe('model zoo round trip through a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bigdl-zoo-'));
  for (const c of cases) {
    it(c.name, async () => {
      setBackend('native');
      RNG.setSeed(5);
      const m = c.build();
      const x = c.input(new RandomGenerator(9));
      m.evaluate();
      const y = tensors(m.forward(x));
      const path = join(dir, `${c.name.replace(/\W+/g, '_')}.bigdl`);
      await saveModel(path, m);
      const { model } = await loadModel(path);
      assert.equal(model.constructor, m.constructor);
      assert.equal(model.parameterCount(), m.parameterCount());
      assert.equal(model.isTraining(), false);
      sameBits(model.parameters().weights, m.parameters().weights, `${c.name} parameters`);
      sameBits(tensors(model.forward(x)), y, `${c.name} output`);
      rmSync(path);
    });
  }
  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
