/**
 * Batched inference on one machine (BigDL's `model.predict`, `predictClass`, `evaluate(data,
 * methods)`): over arrays, iterables, async iterables and DataSets of Samples, MiniBatches or bare
 * tensors, in evaluation mode, on every core.
 */
import type { Activity, Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/ops.js';
import { DataSet } from '../data/dataset.js';
import { MiniBatch, Sample, SampleToMiniBatch } from '../data/sample.js';
import { ReplicaPool, concatRows } from '../engine/local/replica-pool.js';
import { defaultCores } from './executor.js';
import type { ValidationMethod, ValidationResult } from './validation.js';

/** What inference accepts: Samples, MiniBatches, or feature tensors (one per record). */
export type PredictItem = Sample | MiniBatch | Tensor;
export type PredictData = DataSet<PredictItem> | Iterable<PredictItem> | AsyncIterable<PredictItem>;

export interface PredictOptions {
  /** records per forward pass (default 128); MiniBatches keep their own size */
  batchSize?: number;
  /** cores (default BIGDL_THREADS or all); more than one runs model replicas in worker threads */
  cores?: number;
}

async function* items(data: PredictData): AsyncIterable<PredictItem> {
  if ((data as unknown as Record<symbol, unknown>)[Symbol.for('bigdl.PartitionedDataset')] === true) {
    // these functions are the local path; Module's methods dispatch datasets to the engine
    throw new TypeError('predict/evaluate: a PartitionedDataset runs on its cluster: call model.predict(ds), model.predictClass(ds) or model.evaluate(ds, methods)');
  }
  if (data instanceof DataSet) yield* data.epoch(0);
  else yield* data as AsyncIterable<PredictItem>;
}

/** Groups the stream into MiniBatches (Tensors become label-less Samples). */
async function* batches(data: PredictData, batchSize: number): AsyncIterable<MiniBatch> {
  const pending: Sample[] = [];
  const batcher = new SampleToMiniBatch(batchSize);
  const flush = () => {
    const b = batcher.batch(pending.splice(0));
    return b;
  };
  for await (const x of items(data)) {
    if (x instanceof MiniBatch) {
      if (pending.length) yield flush();
      yield x;
    } else if (x instanceof Sample) {
      pending.push(x);
    } else if (x instanceof Tensor) {
      pending.push(new Sample(x));
    } else {
      throw new TypeError(`predict: expected Samples, MiniBatches or Tensors, got ${Object.prototype.toString.call(x)}`);
    }
    if (pending.length === batchSize) yield flush();
  }
  if (pending.length) yield flush();
}

function checkBatchSize(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`predict: batchSize must be a positive integer, got ${n}`);
}

/**
 * Runs `fn` on every mini-batch's model output, in order. With more than one core the model runs
 * as replicas in worker threads (the model's weights move into shared memory); else in-process.
 */
async function forEachOutput(model: Module<any, any>, data: PredictData, opts: PredictOptions,
  fn: (output: Activity, batch: MiniBatch) => void): Promise<void> {
  const batchSize = opts.batchSize ?? 128;
  checkBatchSize(batchSize);
  const cores = opts.cores ?? defaultCores();
  let pool: ReplicaPool | undefined;
  try {
    for await (const b of batches(data, batchSize)) {
      // a lone small batch is not worth starting workers for
      if (!pool && cores > 1 && b.size >= 2 * cores) pool = await ReplicaPool.start({ model, replicas: cores });
      let out: Activity;
      if (pool) out = await pool.predict(b.input);
      else {
        model.evaluate();
        out = model.forward(b.input);
      }
      fn(out, b);
    }
  } finally {
    await pool?.close();
  }
}

function firstOutput(out: Activity): Tensor {
  if (out instanceof Tensor) return out;
  throw new TypeError('predictClass/evaluate: the model returns a table; use predict() and pick the output you need');
}

/** The model's outputs for every record, concatenated along dim 0 (a table model gives a table). */
export async function predict(model: Module<any, any>, data: PredictData, opts: PredictOptions = {}): Promise<Activity> {
  const parts: Activity[] = [];
  await forEachOutput(model, data, opts, (out) => parts.push(cloneActivity(out)));
  if (parts.length === 0) throw new RangeError('predict: no records in the data');
  return concatRows(parts);
}

/** The 0-based arg-max class of every record (int32 [n]). */
export async function predictClass(model: Module<any, any>, data: PredictData, opts: PredictOptions = {}): Promise<Tensor> {
  const parts: Tensor[] = [];
  await forEachOutput(model, data, opts, (out) => {
    const o = firstOutput(out);
    parts.push(o.ndim === 1 ? ops.argmax(o.view(1, -1), 1) : ops.argmax(o, o.ndim - 1));
  });
  if (parts.length === 0) throw new RangeError('predictClass: no records in the data');
  return concatRows(parts) as Tensor;
}

/** Runs validation methods over labelled data; one merged result per method. */
export async function evaluate(model: Module<any, any>, data: PredictData, methods: ValidationMethod[], opts: PredictOptions = {}): Promise<ValidationResult[]> {
  if (!Array.isArray(methods) || methods.length === 0) throw new RangeError('evaluate: give at least one validation method, e.g. [new Top1Accuracy()]');
  let merged: ValidationResult[] | undefined;
  await forEachOutput(model, data, opts, (out, b) => {
    if (!b.target) throw new RangeError('evaluate: the records need labels (Samples with a label)');
    const rs = methods.map((m) => m.apply(firstOutput(out), b.target!));
    merged = merged ? merged.map((r, i) => r.merge(rs[i])) : rs;
  });
  if (!merged) throw new RangeError('evaluate: no records in the data');
  return merged;
}

function cloneActivity(a: Activity): Activity {
  return a instanceof Tensor ? a.clone() : a.map(cloneActivity);
}
