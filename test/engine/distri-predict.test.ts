// Distributed inference on local[2] with a LeNet-5 trained a little on real Fashion-MNIST:
// model.predict / predictClass / evaluate over partitioned datasets give what the model gives
// locally, record by record and in order, as lazy datasets; model blocks are shared and cleaned up;
// bad input is named.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend, setThreads } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/tensor/ops.js';
import { Sample } from '../../src/data/sample.js';
import { imageSamples, loadFashionMnist, type ImageSplit } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import type { Sequential } from '../../src/nn/sequential.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Optimizer } from '../../src/optim/optimizer.js';
import { Loss, Top1Accuracy } from '../../src/optim/validation.js';
import { predict } from '../../src/optim/predictor.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import { LocalCluster } from '../../src/engine/cluster/local.js';
import type { FileBlockStore } from '../../src/engine/cluster/block-store-file.js';
import type { PartitionedDataset } from '../../src/engine/dataset.js';
import { fns, type ImageRecord } from './predict-fns.js';

const N = 300;
let train: ImageSplit;
let test: ImageSplit;
let records: ImageRecord[];
let model: Sequential;
/** the trained model's outputs for the test images, computed here with plain forward */
let local: Tensor;

function slice(s: ImageSplit, from: number, n: number): ImageSplit {
  const images = s.images.narrow(0, from, n).clone().sub_(0.286).div_(0.353);
  return { images, labels: s.labels.narrow(0, from, n).clone() };
}

const testSamples = (): Sample[] => Array.from({ length: N }, (_, i) => new Sample(test.images.select(0, i), test.labels.get(i)));

function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.toArray(), y = b.toArray();
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}

before(async () => {
  setBackend('native');
  setThreads(1); // workers run one kernel thread each: the same arithmetic here
  const all = loadFashionMnist();
  train = slice(all.train, 0, 600);
  test = slice(all.test, 0, N);
  records = Array.from({ length: N }, (_, i) => ({ pixels: test.images.select(0, i).clone().data as Float32Array, label: test.labels.get(i) }));
  RNG.setSeed(5);
  model = LeNet5();
  await new Optimizer({
    model, trainingSet: imageSamples(train), criterion: new ClassNLLCriterion(), optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }),
    batchSize: 64, endWhen: Trigger.maxEpoch(2), executor: 'threads', cores: 1, progress: 'quiet', seed: 3,
  }).optimize();
  local = (model.evaluate().forward(test.images) as Tensor).clone();
});

