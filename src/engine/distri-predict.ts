/**
 * Distributed inference, BigDL's `model.predict(rdd)`, `predictClass(rdd)` and
 * `evaluate(rdd, methods)`: Module's methods land here when given a PartitionedDataset.
 *
 * - predict / predictClass are transforms: a mapPartitions whose shippable function runs the model
 *   on the partition's records in batches and yields one output per record, so the result keeps
 *   the input's partitioning and order (zip it with the input) and is as lazy as any transform:
 *   every action recomputes it (cache() it to keep the predictions).
 * - evaluate is one action: the same mapPartitions yields each partition's merged validation
 *   results (one item, as JSON), collect() brings them to the driver, which merges them — one
 *   stage, one task per partition, as DistriOptimizer's validation does.
 *
 * The model (and the validation methods) travel as blocks, not in task arguments: serialized once
 * per call, keyed by a hash of their bytes under the context's keyPrefix. The weights are those of
 * the call (training the model afterwards does not change an existing predictions dataset, so a
 * recomputed partition gives the same predictions). Repeated calls with unchanged weights reuse one
 * block; every block goes when the context closes (like parallelize's and shuffle's blocks, which
 * lazy lineages may need until then). Workers deserialize a model once and keep the last few in
 * their cache.
 */
import { createHash } from 'node:crypto';
import { setThreads } from '../backend/registry.js';
import { Tensor } from '../tensor/tensor.js';
import { argmax } from '../tensor/reduce.js';
import { Sample, SampleToMiniBatch, type MiniBatch } from '../data/sample.js';
import type { Activity, Module } from '../nn/module.js';
import { validationResultFromJSON, type ValidationMethod, type ValidationResult, type ValidationResultJSON } from '../optim/validation.js';
import { deserializeObject, readModelHeader, serializeObject } from '../serialization/index.js';
import { fnRef } from './cluster/ship.js';
import type { Json } from './cluster/types.js';
import type { DatasetHost, PartitionedDataset, PartitionInfo } from './dataset.js';

/** What distributed inference accepts as records: one Sample or one feature Tensor each. */
export type PredictRecord = Sample | Tensor;

export interface DistriPredictOptions {
  /** records per forward pass within a partition (default 128) */
  batchSize?: number;
}

/** The worker functions below, as references workers resolve (mapPartitions takes an FnRef as well as a marked function). */
const PREDICT_PARTITION = fnRef(import.meta.url, 'predictPartition');
const EVALUATE_PARTITION = fnRef(import.meta.url, 'evaluatePartition');

type PredictArgs = { model: string; batchSize: number; output: 'activity' | 'class' };
type EvaluateArgs = { model: string; methods: string; batchSize: number };

/** One output per record (a Tensor, or a table for a model whose output is a table), same partitioning and order as `data`. */
export async function predictDataset<Out extends Activity = Tensor>(model: Module<any, any>, data: PartitionedDataset<any>,
  opts: DistriPredictOptions = {}): Promise<PartitionedDataset<Out>> {
  const batchSize = checkBatchSize(opts.batchSize, 'predict');
  const key = await storeBlock(data.context, 'model', serializeObject(model), 'predict');
  const args: PredictArgs = { model: key, batchSize, output: 'activity' };
  return data.mapPartitions<Out, PredictArgs>(PREDICT_PARTITION, args);
}

/** The 0-based arg-max class of every record (the model's output must be [batch, classes]). */
export async function predictClassDataset(model: Module<any, any>, data: PartitionedDataset<any>,
  opts: DistriPredictOptions = {}): Promise<PartitionedDataset<number>> {
  const batchSize = checkBatchSize(opts.batchSize, 'predictClass');
  const key = await storeBlock(data.context, 'model', serializeObject(model), 'predictClass');
  const args: PredictArgs = { model: key, batchSize, output: 'class' };
  return data.mapPartitions<number, PredictArgs>(PREDICT_PARTITION, args);
}

/** Validation methods over labelled Samples: one merged result per method. */
export async function evaluateDataset(model: Module<any, any>, data: PartitionedDataset<Sample>, methods: ValidationMethod[],
  opts: DistriPredictOptions = {}): Promise<ValidationResult[]> {
  if (!Array.isArray(methods) || methods.length === 0) throw new RangeError('evaluate: give at least one validation method, e.g. [new Top1Accuracy()]');
  const batchSize = checkBatchSize(opts.batchSize, 'evaluate');
  const host = data.context;
  const args: EvaluateArgs = {
    model: await storeBlock(host, 'model', serializeObject(model), 'evaluate'),
    methods: await storeBlock(host, 'methods', serializeObject(methods), 'evaluate'),
    batchSize,
  };
  const parts = await data.mapPartitions<ValidationResultJSON[], EvaluateArgs>(EVALUATE_PARTITION, args).collect();
  let merged: ValidationResult[] | undefined;
  for (const part of parts) {
    const rs = part.map(validationResultFromJSON);
    merged = merged ? merged.map((m, i) => m.merge(rs[i])) : rs;
  }
  if (!merged) throw new RangeError('evaluate: no records in the data');
  return merged;
}

function checkBatchSize(n: number | undefined, what: string): number {
  const b = n ?? 128;
  if (!Number.isInteger(b) || b < 1) throw new RangeError(`${what}: batchSize must be a positive integer, got ${b}`);
  return b;
}

// ---- blocks (driver side) ----

/** Keys this process already wrote, per context: an unchanged model is not written again. */
const stored = new WeakMap<DatasetHost, Set<string>>();

