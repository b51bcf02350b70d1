// The local Optimizer on real data (a slice of Fashion-MNIST): it learns, resumes bit for bit,
// stops on NaN without losing the checkpoint, and the two executors compute the same gradients.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { DataSet } from '../../src/data/dataset.js';
import { MiniBatch, Sample } from '../../src/data/sample.js';
import { loadFashionMnist, imageSamples, type ImageSplit } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Optimizer, NonFiniteLossError } from '../../src/optim/optimizer.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Top1Accuracy } from '../../src/optim/validation.js';
import { AUTO_RECHECK, AutoExecutor, chooseExecutor, preferredKind, ThreadsExecutor, ReplicasExecutor, type ExecutorKind } from '../../src/optim/executor.js';
import { TrainSummary, ValidationSummary } from '../../src/summary/summary.js';
import { loadModel } from '../../src/serialization/index.js';

let train: ImageSplit;
let test: ImageSplit;

function slice(s: ImageSplit, n: number): ImageSplit {
  return { images: s.images.narrow(0, 0, n).clone(), labels: s.labels.narrow(0, 0, n).clone() };
}

before(() => {
  const all = loadFashionMnist();
  train = slice(all.train, 1536);
  test = slice(all.test, 512);
  for (const s of [train, test]) s.images.sub_(0.286).div_(0.353);
});

const tmp = () => mkdtempSync(join(tmpdir(), 'bigdl-opt-'));

function optimizer(model = (RNG.setSeed(7), LeNet5()), opts: { executor?: 'threads' | 'replicas'; epochs?: number; lr?: number } = {}): Optimizer {
  return new Optimizer({
    model, trainingSet: imageSamples(train), criterion: new ClassNLLCriterion(),
    optimMethod: new SGD({ learningRate: opts.lr ?? 0.05, momentum: 0.9, dampening: 0 }), batchSize: 128,
    endWhen: Trigger.maxEpoch(opts.epochs ?? 2), executor: opts.executor ?? 'threads', cores: 2, progress: 'quiet', seed: 11,
  });
}

const bits = (t: Tensor) => Buffer.from(new Float32Array(t.contiguous().toArray()).buffer).toString('base64');