describe('distributed predict / evaluate on local[2]', () => {
  let ctx: EngineContext;
  before(async () => {
    ctx = await Engine.init({ master: 'local[2]' });
  });
  after(() => ctx?.close());

  it('predict gives the local outputs, one Tensor per record, in order across uneven partitions; lazy like any transform', async () => {
    // the trained model is better than chance, so the comparisons below are about a real model
    const acc = ops.argmax(local, 1).toArray().filter((c, i) => c === test.labels.get(i)).length / N;
    assert.ok(acc > 0.5, `local accuracy ${acc}`);
    const input = ctx.parallelize(testSamples(), 3);
    const preds: PartitionedDataset<Tensor> = await model.predict(input, { batchSize: 64 });
    assert.equal(preds.numPartitions, 3);
    assert.match(preds.toDebugString(), /mapPartitions\(predictPartition\)/);
    const out = await preds.collect();
    assert.equal(out.length, N);
    assert.ok(out.every((t) => t instanceof Tensor && t.shape.length === 1 && t.shape[0] === 10));
    const stacked = Tensor.from(out.flatMap((t) => t.toArray()), [N, 10]);
    const worst = maxDiff(stacked, local);
    assert.ok(worst <= 1e-6, `max difference from local forward ${worst}`);
    assert.equal(await preds.count(), N);
    // zip with the input: each prediction sits next to its own record
    const pairs = await preds.zip(input).collect();
    pairs.forEach(([p, s], i) => {
      assert.ok(s instanceof Sample && p instanceof Tensor);
      assert.equal(s.label, test.labels.get(i));
      assert.equal(ops.argmax(p, 0).item(), ops.argmax(local.select(0, i), 0).item(), `record ${i}`);
    });
  });

  it('Samples built on workers, bare feature Tensors and unlabelled Samples give the same predictions; predictClass is the arg-max', async () => {
    const want = ops.argmax(local, 1).toArray();
    const fromRecords = ctx.parallelize(records, 4).map(fns.toSample);
    const classes = await model.predictClass(fromRecords, { batchSize: 50 });
    assert.deepEqual(await classes.collect(), want);
    for (const fn of [fns.toFeature, fns.toUnlabelled]) {
      const out = await (await model.predict(ctx.parallelize(records, 2).map<Sample | Tensor>(fn), { batchSize: 128 })).collect();
      const worst = maxDiff(Tensor.from(out.flatMap((t) => t.toArray()), [N, 10]), local);
      assert.ok(worst <= 1e-6, `${fn.name}: max difference ${worst}`);
    }
    // predictions save as text, one line per record
    const dir = mkdtempSync(join(tmpdir(), 'bigdl-predict-'));
    try {
      await classes.saveAsTextFile(join(dir, 'classes'));
      const lines = readdirSync(join(dir, 'classes')).filter((f) => f.startsWith('part-')).sort()
        .flatMap((f) => readFileSync(join(dir, 'classes', f), 'utf8').trim().split('\n'));
      assert.deepEqual(lines.map(Number), want);
      await (await model.predict(ctx.parallelize(records.slice(0, 2), 1).map(fns.toFeature))).saveAsTextFile(join(dir, 'outputs'));
      const first = JSON.parse(readFileSync(join(dir, 'outputs', 'part-00000'), 'utf8').split('\n')[0]) as number[];
      assert.equal(first.length, 10);
      assert.ok(Math.abs(first[3] - local.get(0, 3)) <= 1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('evaluate merges per-partition results into what local evaluate gives, in one stage of one task per partition', async () => {
    const methods = () => [new Top1Accuracy(), new Loss(new ClassNLLCriterion())];
    const [localAcc, localLoss] = await model.evaluate(testSamples(), methods(), { batchSize: 64, cores: 1 });
    const cluster = (ctx as unknown as { cluster: LocalCluster }).cluster;
    // 7 uneven partitions plus an empty one: nothing has to divide anything
    const ds = ctx.parallelize(records, 7).map(fns.toSample).union(ctx.parallelize<ImageRecord>([], 1).map(fns.toSample));
    const launched = cluster.stats.tasksLaunched;
    const [acc, loss] = await model.evaluate(ds, methods(), { batchSize: 64 });
    assert.equal(cluster.stats.tasksLaunched - launched, 8, 'one task per partition, no other stage');
    assert.deepEqual(acc.result(), localAcc.result());
    assert.equal(acc.result().count, N);
    assert.equal(loss.result().count, N);
    assert.ok(Math.abs(loss.result().value - localLoss.result().value) < 1e-5, `${loss.result().value} vs ${localLoss.result().value}`);
    assert.match(acc.toString(), /^Top1Accuracy is Accuracy\(correct: \d+, count: 300/);
  });

  it('the weights are those of the call; an unchanged model shares one block; the blocks go when the context closes', async () => {
    // a context borrowing the cluster: closing it deletes its blocks but leaves the store to look into
    const cluster = await LocalCluster.start({ workers: 2 });
    const borrowed = await Engine.init({ cluster });
    try {
      const dir = (cluster.blocks as FileBlockStore).dir;
      const modelBlocks = () => readdirSync(dir).filter((f) => decodeURIComponent(f).includes('/predict/model-')).length;
      const copy = model.clone();
      const input = borrowed.parallelize(records, 2).map(fns.toFeature);
      const before = await copy.predict(input);
      await copy.predict(input);
      await copy.predictClass(input);
      assert.equal(modelBlocks(), 1, 'the same weights are written once');
      // change the weights: a new block, and the dataset made before still predicts with the old ones
      copy.getParameters().weights.mul_(0.5);
      const afterChange = await (await copy.predict(input)).collect();
      assert.equal(modelBlocks(), 2);
      const old = await before.collect();
      const worst = maxDiff(Tensor.from(old.flatMap((t) => t.toArray()), [N, 10]), local);
      assert.ok(worst <= 1e-6, `the earlier predictions changed: ${worst}`);
      assert.ok(maxDiff(afterChange[0], old[0]) > 1e-3, 'the new weights predict differently');
      await borrowed.close();
      assert.equal(modelBlocks(), 0, 'closing the context deletes its model blocks');
    } finally {
      await borrowed.close();
      await cluster.close();
    }
  });

  it('bad input is named, on the driver when it can be', async () => {
    const strict = await Engine.init({ cluster: (ctx as unknown as { cluster: LocalCluster }).cluster, maxAttempts: 1 });
    try {
      const numbers = strict.range(10, 2) as unknown as PartitionedDataset<Sample>;
      await assert.rejects((await model.predict(numbers)).collect(), /predict: partition \d holds number items \(item 0\); predict needs Samples or feature Tensors, one per record: map the dataset with a shippable function/);
      await assert.rejects(model.evaluate(strict.parallelize(records, 2) as never, [new Top1Accuracy()]), /partition \d holds Object items.*evaluate needs Samples with labels/);
      await assert.rejects(model.evaluate(strict.parallelize(records, 2).map(fns.toUnlabelled), [new Top1Accuracy()]), /has Samples without labels/);
      await assert.rejects(model.evaluate(strict.parallelize(records, 2).map(fns.toSample), []), /at least one validation method/);
      await assert.rejects(model.predict(strict.parallelize(records, 2).map(fns.toSample), { batchSize: 0 }), /predict: batchSize must be a positive integer/);
      await assert.rejects(model.evaluate(strict.parallelize<Sample>([], 2), [new Top1Accuracy()]), /no records/);
      // the local predictor's functions point at the model's methods
      await assert.rejects(predict(model, strict.parallelize(testSamples(), 2) as never), /a PartitionedDataset runs on its cluster: call model.predict\(ds\)/);
    } finally {
      await strict.close();
    }
  });
});
