/**
 * How a training step's forward-backward runs on one machine. Two ways, chosen per model:
 *  - `threads`: one model on the calling thread, every core used inside each kernel (intra-op);
 *  - `replicas`: BigDL's local mode, one replica per worker thread on its share of the batch,
 *    over shared weights, gradients summed.
 * Small layers (LeNet's 5x5 convolutions on 28x28 images) parallelise badly inside a kernel and
 * well across replicas; big GEMMs the other way round. `chooseExecutor` measures both.
 */
import { availableParallelism } from 'node:os';
import { getThreads, setThreads } from '../backend/registry.js';
import { RNG } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import type { Activity, Module } from '../nn/module.js';
import type { Criterion } from '../nn/criterion.js';
import { ReplicaPool } from '../engine/local/replica-pool.js';

export type ExecutorKind = 'threads' | 'replicas';

export interface Executor {
  readonly kind: ExecutorKind;
  /** a short description for logs: "2 replicas x 1 thread" */
  readonly description: string;
  /** The model's flat weights (updated in place by the optimiser). */
  readonly weights: Tensor;
  /**
   * A flat gradient buffer to pass to trainStep: filling it costs no extra copy (for `threads` it
   * is the model's own gradient buffer).
   */
  readonly gradients: Tensor;
  /** Forward-backward over the batch; overwrites `gradients`; returns the loss. */
  trainStep(input: Activity, target: Activity, gradients: Tensor, seed: number): Promise<number>;
  /** Forward in evaluation mode. */
  predict(input: Activity): Promise<Activity>;
  /** Makes the model's buffers (running statistics) current. */
  syncBuffers(): Promise<void>;
  /** After the model's buffers were overwritten (checkpoint load). */
  pushBuffers(): Promise<void>;
  close(): Promise<void>;
}

/** The model itself on the calling thread, `threads` intra-op threads. */
export class ThreadsExecutor implements Executor {
  readonly kind = 'threads';
  readonly description: string;
  readonly weights: Tensor;
  readonly gradients: Tensor;

  constructor(private readonly model: Module<any, any>, private readonly criterion: Criterion<any, any>, private readonly threads: number) {
    const flat = model.getParameters();
    this.weights = flat.weights;
    this.gradients = flat.gradients;
    this.description = `1 model x ${threads} thread${threads > 1 ? 's' : ''}`;
  }

  async trainStep(input: Activity, target: Activity, gradients: Tensor, seed: number): Promise<number> {
    const before = getThreads();
    setThreads(this.threads);
    try {
      RNG.setSeed(seed);
      const m = this.model, c = this.criterion;
      m.training();
      m.zeroGradParameters();
      const out = m.forward(input);
      const loss = c.forward(out, target);
      m.backward(input, c.backward(out, target));
      if (gradients !== this.gradients) gradients.copy_(this.gradients);
      return loss;
    } finally {
      if (before !== this.threads) setThreads(before);
    }
  }

  async predict(input: Activity): Promise<Activity> {
    this.model.evaluate();
    return this.model.forward(input);
  }

  async syncBuffers(): Promise<void> {}
  async pushBuffers(): Promise<void> {}
  async close(): Promise<void> {}
}

/** BigDL's local mode: replicas in worker threads (see src/engine/local/replica-pool.ts). */
export class ReplicasExecutor implements Executor {
  readonly kind = 'replicas';
  readonly description: string;

  private constructor(private readonly pool: ReplicaPool, private readonly model: Module<any, any>, threadsPerReplica: number) {
    this.description = `${pool.size} replica${pool.size > 1 ? 's' : ''} x ${threadsPerReplica} thread${threadsPerReplica > 1 ? 's' : ''}`;
    this.gradients = Tensor.zeros([pool.weights.numel]);
  }

  static async start(model: Module<any, any>, criterion: Criterion<any, any>, replicas: number, threadsPerReplica = 1): Promise<ReplicasExecutor> {
    const pool = await ReplicaPool.start({ model, criterion, replicas, threadsPerReplica });
    return new ReplicasExecutor(pool, model, threadsPerReplica);
  }

  get weights(): Tensor {
    return this.pool.weights;
  }

  /** Where the replicas' gradients are summed. */
  readonly gradients: Tensor;

  trainStep(input: Activity, target: Activity, gradients: Tensor, seed: number): Promise<number> {
    return this.pool.trainStep(input, target, gradients, seed);
  }

  predict(input: Activity): Promise<Activity> {
    return this.pool.predict(input);
  }

