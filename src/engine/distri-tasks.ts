/**
 * The task functions of distributed training and inference (BigDL's Algorithm 1), run by workers
 * of any cluster backend. Stateless: everything comes from the task's arguments and the block
 * store; the worker cache only saves repeated work (the deserialized model, the cached partition,
 * the epoch's sample order).
 *
 * Two ways to run an iteration:
 * - two stages launched by the driver (forwardBackwardTask on every partition, then syncSliceTask
 *   on every weight slice): any number of partitions, straggler drop;
 * - group scheduling (groupTask, after Drizzle): one task per partition runs K iterations, owning
 *   some weight slices, and waits in the block store for the other tasks' gradients and weights.
 *   The same blocks, the same arithmetic in the same order: K iterations give the same weights,
 *   bit for bit, as K two-stage iterations.
 */
import { setThreads, backend } from '../backend/registry.js';
import { RNG } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { Criterion } from '../nn/criterion.js';
import { Sample, SampleToMiniBatch } from '../data/sample.js';
import { epochGenerator } from '../data/seed.js';
import type { OptimMethod } from '../optim/optim-method.js';
import type { ValidationMethod, ValidationResult } from '../optim/validation.js';
import { deserializeObject } from '../serialization/index.js';
import { AllReduceParameter, MissingBlockError, f32, type ApplyOptions, type Contribution } from './allreduce.js';
import { waitForBlocks } from './block-wait.js';
import { computePartition, type Plan } from './partition-task.js';
import { fnRef } from './cluster/ship.js';
import type { Json, TaskContext } from './cluster/types.js';

export const FORWARD_BACKWARD = fnRef(import.meta.url, 'forwardBackwardTask');
export const SYNC_SLICE = fnRef(import.meta.url, 'syncSliceTask');
export const GROUP = fnRef(import.meta.url, 'groupTask');
export const EVALUATE_PARTITION = fnRef(import.meta.url, 'evaluatePartitionTask');

/** What every task of one training job knows about the job. */
export interface JobInfo {
  job: string;
  size: number;
  slices: number;
  fp16: boolean;
  seed: number;
}

/** Gradient clipping, applied by the owners of the slices to the summed gradient. */
export type Clipping = { kind: 'constant'; min: number; max: number } | { kind: 'l2'; maxNorm: number };

/** Where an iteration stands in the data: its epoch and its index within the epoch (0-based). */
export interface Position {
  epoch: number;
  step: number;
}

export interface ForwardBackwardArgs extends JobInfo, Position {
  iteration: number;
  partition: number;
  plan: Plan;
  /** samples this task takes this iteration */
  batch: number;
}

export interface SyncArgs extends JobInfo {
  iteration: number;
  slice: number;
  contributions: Contribution[];
  loss: number;
  score: number | null;
  epoch: number;
  skip: boolean;
  /** 'all': sum and update; L2-norm clipping needs the global norm first: 'sum' then 'apply' */
  phase: 'all' | 'sum' | 'apply';
  clip: Clipping | null;
  /** 'apply' phase: the factor L2-norm clipping scales the gradient by */
  scale: number;
}

export interface GroupArgs extends JobInfo {
  /** version of the weights the group starts from */
  version: number;
  /** the K iterations of the group */
  positions: Position[];
  /** index of this task among the training tasks, and their partitions and batch shares */
  index: number;
  tasks: Contribution[];
  plan: Plan;
  score: number | null;
  clip: Clipping | null;
  timeoutMs: number;
}

export interface EvaluateArgs extends JobInfo {
  version: number;
  plan: Plan;
  batchSize: number;
}

/** One forward-backward: its mean loss, whether the gradient is finite, and ms spent. */
export interface StepFacts {
  loss: number;
  samples: number;
  finite: boolean;
}

/** What a group task reports per iteration. */
export interface GroupIteration {
  /** mean loss over all tasks (the driver's loss) */
  loss: number;
  /** the learning rate the update used (owners of slice 0 only, else null) */
  learningRate: number | null;
  /** whether every gradient was finite (else the update was discarded and the group stopped) */
  finite: boolean;
  computeMs: number;
  syncMs: number;
}

