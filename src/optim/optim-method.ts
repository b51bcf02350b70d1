import { UnaryOp } from '../backend/backend.js';
import { requireFinite } from '../tensor/checks.js';
import { unary } from '../tensor/ops.js';
import { shapeStr } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { Default, type LearningRateSchedule } from './schedules.js';

/**
 * The base of every optim method, after BigDL's `OptimMethod`.
 *
 * An optim method updates a flat 1-d float32 weight vector from a gradient of the same length.
 * The distributed engine cuts the flat parameter buffer into slices and gives each slice owner its
 * own instance (`clone()` of a template), which then calls `step(weightSlice, gradientSlice)` once
 * per iteration. So one instance owns the state of exactly one slice: its per-element buffers
 * (momentum, squared averages, ...) are allocated at the first step to that slice's length, and a
 * later step with another length is an error naming the method. After the first step, `step`
 * allocates no tensors (every op writes into a buffer the instance owns). Updates are
 * deterministic: the same state and inputs give bit-identical weights, and since every update
 * except LBFGS is elementwise, stepping a buffer in slices equals stepping it whole.
 *
 * Hyper-parameter names and defaults are BigDL's; the update rules are PyTorch's
 * (`torch.optim.*`, single-tensor path) so the results match PyTorch to float32 rounding. Each
 * method's doc comment says where BigDL differs.
 */

/** Values a saved state may hold: numbers, flags, names, float32 buffers, and arrays/objects of them. */
export type StateValue = number | boolean | string | null | Float32Array | StateValue[] | { [key: string]: StateValue };
/** What `saveState()` returns: plain data (structured-clone safe), no tensors, no functions. */
export interface SavedState { [key: string]: StateValue }

/** The mutable state shared with the trainer and the learning-rate schedule. */
export interface OptimState {
  /** updates done so far (BigDL's `evalCounter`); 0 before the first step */
  neval: number;
  /** the current epoch, counted from 1 as in BigDL; the trainer sets it */
  epoch: number;
  /** the latest validation score; the trainer sets it after each validation (Plateau 'score') */
  score?: number;
  /** the latest loss; the trainer sets it (Plateau 'loss') */
  loss?: number;
}

/** The objective: evaluates the loss and its gradient (same length as weights) at `weights`. */
export type Feval = (weights: Tensor) => { loss: number; gradient: Tensor };

/** Options every method with a learning rate takes. */
export interface LearningRateOptions {
  /** base learning rate */
  learningRate?: number;
  /**
   * BigDL's decay: the rate for update n (from 0) is learningRate / (1 + n * learningRateDecay).
   * Only with the default schedule; combine with `learningRateSchedule` is an error.
   */
  learningRateDecay?: number;
  /** a schedule from ./schedules (Step, Poly, Plateau, SequentialSchedule, ...); default `Default` */
  learningRateSchedule?: LearningRateSchedule;
}

/** Throws unless `value` is a finite number in the range (bounds inclusive unless `open`). */
export function checkHyper(owner: string, name: string, value: number, lo = -Infinity, hi = Infinity,
  open: { lo?: boolean; hi?: boolean } = {}): number {
  const ok = typeof value === 'number' && Number.isFinite(value)
    && (open.lo ? value > lo : value >= lo) && (open.hi ? value < hi : value <= hi);
  if (!ok) {
    const range = `${open.lo ? '(' : '['}${lo}, ${hi}${open.hi ? ')' : ']'}`;
    throw new RangeError(`${owner}: ${name} must be a finite number in ${range}, got ${String(value)}`);
  }
  return value;
}

/** out = a*x + b in one pass (a fused scale-and-shift the update rules use). */
export function affine(x: Tensor, a: number, b: number, out: Tensor): Tensor {
  return unary('affine', UnaryOp.Affine, x, a, b, out);
}

export abstract class OptimMethod {
  /** BigDL's class name; used in errors and saved states */
  abstract readonly name: string;
  /** the base learning rate (mutable, as in BigDL) */
  learningRate: number;
  readonly learningRateDecay: number;
  readonly learningRateSchedule: LearningRateSchedule;
  readonly state: OptimState = { neval: 0, epoch: 1 };
  /** the rate the latest update used (before any update: learningRate) */
  protected currentRate: number;
  private sliceLength = -1;
  private readonly stateBuffers = new Map<string, Tensor>();
  private readonly scratchBuffers = new Map<string, Tensor>();

