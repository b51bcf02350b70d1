/**
 * `bigdl train`: trains a zoo model on a named data set with the Optimizer, shows progress,
 * validates every epoch, keeps the best model on disk and ends with accuracy, wall time and path.
 */
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { RNG } from '../tensor/random.js';
import { LeNet5 } from '../models/lenet.js';
import { ClassNLLCriterion } from '../nn/criterion.js';
import { SGD } from '../optim/sgd.js';
import { Optimizer } from '../optim/optimizer.js';
import { Trigger } from '../optim/trigger.js';
import { Top1Accuracy } from '../optim/validation.js';
import { TrainSummary, ValidationSummary } from '../summary/summary.js';
import { saveModel } from '../serialization/index.js';
import type { ExecutorKind } from '../optim/executor.js';
import { CliUsageError, loadImageData, pixelStats, standardized, type ImageData, type Normalization } from './datasets.js';
import { imageFns, imageRecords } from './image-records.js';
import { Engine } from '../engine/engine.js';
import type { EngineContext } from '../engine/context.js';
import { int, num, positive } from './args.js';

export const TRAIN_USAGE = `usage: bigdl train [options]

Trains BigDL's LeNet-5 (tanh) on Fashion-MNIST (Debian's dataset-fashion-mnist) with SGD, validating
on the test split after every epoch and saving the best model.

options:
  --model lenet5             the model (only lenet5 for now)
  --data fashion-mnist       fashion-mnist, or mnist-format with --data-dir DIR
  --data-dir DIR             directory with train-images-idx3-ubyte[.gz], train-labels-..., t10k-...
  --epochs N                 epochs to train (default 10)
  --batch-size N             mini-batch size (default 128)
  --lr X                     learning rate (default 0.05)
  --momentum X               momentum (default 0.9; dampening 0, as PyTorch)
  --lr-decay X               BigDL's learningRateDecay: lr / (1 + iteration * X) (default 0.0003)
  --seed N                   seed for initial weights, data order and dropout (default 1)
  --out FILE                 where the best model goes (default models/lenet5-fashion-mnist.bigdl)
  --checkpoint DIR           write a checkpoint every epoch into DIR, and resume from the one there:
                             after a crash, rerunning the same command continues the run
  --resume FILE              continue from a checkpoint written by --checkpoint
  --master M                 train distributed: local[N] (N worker processes here) or
                             redis://host:6379 (workers started with bigdl worker --master ...)
  --partitions N             distributed: partitions of the data (default: one per worker)
  --group-size K             distributed: iterations per submission (group scheduling, default 1)
  --summary DIR              TensorBoard event files and JSON lines under DIR/<app>/train|validation
  --executor auto|threads|replicas   how to use the cores (default auto: measure both)
  --threads N                cores to use (default: BIGDL_THREADS or all)
  --quiet                    no progress output; the final summary still prints

exit codes: 0 trained, 1 failed, 2 bad usage, 3 bad data or model file, 4 training diverged (NaN loss)`;