interface Replica {
  model: Module<any, any>;
  criterion: Criterion<any, any>;
  weights: Tensor;
  gradients: Tensor;
}

async function block(ctx: TaskContext, key: string): Promise<Uint8Array> {
  const b = await ctx.blocks.get(key);
  if (!b) throw new MissingBlockError(`the job's block ${key.slice(key.lastIndexOf('/') + 1)}`, key);
  return b;
}

async function cached<T>(ctx: TaskContext, key: string, make: () => Promise<T>): Promise<T> {
  const hit = ctx.cache.get(key) as T | undefined;
  if (hit) return hit;
  const v = await make();
  ctx.cache.set(key, v);
  return v;
}

/** The job's model, deserialized once per worker and kept in its cache. */
function replica(ctx: TaskContext, job: string): Promise<Replica> {
  return cached(ctx, `${job}/replica`, async () => {
    const model = deserializeObject(await block(ctx, `${job}/model`)) as Module<any, any>;
    const criterion = deserializeObject(await block(ctx, `${job}/criterion`)) as Criterion<any, any>;
    const { weights, gradients } = model.getParameters();
    return { model, criterion, weights, gradients };
  });
}

function optimMethod(ctx: TaskContext, job: string): Promise<OptimMethod> {
  return cached(ctx, `${job}/method`, async () => deserializeObject(await block(ctx, `${job}/method`)) as OptimMethod);
}

function asSamples(items: unknown[], partition: number): Sample[] {
  for (const x of items) {
    if (!(x instanceof Sample)) {
      throw new TypeError(`partition ${partition} holds ${x === null ? 'null' : typeof x === 'object' ? (x as object).constructor?.name ?? 'object' : typeof x} items: ` +
        'training and evaluation need Samples; map the data set with a shippable function that returns new Sample(features, label)');
    }
  }
  return items as Sample[];
}

const allReduce = (a: JobInfo) => new AllReduceParameter(a.job, a.size, a.slices, { fp16: a.fp16 });

/**
 * Forward-backward of one task on its share of iteration `iteration`'s mini-batch, with the
 * replica's weights already set: the sample pick and the dropout stream are fixed by (seed,
 * epoch/iteration, partition), so a rerun computes the same gradient.
 */
function forwardBackward(r: Replica, samples: Sample[], cache: Map<string, unknown>, a: JobInfo & Position & { partition: number; batch: number; iteration: number }): StepFacts {
  // this epoch's order of the partition, fixed by (seed, epoch, partition)
  const orderKey = `${a.job}/order/${a.partition}`;
  let order = cache.get(orderKey) as { epoch: number; perm: Int32Array } | undefined;
  if (!order || order.epoch !== a.epoch || order.perm.length !== samples.length) {
    order = { epoch: a.epoch, perm: epochGenerator(a.seed, a.epoch, `partition-${a.partition}`).randperm(samples.length) };
    cache.set(orderKey, order);
  }
  const picked = Array.from({ length: a.batch }, (_, j) => samples[order!.perm[(a.step * a.batch + j) % samples.length]]);
  const mb = new SampleToMiniBatch(a.batch).batch(picked);
  RNG.setSeed((a.seed * 1000003 + a.iteration * 7919 + a.partition) % 2147483647);
  const { model, criterion } = r;
  model.training();
  model.zeroGradParameters();
  const out = model.forward(mb.input);
  const loss = criterion.forward(out, mb.target);
  if (!Number.isFinite(loss)) return { loss, samples: a.batch, finite: false };
  model.backward(mb.input, criterion.backward(out, mb.target));
  const g = r.gradients;
  return { loss, samples: a.batch, finite: backend().allFinite(g.data as Float32Array, g.offset, g.numel) };
}