  protected constructor(owner: string, opts: LearningRateOptions, defaultLearningRate: number) {
    this.learningRate = checkHyper(owner, 'learningRate', opts.learningRate ?? defaultLearningRate, 0);
    this.learningRateDecay = checkHyper(owner, 'learningRateDecay', opts.learningRateDecay ?? 0, 0);
    if (opts.learningRateSchedule && this.learningRateDecay !== 0) {
      throw new RangeError(`${owner}: learningRateDecay applies only to the default schedule; with learningRateSchedule ${opts.learningRateSchedule.name}, leave it 0`);
    }
    this.learningRateSchedule = opts.learningRateSchedule ?? new Default(this.learningRateDecay);
    this.currentRate = this.learningRate;
  }

  /**
   * BigDL's entry point: evaluates `feval` at `weights`, updates `weights` in place and returns
   * them with the loss(es) seen. All methods but LBFGS evaluate once and return that loss.
   */
  optimize(feval: Feval, weights: Tensor): { weights: Tensor; losses: number[] } {
    const { loss, gradient } = feval(weights);
    this.step(weights, gradient, loss);
    return { weights, losses: [loss] };
  }

  /**
   * One update of `weights` (a 1-d contiguous float32 slice, changed in place) from `gradients`
   * (same length; not modified). `loss` is only used by methods that need it (LBFGS). Throws
   * before changing anything when the inputs are malformed or the gradient is not finite.
   */
  step(weights: Tensor, gradients: Tensor, loss?: number): void {
    void loss;
    const op = `${this.name}.step`;
    this.checkSlice(op, weights, gradients);
    requireFinite(op, 'gradient', gradients);
    const lr = this.nextLearningRate();
    this.update(weights, gradients, lr);
    this.state.neval += 1;
  }

  /** The learning rate after the schedule: that of the latest update (learningRate before any). */
  getLearningRate(): number {
    return this.currentRate;
  }

  /**
   * Everything needed to resume bit for bit: counters, the trainer's slots, per-element buffers
   * (copies), the schedule's state and method-specific scalars. Plain data only.
   */
  saveState(): SavedState {
    const buffers: { [key: string]: StateValue } = {};
    for (const [k, t] of this.stateBuffers) buffers[k] = (t.data as Float32Array).slice(t.offset, t.offset + t.numel);
    return {
      method: this.name,
      neval: this.state.neval,
      epoch: this.state.epoch,
      score: this.state.score ?? null,
      loss: this.state.loss ?? null,
      learningRate: this.learningRate,
      currentRate: this.currentRate,
      length: this.sliceLength,
      buffers,
      schedule: this.learningRateSchedule.saveState(),
      extra: this.saveExtra(),
    };
  }

  /** Restores a `saveState()` of the same method (the hyper-parameters come from the constructor). */
  loadState(s: SavedState): void {
    const owner = `${this.name}.loadState`;
    if (s === null || typeof s !== 'object') throw new TypeError(`${owner}: expected a saved state object, got ${String(s)}`);
    if (s.method !== this.name) throw new TypeError(`${owner}: the state was saved by ${String(s.method)}, not ${this.name}`);
    const num = (k: string): number => {
      const v = s[k];
      if (typeof v !== 'number') throw new TypeError(`${owner}: field '${k}' must be a number, got ${String(v)}`);
      return v;
    };
    const opt = (k: string): number | undefined => {
      const v = s[k];
      if (v === null || v === undefined) return undefined;
      if (typeof v !== 'number') throw new TypeError(`${owner}: field '${k}' must be a number or null, got ${String(v)}`);
      return v;
    };
    const length = num('length');
    const buffers = s.buffers;
    if (buffers === null || typeof buffers !== 'object' || Array.isArray(buffers) || buffers instanceof Float32Array) {
      throw new TypeError(`${owner}: field 'buffers' must be an object of Float32Arrays`);
    }
    for (const [k, v] of Object.entries(buffers)) {
      if (!(v instanceof Float32Array) || v.length !== length) {
        throw new TypeError(`${owner}: buffer '${k}' must be a Float32Array of the slice length ${length}`);
      }
    }
    const schedule = s.schedule;
    if (schedule === null || typeof schedule !== 'object' || Array.isArray(schedule) || schedule instanceof Float32Array) {
      throw new TypeError(`${owner}: field 'schedule' must be an object`);
    }
    const neval = num('neval'), epoch = num('epoch'), score = opt('score'), loss = opt('loss');
    const learningRate = num('learningRate'), currentRate = num('currentRate');
    // the schedule and the method-specific part validate before they change anything
    this.learningRateSchedule.loadState(schedule);
    this.loadExtra((s.extra ?? {}) as SavedState, length);
    this.state.neval = neval;
    this.state.epoch = epoch;
    this.state.score = score;
    this.state.loss = loss;
    this.learningRate = learningRate;
    this.currentRate = currentRate;
    this.sliceLength = length;
    const old = new Map(this.stateBuffers);
    this.stateBuffers.clear();
    for (const [k, v] of Object.entries(buffers)) {
      const prev = old.get(k);
      const t = prev && prev.numel === length ? prev : Tensor.empty([length]);
      (t.data as Float32Array).set(v as Float32Array, t.offset);
      this.stateBuffers.set(k, t);
    }
    for (const [k, t] of this.scratchBuffers) if (t.numel !== length) this.scratchBuffers.delete(k);
  }