describe('Optimizer (local)', () => {
  it('learns: validation accuracy after 3 epochs on 1536 images is far above chance', async () => {
    setBackend('native');
    const dir = tmp();
    try {
      const opt = optimizer(undefined, { epochs: 3 })
        .setValidation(Trigger.everyEpoch(), imageSamples(test), [new Top1Accuracy()], 256)
        .setTrainSummary(new TrainSummary(dir, 'lenet'))
        .setValidationSummary(new ValidationSummary(dir, 'lenet'));
      await opt.optimize();
      assert.equal(opt.validationHistory.length, 3, 'validation ran once per epoch');
      const acc = opt.validationHistory.map((v) => v.results[0].value);
      assert.ok(acc[2] > 0.6, `accuracy after 3 epochs ${acc}`);
      assert.ok(opt.validationHistory.every((v) => v.results[0].count === 512));
      const loss = new TrainSummary(dir, 'lenet').readScalar('Loss');
      assert.equal(loss.length, 3 * 12, 'one Loss scalar per iteration');
      assert.ok(loss[loss.length - 1][1] < loss[0][1], 'loss went down');
      assert.equal(new ValidationSummary(dir, 'lenet').readScalar('Top1Accuracy').length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const executor of ['threads', 'replicas'] as const) {
    it(`resuming from a mid-epoch checkpoint gives the same weights bit for bit (${executor})`, async () => {
      setBackend('native');
      const dir = tmp();
      try {
        const whole = LeNet5();
        RNG.setSeed(7);
        const reference = LeNet5();
        await optimizer(reference, { executor, epochs: 2 }).optimize();
        RNG.setSeed(7);
        const first = LeNet5();
        // stop in the middle of epoch 2 (12 batches per epoch), checkpointing every 5 iterations
        await optimizer(first, { executor, epochs: 2 }).setEndWhen(Trigger.maxIteration(17))
          .setCheckpoint(dir, Trigger.severalIteration(5)).optimize();
        const ck = join(dir, 'checkpoint.bigdl');
        assert.ok(existsSync(ck));
        // a fresh model with other initial weights: everything must come from the checkpoint
        RNG.setSeed(99);
        const resumed = whole;
        await optimizer(resumed, { executor, epochs: 2 }).resume(ck).optimize();
        assert.equal(bits(resumed.getParameters().weights), bits(reference.getParameters().weights));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('a NaN loss stops training with a clear error; weights stay finite and the checkpoint is intact', async () => {
    setBackend('native');
    const dir = tmp();
    try {
      // one corrupt image in the second half of the data makes the loss NaN when its batch comes
      const bad = { images: train.images.clone(), labels: train.labels };
      bad.images.set(NaN, 1000, 0, 3, 3);
      RNG.setSeed(7);
      const model = LeNet5();
      const opt = new Optimizer({
        model, trainingSet: imageSamples(bad), criterion: new ClassNLLCriterion(), optimMethod: new SGD({ learningRate: 0.01 }),
        batchSize: 128, endWhen: Trigger.maxEpoch(1), executor: 'threads', cores: 1, progress: 'quiet', shuffle: false,
      }).setCheckpoint(dir, Trigger.severalIteration(1));
      await assert.rejects(opt.optimize(), (e: Error) => {
        assert.ok(e instanceof NonFiniteLossError);
        assert.match(e.message, /not finite at epoch 1, iteration 8/);
        assert.match(e.message, /checkpoint\.bigdl/);
        return true;
      });
      const w = model.getParameters().weights;
      assert.ok(w.toArray().every(Number.isFinite), 'weights were not updated with the NaN gradient');
      const saved = await loadModel(join(dir, 'checkpoint.bigdl'));
      assert.equal((saved.extra as { checkpoint: { iteration: number } }).checkpoint.iteration, 7);
      assert.equal(bits(saved.model.getParameters().weights), bits(w));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("chooseExecutor('auto') times both executors for training (and inference when asked) without changing the weights", async () => {
    setBackend('native');
    const x = train.images.narrow(0, 0, 8).clone(), y = train.labels.narrow(0, 0, 8).clone();
    RNG.setSeed(3);
    const model = LeNet5();
    const before = model.getParameters().weights.clone();
    const choice = await chooseExecutor(model, new ClassNLLCriterion(), 'auto', 2, { input: x, target: y }, { timeInference: true });
    try {
      assert.ok(choice.measured.threads! > 0 && choice.measured.replicas! > 0);
      assert.ok(choice.inference && choice.inference.measured.threads > 0 && choice.inference.measured.replicas > 0);
      assert.ok(choice.executor instanceof AutoExecutor);
      // threads unless replicas win by the margin
      const m = choice.measured as Record<ExecutorKind, number>;
      assert.equal(choice.executor.kind, m.replicas * AUTO_RECHECK.margin < m.threads ? 'replicas' : 'threads');
      assert.equal(choice.inference.kind, preferredKind(choice.inference.measured));
      assert.deepEqual(choice.executor.weights.toArray(), before.toArray());
      assert.ok(model.getParameters().gradients.toArray().every((v) => v === 0));
    } finally {
      await choice.executor.close();
    }
    const noInference = await chooseExecutor(LeNet5(), new ClassNLLCriterion(), 'auto', 2, { input: x, target: y });
    assert.equal(noInference.inference, undefined);
    await noInference.executor.close();
  });

  // Re-checks every few steps (no settling, windows of 2, any drift), deciding by a margin that
  // forces a switch (0: replicas always win; Infinity: threads always do): the run must equal,
  // bit for bit, the two executors replaying the kind that ran each step, i.e. the timing steps
  // of the other executor left no trace in weights, gradients or random streams.
  for (const [start, margin] of [['threads', 0], ['replicas', Infinity]] as const) {
    it(`AutoExecutor: switching (${start} -> other) changes nothing but which executor computes each step`, async () => {
      setBackend('native');
      RNG.setSeed(5);
      const a = LeNet5();
      const b = a.clone();
      const crit = () => new ClassNLLCriterion();
      const pairOf = async (model: typeof a) => {
        const replicas = await ReplicasExecutor.start(model, crit(), 2);
        return { replicas, threads: new ThreadsExecutor(model, crit(), 2) };
      };
      const pa = await pairOf(a), pb = await pairOf(b);
      const switched: string[] = [];
      const auto = new AutoExecutor(pa.threads, pa.replicas, { step: 0, reason: 'start', measured: { threads: 1, replicas: 1 }, kind: start },
        { ...AUTO_RECHECK, margin, settle: 0, window: 2, drift: 0, minGap: 2, every: 4, warmup: 1, samples: 2 },
        (d) => switched.push(`${d.step} ${d.kind}`));
      try {
        const sgdA = new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }), sgdB = new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 });
        const kinds: ExecutorKind[] = [];
        for (let step = 0; step < 12; step++) {
          const x = train.images.narrow(0, 16 * step, 16), y = train.labels.narrow(0, 16 * step, 16);
          kinds.push(auto.kind);
          const la = await auto.trainStep(x, y, auto.gradients, 100 + step);
          sgdA.step(auto.weights, auto.gradients, la);
          const e = kinds[step] === 'threads' ? pb.threads : pb.replicas;
          const lb = await e.trainStep(x, y, pb.threads.gradients, 100 + step);
          sgdB.step(pb.threads.weights, pb.threads.gradients, lb);
          assert.equal(la, lb, `loss at step ${step}`);
        }
        assert.ok(kinds.includes('threads') && kinds.includes('replicas'), `both executors ran: ${kinds.join(' ')}`);
        assert.ok(switched.length >= 1 && auto.stats.switches === switched.length, switched.join(', '));
        assert.ok(auto.decisions.length >= 3, 're-checks kept running');
        assert.equal(auto.description, `${auto.kind === 'threads' ? pa.threads.description : pa.replicas.description} (auto)`);
        assert.equal(bits(auto.weights), bits(pb.threads.weights));
        assert.equal(bits(a.getParameters().weights), bits(b.getParameters().weights));
      } finally {
        await auto.close();
        await pb.replicas.close();
      }
    });
  }

  it('replicas and the single model compute the same batch gradient, also for uneven splits', async () => {
    setBackend('native');
    const x = train.images.narrow(0, 0, 5).clone(), y = train.labels.narrow(0, 0, 5).clone();
    RNG.setSeed(3);
    const a = LeNet5();
    const b = a.clone();
    const single = new ThreadsExecutor(a, new ClassNLLCriterion(), 1);
    const pool = await ReplicasExecutor.start(b, new ClassNLLCriterion(), 2);
    try {
      const ga = Tensor.zeros([single.weights.numel]), gb = Tensor.zeros([pool.weights.numel]);
      const la = await single.trainStep(x, y, ga, 1);
      const lb = await pool.trainStep(x, y, gb, 1);
      assert.ok(Math.abs(la - lb) < 1e-5, `loss ${la} vs ${lb}`);
      const da = ga.toArray(), db = gb.toArray();
      const maxDiff = da.reduce((m, v, i) => Math.max(m, Math.abs(v - db[i])), 0);
      const scale = da.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(maxDiff <= 1e-5 * scale + 1e-7, `gradients differ by ${maxDiff} (scale ${scale})`);
      // predictions come back in row order
      const pa = (await single.predict(x)) as Tensor, pb = (await pool.predict(x)) as Tensor;
      assert.deepEqual(pb.shape, [5, 10]);
      assert.ok(pa.toArray().every((v, i) => Math.abs(v - pb.toArray()[i]) < 1e-5));
    } finally {
      await pool.close();
    }
  });

  it('gradient clipping by L2 norm bounds every update', async () => {
    setBackend('native');
    const norms: number[] = [];
    class Spy extends SGD {
      override step(w: Tensor, g: Tensor, loss?: number): void {
        norms.push(Math.sqrt(g.square().sum().item()));
        super.step(w, g, loss);
      }
    }
    RNG.setSeed(7);
    await new Optimizer({
      model: LeNet5(), trainingSet: imageSamples(train), criterion: new ClassNLLCriterion(), optimMethod: new Spy({ learningRate: 0.05 }),
      batchSize: 128, endWhen: Trigger.maxIteration(4), executor: 'threads', cores: 1, progress: 'quiet',
    }).setGradientClippingByL2Norm(0.01).optimize();
    assert.equal(norms.length, 4);
    assert.ok(norms.every((n) => n <= 0.01 * (1 + 1e-5)), `norms ${norms}`);
  });

  it('bad configuration and bad data give clear errors', async () => {
    setBackend('native');
    RNG.setSeed(7);
    const samples = imageSamples(train);
    await assert.rejects(new Optimizer({ model: LeNet5(), trainingSet: samples, criterion: new ClassNLLCriterion(), progress: 'quiet', executor: 'threads' }).optimize(),
      /holds Samples: give batchSize/);
    await assert.rejects(new Optimizer({ model: LeNet5(), trainingSet: DataSet.array<Sample>([]), criterion: new ClassNLLCriterion(), batchSize: 4, progress: 'quiet' }).optimize(),
      /empty/);
    const unlabeled = DataSet.array([new MiniBatch(train.images.narrow(0, 0, 4), undefined, 4)]);
    await assert.rejects(new Optimizer({ model: LeNet5(), trainingSet: unlabeled, criterion: new ClassNLLCriterion(), progress: 'quiet', executor: 'threads' }).optimize(),
      /need labels/);
    assert.throws(() => new Optimizer({ model: LeNet5(), trainingSet: samples, criterion: new ClassNLLCriterion(), batchSize: 0 }), /batchSize must be a positive integer/);
    assert.throws(() => optimizer().setValidation(Trigger.everyEpoch(), samples, []), /at least one validation method/);
    // a checkpoint of another architecture is refused by name
    const dir = tmp();
    try {
      await optimizer(undefined, { epochs: 1 }).setEndWhen(Trigger.maxIteration(1)).setCheckpoint(dir, Trigger.severalIteration(1)).optimize();
      RNG.setSeed(7);
      await assert.rejects(optimizer(LeNet5(5)).resume(join(dir, 'checkpoint.bigdl')).optimize(), /fc2\.weight|parameter/);
      assert.ok(readdirSync(dir).includes('checkpoint.bigdl'));
      assert.ok(readFileSync(join(dir, 'checkpoint.bigdl')).length > 22278 * 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
