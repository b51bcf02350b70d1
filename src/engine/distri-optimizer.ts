/**
 * BigDL's DistriOptimizer (Algorithm 1) over any cluster backend: per iteration a forward-backward
 * stage (one task per partition that holds samples, each on its share of the global mini-batch)
 * and a parameter-sync stage (one task per weight slice: AllReduceParameter). The driver only
 * decides what runs; weights, gradients and optimizer state live in the block store.
 *
 * No arbitrary restrictions: any global batch size and any number of partitions. The batch is
 * split over partitions in proportion to their sizes (largest remainders), and gradients are
 * weighted by the samples each task actually processed, so uneven splits are exact.
 *
 * Group scheduling (groupSize K > 1, after Drizzle): one submission runs K iterations; tasks wait
 * in the block store for each other instead of for the driver (distri-tasks.ts groupTask). Groups
 * end where a trigger could fire, so validation, checkpoints and endWhen see the same states as
 * with K = 1, and the weights are bit for bit the same.
 *
 * Checkpoints are ordinary checkpoints (src/optim/checkpoint.ts): the model's weights and the
 * per-slice optimizer states joined into one; `resume` cuts them again, so a killed driver
 * rerun with the same command continues exactly where the checkpoint stood.
 */
import type { Module } from '../nn/module.js';
import type { Criterion } from '../nn/criterion.js';
import type { OptimMethod, SavedState } from '../optim/optim-method.js';
import { SGD } from '../optim/sgd.js';
import { Trigger, type TrainingState } from '../optim/trigger.js';
import { validationResultFromJSON, type ValidationMethod, type ValidationResult } from '../optim/validation.js';
import { NonFiniteLossError, type ValidationReport } from '../optim/optimizer.js';
import { Progress, type ProgressMode } from '../optim/progress.js';
import { findCheckpoint, readCheckpoint, writeCheckpoint } from '../optim/checkpoint.js';
import type { TrainSummary, ValidationSummary } from '../summary/summary.js';
import { serializeObject } from '../serialization/index.js';
import type { Sample } from '../data/sample.js';
import { AllReduceParameter, type Contribution } from './allreduce.js';
import type { PartitionedDataset } from './dataset.js';
import { joinSliceStates, splitSliceStates } from './slice-state.js';
import { checkDropPolicy, dropThreshold, minContributors, settleBy, type DropPolicy } from './straggler.js';
import {
  EVALUATE_PARTITION, FORWARD_BACKWARD, GROUP, SYNC_SLICE, l2Scale,
  type Clipping, type GroupIteration, type JobInfo, type Position, type StepFacts,
} from './distri-tasks.js';
import type { Json, TaskResult, TaskSpec } from './cluster/types.js';

export type { Clipping } from './distri-tasks.js';

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
  /** iterations per submission (group scheduling; default 1: two stages per iteration) */
  groupSize?: number;
  /** how long a group task waits for another task's blocks before failing (ms, default 10 minutes) */
  groupTimeoutMs?: number;
}

/** One iteration's timing as the driver saw it (ms). */
export interface IterationTime {
  iteration: number;
  /** the slowest forward-backward */
  computeMs: number;
  /** parameter sync: gradient slices summed, weights updated and published */
  syncMs: number;
  /** what is left of the iteration's wall time: scheduling, task dispatch, driver work */
  scheduleMs: number;
  /** tasks whose gradients counted, of how many */
  contributors: number;
  tasks: number;
  /** the update was discarded (too few tasks made the straggler deadline) */
  skipped: boolean;
}

