// DistriOptimizer (BigDL's Algorithm 1) on local[2] worker processes with real data: it learns,
// splits any batch over uneven partitions exactly, and survives a killed worker.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { loadFashionMnist } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Top1Accuracy } from '../../src/optim/validation.js';
import { Engine } from '../../src/engine/engine.js';
import { DistriOptimizer, proportionalSplit } from '../../src/engine/distri-optimizer.js';
import { Optimizer } from '../../src/optim/optimizer.js';
import { Adagrad } from '../../src/optim/adagrad.js';
import type { LocalCluster } from '../../src/engine/cluster/local.js';
import { fns, imageRecords, type ImageRecord } from './distri-fns.js';

let train: ImageRecord[];
let test: ImageRecord[];

before(() => {
  const all = loadFashionMnist();
  train = imageRecords(all.train, 2000);
  test = imageRecords(all.test, 500);
});

describe('DistriOptimizer on local[2]', () => {
  it('splits any batch over uneven partitions exactly', () => {
    assert.deepEqual(proportionalSplit(128, [700, 700, 600]), [45, 45, 38]);
    assert.deepEqual(proportionalSplit(5, [1, 0, 10]), [0, 0, 5]);
    assert.deepEqual(proportionalSplit(7, [3, 3, 3]), [3, 2, 2]);
    assert.equal(proportionalSplit(100, [13, 57, 1]).reduce((a, b) => a + b, 0), 100);
    assert.throws(() => proportionalSplit(4, [0, 0]), /empty/);
  });

  it('trains LeNet-5 on 3 uneven partitions, and a run with a worker killed ends with the weights of an undisturbed one', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    try {
      // 3 partitions for 2 workers, sizes 667/667/666: nothing has to divide anything
      const trainSet = ctx.parallelize(train, 3).map(fns.toSample);
      const testSet = ctx.parallelize(test, 2).map(fns.toSample);
      RNG.setSeed(7);
      const model = LeNet5();
      const opt = new DistriOptimizer({
        model, trainingSet: trainSet, criterion: new ClassNLLCriterion(),
        optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }), batchSize: 100,
        endWhen: Trigger.maxEpoch(3), progress: 'quiet',
      }).setValidation(Trigger.everyEpoch(), testSet, [new Top1Accuracy()], 250);
      // kill one worker once training is under way (after epoch 1, while epoch 2 runs): its tasks
      // rerun, its cached partitions are recomputed
      const cluster = (ctx as unknown as { cluster: LocalCluster }).cluster;
      let killedPid = 0;
      opt.onValidation(async (r) => {
        if (r.epoch !== 1) return;
        const ws = await cluster.workers();
        killedPid = ws[0].pid;
        setTimeout(() => process.kill(killedPid, 'SIGKILL'), 200);
      });
      await opt.optimize();
      assert.ok(killedPid > 0 && !(await cluster.workers()).some((w) => w.pid === killedPid), 'the killed worker was replaced');
      assert.equal(opt.validationHistory.length, 3);
      const acc = opt.validationHistory.map((v) => v.results[0].value);
      assert.equal(opt.validationHistory[0].results[0].count, 500);
      assert.ok(acc[2] > 0.65, `accuracy ${acc}`);
      assert.equal(opt.iterationTimes.length, 3 * 20);
      assert.ok(model.getParameters().weights.toArray().every(Number.isFinite));
      // reruns are idempotent and partitions recompute identically: the disturbed run ends with
      // exactly the weights of an undisturbed one
      RNG.setSeed(7);
      const calm = LeNet5();
      await new DistriOptimizer({
        model: calm, trainingSet: trainSet, criterion: new ClassNLLCriterion(),
        optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }), batchSize: 100,
        endWhen: Trigger.maxEpoch(3), progress: 'quiet',
      }).optimize();
      assert.deepEqual(calm.getParameters().weights.toArray(), model.getParameters().weights.toArray());
    } finally {
      await ctx.close();
    }
  });

  it('refuses data that are not Samples with a message saying what to do', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    try {
      const opt = new DistriOptimizer({ model: LeNet5(), trainingSet: ctx.parallelize(train.slice(0, 10), 2) as never, criterion: new ClassNLLCriterion(), batchSize: 4, progress: 'quiet' });
      await assert.rejects(opt.optimize(), /need Samples; map the data set/);
    } finally {
      await ctx.close();
    }
  });

  it('the seed\'s API: the same Optimizer, given a partitioned dataset, trains on the cluster', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    try {
      RNG.setSeed(7);
      const opt = new Optimizer({
        model: LeNet5(), trainingSet: ctx.parallelize(train, 4).map(fns.toSample), criterion: new ClassNLLCriterion(),
        optimMethod: new Adagrad({ learningRate: 0.01 }), batchSize: 128, endWhen: Trigger.maxEpoch(2), progress: 'quiet',
      }).setValidation(Trigger.everyEpoch(), ctx.parallelize(test, 2).map(fns.toSample), [new Top1Accuracy()]);
      const trained = await opt.optimize();
      assert.equal(opt.validationHistory.length, 2);
      assert.ok(opt.validationHistory[1].results[0].value > 0.5, `accuracy ${opt.validationHistory[1].results[0].value}`);
      assert.ok(trained.parameterCount() === 22278);
      assert.throws(() => new Optimizer({ model: LeNet5(), trainingSet: ctx.parallelize(train, 2).map(fns.toSample), criterion: new ClassNLLCriterion(), progress: 'quiet' }),
        /needs batchSize/);
    } finally {
      await ctx.close();
    }
  });
});
