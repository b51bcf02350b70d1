/**
 * How a training step's forward-backward runs on one machine. Two ways, chosen per model:
 *  - `threads`: one model on the calling thread, every core used inside each kernel (intra-op);
 *  - `replicas`: BigDL's local mode, one replica per worker thread on its share of the batch,
 *    over shared weights, gradients summed.
 * Small layers (LeNet's 5x5 convolutions on 28x28 images) parallelise badly inside a kernel and
 * well across replicas; big GEMMs the other way round. `chooseExecutor` measures both, and with
 * `auto` returns an AutoExecutor that keeps checking the choice while training (load changes).
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
  /** for `auto`: an AutoExecutor (which may switch during training); else the executor asked for */
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

/**
 * How `auto` decides and re-decides (see AutoExecutor):
 *  - margin: replicas are taken only when their median step is this many times faster than
 *    threads' (threads degrade more gracefully when another process takes a core: a replicas
 *    step waits for the slowest replica, each on one core);
 *  - window: real steps whose median is the baseline after each decision (counted after `settle`
 *    steps), and the window of recent steps compared with it;
 *  - drift: a re-check starts when the recent median leaves [baseline / (1 + drift), baseline · (1 + drift)];
 *  - minGap: real steps between the end of one re-check and the start of a drift-triggered one;
 *  - every: real steps after which a re-check starts anyway (the other executor may have become
 *    faster while this one's time did not move);
 *  - warmup / samples: untimed, then timed steps of the other executor in a re-check, each run
 *    just before one real step of the current one (whose times are its samples).
 */
export const AUTO_RECHECK = { margin: 1.15, settle: 2, window: 10, drift: 0.3, minGap: 50, every: 500, warmup: 1, samples: 5 };

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[n >> 1] : 0.5 * (s[(n >> 1) - 1] + s[n >> 1]);
};

/** The rule for both the first choice and re-checks: threads unless replicas win by `margin`. */
export function preferredKind(ms: Record<ExecutorKind, number>, margin = AUTO_RECHECK.margin): ExecutorKind {
  return ms.replicas * margin < ms.threads ? 'replicas' : 'threads';
}

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

/** One decision of an AutoExecutor: at which real step, why, the medians compared, the kind kept. */
export interface AutoDecision {
  step: number;
  reason: 'start' | 'drift' | 'periodic';
  measured: Record<ExecutorKind, number>;
  kind: ExecutorKind;
}

/**
 * `executor: 'auto'`: both executors over the same shared weights, training steps run by the
 * current one, which is re-checked while training (AUTO_RECHECK): when the median of its recent
 * step times drifts from the baseline taken after the last decision, or every `every` steps, the
 * next `warmup + samples` real steps are each preceded by one step of the other executor on the
 * same batch, and the medians of the two decide (threads unless replicas win by the margin).
 *
 * Timing steps never change what training computes: they apply no update, their gradient is
 * overwritten by the real step that follows, the calling thread's generator is restored, and the
 * running statistics they move are not the authoritative ones (the current executor's are:
 * replicas' are copied into the model, or the model's pushed to the replicas, at a switch). What
 * a switch does change is which executor computes the following steps, and the two differ in
 * rounding (a sum of per-replica gradients against one batch GEMM); bit-for-bit reproducible
 * runs pin `executor: 'threads' | 'replicas'`.
 */
export class AutoExecutor implements Executor {
  private cur: Executor;
  private step = 0;
  /** real steps since the last decision, and their times */
  private sinceDecision = 0;
  private recent: number[] = [];
  private baseline: number | undefined;
  /** an ongoing re-check: the other executor's step times and the current one's (real) step times */
  private check: { reason: 'drift' | 'periodic'; other: number[]; current: number[]; warm: number } | null = null;
  readonly decisions: AutoDecision[] = [];

  constructor(
    readonly threads: ThreadsExecutor, readonly replicas: ReplicasExecutor,
    first: AutoDecision, private readonly cfg = AUTO_RECHECK, private readonly onSwitch?: (d: AutoDecision) => void,
  ) {
    this.cur = first.kind === 'threads' ? threads : replicas;
    this.decisions.push(first);
  }

  get kind(): ExecutorKind {
    return this.cur.kind;
  }

  get description(): string {
    return `${this.cur.description} (auto)`;
  }

  get weights(): Tensor {
    return this.cur.weights;
  }

  /** The model's gradient buffer: the threads executor fills it without a copy, the replicas sum into it. */
  get gradients(): Tensor {
    return this.threads.gradients;
  }

  private other(): Executor {
    return this.cur === this.threads ? this.replicas : this.threads;
  }

  async trainStep(input: Activity, target: Activity, gradients: Tensor, seed: number): Promise<number> {
    const c = this.check;
    if (c) {
      // one step of the other executor, before the real one (whose gradient overwrites its gradient)
      const other = this.other(), rng = RNG.getState();
      const t0 = performance.now();
      await other.trainStep(input, target, other.gradients, seed);
      const ms = performance.now() - t0;
      RNG.setState(rng);
      if (c.warm > 0) c.warm--;
      else c.other.push(ms);
    }
    const t0 = performance.now();
    const loss = await this.cur.trainStep(input, target, gradients, seed);
    const ms = performance.now() - t0;
    this.step++;
    if (c) {
      if (c.warm === 0 && c.other.length > c.current.length) c.current.push(ms);
      if (c.current.length >= this.cfg.samples) await this.decide(c);
    } else {
      this.observe(ms);
    }
    return loss;
  }

