// A training driver run as its own process by driver-kill.test.ts: LeNet-5 on 600 Fashion-MNIST
// images over local[2], checkpointing every 2 iterations into DIR and resuming from DIR when a
// checkpoint is there: the same command starts and resumes the run. With HANG_AT=n it stops making
// progress after iteration n (so the test can kill it mid-run); at the end it writes DIR/final.bin.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { loadFashionMnist } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Top1Accuracy } from '../../src/optim/validation.js';
import { Engine } from '../../src/engine/engine.js';
import { DistriOptimizer } from '../../src/engine/distri-optimizer.js';
import { fns, imageRecords } from './distri-fns.js';

const dir = process.argv[2];
const hangAt = Number(process.env.HANG_AT ?? 0);
setBackend('native');
const { train } = loadFashionMnist();
const records = imageRecords(train, 600);
const ctx = await Engine.init({ master: 'local[2]' });
console.log(`workers ${(await ctx.cluster.workers()).map((w) => w.pid).join(',')}`);
RNG.setSeed(5);
const model = LeNet5();
const data = ctx.parallelize(records, 2).map(fns.toSample);
const opt = new DistriOptimizer({
  model, trainingSet: data, criterion: new ClassNLLCriterion(), optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }),
  batchSize: 60, endWhen: Trigger.maxIteration(16), progress: 'lines',
}).setCheckpoint(dir, Trigger.severalIteration(2)).resume(dir, { missingOk: true })
  .setValidation(Trigger.severalIteration(7), ctx.parallelize(records.slice(0, 100), 2).map(fns.toSample), [new Top1Accuracy()])
  .onValidation(async (r) => {
    if (r.iteration === hangAt) {
      console.log(`hanging at iteration ${r.iteration}`);
      await new Promise(() => undefined);
    }
  });
await opt.optimize();
writeFileSync(join(dir, 'final.bin'), model.getParameters().weights.data as Float32Array);
console.log(`done after ${opt.iterationTimes.length} iterations`);
await ctx.close();