/** What one iteration gave the driver. */
interface IterationOutcome {
  loss: number;
  learningRate: number | null;
  finite: boolean;
  samples: number;
  time: Omit<IterationTime, 'iteration'>;
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

/** Everything about the running job that the iteration runners need. */
interface Job {
  info: JobInfo;
  ar: AllReduceParameter;
  set: PartitionedDataset<Sample>;
  /** training tasks: partition and samples per iteration */
  tasks: Contribution[];
  iterationsPerEpoch: number;
}

export class DistriOptimizer {
  private readonly cfg: Required<Omit<DistriOptimizerConfig, 'slices'>> & { slices?: number };
  private validation: { trigger: Trigger; data: PartitionedDataset<Sample>; methods: ValidationMethod[]; batchSize: number } | undefined;
  private checkpoint: { dir: string; trigger: Trigger; overwrite: boolean } | undefined;
  private resumeFrom: { path: string; missingOk: boolean } | undefined;
  private clip: Clipping | null = null;
  private drop: DropPolicy | undefined;
  private trainSummary: TrainSummary | undefined;
  private validationSummary: ValidationSummary | undefined;
  private readonly validationCallbacks: ((report: ValidationReport, model: Module<any, any>) => void | Promise<void>)[] = [];
  /** forward-backward stages of stragglers still running: awaited before the job's blocks go */
  private readonly stragglers: Promise<unknown>[] = [];
  /** partitions whose forward-backward task is still running past its deadline */
  private readonly straggling = new Set<number>();
  /** recent forward-backward task times (ms), for the straggler deadline */
  private readonly taskTimes: number[] = [];
  readonly validationHistory: ValidationReport[] = [];
  /** per iteration: ms of the forward-backward stage, of the parameter sync and of the rest */
  readonly iterationTimes: IterationTime[] = [];
  /** path of the last checkpoint written (or resumed from) */
  lastCheckpoint: string | undefined;

  constructor(cfg: DistriOptimizerConfig) {
    if (!Number.isInteger(cfg.batchSize) || cfg.batchSize < 1) throw new RangeError(`DistriOptimizer: batchSize must be a positive integer, got ${cfg.batchSize}`);
    const groupSize = cfg.groupSize ?? 1;
    if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`DistriOptimizer: groupSize must be a positive integer, got ${cfg.groupSize}`);
    const groupTimeoutMs = cfg.groupTimeoutMs ?? 600_000;
    if (!(groupTimeoutMs > 0)) throw new RangeError(`DistriOptimizer: groupTimeoutMs must be positive, got ${cfg.groupTimeoutMs}`);
    this.cfg = {
      model: cfg.model, trainingSet: cfg.trainingSet, criterion: cfg.criterion, optimMethod: cfg.optimMethod ?? new SGD({ learningRate: 0.01 }),
      batchSize: cfg.batchSize, endWhen: cfg.endWhen ?? Trigger.maxEpoch(10), seed: cfg.seed ?? 1, fp16: cfg.fp16 ?? false,
      progress: cfg.progress ?? 'auto', slices: cfg.slices, groupSize, groupTimeoutMs,
    };
  }

  setValidation(trigger: Trigger, data: PartitionedDataset<Sample>, methods: ValidationMethod[], batchSize = this.cfg.batchSize): this {
    if (methods.length === 0) throw new RangeError('DistriOptimizer.setValidation: give at least one validation method');
    this.validation = { trigger, data, methods, batchSize };
    return this;
  }

  /** Writes `<dir>/checkpoint.bigdl` (or `checkpoint.<iteration>.bigdl` with overwrite false) when `trigger` fires. */
  setCheckpoint(dir: string, trigger: Trigger, opts: { overwrite?: boolean } = {}): this {
    if (typeof dir !== 'string' || dir === '') throw new RangeError('DistriOptimizer.setCheckpoint: dir must be a non-empty path');
    this.checkpoint = { dir, trigger, overwrite: opts.overwrite ?? true };
    return this;
  }

  /**
   * Continues from a checkpoint: a file, or a directory (its latest checkpoint). With missingOk, a
   * directory without one starts afresh: the same command then both starts and resumes a run.
   */
  resume(path: string, opts: { missingOk?: boolean } = {}): this {
    this.resumeFrom = { path, missingOk: opts.missingOk ?? false };
    return this;
  }

  setGradientClipping(clip: Clipping | null): this {
    this.clip = clip;
    return this;
  }

  /**
   * BigDL's straggler drop: after `warmupIterations`, forward-backward tasks slower than the
   * (1 - dropPercentage) quantile of recent task times are not waited for; with fewer than
   * (1 - maxDropPercentage) of the tasks in, the update is discarded. Needs groupSize 1.
   */
  setDropModuleProperty(dropPercentage: number, maxDropPercentage: number, warmupIterations = 20): this {
    const p = { dropPercentage, maxDropPercentage, warmupIterations, window: 200 };
    checkDropPolicy(p);
    this.drop = dropPercentage > 0 ? p : undefined;
    return this;
  }