  /** Baseline and drift bookkeeping of the current executor's real steps. */
  private observe(ms: number): void {
    const k = this.cfg;
    this.sinceDecision++;
    if (this.sinceDecision <= k.settle) return;
    this.recent.push(ms);
    if (this.recent.length > k.window) this.recent.shift();
    if (this.baseline === undefined) {
      if (this.recent.length === k.window) this.baseline = median(this.recent);
      return;
    }
    const m = median(this.recent);
    const drifted = m > this.baseline * (1 + k.drift) || m * (1 + k.drift) < this.baseline;
    if (this.sinceDecision >= k.every) this.startCheck('periodic');
    else if (drifted && this.sinceDecision >= k.minGap) this.startCheck('drift');
  }

  private startCheck(reason: 'drift' | 'periodic'): void {
    this.check = { reason, other: [], current: [], warm: this.cfg.warmup };
  }

  private async decide(c: NonNullable<AutoExecutor['check']>): Promise<void> {
    this.check = null;
    const mine = median(c.current), theirs = median(c.other);
    const measured = (this.cur.kind === 'threads' ? { threads: mine, replicas: theirs } : { threads: theirs, replicas: mine }) as Record<ExecutorKind, number>;
    const kind = preferredKind(measured, this.cfg.margin);
    const d: AutoDecision = { step: this.step, reason: c.reason, measured, kind };
    this.decisions.push(d);
    if (kind !== this.cur.kind) {
      // the running statistics move with the training: from the replicas into the model, or back
      if (this.cur === this.replicas) await this.replicas.syncBuffers();
      else await this.replicas.pushBuffers();
      this.cur = this.other();
      this.onSwitch?.(d);
    }
    this.sinceDecision = 0;
    this.recent = [];
    this.baseline = undefined;
  }

  /** The real steps taken, and whether a re-check is under way (for tests and reports). */
  get stats(): { steps: number; checking: boolean; switches: number } {
    let switches = 0;
    for (let i = 1; i < this.decisions.length; i++) if (this.decisions[i].kind !== this.decisions[i - 1].kind) switches++;
    return { steps: this.step, checking: this.check !== null, switches };
  }

  predict(input: Activity): Promise<Activity> {
    return this.cur.predict(input);
  }

  syncBuffers(): Promise<void> {
    return this.cur.syncBuffers();
  }

  pushBuffers(): Promise<void> {
    return this.cur.pushBuffers();
  }

  async close(): Promise<void> {
    await this.replicas.close();
    await this.threads.close();
  }
}

/**
 * Picks how to run: `threads`/`replicas` when asked, else (`auto`) times forward-backward steps of
 * each on a real batch — without applying any update, so the choice never changes the trained
 * weights — and starts with threads unless replicas were faster by AUTO_RECHECK.margin (medians
 * of alternating steps after a warm-up, see timeAlternating); the AutoExecutor returned re-checks
 * during training. With `timeInference` it also times inference both ways and reports the
 * preferred one (same rule) in `inference`. One core means `threads`.
 */
export async function chooseExecutor(
  model: Module<any, any>, criterion: Criterion<any, any>, mode: ExecutorKind | 'auto', cores: number,
  sample: { input: Activity; target: Activity } | undefined,
  opts: { timeInference?: boolean; recheck?: typeof AUTO_RECHECK; onSwitch?: (d: AutoDecision) => void } = {},
): Promise<ExecutorChoice> {
  if (mode === 'threads' || cores <= 1) return { executor: new ThreadsExecutor(model, criterion, cores), measured: {} };
  if (mode === 'replicas') return { executor: await ReplicasExecutor.start(model, criterion, cores), measured: {} };
  if (!sample) throw new Error('chooseExecutor: auto mode needs a sample batch');
  const recheck = opts.recheck ?? AUTO_RECHECK;
  // timing steps change no weights, but training-mode forwards move running statistics: keep them
  const savedBuffers = model.namedBuffers().map((b) => b.tensor.clone());
  const rng = RNG.getState();
  const replicas = await ReplicasExecutor.start(model, criterion, cores);
  // the pool moved the model's weights into shared memory; the threads executor uses those tensors
  const threadsShared = new ThreadsExecutor(model, criterion, cores);
  const execs = [threadsShared, replicas];
  const train = await timeAlternating(execs.map((e) => () => e.trainStep(sample.input, sample.target, e.gradients, 1)));
  const measured = { threads: train[0], replicas: train[1] };
  let inference: ExecutorChoice['inference'];
  if (opts.timeInference) {
    const infer = await timeAlternating(execs.map((e) => () => e.predict(sample.input)));
    const ms = { threads: infer[0], replicas: infer[1] };
    inference = { kind: preferredKind(ms, recheck.margin), measured: ms };
  }
  model.namedBuffers().forEach((b, i) => b.tensor.copy_(savedBuffers[i]));
  model.zeroGradParameters();
  RNG.setState(rng);
  await replicas.pushBuffers();
  const first: AutoDecision = { step: 0, reason: 'start', measured, kind: preferredKind(measured, recheck.margin) };
  return { executor: new AutoExecutor(threadsShared, replicas, first, recheck, opts.onSwitch), measured, inference };
}

export function defaultCores(): number {
  const env = process.env.BIGDL_THREADS;
  return env && Number.isInteger(Number(env)) && Number(env) > 0 ? Number(env) : availableParallelism();
}