async function trainingSamples(ctx: TaskContext, plan: Plan, partition: number, batch: number): Promise<{ samples: Sample[]; cached: string[] }> {
  const { items, cached: keys } = await computePartition(ctx, plan);
  const samples = asSamples(items, partition);
  if (samples.length === 0) throw new Error(`partition ${partition} is empty but was given ${batch} samples to train on`);
  return { samples, cached: keys };
}

/** Stage 1: read the latest weights, take this task's share of the mini-batch, forward-backward, publish gradient slices. */
export async function forwardBackwardTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as ForwardBackwardArgs;
  setThreads(ctx.cores);
  // the data first: loading its shippable functions may register classes the model needs
  const { samples, cached: keys } = await trainingSamples(ctx, a.plan, a.partition, a.batch);
  const r = await replica(ctx, a.job);
  const ar = allReduce(a);
  await ar.getWeights(ctx.blocks, a.iteration, r.weights.data as Float32Array);
  const facts = forwardBackward(r, samples, ctx.cache, a);
  if (facts.finite) await ar.putGradients(ctx.blocks, a.iteration, a.partition, r.gradients.data as Float32Array);
  return { ...facts, cached: keys };
}

function clipOptions(clip: Clipping | null, scale: number): Pick<ApplyOptions, 'scale' | 'clamp'> {
  return { scale, clamp: clip?.kind === 'constant' ? [clip.min, clip.max] : undefined };
}

function sumOfSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** The factor L2-norm clipping scales the whole gradient by, from its slices' sums of squares (in slice order). */
export function l2Scale(squares: readonly number[], maxNorm: number): number {
  const norm = Math.sqrt(squares.reduce((a, b) => a + b, 0));
  return norm > maxNorm ? maxNorm / norm : 1;
}

const f64 = (x: number): Uint8Array => new Uint8Array(Float64Array.of(x).buffer);
const readF64 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);

/** Stage 2: the owner of one slice sums it over the tasks, updates it and publishes it. */
export async function syncSliceTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as SyncArgs;
  const method = await optimMethod(ctx, a.job);
  const ar = allReduce(a);
  const apply: ApplyOptions = { loss: a.loss, score: a.score ?? undefined, epoch: a.epoch, ...clipOptions(a.clip, a.scale) };
  if (a.phase === 'sum') {
    const sum = await ar.sumSlice(ctx.blocks, a.iteration, a.slice, a.contributions);
    await ctx.blocks.put(ar.sumKey(a.iteration, a.slice), new Uint8Array(sum.buffer));
    return { squares: sumOfSquares(sum) };
  }
  if (a.phase === 'apply') {
    const b = await block(ctx, ar.sumKey(a.iteration, a.slice));
    const sum = new Float32Array(f32(b));
    return { learningRate: await ar.applySlice(ctx.blocks, a.iteration, a.slice, a.skip ? null : sum, method, apply) };
  }
  return { learningRate: await ar.aggregate(ctx.blocks, a.iteration, a.slice, a.contributions, method, { ...apply, skip: a.skip }) };
}

/**
 * Group scheduling: K iterations in one task per partition. Task t owns the weight slices
 * i with i % tasks = t. Per iteration: wait for the weights, forward-backward, publish the
 * gradient slices and this task's facts; then every task reads every task's facts (so all agree
 * on the loss and on whether to discard the update), and the owners sum, clip and update their
 * slices.
 */