  setTrainSummary(s: TrainSummary | undefined): this {
    this.trainSummary = s;
    return this;
  }

  setValidationSummary(s: ValidationSummary | undefined): this {
    this.validationSummary = s;
    return this;
  }

  onValidation(cb: (report: ValidationReport, model: Module<any, any>) => void | Promise<void>): this {
    this.validationCallbacks.push(cb);
    return this;
  }

  async optimize(): Promise<Module<any, any>> {
    const { model, trainingSet, criterion, batchSize, seed, fp16, groupSize, endWhen } = this.cfg;
    if (this.drop && groupSize > 1) throw new RangeError('DistriOptimizer: straggler drop needs groupSize 1 (a group\'s tasks wait for each other)');
    const host = trainingSet.context;
    const cluster = host.cluster, blocks = host.blocks;
    const progress = new Progress(this.cfg.progress);
    const state: TrainingState = { epoch: 1, iteration: 0, epochFinished: false };
    const { weights } = model.getParameters();
    // a resumed run: weights into the model, the position, the optimizer state to cut into slices
    let saved: SavedState | undefined;
    const resumePath = this.resumeFrom && await findCheckpoint(this.resumeFrom.path, this.resumeFrom.missingOk);
    if (resumePath) {
      const ck = await readCheckpoint(resumePath, model);
      if (ck.seed !== seed) throw new RangeError(`DistriOptimizer.resume: ${resumePath} was trained with seed ${ck.seed}, this optimizer has seed ${seed}; give the same seed`);
      Object.assign(state, { epoch: ck.epoch, iteration: ck.iteration, epochFinished: ck.epochFinished, loss: ck.loss ?? undefined, score: ck.score ?? undefined });
      saved = ck.optimMethod;
      this.lastCheckpoint = resumePath;
    }
    // cache the samples on the workers and learn the partition sizes
    const cachedSet = trainingSet.cache();
    const sizes = await cachedSet.partitionSizes();
    const total = sizes.reduce((a, b) => a + b, 0);
    const shares = proportionalSplit(batchSize, sizes);
    const tasks = shares.map((samples, task) => ({ task, samples })).filter((x) => x.samples > 0);
    const iterationsPerEpoch = Math.ceil(total / batchSize);
    const slices = this.cfg.slices ?? Math.max(1, tasks.length);
    const id = `${host.keyPrefix}/train-${++jobCounter}`;
    const info: JobInfo = { job: id, size: weights.numel, slices, fp16, seed };
    const ar = new AllReduceParameter(id, weights.numel, slices, { fp16 });
    const job: Job = { info, ar, set: cachedSet, tasks, iterationsPerEpoch };
    let version = state.iteration;
    const states = saved && splitSliceStates(saved, Array.from({ length: slices }, (_, i) => ar.sliceRange(i)));
    if (state.epochFinished) {
      state.epoch++;
      state.epochFinished = false;
    }
    await blocks.put(`${id}/model`, serializeObject(model));
    await blocks.put(`${id}/criterion`, serializeObject(criterion));
    await blocks.put(`${id}/method`, serializeObject(this.cfg.optimMethod));
    await ar.init(blocks, weights.data as Float32Array, this.cfg.optimMethod, states, version);
    progress.line(`distributed training on ${cluster.master}: ${total} samples in ${sizes.length} partitions, batch ${batchSize} split ${shares.join('/')}, ` +
      `${slices} weight slices${fp16 ? ', fp16 gradients' : ''}${groupSize > 1 ? `, ${groupSize} iterations per submission` : ''}`);
    if (resumePath) progress.line(`resumed from ${resumePath} at epoch ${state.epoch}, iteration ${state.iteration}`);
    let collected = version;
    try {
      let done = endWhen.apply(state);
      while (!done) {
        const outcomes = groupSize > 1 ? await this.runGroup(job, state, version, this.groupLength(state, iterationsPerEpoch)) : [await this.runIteration(job, state, version)];
        for (const o of outcomes) {
          if (!o.finite) {
            await ar.getWeights(blocks, version, weights.data as Float32Array);
            const kept = this.lastCheckpoint ? `the last good checkpoint is ${this.lastCheckpoint}` : 'no checkpoint was written (use setCheckpoint to keep progress)';
            throw new NonFiniteLossError(`DistriOptimizer: the loss or gradient is not finite (loss ${o.loss}) at epoch ${state.epoch}, iteration ${state.iteration + 1}; ` +
              `the update was not applied, the model holds the last finite weights and ${kept}. Lower the learning rate, clip gradients or check the inputs for NaN.`);
          }
          const step = state.iteration % iterationsPerEpoch;
          version++;
          state.iteration++;
          state.loss = o.loss;
          state.epochFinished = step === iterationsPerEpoch - 1;
          this.iterationTimes.push({ iteration: state.iteration, ...o.time });
          const wall = o.time.computeMs + o.time.syncMs + o.time.scheduleMs;
          const perSecond = o.samples / (wall / 1000);
          progress.update({ epoch: state.epoch, maxEpoch: undefined, batchInEpoch: step + 1, batchesPerEpoch: iterationsPerEpoch,
            iteration: state.iteration, loss: o.loss, samplesPerSecond: perSecond, etaSeconds: undefined });
          this.summarize(state, o, perSecond);
          if (this.validation?.trigger.apply(state)) await this.validate(state, job, version, progress);
          if (this.checkpoint?.trigger.apply(state)) await this.saveCheckpoint(job, state, version, progress);
          if (endWhen.apply(state)) {
            done = true;
            break;
          }
          if (state.epochFinished) {
            state.epoch++;
            state.epochFinished = false;
          }
        }
        await ar.collect(blocks, version, sizes.length, collected);
        collected = version;
      }
      // the trained weights come back into the caller's model
      await ar.getWeights(blocks, version, weights.data as Float32Array);
      return model;
    } finally {
      progress.end();
      this.trainSummary?.flush();
      this.validationSummary?.flush();
      await Promise.all(this.stragglers.splice(0));
      await blocks.deletePrefix(`${id}/`);
    }
  }