  syncBuffers(): Promise<void> {
    return this.pool.syncBuffersInto(this.model);
  }

  pushBuffers(): Promise<void> {
    return this.pool.setBuffersFrom(this.model);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export interface ExecutorChoice {
  executor: Executor;
  /** ms per training step measured for each candidate (median), when measured */
  measured: Partial<Record<ExecutorKind, number>>;
  /**
   * auto with timeInference only: the faster executor for inference (forward in evaluation mode) and the medians it
   * measured. It may differ from the training choice: a forward alone has less work per core to
   * spread. `executor` is the training choice either way.
   */
  inference?: { kind: ExecutorKind; measured: Record<ExecutorKind, number> };
}

/** Steps of each candidate `chooseExecutor('auto')` runs before timing, and timed steps (at least, at most). */
export const AUTO_TIMING = { warmup: 2, minSteps: 5, maxSteps: 9, minMs: 1500 };

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[n >> 1] : 0.5 * (s[(n >> 1) - 1] + s[n >> 1]);
};

/**
 * Times candidates one call at a time, alternating them (the order flips every round, so neither
 * always runs right after the other), after `warmup` untimed calls each, until each has
 * minSteps samples and minMs has passed (or maxSteps samples): the medians. On a shared machine a
 * burst of load then hits both candidates' samples alike instead of one candidate's whole run.
 */
async function timeAlternating(fns: (() => Promise<unknown>)[], t = AUTO_TIMING): Promise<number[]> {
  for (const f of fns) for (let i = 0; i < t.warmup; i++) await f();
  const samples: number[][] = fns.map(() => []);
  const start = performance.now();
  for (let round = 0; round < t.maxSteps; round++) {
    if (round >= t.minSteps && performance.now() - start >= t.minMs) break;
    const order = round % 2 ? fns.map((_, i) => fns.length - 1 - i) : fns.map((_, i) => i);
    for (const i of order) {
      const t0 = performance.now();
      await fns[i]();
      samples[i].push(performance.now() - t0);
    }
  }
  return samples.map(median);
}

/**
 * Picks how to run: `threads`/`replicas` when asked, else (`auto`) times forward-backward steps of
 * each on a real batch — without applying any update, so the choice never changes the trained
 * weights — and keeps the faster (medians of alternating steps after a warm-up, see
 * timeAlternating); with `timeInference` it also times inference both ways and reports the faster
 * in `inference`. One core means `threads`.
 */
export async function chooseExecutor(
  model: Module<any, any>, criterion: Criterion<any, any>, mode: ExecutorKind | 'auto', cores: number,
  sample: { input: Activity; target: Activity } | undefined, opts: { timeInference?: boolean } = {},
): Promise<ExecutorChoice> {
  if (mode === 'threads' || cores <= 1) return { executor: new ThreadsExecutor(model, criterion, cores), measured: {} };
  if (mode === 'replicas') return { executor: await ReplicasExecutor.start(model, criterion, cores), measured: {} };
  if (!sample) throw new Error('chooseExecutor: auto mode needs a sample batch');
  // timing steps change no weights, but training-mode forwards move running statistics: keep them
  const savedBuffers = model.namedBuffers().map((b) => b.tensor.clone());
  const replicas = await ReplicasExecutor.start(model, criterion, cores);
  // the pool moved the model's weights into shared memory; the threads executor uses those tensors
  const threadsShared = new ThreadsExecutor(model, criterion, cores);
  const execs = [threadsShared, replicas];
  const train = await timeAlternating(execs.map((e) => () => e.trainStep(sample.input, sample.target, e.gradients, 1)));
  const measured = { threads: train[0], replicas: train[1] };
  let inference: ExecutorChoice['inference'];
  if (opts.timeInference) {
    const infer = await timeAlternating(execs.map((e) => () => e.predict(sample.input)));
    inference = { kind: infer[0] <= infer[1] ? 'threads' : 'replicas', measured: { threads: infer[0], replicas: infer[1] } };
  }
  model.namedBuffers().forEach((b, i) => b.tensor.copy_(savedBuffers[i]));
  model.zeroGradParameters();
  await replicas.pushBuffers();
  if (measured.threads <= measured.replicas) {
    await replicas.close();
    return { executor: threadsShared, measured, inference };
  }
  return { executor: replicas, measured, inference };
}

export function defaultCores(): number {
  const env = process.env.BIGDL_THREADS;
  return env && Number.isInteger(Number(env)) && Number(env) > 0 ? Number(env) : availableParallelism();
}