  /** A deep copy: same hyper-parameters, a clone of the schedule, a copy of the state. */
  clone(): this {
    const c = this.create() as this;
    c.loadState(this.saveState());
    return c;
  }

  /** Constructor options for `create()`: these with the current learningRate and a cloned schedule. */
  protected cloneOptions<T extends LearningRateOptions>(opts: T): T {
    return {
      ...opts,
      learningRate: this.learningRate,
      learningRateSchedule: opts.learningRateSchedule ? this.learningRateSchedule.clone() : undefined,
    };
  }

  /** The per-element update; `lr` is the scheduled rate for this update. */
  protected abstract update(weights: Tensor, gradients: Tensor, lr: number): void;

  /** A fresh instance with the same hyper-parameters and a clone of the schedule. */
  protected abstract create(): OptimMethod;

  /** Method-specific scalars/buffers to save beyond the named per-element buffers. */
  protected saveExtra(): SavedState {
    return {};
  }

  protected loadExtra(extra: SavedState, length: number): void {
    void extra;
    void length;
  }

  /** Advances the schedule for the update about to run and returns its rate. */
  protected nextLearningRate(): number {
    const lr = this.learningRateSchedule.rate(this.learningRate, this.state);
    if (!Number.isFinite(lr)) {
      throw new RangeError(`${this.name}: the learning-rate schedule ${this.learningRateSchedule.name} gave ${lr} at update ${this.state.neval}`);
    }
    this.currentRate = lr;
    return lr;
  }

  /** True once the named per-element state buffer exists. */
  protected hasBuffer(name: string): boolean {
    return this.stateBuffers.has(name);
  }

  /** The named per-element state buffer (saved by saveState), created filled with `init`. */
  protected buffer(name: string, length: number, init = 0): Tensor {
    let t = this.stateBuffers.get(name);
    if (!t) {
      t = Tensor.empty([length]);
      if (init !== 0) t.fill_(init);
      this.stateBuffers.set(name, t);
    }
    return t;
  }

  /** A named scratch buffer (not saved; contents undefined between steps). */
  protected scratch(name: string, length: number): Tensor {
    let t = this.scratchBuffers.get(name);
    if (!t) {
      t = Tensor.empty([length]);
      this.scratchBuffers.set(name, t);
    }
    return t;
  }

  /** Validates one weight vector (and gradient) and pins the slice length; returns it. */
  protected checkSlice(op: string, weights: Tensor, gradients?: Tensor): number {
    const check = (what: string, t: Tensor): void => {
      if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
      if (t.dtype !== 'float32' || t.ndim !== 1 || !t.isContiguous()) {
        throw new TypeError(`${op}: ${what} must be a 1-d contiguous float32 tensor (a slice of the flat parameter buffer), got ${t.dtype} ${shapeStr(t.shape)}${t.isContiguous() ? '' : ' (strided)'}`);
      }
    };
    check('weights', weights);
    const n = weights.numel;
    if (gradients !== undefined) {
      check('gradient', gradients);
      if (gradients.numel !== n) throw new RangeError(`${op}: gradient has ${gradients.numel} elements but weights have ${n}`);
    }
    if (this.sliceLength === -1) this.sliceLength = n;
    else if (this.sliceLength !== n) {
      throw new RangeError(`${op}: this ${this.name} holds state for a slice of ${this.sliceLength} elements but was given ${n}; use one instance (clone()) per slice`);
    }
    return n;
  }
}
