/**
 * BigDL's Optimizer on one machine: mini-batch training with validation, checkpoints, summaries,
 * gradient clipping and triggers, on all cores (see executor.ts for how the cores are used).
 *
 *   const trained = await new Optimizer({ model, trainingSet, criterion, optimMethod, batchSize: 128,
 *     endWhen: Trigger.maxEpoch(10) })
 *     .setValidation(Trigger.everyEpoch(), testSet, [new Top1Accuracy()])
 *     .setCheckpoint('/tmp/ckpt', Trigger.everyEpoch())
 *     .optimize();
 *
 * Determinism: the data order of epoch e is fixed by (seed, e), random layers at iteration i draw
 * from a stream fixed by (seed, i), and checkpoints hold the optimiser state and the position in
 * the epoch, so a run resumed from a checkpoint gives the same weights, bit for bit, as one that
 * was never interrupted, for a pinned executor (`threads` or `replicas`: the sum of replica
 * gradients is ordered). `auto` may switch executors during training when the load changes
 * (executor.ts AutoExecutor); its timing steps change nothing, but the two executors round
 * differently, so which one ran each step depends on the machine's load.
 */
import { backend } from '../backend/registry.js';
import * as ops from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Activity, Module } from '../nn/module.js';
import type { Criterion } from '../nn/criterion.js';
import { DataSet } from '../data/dataset.js';
import { PartitionedDataset } from '../engine/dataset.js';
import { MiniBatch, Sample, SampleToMiniBatch } from '../data/sample.js';
import type { OptimMethod } from './optim-method.js';
import { SGD } from './sgd.js';
import { Trigger, type TrainingState } from './trigger.js';
import type { ValidationMethod, ValidationResult } from './validation.js';
import type { TrainSummary, ValidationSummary } from '../summary/summary.js';
import { chooseExecutor, defaultCores, type Executor, type ExecutorKind } from './executor.js';
import { Progress, type ProgressMode } from './progress.js';
import { findCheckpoint, readCheckpoint, writeCheckpoint, type CheckpointState } from './checkpoint.js';

export type TrainingData = DataSet<Sample> | DataSet<MiniBatch>;

export interface OptimizerConfig {
  model: Module<any, any>;
  /**
   * Samples (batched here with `batchSize`, reshuffled every epoch) or ready MiniBatches; or a
   * partitioned dataset of Samples from `Engine.init(...)`: then training is distributed
   * (DistriOptimizer) and the dataset's partitions decide where data lives.
   */
  trainingSet: TrainingData | PartitionedDataset<Sample>;
  /** distributed training: gradients travel as float16 */
  fp16?: boolean;
  /** distributed training: iterations per submission (group scheduling, default 1) */
  groupSize?: number;
  criterion: Criterion<any, any>;
  /** default: SGD with learning rate 0.01 */
  optimMethod?: OptimMethod;
  /** required when trainingSet holds Samples */
  batchSize?: number;
  /** default: Trigger.maxEpoch(10) */
  endWhen?: Trigger;
  /** fixes data order and random layers (default 1) */
  seed?: number;
  /** how to use the cores: measure and pick (`auto`, default), intra-op `threads`, or `replicas` */
  executor?: ExecutorKind | 'auto';
  /** cores to use (default: BIGDL_THREADS or every core) */
  cores?: number;
  /** progress display (default `auto`: a bar on a terminal, lines otherwise) */
  progress?: ProgressMode;
  /** shuffle Samples every epoch (default true) */
  shuffle?: boolean;
}

/** Training stopped because the loss or the gradient stopped being finite. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

interface Validation {
  trigger: Trigger;
  data: TrainingData | PartitionedDataset<Sample>;
  methods: ValidationMethod[];
  batchSize: number | undefined;
}

/** The outcome of one validation pass, as given to callers and summaries. */
export interface ValidationReport {
  iteration: number;
  epoch: number;
  results: { method: string; value: number; count: number; text: string }[];
}

