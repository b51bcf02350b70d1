/**
 * BigDL's local mode on Node: N model replicas in worker threads over one SharedArrayBuffer of
 * weights. A training step splits the mini-batch's rows across replicas, each writes its gradient
 * into its own shared buffer, and the trainer sums them weighted by the rows each replica
 * actually processed, so any batch size works with any number of replicas.
 */
import { Worker } from 'node:worker_threads';
import { backend } from '../../backend/registry.js';
import * as ops from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Activity, Module } from '../../nn/module.js';
import type { Criterion } from '../../nn/criterion.js';
import { serializeObject } from '../../serialization/index.js';
import { describe, type FromReplica, type InputDesc, type OutputData, type ToReplica } from './protocol.js';

export interface ReplicaPoolOptions {
  model: Module<any, any>;
  /** needed for trainStep; a pool only used for predict can do without */
  criterion?: Criterion<any, any>;
  replicas: number;
  /** intra-op threads per replica (default 1) */
  threadsPerReplica?: number;
}

interface Pending {
  resolve: (m: FromReplica) => void;
  reject: (e: Error) => void;
}

class Replica {
  private pending: Pending | null = null;
  private dead: Error | null = null;

  constructor(readonly index: number, readonly worker: Worker, readonly gradients: Tensor) {
    worker.on('message', (m: FromReplica) => {
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      if (m.kind === 'error') p.reject(new Error(`replica ${index}: ${m.message}`));
      else p.resolve(m);
    });
    const fail = (e: Error) => {
      this.dead = e;
      const p = this.pending;
      this.pending = null;
      p?.reject(e);
    };
    worker.on('error', (e) => fail(new Error(`replica ${index} crashed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`replica ${index} exited (code ${code})`)));
  }

  request(msg: ToReplica): Promise<FromReplica> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.pending) return Promise.reject(new Error(`replica ${this.index}: a request is already in flight`));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(msg);
    });
  }
}

/** Staging tensors in shared memory that grow to the largest batch seen and are then reused. */
class SharedStaging {
  private store: Tensor[] = [];

  /** Copies `a` into shared storage (slot by slot for tables) and describes it for the replicas. */
  stage(a: Activity, slot = { next: 0 }): InputDesc {
    if (Array.isArray(a)) return a.map((x) => this.stage(x, slot));
    const i = slot.next++;
    const have = this.store[i];
    if (!have || have.numel < a.numel || have.dtype !== a.dtype) this.store[i] = Tensor.empty([Math.max(a.numel, 1)], { dtype: a.dtype, shared: true });
    const view = this.store[i].narrow(0, 0, a.numel).view(a.shape);
    view.copy_(a);
    return describe(view);
  }
}

function batchRows(a: Activity): number {
  const t = Array.isArray(a) ? firstTensor(a) : a;
  if (!t || t.ndim === 0) throw new RangeError('ReplicaPool: a mini-batch needs a leading batch dimension');
  return t.shape[0];
}

function firstTensor(a: Activity[]): Tensor | undefined {
  for (const x of a) {
    if (x instanceof Tensor) return x;
    const t = firstTensor(x);
    if (t) return t;
  }
  return undefined;
}

function toActivity(o: OutputData): Activity {
  if (Array.isArray(o)) return o.map(toActivity);
  return new Tensor(o.data, o.shape);
}

/** Concatenates activities (tensors, or tables of them) along dim 0, keeping dtypes. */
export function concatRows(parts: Activity[]): Activity {
  const first = parts[0];
  if (Array.isArray(first)) return first.map((_, k) => concatRows(parts.map((p) => (p as Activity[])[k])));
  const ts = parts as Tensor[];
  const rows = ts.reduce((n, t) => n + t.shape[0], 0);
  if (ts.length === 1) return first;
  const out = Tensor.empty([rows, ...first.shape.slice(1)], { dtype: first.dtype });
  let off = 0;
  for (const t of ts) {
    out.narrow(0, off, t.shape[0]).copy_(t);
    off += t.shape[0];
  }
  return out;
}

export class ReplicaPool {
  private readonly staging = new SharedStaging();
  private readonly targetStaging = new SharedStaging();
  private closed = false;

  private constructor(
    private readonly replicas: Replica[],
    /** the model's flat weights, in shared memory: every replica reads them */
    readonly weights: Tensor,
    private readonly sizeAverage: boolean,
  ) {}

  /**
   * Starts `replicas` workers. The model's parameters are compacted into shared memory first
   * (its tensors become views into it), so the caller's model and every replica see one set of
   * weights: updating `pool.weights` updates all of them.
   */
  static async start(opts: ReplicaPoolOptions): Promise<ReplicaPool> {
    const n = opts.replicas;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ReplicaPool: replicas must be a positive integer, got ${n}`);
    const { weights } = opts.model.getParameters({ shared: true });
    const modelBytes = serializeObject(opts.model);
    const criterionBytes = opts.criterion ? serializeObject(opts.criterion) : null;
    const sizeAverage = (opts.criterion as { sizeAverage?: boolean } | undefined)?.sizeAverage !== false;
    const url = new URL('./replica-worker.js', import.meta.url);
    const replicas = Array.from({ length: n }, (_, i) => {
      const gradients = Tensor.zeros([weights.numel], { shared: true });
      return new Replica(i, new Worker(url), gradients);
    });
    const pool = new ReplicaPool(replicas, weights, sizeAverage);
    try {
      await Promise.all(replicas.map((r) => r.request({
        kind: 'init', replica: r.index, backend: backend().name, threads: opts.threadsPerReplica ?? 1,
        model: modelBytes, criterion: criterionBytes, weights: describe(weights), gradients: describe(r.gradients),
      })));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.replicas.length;
  }

  /** Row ranges per replica: as even as possible; replicas left without rows sit the step out. */
  private split(rows: number): [number, number][] {
    const n = this.replicas.length;
    return this.replicas.map((_, i) => [Math.floor((i * rows) / n), Math.floor(((i + 1) * rows) / n)] as [number, number]);
  }

  /**
   * One forward-backward over the batch. Writes the batch gradient into `gradients` (the
   * row-weighted mean of the replicas' gradients when the criterion averages, else their sum) and
   * resolves to the batch loss on the same scale. `seed` fixes random layers for this step.
   */
  async trainStep(input: Activity, target: Activity, gradients: Tensor, seed: number): Promise<number> {
    this.checkOpen();
    const rows = batchRows(input);
    const x = this.staging.stage(input), y = this.targetStaging.stage(target);
    const ranges = this.split(rows);
    const active = this.replicas.filter((_, i) => ranges[i][1] > ranges[i][0]);
    const replies = await Promise.all(active.map((r) => r.request({
      kind: 'train', input: x, target: y, rowStart: ranges[r.index][0], rowEnd: ranges[r.index][1], seed: seed + 7919 * r.index,
    })));
    let loss = 0;
    active.forEach((r, k) => {
      const [s, e] = ranges[r.index];
      const w = this.sizeAverage ? (e - s) / rows : 1;
      loss += w * (replies[k] as { loss: number }).loss;
      if (k === 0) ops.mul(r.gradients, w, gradients);
      else ops.axpy(w, r.gradients, gradients, gradients);
    });
    return loss;
  }

  /** Forward in evaluation mode, rows split across replicas; the outputs are concatenated. */
  async predict(input: Activity): Promise<Activity> {
    this.checkOpen();
    const rows = batchRows(input);
    const x = this.staging.stage(input);
    const ranges = this.split(rows);
    const active = this.replicas.filter((_, i) => ranges[i][1] > ranges[i][0]);
    const replies = await Promise.all(active.map((r) => r.request({ kind: 'predict', input: x, rowStart: ranges[r.index][0], rowEnd: ranges[r.index][1] })));
    return concatRows(replies.map((m) => toActivity((m as { output: OutputData }).output)));
  }

  /** Copies replica 0's buffers (running statistics) into `model` (BigDL keeps the first replica's). */
  async syncBuffersInto(model: Module<any, any>): Promise<void> {
    this.checkOpen();
    const bufs = model.namedBuffers().map((b) => b.tensor);
    const total = bufs.reduce((n, b) => n + b.numel, 0);
    if (total === 0) return;
    const flat = Tensor.empty([total], { shared: true });
    await this.replicas[0].request({ kind: 'buffers', into: describe(flat) });
    let off = 0;
    for (const b of bufs) {
      b.copy_(flat.narrow(0, off, b.numel).view(b.shape));
      off += b.numel;
    }
  }

  /** Overwrites every replica's buffers with `model`'s (after loading a checkpoint). */
  async setBuffersFrom(model: Module<any, any>): Promise<void> {
    this.checkOpen();
    const bufs = model.namedBuffers().map((b) => b.tensor);
    const total = bufs.reduce((n, b) => n + b.numel, 0);
    if (total === 0) return;
    const flat = Tensor.empty([total], { shared: true });
    let off = 0;
    for (const b of bufs) {
      flat.narrow(0, off, b.numel).view(b.shape).copy_(b);
      off += b.numel;
    }
    await Promise.all(this.replicas.map((r) => r.request({ kind: 'setBuffers', from: describe(flat) })));
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('ReplicaPool: used after close()');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}
