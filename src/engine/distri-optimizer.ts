/**
 * BigDL's DistriOptimizer (Algorithm 1) over any cluster backend: per iteration a forward-backward
 * stage (one task per partition that holds samples, each on its share of the global mini-batch)
 * and a parameter-sync stage (one task per weight slice: AllReduceParameter). The driver only
 * decides what runs; weights, gradients and optimizer state live in the block store.
 *
 * No arbitrary restrictions: any global batch size and any number of partitions. The batch is
 * split over partitions in proportion to their sizes (largest remainders), and gradients are
 * weighted by the samples each task actually processed, so uneven splits are exact.
 */
import type { Module } from '../nn/module.js';
import type { Criterion } from '../nn/criterion.js';
import type { OptimMethod } from '../optim/optim-method.js';
import { SGD } from '../optim/sgd.js';
import { Trigger, type TrainingState } from '../optim/trigger.js';
import { validationResultFromJSON, type ValidationMethod, type ValidationResult } from '../optim/validation.js';
import type { ValidationReport } from '../optim/optimizer.js';
import { NonFiniteLossError } from '../optim/optimizer.js';
import { Progress, type ProgressMode } from '../optim/progress.js';
import { serializeObject, saveModel } from '../serialization/index.js';
import type { Sample } from '../data/sample.js';
import { AllReduceParameter } from './allreduce.js';
import type { PartitionedDataset } from './dataset.js';
import { EVALUATE_PARTITION, FORWARD_BACKWARD, SYNC_SLICE, type JobInfo } from './distri-tasks.js';
import type { Json, TaskSpec } from './cluster/types.js';

export interface DistriOptimizerConfig {
  model: Module<any, any>;
  trainingSet: PartitionedDataset<Sample>;
  criterion: Criterion<any, any>;
  optimMethod?: OptimMethod;
  /** global mini-batch size */
  batchSize: number;
  endWhen?: Trigger;
  seed?: number;
  /** gradient slices travel as float16 */
  fp16?: boolean;
  /** weight slices (default: one per partition that trains, at least 1) */
  slices?: number;
  progress?: ProgressMode;
}

/** Splits `total` over weights proportionally (largest remainders). */
export function proportionalSplit(total: number, sizes: readonly number[]): number[] {
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (sum === 0) throw new RangeError('the training set is empty');
  const exact = sizes.map((n) => (total * n) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left === 0) break;
    if (sizes[i] > 0) {
      out[i]++;
      left--;
    }
  }
  return out;
}

let jobCounter = 0;

export class DistriOptimizer {
  private readonly cfg: Required<Omit<DistriOptimizerConfig, 'slices'>> & { slices?: number };
  private validation: { trigger: Trigger; data: PartitionedDataset<Sample>; methods: ValidationMethod[]; batchSize: number } | undefined;
  private checkpoint: { dir: string; trigger: Trigger } | undefined;
  readonly validationHistory: ValidationReport[] = [];
  /** per iteration: ms of the forward-backward stage and of the parameter-sync stage */
  readonly iterationTimes: { iteration: number; computeMs: number; syncMs: number }[] = [];

  constructor(cfg: DistriOptimizerConfig) {
    if (!Number.isInteger(cfg.batchSize) || cfg.batchSize < 1) throw new RangeError(`DistriOptimizer: batchSize must be a positive integer, got ${cfg.batchSize}`);
    this.cfg = {
      model: cfg.model, trainingSet: cfg.trainingSet, criterion: cfg.criterion, optimMethod: cfg.optimMethod ?? new SGD({ learningRate: 0.01 }),
      batchSize: cfg.batchSize, endWhen: cfg.endWhen ?? Trigger.maxEpoch(10), seed: cfg.seed ?? 1, fp16: cfg.fp16 ?? false,
      progress: cfg.progress ?? 'auto', slices: cfg.slices,
    };
  }

  setValidation(trigger: Trigger, data: PartitionedDataset<Sample>, methods: ValidationMethod[], batchSize = this.cfg.batchSize): this {
    if (methods.length === 0) throw new RangeError('DistriOptimizer.setValidation: give at least one validation method');
    this.validation = { trigger, data, methods, batchSize };
    return this;
  }

  setCheckpoint(dir: string, trigger: Trigger): this {
    this.checkpoint = { dir, trigger };
    return this;
  }