export async function groupTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as GroupArgs;
  setThreads(ctx.cores);
  const me = a.tasks[a.index];
  const { samples, cached: keys } = await trainingSamples(ctx, a.plan, me.task, me.samples);
  const r = await replica(ctx, a.job);
  const method = await optimMethod(ctx, a.job);
  const ar = allReduce(a);
  const owned = Array.from({ length: a.slices }, (_, i) => i).filter((i) => i % a.tasks.length === a.index);
  const wait = (ks: string[], what: (i: number) => string) => waitForBlocks(ctx.blocks, ks, a.timeoutMs, what);
  const report: GroupIteration[] = [];
  let syncStart = performance.now();
  for (const [k, pos] of a.positions.entries()) {
    const v = a.version + k;
    ar.assembleWeights(await wait(ar.weightKeys(v), (i) => `weight slice ${i} of version ${v}`), v, r.weights.data as Float32Array);
    const t0 = performance.now();
    const syncBefore = k === 0 ? 0 : t0 - syncStart;
    const facts = forwardBackward(r, samples, ctx.cache, { ...a, ...pos, partition: me.task, batch: me.samples, iteration: v });
    if (facts.finite) await ar.putGradients(ctx.blocks, v, me.task, r.gradients.data as Float32Array);
    await ctx.blocks.put(ar.metaKey(v, me.task), Buffer.from(JSON.stringify(facts)));
    const computeMs = performance.now() - t0;
    syncStart = performance.now();
    const metas = (await wait(a.tasks.map((c) => ar.metaKey(v, c.task)), (i) => `the forward-backward of partition ${a.tasks[i].task} in iteration ${v}`))
      .map((b) => JSON.parse(Buffer.from(b).toString()) as StepFacts);
    const n = metas.reduce((s, m) => s + m.samples, 0);
    const loss = metas.reduce((s, m) => s + m.loss * m.samples, 0) / n;
    const finite = metas.every((m) => m.finite) && Number.isFinite(loss);
    const sums = finite ? await Promise.all(owned.map((i) => ar.sumSlice(ctx.blocks, v, i, a.tasks))) : owned.map(() => null);
    let scale = 1;
    if (finite && a.clip?.kind === 'l2') {
      await Promise.all(owned.map((i, j) => ctx.blocks.put(ar.squaresKey(v, i), f64(sumOfSquares(sums[j]!)))));
      const sq = await wait(Array.from({ length: a.slices }, (_, i) => ar.squaresKey(v, i)), (i) => `the gradient norm of slice ${i} in iteration ${v}`);
      scale = l2Scale(sq.map(readF64), a.clip.maxNorm);
    }
    const apply: ApplyOptions = { loss, score: a.score ?? undefined, epoch: pos.epoch, ...clipOptions(a.clip, scale) };
    let learningRate: number | null = null;
    for (const [j, i] of owned.entries()) {
      const lr = await ar.applySlice(ctx.blocks, v, i, sums[j], method, apply);
      if (i === 0) learningRate = lr;
    }
    report.push({ loss, learningRate, finite, computeMs, syncMs: syncBefore });
    if (!finite) break;
  }
  // the sync time of an iteration ends when the next version's weights are all there
  if (report.length && report[report.length - 1].finite) {
    const v = a.version + report.length;
    await wait(ar.weightKeys(v), (i) => `weight slice ${i} of version ${v}`);
  }
  const shifted = report.map((it, k) => ({ ...it, syncMs: k + 1 < report.length ? report[k + 1].syncMs : performance.now() - syncStart }));
  return { iterations: shifted as unknown as Json, cached: keys };
}

/** Distributed evaluation: validation methods over one partition, with the weights of `version`. */
export async function evaluatePartitionTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as EvaluateArgs;
  setThreads(ctx.cores);
  const r = await replica(ctx, a.job);
  await allReduce(a).getWeights(ctx.blocks, a.version, r.weights.data as Float32Array);
  const methods = deserializeObject(await block(ctx, `${a.job}/validation`)) as ValidationMethod[];
  const { items, cached: keys } = await computePartition(ctx, a.plan);
  const samples = asSamples(items, -1);
  r.model.evaluate();
  let merged: ValidationResult[] | undefined;
  const batcher = new SampleToMiniBatch(a.batchSize);
  for (let s = 0; s < samples.length; s += a.batchSize) {
    const mb = batcher.batch(samples.slice(s, s + a.batchSize));
    const out = r.model.forward(mb.input) as Tensor;
    const rs = methods.map((m) => m.apply(out, mb.target!));
    merged = merged ? merged.map((x, i) => x.merge(rs[i])) : rs;
  }
  return { results: merged ? merged.map((x) => x.toJSON() as unknown as Json) : null, cached: keys };
}