  /** Iterations the next group may run: up to groupSize, ending where the epoch ends or a trigger could fire. */
  private groupLength(state: TrainingState, perEpoch: number): number {
    const step = state.iteration % perEpoch;
    const k = Math.min(this.cfg.groupSize, perEpoch - step);
    for (let j = 1; j < k; j++) {
      const s: TrainingState = { epoch: state.epoch, iteration: state.iteration + j, epochFinished: step + j === perEpoch, score: state.score };
      if (this.cfg.endWhen.apply(s) || this.validation?.trigger.apply(s) || this.checkpoint?.trigger.apply(s)) return j;
    }
    return k;
  }

  private position(job: Job, state: TrainingState, k: number): Position {
    const it = state.iteration + k;
    return { epoch: state.epoch, step: it % job.iterationsPerEpoch };
  }

  /** One iteration as two stages: forward-backward on every partition, then the sync of every slice. */
  private async runIteration(job: Job, state: TrainingState, version: number): Promise<IterationOutcome> {
    const { cluster } = job.set.context;
    const pos = this.position(job, state, 0);
    const plans = await job.set.partitionTasks();
    const stage = `${job.info.job}/it${version}`;
    const specs = job.tasks.map(({ task, samples }): TaskSpec => ({
      id: `${stage}/fb/${task}`, fn: FORWARD_BACKWARD, partition: task, preferredWorker: plans[task].preferredWorker,
      args: { ...job.info, ...pos, iteration: version, partition: task, plan: plans[task].plan, batch: samples } as unknown as Json,
    }));
    const t0 = performance.now();
    const results = await this.forwardBackwardStage(stage, specs, state.iteration);
    const t1 = performance.now();
    const done = job.tasks.map((c, k) => ({ c, r: results[k] })).filter((x) => x.r !== undefined) as { c: Contribution; r: TaskResult }[];
    const facts = done.map(({ r }) => r.value as unknown as StepFacts & { cached: string[] });
    done.forEach(({ r }, k) => job.set.noteCached(facts[k].cached, r.worker));
    const n = facts.reduce((a, f) => a + f.samples, 0);
    // every task straggling: nothing to average, the update is discarded below
    const loss = n > 0 ? facts.reduce((a, f) => a + f.loss * f.samples, 0) / n : state.loss ?? NaN;
    const finite = n === 0 || (Number.isFinite(loss) && facts.every((f) => f.finite));
    const computeMs = done.length ? Math.max(...done.map(({ r }) => r.ms)) : t1 - t0;
    const time = { computeMs, syncMs: 0, scheduleMs: 0, contributors: done.length, tasks: job.tasks.length, skipped: false };
    if (!finite) return { loss, learningRate: null, finite, samples: n, time };
    time.skipped = n === 0 || (this.drop !== undefined && done.length < minContributors(job.tasks.length, this.drop.maxDropPercentage));
    const contributions = done.map(({ c }) => c);
    const sync = async (phase: 'all' | 'sum' | 'apply', scale: number) => cluster.runStage({
      id: `${stage}/sync-${phase}`,
      tasks: Array.from({ length: job.info.slices }, (_, i): TaskSpec => ({
        id: `${stage}/sync-${phase}/${i}`, fn: SYNC_SLICE, partition: i,
        args: { ...job.info, iteration: version, slice: i, contributions, loss, score: state.score ?? null, epoch: pos.epoch,
          skip: time.skipped, phase, clip: this.clip, scale } as unknown as Json,
      })),
    });
    let syncResults: TaskResult[];
    let syncTaskMs = 0;
    if (this.clip?.kind === 'l2' && !time.skipped) {
      const sums = await sync('sum', 1);
      syncTaskMs += Math.max(...sums.map((r) => r.ms));
      syncResults = await sync('apply', l2Scale(sums.map((r) => (r.value as { squares: number }).squares), this.clip.maxNorm));
    } else {
      syncResults = await sync('all', 1);
    }
    syncTaskMs += Math.max(...syncResults.map((r) => r.ms));
    time.syncMs = syncTaskMs;
    time.scheduleMs = Math.max(0, performance.now() - t0 - computeMs - syncTaskMs);
    return { loss, learningRate: (syncResults[0].value as { learningRate: number }).learningRate, finite, samples: n, time };
  }