  async optimize(): Promise<Module<any, any>> {
    const { model, trainingSet, criterion, batchSize, seed, fp16 } = this.cfg;
    const host = trainingSet.context;
    const cluster = host.cluster, blocks = host.blocks;
    const progress = new Progress(this.cfg.progress);
    // cache the samples on the workers and learn the partition sizes
    const cachedSet = trainingSet.cache();
    const sizes = await cachedSet.partitionSizes();
    const total = sizes.reduce((a, b) => a + b, 0);
    const shares = proportionalSplit(batchSize, sizes);
    const training = shares.map((b, p) => ({ p, b })).filter((x) => x.b > 0);
    const iterationsPerEpoch = Math.ceil(total / batchSize);
    const { weights } = model.getParameters();
    const slices = this.cfg.slices ?? Math.max(1, training.length);
    const job = `${host.keyPrefix}/train-${++jobCounter}`;
    const info: JobInfo = { job, size: weights.numel, slices, fp16, seed };
    const ar = new AllReduceParameter(job, weights.numel, slices, { fp16 });
    await blocks.put(`${job}/model`, serializeObject(model));
    await blocks.put(`${job}/criterion`, serializeObject(criterion));
    await blocks.put(`${job}/method`, serializeObject(this.cfg.optimMethod));
    await ar.init(blocks, weights.data as Float32Array, this.cfg.optimMethod);
    progress.line(`distributed training on ${cluster.master}: ${total} samples in ${sizes.length} partitions, batch ${batchSize} split ${shares.join('/')}, ${slices} weight slices${fp16 ? ', fp16 gradients' : ''}`);
    const state: TrainingState = { epoch: 1, iteration: 0, epochFinished: false };
    let version = 0;
    try {
      for (;;) {
        const step = state.iteration % iterationsPerEpoch;
        const plans = await cachedSet.partitionTasks();
        const t0 = performance.now();
        const fb = await cluster.runStage({
          id: `${job}/it${state.iteration}/fb`,
          tasks: training.map(({ p, b }): TaskSpec => ({
            id: `${job}/it${state.iteration}/fb/${p}`, fn: FORWARD_BACKWARD, partition: p, preferredWorker: plans[p].preferredWorker,
            args: { ...info, iteration: version, epoch: state.epoch, step, partition: p, plan: plans[p].plan, batch: b } as unknown as Json,
          })),
        });
        const t1 = performance.now();
        const outs = fb.map((r) => r.value as { loss: number; samples: number; cached: string[] });
        fb.forEach((r, k) => cachedSet.noteCached(outs[k].cached, r.worker));
        const n = outs.reduce((a, o) => a + o.samples, 0);
        const loss = outs.reduce((a, o) => a + o.loss * o.samples, 0) / n;
        if (!Number.isFinite(loss)) {
          throw new NonFiniteLossError(`DistriOptimizer: the loss is not finite (${loss}) at epoch ${state.epoch}, iteration ${state.iteration + 1}; the update was not applied`);
        }
        const contributions = training.map(({ p }, k) => ({ task: p, samples: outs[k].samples }));
        await cluster.runStage({
          id: `${job}/it${state.iteration}/sync`,
          tasks: Array.from({ length: slices }, (_, i): TaskSpec => ({
            id: `${job}/it${state.iteration}/sync/${i}`, fn: SYNC_SLICE, partition: i,
            args: { ...info, iteration: version, slice: i, contributions, loss, skip: false } as unknown as Json,
          })),
        });
        version++;
        await ar.collect(blocks, version - 1, sizes.length);
        this.iterationTimes.push({ iteration: state.iteration + 1, computeMs: t1 - t0, syncMs: performance.now() - t1 });
        state.iteration++;
        state.loss = loss;
        state.epochFinished = step === iterationsPerEpoch - 1;
        progress.update({ epoch: state.epoch, maxEpoch: undefined, batchInEpoch: step + 1, batchesPerEpoch: iterationsPerEpoch,
          iteration: state.iteration, loss, samplesPerSecond: n / ((performance.now() - t0) / 1000), etaSeconds: undefined });
        if (this.validation?.trigger.apply(state)) await this.validate(state, info, version, progress);
        if (this.checkpoint?.trigger.apply(state)) {
          await ar.getWeights(blocks, version, weights.data as Float32Array);
          const path = `${this.checkpoint.dir}/model.${state.iteration}.bigdl`;
          await saveModel(path, model, { metadata: { epoch: state.epoch, iteration: state.iteration } });
          progress.line(`checkpoint: ${path}`);
        }
        if (this.cfg.endWhen.apply(state)) break;
        if (state.epochFinished) {
          state.epoch++;
          state.epochFinished = false;
        }
      }
      // the trained weights come back into the caller's model
      await ar.getWeights(blocks, version, weights.data as Float32Array);
      return model;
    } finally {
      progress.end();
      await blocks.deletePrefix(`${job}/`);
    }
  }

  private async validate(state: TrainingState, info: JobInfo, version: number, progress: Progress): Promise<void> {
    const v = this.validation!;
    const host = v.data.context;
    await host.blocks.put(`${info.job}/validation`, serializeObject(v.methods));
    const plans = await v.data.partitionTasks();
    const rs = await host.cluster.runStage({
      id: `${info.job}/it${state.iteration}/validate`,
      tasks: plans.map((t, p): TaskSpec => ({
        id: `${info.job}/it${state.iteration}/validate/${p}`, fn: EVALUATE_PARTITION, partition: p, preferredWorker: t.preferredWorker,
        args: { ...info, version, plan: t.plan, batchSize: v.batchSize } as unknown as Json,
      })),
    });
    let merged: ValidationResult[] | undefined;
    for (const r of rs) {
      const val = r.value as { results: Json[] | null; cached: string[] };
      v.data.noteCached(val.cached, r.worker);
      if (!val.results) continue;
      const parts = val.results.map((j) => validationResultFromJSON(j as never));
      merged = merged ? merged.map((m, i) => m.merge(parts[i])) : parts;
    }
    if (!merged) throw new RangeError('DistriOptimizer: the validation set is empty');
    const results = merged.map((m, i) => ({ method: v.methods[i].format(), ...m.result(), text: m.toString() }));
    state.score = results[0].value;
    this.validationHistory.push({ iteration: state.iteration, epoch: state.epoch, results });
    for (const r of results) progress.line(`[epoch ${state.epoch} iter ${state.iteration}] ${r.text}`);
  }
}

