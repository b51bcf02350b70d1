// Batched inference: every kind of input, one core and several (replicas), and the errors.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/tensor/ops.js';
import { DataSet } from '../../src/data/dataset.js';
import { MiniBatch, Sample } from '../../src/data/sample.js';
import { loadFashionMnist, type ImageSplit } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { Top1Accuracy, Loss } from '../../src/optim/validation.js';
import { predict, predictClass, evaluate } from '../../src/optim/predictor.js';

let test: ImageSplit;
before(() => {
  const t = loadFashionMnist().test;
  test = { images: t.images.narrow(0, 0, 300).clone().sub_(0.286).div_(0.353), labels: t.labels.narrow(0, 0, 300).clone() };
});

const samples = (n = 300): Sample[] => Array.from({ length: n }, (_, i) => new Sample(test.images.select(0, i), test.labels.get(i)));

function close(a: Tensor, b: Tensor, tol = 1e-5): void {
  assert.deepEqual(a.shape, b.shape);
  const x = a.toArray(), y = b.toArray();
  const worst = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
  assert.ok(worst <= tol, `max difference ${worst}`);
}

describe('predict / predictClass / evaluate', () => {
  it('the same outputs from arrays, iterables, async iterables, DataSets and MiniBatches, on 1 core and on 2 replicas', async () => {
    setBackend('native');
    RNG.setSeed(4);
    const model = LeNet5();
    model.evaluate();
    const direct = (model.forward(test.images) as Tensor).clone();
    const s = samples();
    async function* asyncSamples() { for (const x of s) yield x; }
    const tensors = s.map((x) => x.feature());
    const batches = [new MiniBatch(test.images.narrow(0, 0, 200), undefined, 200), new MiniBatch(test.images.narrow(0, 200, 100), undefined, 100)];
    for (const cores of [1, 2]) {
      for (const [what, data] of [['array', s], ['async iterable', asyncSamples()], ['DataSet', DataSet.array(s)], ['tensors', tensors], ['mini-batches', batches]] as const) {
        const out = (await predict(model, data, { batchSize: 64, cores })) as Tensor;
        assert.deepEqual(out.shape, [300, 10], `${what} on ${cores}`);
        close(out, direct);
      }
    }
    // the model keeps working in-process after replicas used its (now shared) weights
    close(model.forward(test.images) as Tensor, direct);
  });

  it('predictClass is the arg-max and evaluate merges batches exactly', async () => {
    setBackend('native');
    RNG.setSeed(4);
    const model = LeNet5();
    const classes = await model.predictClass(samples(), { batchSize: 70, cores: 2 });
    assert.equal(classes.dtype, 'int32');
    assert.deepEqual(classes.toArray(), ops.argmax((model.evaluate().forward(test.images) as Tensor), 1).toArray());
    const correct = classes.toArray().filter((c, i) => c === test.labels.get(i)).length;
    const [acc, loss] = await model.evaluate(DataSet.array(samples()), [new Top1Accuracy(), new Loss(new ClassNLLCriterion())], { batchSize: 70 });
    assert.deepEqual(acc.result(), { value: correct / 300, count: 300 });
    const whole = new ClassNLLCriterion().forward(model.forward(test.images) as Tensor, test.labels);
    assert.ok(Math.abs(loss.result().value - whole) < 1e-5, `${loss.result().value} vs ${whole}`);
  });

  it('bad input is named', async () => {
    setBackend('native');
    RNG.setSeed(4);
    const model = LeNet5();
    await assert.rejects(predict(model, [], {}), /no records/);
    await assert.rejects(predict(model, samples(3), { batchSize: 0 }), /batchSize must be a positive integer/);
    await assert.rejects(predict(model, [42 as unknown as Tensor]), /expected Samples, MiniBatches or Tensors/);
    await assert.rejects(evaluate(model, [new Sample(test.images.select(0, 0))], [new Top1Accuracy()]), /need labels/);
    await assert.rejects(evaluate(model, samples(3), []), /at least one validation method/);
    await assert.rejects(predict(model, [Tensor.zeros([3, 5])]), /Reshape|LeNet|expected/);
  });
});