  /**
   * The forward-backward tasks of one iteration. Without straggler drop: one stage. With it: one
   * stage per task, so the driver can go on without the slowest once the deadline passes.
   */
  private async forwardBackwardStage(stage: string, specs: TaskSpec[], iteration: number): Promise<(TaskResult | undefined)[]> {
    const { cluster } = this.cfg.trainingSet.context;
    if (!this.drop) return cluster.runStage({ id: `${stage}/fb`, tasks: specs });
    const d = this.drop;
    const t0 = performance.now();
    const times = specs.map(() => NaN);
    // a partition whose last task still runs sits this iteration out instead of queueing another
    const launched = specs.map((spec) => !this.straggling.has(spec.partition));
    const promises = specs.map((spec, k) => (launched[k] ? cluster.runStage({ id: `${spec.id}`, tasks: [spec] }).then((r) => {
      times[k] = performance.now() - t0;
      return r[0];
    }) : new Promise<never>(() => undefined)));
    const warm = iteration >= d.warmupIterations && specs.length > 1;
    const results = await settleBy(promises, warm ? dropThreshold(this.taskTimes, d.dropPercentage) : Infinity);
    results.forEach((r, k) => {
      if (r !== undefined || !launched[k]) return;
      const p = specs[k].partition;
      this.straggling.add(p);
      this.stragglers.push(promises[k].catch(() => undefined).finally(() => this.straggling.delete(p)));
    });
    // a straggler's time is at least the deadline: remember that, so the quantile does not drift down
    const deadlineMs = performance.now() - t0;
    this.taskTimes.push(...times.filter((_, k) => launched[k]).map((t) => (Number.isNaN(t) ? deadlineMs : t)));
    this.taskTimes.splice(0, Math.max(0, this.taskTimes.length - d.window));
    return results;
  }