/** Puts serialized `bytes` under a key derived from their content (so equal models share one block) and returns the key. */
async function storeBlock(host: DatasetHost, kind: string, bytes: Uint8Array, what: string): Promise<string> {
  host.checkOpen(what);
  const key = `${host.keyPrefix}/predict/${kind}-${contentHash(bytes)}`;
  let keys = stored.get(host);
  if (!keys) stored.set(host, (keys = new Set()));
  if (!keys.has(key)) {
    await host.blocks.put(key, bytes);
    keys.add(key);
  }
  return key;
}

/** SHA-256 of a serialized object without the time it was written (the header's createdAt, which differs every call). */
function contentHash(bytes: Uint8Array): string {
  const { header, data } = readModelHeader(bytes);
  const stable = { ...header, metadata: { ...header.metadata, createdAt: null } };
  return createHash('sha256').update(JSON.stringify(stable)).update(data).digest('hex').slice(0, 32);
}

// ---- the worker side ----

/** Deserialized models a worker keeps (most recently used last): a few, so a long-lived worker does not fill up with old ones. */
const MODELS_KEPT = 2;
const MODEL_LIST = 'bigdl.predict/models';

async function readBlock(info: PartitionInfo, key: string): Promise<Uint8Array> {
  const b = await info.blocks.get(key);
  if (!b) throw new Error(`block ${key} is missing from the block store (was the context closed?)`);
  return b;
}

async function workerModel(info: PartitionInfo, key: string): Promise<Module<any, any>> {
  const list = (info.cache.get(MODEL_LIST) as string[] | undefined) ?? [];
  let model = info.cache.get(key) as Module<any, any> | undefined;
  if (!model) {
    model = deserializeObject(await readBlock(info, key)) as Module<any, any>;
    info.cache.set(key, model);
  }
  const i = list.indexOf(key);
  if (i >= 0) list.splice(i, 1);
  list.push(key);
  while (list.length > MODELS_KEPT) info.cache.delete(list.shift()!);
  info.cache.set(MODEL_LIST, list);
  setThreads(info.cores);
  model.evaluate();
  return model;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** The partition's records as Samples; anything else is refused with what to do instead. */
function asSamples(items: unknown[], partition: number, what: string, labelled: boolean): Sample[] {
  const out = new Array<Sample>(items.length);
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    if (x instanceof Sample) out[i] = labelled ? x : new Sample(x.features); // predict ignores labels (no target stacking)
    else if (x instanceof Tensor && !labelled) out[i] = new Sample(x);
    else {
      throw new TypeError(`${what}: partition ${partition} holds ${describe(x)} items (item ${i}); ${labelled
        ? 'evaluate needs Samples with labels'
        : 'predict needs Samples or feature Tensors, one per record'}: map the dataset with a shippable function that returns ${labelled
        ? 'new Sample(features, label)' : 'new Sample(features) or a Tensor'}`);
    }
  }
  return out;
}

/** Forward passes over the samples in batches of `batchSize`, in order. */
function* outputs(model: Module<any, any>, samples: Sample[], batchSize: number): Generator<[Activity, MiniBatch]> {
  const batcher = new SampleToMiniBatch(batchSize);
  for (let s = 0; s < samples.length; s += batchSize) {
    const mb = batcher.batch(samples.slice(s, s + batchSize));
    yield [model.forward(mb.input) as Activity, mb];
  }
}

/** Row i of every tensor of a batch output (views into `out`, which the caller owns). */
function row(out: Activity, i: number): Activity {
  return out instanceof Tensor ? out.select(0, i) : out.map((o) => row(o, i));
}

function cloneActivity(a: Activity): Activity {
  return a instanceof Tensor ? a.clone() : a.map(cloneActivity);
}

/** mapPartitions function of predict / predictClass: one output (or class) per record. */
export async function predictPartition(items: unknown[], args: PredictArgs, info: PartitionInfo): Promise<unknown[]> {
  const what = args.output === 'class' ? 'predictClass' : 'predict';
  const samples = asSamples(items, info.partition, what, false);
  if (samples.length === 0) return [];
  const model = await workerModel(info, args.model);
  const result: unknown[] = [];
  for (const [out, mb] of outputs(model, samples, args.batchSize)) {
    if (args.output === 'class') {
      if (!(out instanceof Tensor) || out.ndim !== 2) {
        throw new RangeError(`predictClass: the model's output must be one [batch, classes] tensor, got ${out instanceof Tensor ? `[${out.shape.join(', ')}]` : 'a table'}; use predict()`);
      }
      const cls = argmax(out, 1).data;
      for (let i = 0; i < mb.size; i++) result.push(cls[i]);
    } else {
      // the module reuses its output buffer: copy the batch once, hand out row views of the copy
      const own = cloneActivity(out);
      for (let i = 0; i < mb.size; i++) result.push(row(own, i));
    }
  }
  return result;
}

/** mapPartitions function of evaluate: the partition's merged results as one item (none for an empty partition). */
export async function evaluatePartition(items: unknown[], args: EvaluateArgs, info: PartitionInfo): Promise<Json[]> {
  const samples = asSamples(items, info.partition, 'evaluate', true);
  if (samples.length === 0) return [];
  const model = await workerModel(info, args.model);
  const methods = deserializeObject(await readBlock(info, args.methods)) as ValidationMethod[];
  let merged: ValidationResult[] | undefined;
  for (const [out, mb] of outputs(model, samples, args.batchSize)) {
    if (!mb.target) throw new RangeError(`evaluate: partition ${info.partition} has Samples without labels`);
    if (!(out instanceof Tensor)) throw new TypeError('evaluate: the model returns a table; validation methods need one output tensor');
    const rs = methods.map((m) => m.apply(out, mb.target!));
    merged = merged ? merged.map((r, i) => r.merge(rs[i])) : rs;
  }
  return [merged!.map((r) => r.toJSON() as unknown as Json)];
}