export async function runTrain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'lenet5' },
      data: { type: 'string', default: 'fashion-mnist' },
      'data-dir': { type: 'string' },
      epochs: { type: 'string', default: '10' },
      'batch-size': { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.05' },
      momentum: { type: 'string', default: '0.9' },
      'lr-decay': { type: 'string', default: '0.0003' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'models/lenet5-fashion-mnist.bigdl' },
      checkpoint: { type: 'string' },
      resume: { type: 'string' },
      summary: { type: 'string' },
      executor: { type: 'string', default: 'auto' },
      threads: { type: 'string' },
      master: { type: 'string' },
      partitions: { type: 'string' },
      'group-size': { type: 'string', default: '1' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(TRAIN_USAGE);
    return 0;
  }
  if (values.model !== 'lenet5') throw new CliUsageError(`--model '${values.model}': only lenet5 can be trained from the command line so far`);
  const executor = values.executor as ExecutorKind | 'auto';
  if (!['auto', 'threads', 'replicas'].includes(executor)) throw new CliUsageError(`--executor must be auto, threads or replicas, got '${values.executor}'`);
  const epochs = int('--epochs', values.epochs!, 1);
  const batchSize = int('--batch-size', values['batch-size']!, 1);
  const lr = positive('--lr', values.lr!);
  const momentum = num('--momentum', values.momentum!, 0);
  const lrDecay = num('--lr-decay', values['lr-decay']!, 0);
  const seed = int('--seed', values.seed!, 0);
  const cores = values.threads === undefined ? undefined : int('--threads', values.threads, 1);
  const out = resolve(values.out!);
  const groupSize = int('--group-size', values['group-size']!, 1);
  const partitions = values.partitions === undefined ? undefined : int('--partitions', values.partitions, 1);
  if (!values.master && (values.partitions !== undefined || groupSize !== 1)) throw new CliUsageError('--partitions and --group-size need --master');

  const started = performance.now();
  const data = loadImageData(values.data!, values['data-dir']);
  const norm = pixelStats(data.train);
  const ctx = values.master ? await Engine.init({ master: values.master }) : undefined;
  try {
    const sets = ctx ? await distributedSets(ctx, data, norm, partitions) : { train: standardized(data.train, norm), test: standardized(data.test, norm) };
    RNG.setSeed(seed);
    const model = LeNet5(data.classes);
    const optimizer = new Optimizer({
      model, trainingSet: sets.train, criterion: new ClassNLLCriterion(),
      optimMethod: new SGD({ learningRate: lr, momentum, dampening: 0, learningRateDecay: lrDecay }),
      batchSize, endWhen: Trigger.maxEpoch(epochs), seed, executor, cores, progress: values.quiet ? 'quiet' : 'auto',
      groupSize: ctx ? groupSize : undefined,
    });
    return await train(optimizer, sets.test, { ...values, out, norm, data, started, seed, where: values.master });
  } finally {
    await ctx?.close();
  }
}

/** The splits as partitioned datasets of Samples on the cluster: bytes travel, workers standardise. */
async function distributedSets(ctx: EngineContext, data: ImageData, norm: Normalization, partitions: number | undefined) {
  const n = partitions ?? Math.max(1, (await ctx.cluster.workers()).length);
  const norms = { mean: norm.mean, std: norm.std };
  return {
    train: ctx.parallelize(imageRecords(data.train), n).map(imageFns.toImageSample, norms),
    test: ctx.parallelize(imageRecords(data.test), n).map(imageFns.toImageSample, norms),
  };
}

interface TrainRun {
  out: string;
  norm: Normalization;
  data: ImageData;
  started: number;
  where: string | undefined;
  checkpoint?: string;
  resume?: string;
  summary?: string;
  seed: number;
}

async function train(optimizer: Optimizer, testSet: Parameters<Optimizer['setValidation']>[1], run: TrainRun): Promise<number> {
  const { out, norm, data, started, seed } = run;
  optimizer.setValidation(Trigger.everyEpoch(), testSet, [new Top1Accuracy()], 1000);
  if (run.checkpoint) optimizer.setCheckpoint(run.checkpoint, Trigger.everyEpoch()).resume(run.checkpoint, { missingOk: true });
  if (run.resume) optimizer.resume(run.resume);
  if (run.summary) {
    const app = `lenet5-${data.name}`;
    optimizer.setTrainSummary(new TrainSummary(run.summary, app)).setValidationSummary(new ValidationSummary(run.summary, app));
  }
  const metadata = { task: 'image-classification', model: 'lenet5', dataset: data.name, classes: data.classes, normalization: norm, seed };
  let best = { accuracy: -1, epoch: 0 };
  mkdirSync(dirname(out), { recursive: true });
  optimizer.onValidation(async (report, m) => {
    const accuracy = report.results[0].value;
    if (accuracy > best.accuracy) {
      best = { accuracy, epoch: report.epoch };
      await saveModel(out, m, { metadata: { ...metadata, epoch: report.epoch, accuracy } });
    }
  });
  await optimizer.optimize();
  if (optimizer.validationHistory.length === 0) {
    console.log(`nothing to train: the checkpoint ${optimizer.lastCheckpoint ?? ''} is already at the end (--epochs); the model is in ${out}`);
    return 0;
  }
  const seconds = (performance.now() - started) / 1000;
  const history = optimizer.validationHistory.map((r) => `${(100 * r.results[0].value).toFixed(2)}`).join(' ');
  console.log(`per-epoch test accuracy (%): ${history}`);
  console.log(`best test accuracy ${(100 * best.accuracy).toFixed(2)}% at epoch ${best.epoch}; wall time ${seconds.toFixed(1)} s ` +
    `(${run.where ? `distributed on ${run.where}` : optimizer.lastExecutor?.description ?? 'unknown executor'}); model saved to ${out}`);
  return 0;
}