/** Mixes two integers into a 31-bit seed (splitmix-style), so nearby iterations get unrelated streams. */
function mixSeed(a: number, b: number): number {
  let z = (Math.imul(a | 0, 0x9e3779b1) ^ Math.imul(b | 0, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 1;
}

function isSampleSet(first: unknown): boolean {
  return first instanceof Sample;
}

export class Optimizer {
  private readonly model: Module<any, any>;
  private readonly criterion: Criterion<any, any>;
  private optimMethod: OptimMethod;
  private readonly trainingSet: TrainingData;
  private distributed: PartitionedDataset<Sample> | undefined;
  private fp16 = false;
  private groupSize: number | undefined;
  private readonly batchSize: number | undefined;
  private endWhen: Trigger;
  private readonly seed: number;
  private readonly executorMode: ExecutorKind | 'auto';
  private readonly cores: number;
  private readonly progressMode: ProgressMode;
  private readonly shuffle: boolean;
  private validation: Validation | undefined;
  private checkpoint: { dir: string; trigger: Trigger; overwrite: boolean } | undefined;
  private trainSummary: TrainSummary | undefined;
  private validationSummary: ValidationSummary | undefined;
  private clip: { kind: 'constant'; min: number; max: number } | { kind: 'l2'; maxNorm: number } | undefined;
  private resumeFrom: { path: string; missingOk: boolean } | undefined;
  private drop: { dropPercentage: number; maxDropPercentage: number; warmupIterations: number } | undefined;
  private validationCallbacks: ((report: ValidationReport, model: Module<any, any>) => void | Promise<void>)[] = [];
  /** the executor chosen by the last optimize(), for reports */
  lastExecutor: { description: string; measured: Partial<Record<ExecutorKind, number>> } | undefined;
  /** validation reports of the last optimize(), in order */
  readonly validationHistory: ValidationReport[] = [];
  /** per finished epoch of the last optimize(): samples trained on and training seconds (validation excluded) */
  readonly epochHistory: { epoch: number; samples: number; seconds: number }[] = [];
  /** path of the last checkpoint written (or resumed from) */
  lastCheckpoint: string | undefined;

  constructor(cfg: OptimizerConfig) {
    if (!cfg || !cfg.model || !cfg.criterion || !cfg.trainingSet) throw new TypeError('Optimizer: model, trainingSet and criterion are required');
    if (cfg.trainingSet instanceof PartitionedDataset) {
      if (cfg.batchSize === undefined) throw new RangeError('Optimizer: distributed training needs batchSize (the global mini-batch)');
      this.distributed = cfg.trainingSet as PartitionedDataset<Sample>;
      this.fp16 = cfg.fp16 ?? false;
      this.groupSize = cfg.groupSize;
    } else if (!(cfg.trainingSet instanceof DataSet)) {
      throw new TypeError('Optimizer: trainingSet must be a DataSet (DataSet.array(samples), readers in bigdl-ts/data) or a partitioned dataset (Engine.init(...).parallelize/textFile/...)');
    }
    if (!this.distributed && (cfg.groupSize !== undefined || cfg.fp16 !== undefined)) {
      throw new RangeError('Optimizer: groupSize and fp16 are options of distributed training; give a partitioned dataset (Engine.init(...)) as trainingSet, or leave them out');
    }
    if (cfg.batchSize !== undefined && (!Number.isInteger(cfg.batchSize) || cfg.batchSize < 1)) {
      throw new RangeError(`Optimizer: batchSize must be a positive integer, got ${cfg.batchSize}`);
    }
    this.model = cfg.model;
    this.criterion = cfg.criterion;
    this.optimMethod = cfg.optimMethod ?? new SGD({ learningRate: 0.01 });
    this.trainingSet = cfg.trainingSet as TrainingData;
    this.batchSize = cfg.batchSize;
    this.endWhen = cfg.endWhen ?? Trigger.maxEpoch(10);
    this.seed = cfg.seed ?? 1;
    this.executorMode = cfg.executor ?? 'auto';
    this.cores = cfg.cores ?? defaultCores();
    if (!Number.isInteger(this.cores) || this.cores < 1) throw new RangeError(`Optimizer: cores must be a positive integer, got ${cfg.cores}`);
    this.progressMode = cfg.progress ?? 'auto';
    this.shuffle = cfg.shuffle ?? true;
  }

  setValidation(trigger: Trigger, data: TrainingData | PartitionedDataset<Sample>, methods: ValidationMethod[], batchSize?: number): this {
    if (!(data instanceof DataSet) && !(data instanceof PartitionedDataset)) throw new TypeError('Optimizer.setValidation: data must be a DataSet or a partitioned dataset');
    if (!Array.isArray(methods) || methods.length === 0) throw new RangeError('Optimizer.setValidation: give at least one validation method, e.g. [new Top1Accuracy()]');
    this.validation = { trigger, data, methods, batchSize: batchSize ?? this.batchSize };
    return this;
  }

  /** Writes `<dir>/checkpoint.bigdl` (or `checkpoint.<iteration>.bigdl` with overwrite false) when `trigger` fires. */
  setCheckpoint(dir: string, trigger: Trigger, opts: { overwrite?: boolean } = {}): this {
    if (typeof dir !== 'string' || dir === '') throw new RangeError('Optimizer.setCheckpoint: dir must be a non-empty path');
    this.checkpoint = { dir, trigger, overwrite: opts.overwrite ?? true };
    return this;
  }

  /**
   * Continues from a checkpoint written by setCheckpoint (weights, optimiser state, position): a
   * file, or a directory (its latest checkpoint). With missingOk, a directory without one starts
   * afresh, so rerunning the same command after a crash resumes it.
   */
  resume(path: string, opts: { missingOk?: boolean } = {}): this {
    this.resumeFrom = { path, missingOk: opts.missingOk ?? false };
    return this;
  }

  /**
   * Distributed training only: BigDL's straggler drop (see DistriOptimizer.setDropModuleProperty).
   */
  setDropModuleProperty(dropPercentage: number, maxDropPercentage: number, warmupIterations = 20): this {
    this.drop = { dropPercentage, maxDropPercentage, warmupIterations };
    return this;
  }

  /**
   * Called after each validation with its report and the model (running statistics current), e.g.
   * to keep the best model: `opt.onValidation(async (r, m) => { if (better(r)) await saveModel(path, m); })`.
   */
  onValidation(cb: (report: ValidationReport, model: Module<any, any>) => void | Promise<void>): this {
    this.validationCallbacks.push(cb);
    return this;
  }

  setTrainSummary(summary: TrainSummary): this {
    this.trainSummary = summary;
    return this;
  }

  setValidationSummary(summary: ValidationSummary): this {
    this.validationSummary = summary;
    return this;
  }

  setOptimMethod(method: OptimMethod): this {
    this.optimMethod = method;
    return this;
  }

  setEndWhen(trigger: Trigger): this {
    this.endWhen = trigger;
    return this;
  }

  /** Clamps every gradient element into [min, max]. */
  setConstantGradientClipping(min: number, max: number): this {
    if (!(min <= max)) throw new RangeError(`Optimizer.setConstantGradientClipping: min ${min} must not exceed max ${max}`);
    this.clip = { kind: 'constant', min, max };
    return this;
  }

  /** Scales the whole gradient down when its L2 norm exceeds maxNorm. */
  setGradientClippingByL2Norm(maxNorm: number): this {
    if (!(maxNorm > 0)) throw new RangeError(`Optimizer.setGradientClippingByL2Norm: maxNorm must be positive, got ${maxNorm}`);
    this.clip = { kind: 'l2', maxNorm };
    return this;
  }

  disableGradientClipping(): this {
    this.clip = undefined;
    return this;
  }

  private batches(data: TrainingData, batchSize: number | undefined, epoch: number, shuffle: boolean, first: unknown): AsyncIterable<MiniBatch> {
    if (isSampleSet(first)) {
      if (batchSize === undefined) throw new RangeError('Optimizer: the data set holds Samples: give batchSize to batch them');
      const samples = data as DataSet<Sample>;
      return (shuffle ? samples.shuffle(mixSeed(this.seed, 0x5eed)) : samples).transform(new SampleToMiniBatch(batchSize)).epoch(epoch);
    }
    if (!(first instanceof MiniBatch)) throw new TypeError(`Optimizer: the data set must hold Samples or MiniBatches, got ${Object.prototype.toString.call(first)}`);
    return (data as DataSet<MiniBatch>).epoch(epoch);
  }

  private async firstItem(data: TrainingData): Promise<unknown> {
    for await (const x of data.epoch(0) as AsyncIterable<unknown>) return x;
    throw new RangeError('Optimizer: the data set is empty');
  }

  private clipGradients(g: Tensor): void {
    if (!this.clip) return;
    if (this.clip.kind === 'constant') {
      ops.clamp(g, this.clip.min, this.clip.max, g);
      return;
    }
    const norm = Math.sqrt(ops.sumSquares(g).item());
    if (norm > this.clip.maxNorm) ops.mul(g, this.clip.maxNorm / norm, g);
  }

  private nonFinite(what: string, state: TrainingState): never {
    const where = `at epoch ${state.epoch}, iteration ${state.iteration + 1}`;
    const kept = this.lastCheckpoint ? `the last good checkpoint is ${this.lastCheckpoint}` : 'no checkpoint was written (use setCheckpoint to keep progress)';
    throw new NonFiniteLossError(`Optimizer: the ${what} is not finite ${where}; training stopped before applying it, so the weights are the last finite ones and ${kept}. Lower the learning rate, clip gradients (setGradientClippingByL2Norm) or check the inputs for NaN.`);
  }

  /** Runs validation now; the first method's value becomes the state's score. */
  private async validate(exec: Executor, state: TrainingState, progress: Progress): Promise<void> {
    const v = this.validation!;
    if (!(v.data instanceof DataSet)) throw new TypeError('Optimizer.setValidation: local training validates on a DataSet, not a partitioned dataset');
    const data = v.data as TrainingData;
    const first = await this.firstItem(data);
    let merged: (ValidationResult | undefined)[] = v.methods.map(() => undefined);
    for await (const b of this.batches(data, v.batchSize, 0, false, first)) {
      if (!b.target) throw new RangeError('Optimizer.setValidation: validation samples need labels');
      const out = await exec.predict(b.input);
      merged = v.methods.map((m, i) => {
        const r = m.apply(out as Tensor, b.target!);
        return merged[i] ? merged[i]!.merge(r) : r;
      });
    }
    const results = v.methods.map((m, i) => {
      const r = merged[i]!;
      const { value, count } = r.result();
      return { method: m.format(), value, count, text: r.toString() };
    });
    state.score = results[0].value;
    this.optimMethod.state.score = state.score;
    const report = { iteration: state.iteration, epoch: state.epoch, results };
    this.validationHistory.push(report);
    for (const r of results) {
      progress.line(`[epoch ${state.epoch} iter ${state.iteration}] ${r.text}`);
      this.validationSummary?.addScalar(r.method, r.value, state.iteration);
    }
    if (this.validationCallbacks.length) {
      await exec.syncBuffers();
      for (const cb of this.validationCallbacks) await cb(report, this.model);
    }
  }

  private async saveCheckpoint(exec: Executor, state: TrainingState, batchInEpoch: number, progress: Progress): Promise<void> {
    const c = this.checkpoint!;
    await exec.syncBuffers();
    const file = c.overwrite ? 'checkpoint.bigdl' : `checkpoint.${state.iteration}.bigdl`;
    const st: CheckpointState = {
      epoch: state.epoch, iteration: state.iteration, epochFinished: state.epochFinished, batchInEpoch,
      loss: state.loss ?? null, score: state.score ?? null, seed: this.seed, optimMethod: this.optimMethod.saveState(),
    };
    this.lastCheckpoint = await writeCheckpoint(c.dir, file, this.model, st);
    progress.line(`[epoch ${state.epoch} iter ${state.iteration}] checkpoint saved to ${this.lastCheckpoint}`);
  }

  /** Trains until `endWhen` fires; resolves to the trained model (the same object that was given). */
  async optimize(): Promise<Module<any, any>> {
    if (this.distributed) return this.optimizeDistributed(this.distributed);
    if (this.drop) throw new RangeError('Optimizer.setDropModuleProperty: straggler drop is for distributed training (a partitioned trainingSet); local training has no stragglers to drop');
    const progress = new Progress(this.progressMode);
    const state: TrainingState = { epoch: 1, iteration: 0, epochFinished: false, loss: undefined, score: undefined };
    let skipBatches = 0;
    const resumePath = this.resumeFrom && await findCheckpoint(this.resumeFrom.path, this.resumeFrom.missingOk);
    if (resumePath) {
      const ck = await readCheckpoint(resumePath, this.model);
      if (ck.seed !== this.seed) throw new RangeError(`Optimizer.resume: the checkpoint was trained with seed ${ck.seed}, this optimizer has seed ${this.seed}; give the same seed`);
      this.optimMethod.loadState(ck.optimMethod);
      Object.assign(state, { epoch: ck.epoch, iteration: ck.iteration, epochFinished: ck.epochFinished, loss: ck.loss ?? undefined, score: ck.score ?? undefined });
      skipBatches = ck.batchInEpoch;
      if (state.epochFinished) {
        state.epoch += 1;
        state.epochFinished = false;
        skipBatches = 0;
      }
      this.lastCheckpoint = resumePath;
      progress.line(`resumed from ${resumePath} at epoch ${state.epoch}, iteration ${state.iteration}`);
    }
    const first = await this.firstItem(this.trainingSet);
    const firstBatch = await (async () => {
      for await (const b of this.batches(this.trainingSet, this.batchSize, state.epoch, this.shuffle, first)) return b;
      throw new RangeError('Optimizer: the training set gave no mini-batch');
    })();
    if (!firstBatch.target) throw new RangeError('Optimizer: training samples need labels');
    const choice = await chooseExecutor(this.model, this.criterion, this.executorMode, this.cores, { input: firstBatch.input, target: firstBatch.target }, {
      onSwitch: (d) => {
        this.lastExecutor = { description: exec.description, measured: d.measured };
        const ms = Object.entries(d.measured).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
        progress.line(`[iter ${state.iteration + 1}] executor: switched to ${d.kind} (${d.reason} re-check, ms/batch ${ms})`);
      },
    });
    const exec = choice.executor;
    this.lastExecutor = { description: exec.description, measured: choice.measured };
    const measured = Object.entries(choice.measured).map(([k, ms]) => `${k} ${ms!.toFixed(1)} ms/batch`).join(', ');
    progress.line(`training on ${exec.description} (${backend().name} backend${measured ? `; measured ${measured}` : ''})`);
    const weights = exec.weights;
    const gradients = exec.gradients;
    const started = performance.now();
    let samplesSeen = 0;
    const maxEpoch = /maxEpoch\((\d+)\)/.exec(this.endWhen.description)?.[1];
    try {
      if (this.endWhen.apply(state)) return this.model;
      for (;;) {
        const it = this.batches(this.trainingSet, this.batchSize, state.epoch, this.shuffle, first)[Symbol.asyncIterator]();
        let batchInEpoch = 0;
        for (; batchInEpoch < skipBatches; batchInEpoch++) {
          if ((await it.next()).done) throw new RangeError(`Optimizer.resume: epoch ${state.epoch} has fewer than ${skipBatches} batches: the data set changed since the checkpoint`);
        }
        skipBatches = 0;
        const epochStart = performance.now();
        let epochSamples = 0;
        let next = await it.next();
        if (next.done) throw new RangeError(`Optimizer: epoch ${state.epoch} of the training set gave no mini-batch`);
        while (!next.done) {
          const batch = next.value;
          if (!batch.target) throw new RangeError('Optimizer: training samples need labels');
          const loss = await exec.trainStep(batch.input as Activity, batch.target, gradients, mixSeed(this.seed, state.iteration + 1));
          if (!Number.isFinite(loss)) this.nonFinite(`loss (${loss})`, state);
          if (!backend().allFinite(gradients.data as Float32Array, gradients.offset, gradients.numel)) this.nonFinite('gradient', state);
          this.clipGradients(gradients);
          this.optimMethod.state.epoch = state.epoch;
          this.optimMethod.state.loss = loss;
          this.optimMethod.step(weights, gradients, loss);
          // the rate this update used (BigDL logs it after the step)
          const lr = this.optimMethod.getLearningRate();
          // look ahead one batch: triggers need to know whether this iteration ended the epoch
          next = await it.next();
          batchInEpoch++;
          samplesSeen += batch.size;
          epochSamples += batch.size;
          state.iteration++;
          state.loss = loss;
          state.epochFinished = next.done === true;
          const elapsed = (performance.now() - epochStart) / 1000;
          const perSecond = epochSamples / Math.max(elapsed, 1e-9);
          progress.update({
            epoch: state.epoch, maxEpoch: maxEpoch ? Number(maxEpoch) : undefined, batchInEpoch, batchesPerEpoch: this.batchesPerEpoch(),
            iteration: state.iteration, loss, samplesPerSecond: perSecond, etaSeconds: this.eta(state, batchInEpoch, elapsed, maxEpoch),
          });
          if (this.trainSummary) {
            const s = this.trainSummary;
            const fire = (n: 'Loss' | 'LearningRate' | 'Throughput') => s.getSummaryTrigger(n)?.apply(state) ?? false;
            if (fire('Loss')) s.addScalar('Loss', loss, state.iteration);
            if (fire('LearningRate')) s.addScalar('LearningRate', lr, state.iteration);
            if (fire('Throughput')) s.addScalar('Throughput', perSecond, state.iteration);
          }
          if (state.epochFinished) {
            this.epochHistory.push({ epoch: state.epoch, samples: epochSamples, seconds: elapsed });
            progress.line(`epoch ${state.epoch} done: ${epochSamples} samples in ${elapsed.toFixed(1)} s (${Math.round(perSecond).toLocaleString('en-US')} samples/s), last loss ${loss.toFixed(4)}`);
          }
          if (this.validation && this.validation.trigger.apply(state)) await this.validate(exec, state, progress);
          if (this.checkpoint && this.checkpoint.trigger.apply(state)) await this.saveCheckpoint(exec, state, batchInEpoch, progress);
          if (this.endWhen.apply(state)) {
            await exec.syncBuffers();
            progress.line(`training finished after ${state.iteration} iterations, ${samplesSeen} samples, ${((performance.now() - started) / 1000).toFixed(1)} s`);
            return this.model;
          }
        }
        state.epoch++;
        state.epochFinished = false;
      }
    } finally {
      progress.end();
      this.trainSummary?.flush();
      this.validationSummary?.flush();
      await exec.close();
    }
  }

  /** The same API over a cluster: BigDL's DistriOptimizer (src/engine/distri-optimizer.ts). */
  private async optimizeDistributed(trainingSet: PartitionedDataset<Sample>): Promise<Module<any, any>> {
    const { DistriOptimizer } = await import('../engine/distri-optimizer.js');
    const d = new DistriOptimizer({
      model: this.model, trainingSet, criterion: this.criterion, optimMethod: this.optimMethod, batchSize: this.batchSize!,
      endWhen: this.endWhen, seed: this.seed, fp16: this.fp16, groupSize: this.groupSize, progress: this.progressMode,
    });
    if (this.validation) {
      if (!(this.validation.data instanceof PartitionedDataset)) {
        throw new TypeError('Optimizer.setValidation: with a partitioned training set, validate on a partitioned dataset too (ctx.parallelize(...).map(toSample))');
      }
      d.setValidation(this.validation.trigger, this.validation.data as PartitionedDataset<Sample>, this.validation.methods, this.validation.batchSize);
    }
    if (this.checkpoint) d.setCheckpoint(this.checkpoint.dir, this.checkpoint.trigger, { overwrite: this.checkpoint.overwrite });
    if (this.resumeFrom) d.resume(this.resumeFrom.path, { missingOk: this.resumeFrom.missingOk });
    d.setGradientClipping(this.clip ?? null).setTrainSummary(this.trainSummary).setValidationSummary(this.validationSummary);
    if (this.drop) d.setDropModuleProperty(this.drop.dropPercentage, this.drop.maxDropPercentage, this.drop.warmupIterations);
    for (const cb of this.validationCallbacks) d.onValidation(cb);
    try {
      return await d.optimize();
    } finally {
      this.validationHistory.push(...d.validationHistory);
      this.lastCheckpoint = d.lastCheckpoint;
    }
  }

  private batchesPerEpoch(): number | undefined {
    if (this.batchSize === undefined) return undefined;
    try {
      return Math.ceil(this.trainingSet.size() / this.batchSize);
    } catch {
      return undefined;
    }
  }

  private eta(state: TrainingState, batchInEpoch: number, elapsed: number, maxEpoch: string | undefined): number | undefined {
    const per = this.batchesPerEpoch();
    if (!per || !maxEpoch) return undefined;
    const secondsPerBatch = elapsed / Math.max(batchInEpoch, 1);
    return secondsPerBatch * ((Number(maxEpoch) - state.epoch) * per + (per - batchInEpoch));
  }
}
