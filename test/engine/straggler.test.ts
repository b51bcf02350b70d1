// Straggler drop (BigDL's setDropModuleProperty): the deadline and floor arithmetic, and a run on
// local[3] where one partition's worker is 400 ms slow per batch: after warm-up its gradient is
// left out and training goes on with the others instead of waiting.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { loadFashionMnist } from '../../src/data/idx.js';
import { Sequential } from '../../src/nn/sequential.js';
import { Reshape } from '../../src/nn/shape-layers.js';
import { Linear } from '../../src/nn/linear.js';
import { LogSoftMax } from '../../src/nn/activations.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Engine } from '../../src/engine/engine.js';
import { DistriOptimizer } from '../../src/engine/distri-optimizer.js';
import { checkDropPolicy, dropThreshold, minContributors, settleBy } from '../../src/engine/straggler.js';
import { Stall, stragglerFns, type MarkedRecord } from './straggler-fns.js';

let records: MarkedRecord[];

before(() => {
  const { train } = loadFashionMnist();
  const x = train.images.narrow(0, 0, 600).clone().sub_(0.286).div_(0.353);
  // parallelize(records, 3) puts the last 200 in partition 2: those are the slow ones
  records = Array.from({ length: 600 }, (_, i) => ({ pixels: x.select(0, i).clone().data as Float32Array, label: train.labels.get(i), slow: i >= 400 }));
});

describe('straggler drop', () => {
  it('deadline is the (1 - drop) quantile of task times; the floor of contributors; validation of the policy', async () => {
    assert.equal(dropThreshold([5, 1, 4, 2, 3], 0.2), 4);
    assert.equal(dropThreshold([5, 1, 4, 2, 3], 0), 5);
    assert.equal(dropThreshold([], 0.1), Infinity);
    assert.equal(minContributors(3, 0.34), 2);
    assert.equal(minContributors(10, 0.1), 9);
    assert.equal(minContributors(2, 0.9), 1);
    assert.throws(() => checkDropPolicy({ dropPercentage: 0.2, maxDropPercentage: 0.1, warmupIterations: 5, window: 10 }), /maxDropPercentage must be in \[dropPercentage, 1\)/);
    assert.throws(() => checkDropPolicy({ dropPercentage: 1, maxDropPercentage: 1, warmupIterations: 5, window: 10 }), /dropPercentage must be in \[0, 1\)/);
    let release!: (v: number) => void;
    const late = new Promise<number>((r) => { release = r; });
    const got = await settleBy([Promise.resolve(1), late, Promise.resolve(3)], 20);
    assert.deepEqual(got, [1, undefined, 3]);
    assert.deepEqual(await settleBy([Promise.resolve(1), new Promise((r) => setTimeout(() => r(2), 30))], Infinity), [1, 2], 'no deadline waits for all');
    release(2);
    await assert.rejects(settleBy([Promise.reject(new Error('task failed')), late], 1000), /task failed/);
  });

  it('after warm-up, the slow partition is not waited for and the others train on', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[3]' });
    try {
      RNG.setSeed(3);
      const model = new Sequential().add(new Stall(400)).add(new Reshape([784])).add(new Linear(784, 10)).add(new LogSoftMax());
      const opt = new DistriOptimizer({
        model, trainingSet: ctx.parallelize(records, 3).map(stragglerFns.toSample), criterion: new ClassNLLCriterion(),
        optimMethod: new SGD({ learningRate: 0.05 }), batchSize: 60, endWhen: Trigger.maxIteration(15), progress: 'quiet',
      }).setDropModuleProperty(0.34, 0.67, 3);
      await opt.optimize();
      const times = opt.iterationTimes;
      assert.equal(times.length, 15);
      assert.ok(times.slice(0, 3).every((t) => t.contributors === 3), `warm-up waits for every task: ${JSON.stringify(times.slice(0, 4))}`);
      const after = times.slice(3);
      assert.ok(after.every((t) => t.contributors <= 2), `contributors after warm-up: ${after.map((t) => t.contributors)}`);
      assert.ok(after.every((t) => !t.skipped), 'the floor (1 of 3) is always met');
      assert.ok(model.getParameters().weights.toArray().every(Number.isFinite));
      assert.throws(() => opt.setDropModuleProperty(0.5, 0.2), /maxDropPercentage/);
    } finally {
      await ctx.close();
    }
  });
});
