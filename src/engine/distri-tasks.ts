/**
 * The task functions of distributed training and inference (BigDL's Algorithm 1), run by workers
 * of any cluster backend. Stateless: everything comes from the task's arguments and the block
 * store; the worker cache only saves repeated work (the deserialized model, the cached partition,
 * the epoch's sample order).
 */
import { setThreads } from '../backend/registry.js';
import { RNG } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { Criterion } from '../nn/criterion.js';
import { Sample, SampleToMiniBatch } from '../data/sample.js';
import { epochGenerator } from '../data/seed.js';
import type { OptimMethod } from '../optim/optim-method.js';
import type { ValidationMethod, ValidationResult } from '../optim/validation.js';
import { deserializeObject } from '../serialization/index.js';
import { AllReduceParameter, type Contribution } from './allreduce.js';
import { computePartition, type Plan } from './partition-task.js';
import { fnRef } from './cluster/ship.js';
import type { Json, TaskContext } from './cluster/types.js';

export const FORWARD_BACKWARD = fnRef(import.meta.url, 'forwardBackwardTask');
export const SYNC_SLICE = fnRef(import.meta.url, 'syncSliceTask');
export const EVALUATE_PARTITION = fnRef(import.meta.url, 'evaluatePartitionTask');

/** What every task of one training job knows about the job. */
export interface JobInfo {
  job: string;
  size: number;
  slices: number;
  fp16: boolean;
  seed: number;
}

export interface ForwardBackwardArgs extends JobInfo {
  iteration: number;
  epoch: number;
  /** index of this iteration within its epoch (0-based) */
  step: number;
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
  skip: boolean;
}

export interface EvaluateArgs extends JobInfo {
  version: number;
  plan: Plan;
  batchSize: number;
}

interface Replica {
  model: Module<any, any>;
  criterion: Criterion<any, any>;
  weights: Tensor;
  gradients: Tensor;
}

async function block(ctx: TaskContext, key: string): Promise<Uint8Array> {
  const b = await ctx.blocks.get(key);
  if (!b) throw new Error(`block ${key} is missing from the block store (was the job's driver stopped?)`);
  return b;
}

/** The job's model, deserialized once per worker and kept in its cache. */
async function replica(ctx: TaskContext, job: string): Promise<Replica> {
  const key = `${job}/replica`;
  const hit = ctx.cache.get(key) as Replica | undefined;
  if (hit) return hit;
  const model = deserializeObject(await block(ctx, `${job}/model`)) as Module<any, any>;
  const criterion = deserializeObject(await block(ctx, `${job}/criterion`)) as Criterion<any, any>;
  const { weights, gradients } = model.getParameters();
  const r = { model, criterion, weights, gradients };
  ctx.cache.set(key, r);
  return r;
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

/** Stage 1: read the latest weights, take this task's share of the mini-batch, forward-backward, publish gradient slices. */
export async function forwardBackwardTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as ForwardBackwardArgs;
  setThreads(ctx.cores);
  const r = await replica(ctx, a.job);
  const ar = new AllReduceParameter(a.job, a.size, a.slices, { fp16: a.fp16 });
  await ar.getWeights(ctx.blocks, a.iteration, r.weights.data as Float32Array);
  const { items, cached } = await computePartition(ctx, a.plan);
  const samples = asSamples(items, a.partition);
  if (samples.length === 0) throw new Error(`partition ${a.partition} is empty but was given ${a.batch} samples to train on`);
  // this epoch's order of the partition, fixed by (seed, epoch, partition)
  const orderKey = `${a.job}/order/${a.partition}`;
  let order = ctx.cache.get(orderKey) as { epoch: number; perm: Int32Array } | undefined;
  if (!order || order.epoch !== a.epoch || order.perm.length !== samples.length) {
    order = { epoch: a.epoch, perm: epochGenerator(a.seed, a.epoch, `partition-${a.partition}`).randperm(samples.length) };
    ctx.cache.set(orderKey, order);
  }
  const picked = Array.from({ length: a.batch }, (_, j) => samples[order!.perm[(a.step * a.batch + j) % samples.length]]);
  const mb = new SampleToMiniBatch(a.batch).batch(picked);
  RNG.setSeed((a.seed * 1000003 + a.iteration * 7919 + a.partition) % 2147483647);
  const { model, criterion } = r;
  model.training();
  model.zeroGradParameters();
  const out = model.forward(mb.input);
  const loss = criterion.forward(out, mb.target);
  if (Number.isFinite(loss)) {
    model.backward(mb.input, criterion.backward(out, mb.target));
    await ar.putGradients(ctx.blocks, a.iteration, a.partition, r.gradients.data as Float32Array);
  }
  return { loss, samples: a.batch, cached };
}

/** Stage 2: the owner of one slice sums it over the tasks, updates it and publishes it. */
export async function syncSliceTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as SyncArgs;
  const key = `${a.job}/method`;
  let method = ctx.cache.get(key) as OptimMethod | undefined;
  if (!method) {
    method = deserializeObject(await block(ctx, key)) as OptimMethod;
    ctx.cache.set(key, method);
  }
  const ar = new AllReduceParameter(a.job, a.size, a.slices, { fp16: a.fp16 });
  await ar.aggregate(ctx.blocks, a.iteration, a.slice, a.contributions, method, { loss: a.loss, skip: a.skip });
  return null;
}

/** Distributed evaluation: validation methods over one partition, with the weights of `version`. */
export async function evaluatePartitionTask(ctx: TaskContext, raw: Json): Promise<Json> {
  const a = raw as unknown as EvaluateArgs;
  setThreads(ctx.cores);
  const r = await replica(ctx, a.job);
  const ar = new AllReduceParameter(a.job, a.size, a.slices, { fp16: a.fp16 });
  await ar.getWeights(ctx.blocks, a.version, r.weights.data as Float32Array);
  const methods = deserializeObject(await block(ctx, `${a.job}/validation`)) as ValidationMethod[];
  const { items, cached } = await computePartition(ctx, a.plan);
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
  return { results: merged ? merged.map((x) => x.toJSON() as unknown as Json) : null, cached };
}