  /** K iterations in one submission: one group task per training partition (distri-tasks.ts groupTask). */
  private async runGroup(job: Job, state: TrainingState, version: number, k: number): Promise<IterationOutcome[]> {
    const { cluster } = job.set.context;
    const slots = (await cluster.workers()).length;
    if (job.tasks.length > slots) {
      throw new RangeError(`DistriOptimizer: group scheduling runs every training partition at once, but ${job.tasks.length} partitions train and the cluster has ${slots} workers; ` +
        `repartition the training set to at most ${slots} partitions, add workers, or use groupSize 1`);
    }
    const plans = await job.set.partitionTasks();
    const positions = Array.from({ length: k }, (_, j) => this.position(job, state, j));
    const stage = `${job.info.job}/it${version}/group${k}`;
    const t0 = performance.now();
    const rs = await cluster.runStage({
      id: stage,
      tasks: job.tasks.map(({ task }, index): TaskSpec => ({
        id: `${stage}/${task}`, fn: GROUP, partition: task, preferredWorker: plans[task].preferredWorker,
        args: { ...job.info, version, positions, index, tasks: job.tasks, plan: plans[task].plan, score: state.score ?? null,
          clip: this.clip, timeoutMs: this.cfg.groupTimeoutMs } as unknown as Json,
      })),
    });
    const wall = performance.now() - t0;
    const reports = rs.map((r) => r.value as unknown as { iterations: GroupIteration[]; cached: string[] });
    rs.forEach((r, j) => job.set.noteCached(reports[j].cached, r.worker));
    const n = Math.min(...reports.map((r) => r.iterations.length));
    const samples = job.tasks.reduce((a, c) => a + c.samples, 0);
    const out = Array.from({ length: n }, (_, j): IterationOutcome => {
      const its = reports.map((r) => r.iterations[j]);
      return {
        loss: its[0].loss, learningRate: its[0].learningRate, finite: its[0].finite, samples,
        time: { computeMs: Math.max(...its.map((x) => x.computeMs)), syncMs: Math.max(...its.map((x) => x.syncMs)), scheduleMs: 0,
          contributors: job.tasks.length, tasks: job.tasks.length, skipped: false },
      };
    });
    const busy = out.reduce((a, o) => a + o.time.computeMs + o.time.syncMs, 0);
    for (const o of out) o.time.scheduleMs = Math.max(0, wall - busy) / n;
    return out;
  }

  private summarize(state: TrainingState, o: IterationOutcome, perSecond: number): void {
    const s = this.trainSummary;
    if (!s) return;
    const fire = (name: 'Loss' | 'LearningRate' | 'Throughput') => s.getSummaryTrigger(name)?.apply(state) ?? false;
    if (fire('Loss')) s.addScalar('Loss', o.loss, state.iteration);
    if (fire('LearningRate') && o.learningRate !== null) s.addScalar('LearningRate', o.learningRate, state.iteration);
    if (fire('Throughput')) s.addScalar('Throughput', perSecond, state.iteration);
  }

  private async saveCheckpoint(job: Job, state: TrainingState, version: number, progress: Progress): Promise<void> {
    const c = this.checkpoint!;
    const { model, seed } = this.cfg;
    const { blocks } = job.set.context;
    await job.ar.getWeights(blocks, version, model.getParameters().weights.data as Float32Array);
    const optimMethod = joinSliceStates(await job.ar.getStates(blocks, version));
    const file = c.overwrite ? 'checkpoint.bigdl' : `checkpoint.${state.iteration}.bigdl`;
    this.lastCheckpoint = await writeCheckpoint(c.dir, file, model, {
      epoch: state.epoch, iteration: state.iteration, epochFinished: state.epochFinished,
      batchInEpoch: ((state.iteration - 1) % job.iterationsPerEpoch) + 1,
      loss: state.loss ?? null, score: state.score ?? null, seed, optimMethod,
    });
    progress.line(`[epoch ${state.epoch} iter ${state.iteration}] checkpoint saved to ${this.lastCheckpoint}`);
  }

  private async validate(state: TrainingState, job: Job, version: number, progress: Progress): Promise<void> {
    const v = this.validation!;
    const { info } = job;
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
    const report = { iteration: state.iteration, epoch: state.epoch, results };
    this.validationHistory.push(report);
    for (const r of results) {
      progress.line(`[epoch ${state.epoch} iter ${state.iteration}] ${r.text}`);
      this.validationSummary?.addScalar(r.method, r.value, state.iteration);
    }
    if (this.validationCallbacks.length) {
      const { model } = this.cfg;
      await job.ar.getWeights(host.blocks, version, model.getParameters().weights.data as Float32Array);
      for (const cb of this.validationCallbacks) await cb(report, model);
    }
  }
}
