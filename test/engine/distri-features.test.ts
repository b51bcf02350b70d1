// DistriOptimizer beyond the plain loop, on local[2] with real Fashion-MNIST: group scheduling gives
// the same weights as one iteration per submission, gradient clipping, summaries, checkpoints that
// resume bit for bit (with any number of slices), and optimizer state cut into slices and joined.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { loadFashionMnist } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Adam } from '../../src/optim/adam.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Top1Accuracy } from '../../src/optim/validation.js';
import { Optimizer } from '../../src/optim/optimizer.js';
import { DataSet } from '../../src/data/dataset.js';
import { readCheckpoint } from '../../src/optim/checkpoint.js';
import { TrainSummary, ValidationSummary } from '../../src/summary/summary.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import { DistriOptimizer, type DistriOptimizerConfig } from '../../src/engine/distri-optimizer.js';
import { joinSliceStates, splitSliceStates } from '../../src/engine/slice-state.js';
import type { Module } from '../../src/nn/module.js';
import type { OptimMethod } from '../../src/optim/optim-method.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fns, imageRecords, type ImageRecord } from './distri-fns.js';

let train: ImageRecord[];
let test: ImageRecord[];

before(() => {
  const all = loadFashionMnist();
  train = imageRecords(all.train, 600);
  test = imageRecords(all.test, 200);
});

const tmp = () => mkdtempSync(join(tmpdir(), 'bigdl-distri-'));

/** A fresh LeNet-5 with weights fixed by seed 11, and the optimizer of a run over `ctx`. */
function run(ctx: EngineContext, cfg: Partial<DistriOptimizerConfig>, method: () => OptimMethod = () => new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 })) {
  RNG.setSeed(11);
  const model = LeNet5();
  const opt = new DistriOptimizer({
    model, trainingSet: ctx.parallelize(train, 2).map(fns.toSample), criterion: new ClassNLLCriterion(),
    optimMethod: method(), batchSize: 60, endWhen: Trigger.maxIteration(12), progress: 'quiet', ...cfg,
  });
  return { model, opt };
}

const weightsOf = (m: Module<any, any>) => Array.from(m.getParameters().weights.data as Float32Array);

describe('DistriOptimizer features on local[2]', () => {
  it('group scheduling: 5 iterations per submission give the same weights, bit for bit, as one per submission (with L2-norm clipping)', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    try {
      const one = run(ctx, { groupSize: 1 });
      one.opt.setGradientClipping({ kind: 'l2', maxNorm: 0.5 });
      await one.opt.optimize();
      const five = run(ctx, { groupSize: 5 });
      five.opt.setGradientClipping({ kind: 'l2', maxNorm: 0.5 });
      await five.opt.optimize();
      assert.equal(five.opt.iterationTimes.length, 12);
      assert.deepEqual(weightsOf(five.model), weightsOf(one.model));
      // groups end at triggers: 12 iterations of a 10-iteration epoch run as 5 + 5 + 2 (epoch ends at 10)
      assert.ok(five.opt.iterationTimes.every((t) => t.computeMs > 0 && t.contributors === 2));
    } finally {
      await ctx.close();
    }
  });

  it('gradient clipping bounds each update: plain SGD moves the weights by at most lr x maxNorm', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    try {
      for (const groupSize of [1, 3]) {
        const { model, opt } = run(ctx, { groupSize, endWhen: Trigger.maxIteration(3) }, () => new SGD({ learningRate: 0.1 }));
        const before = weightsOf(model);
        opt.setGradientClipping({ kind: 'l2', maxNorm: 1e-3 });
        await opt.optimize();
        const after = weightsOf(model);
        const moved = Math.sqrt(after.reduce((a, w, i) => a + (w - before[i]) ** 2, 0));
        assert.ok(moved > 0 && moved <= 3 * 0.1 * 1e-3 * 1.0001, `groupSize ${groupSize}: moved ${moved}`);
      }
      const { model, opt } = run(ctx, { endWhen: Trigger.maxIteration(1) }, () => new SGD({ learningRate: 1 }));
      const before = weightsOf(model);
      await opt.setGradientClipping({ kind: 'constant', min: -1e-4, max: 1e-4 }).optimize();
      const step = weightsOf(model).map((w, i) => Math.abs(w - before[i]));
      assert.ok(Math.max(...step) <= 1e-4 * 1.0001 && Math.max(...step) > 5e-5, `largest step ${Math.max(...step)}`);
    } finally {
      await ctx.close();
    }
  });

  it('checkpoints resume bit for bit, also with another slice count and group size; summaries and validation as in local training', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    const dir = tmp();
    try {
      const whole = run(ctx, {}, () => new Adam({ learningRate: 0.002 }));
      await whole.opt.optimize();
      const first = run(ctx, { endWhen: Trigger.maxIteration(7) }, () => new Adam({ learningRate: 0.002 }));
      first.opt.setCheckpoint(join(dir, 'ck'), Trigger.severalIteration(7))
        .setTrainSummary(new TrainSummary(dir, 'run')).setValidationSummary(new ValidationSummary(dir, 'run'))
        .setValidation(Trigger.severalIteration(5), ctx.parallelize(test, 2).map(fns.toSample), [new Top1Accuracy()]);
      await first.opt.optimize();
      assert.deepEqual(readdirSync(join(dir, 'ck')), ['checkpoint.bigdl']);
      const ck = await readCheckpoint(join(dir, 'ck', 'checkpoint.bigdl'), LeNet5());
      assert.equal(ck.iteration, 7);
      assert.equal(ck.optimMethod.length, 22278, 'the slices\' optimizer states are joined into one over every weight');
      assert.equal(new TrainSummary(dir, 'run').readScalar('Loss').length, 7);
      assert.equal(new TrainSummary(dir, 'run').readScalar('LearningRate').length, 7);
      assert.equal(new ValidationSummary(dir, 'run').readScalar('Top1Accuracy').length, 1);
      for (const [slices, groupSize] of [[undefined, 1], [3, 4]] as const) {
        const resumed = run(ctx, { slices, groupSize }, () => new Adam({ learningRate: 0.002 }));
        await resumed.opt.resume(join(dir, 'ck')).optimize();
        assert.equal(resumed.opt.iterationTimes.length, 5, 'iterations 8..12 only');
        assert.deepEqual(weightsOf(resumed.model), weightsOf(whole.model), `slices ${slices}, groupSize ${groupSize}`);
      }
      const fresh = run(ctx, { endWhen: Trigger.maxIteration(1) });
      await fresh.opt.resume(join(dir, 'nothing-here'), { missingOk: true }).optimize();
      assert.equal(fresh.opt.iterationTimes.length, 1, 'missingOk: no checkpoint starts afresh');
      await assert.rejects(run(ctx, {}).opt.resume(join(dir, 'nothing-here')).optimize(), /no checkpoint at .*nothing-here/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await ctx.close();
    }
  });

  it('the Optimizer front end passes clipping, summaries, checkpoints and groupSize through', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    const dir = tmp();
    try {
      RNG.setSeed(11);
      const opt = new Optimizer({
        model: LeNet5(), trainingSet: ctx.parallelize(train, 2).map(fns.toSample), criterion: new ClassNLLCriterion(),
        batchSize: 60, endWhen: Trigger.maxIteration(4), progress: 'quiet', groupSize: 2,
      }).setGradientClippingByL2Norm(1).setTrainSummary(new TrainSummary(dir, 'o')).setCheckpoint(dir, Trigger.severalIteration(2));
      await opt.optimize();
      assert.equal(new TrainSummary(dir, 'o').readScalar('Loss').length, 4);
      assert.equal(opt.lastCheckpoint, join(dir, 'checkpoint.bigdl'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await ctx.close();
    }
  });

  it('refuses group scheduling with more training partitions than workers, and distributed options in local training, saying what to do', async () => {
    setBackend('native');
    const ctx = await Engine.init({ master: 'local[2]' });
    try {
      const opt = new DistriOptimizer({ model: LeNet5(), trainingSet: ctx.parallelize(train, 3).map(fns.toSample), criterion: new ClassNLLCriterion(), batchSize: 30, groupSize: 4, progress: 'quiet' });
      await assert.rejects(opt.optimize(), /3 partitions train and the cluster has 2 workers; repartition/);
      // distributed-only options given to local training say so instead of being ignored
      const local = DataSet.array(train.slice(0, 10).map(fns.toSample));
      assert.throws(() => new Optimizer({ model: LeNet5(), trainingSet: local, criterion: new ClassNLLCriterion(), batchSize: 5, groupSize: 2 }), /groupSize and fp16 are options of distributed training/);
      const dropping = new Optimizer({ model: LeNet5(), trainingSet: local, criterion: new ClassNLLCriterion(), batchSize: 5, progress: 'quiet' }).setDropModuleProperty(0.1, 0.2);
      await assert.rejects(dropping.optimize(), /straggler drop is for distributed training/);
    } finally {
      await ctx.close();
    }
  });
});

describe('optimizer state over slices', () => {
  it('cut into slices and joined again is the same state; methods with non-elementwise state are refused', () => {
    const a = new Adam({ learningRate: 0.01 });
    const w = new Float32Array(10).map((_, i) => i / 10);
    a.step(new Tensor(w, [10]), new Tensor(new Float32Array(10).fill(0.5), [10]));
    const s = a.saveState();
    const parts = splitSliceStates(s, [[0, 3], [3, 7], [7, 10]]);
    assert.deepEqual(parts.map((p) => p.length), [3, 4, 3]);
    assert.deepEqual(joinSliceStates(parts), s);
    assert.throws(() => splitSliceStates(s, [[0, 4], [4, 8]]), /covers 10 values but the model has 8 parameters/);
    assert.throws(() => joinSliceStates([parts[0], { ...parts[1], neval: 5 }]), /different iterations/);
    assert.throws(() => joinSliceStates([{ ...parts[0], extra: { histY: [] } }]), /cannot be sliced/);
  });
});
