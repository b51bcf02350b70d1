import type { OptimState, SavedState, StateValue } from './optim-method.js';

/**
 * Learning-rate schedules, after BigDL's `SGD.LearningRateSchedule` family. Any optim method with
 * a learning rate takes one as `learningRateSchedule`.
 *
 * A schedule maps the method's base `learningRate` and its state to the rate of the update about
 * to run: `state.neval` counts the updates already done (0 for the first; BigDL's evalCounter),
 * `state.epoch` counts epochs from 1, and the trainer puts `state.score` / `state.loss` there for
 * Plateau. The method calls `rate()` once per update; calling it again with the same state gives
 * the same rate (so a schedule reached twice for one update does no harm).
 *
 * Differences from BigDL, all deliberate: BigDL's schedules return the negated rate and bump
 * evalCounter themselves — here the method counts updates and the rate is positive;
 * SequentialSchedule does not overwrite the method's learningRate (it keeps the switched base
 * itself); see each class for the rest.
 */
export interface LearningRateSchedule {
  /** BigDL's class name (errors, saved states) */
  readonly name: string;
  /** The learning rate for the update about to run, given the base rate and the method's state. */
  rate(base: number, state: Readonly<OptimState>): number;
  /** The schedule's own mutable state (empty for the stateless ones). */
  saveState(): SavedState;
  loadState(s: SavedState): void;
  /** A copy with the same settings and state (every method instance needs its own). */
  clone(): LearningRateSchedule;
}

function check(owner: string, name: string, v: number, ok: boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok) throw new RangeError(`${owner}: ${name} must be ${what}, got ${String(v)}`);
  return v;
}

const positiveInt = (owner: string, name: string, v: number): number =>
  check(owner, name, v, Number.isInteger(v) && v > 0, 'a positive integer');

/** Base for schedules whose rate is a pure function of (base, state). */
abstract class StatelessSchedule implements LearningRateSchedule {
  abstract readonly name: string;
  abstract rate(base: number, state: Readonly<OptimState>): number;
  abstract clone(): LearningRateSchedule;
  saveState(): SavedState {
    return { schedule: this.name };
  }

  loadState(s: SavedState): void {
    checkSavedName(this.name, s);
  }
}

function checkSavedName(name: string, s: SavedState): void {
  if (s === null || typeof s !== 'object' || s.schedule !== name) {
    throw new TypeError(`${name}.loadState: the state was saved by schedule ${String(s?.schedule)}, not ${name}`);
  }
}

/** BigDL's `Default`: base / (1 + neval * learningRateDecay). What a method uses without a schedule. */
export class Default extends StatelessSchedule {
  readonly name = 'Default';
  constructor(readonly learningRateDecay = 0) {
    super();
    check('Default', 'learningRateDecay', learningRateDecay, learningRateDecay >= 0, 'a finite number >= 0');
  }

  rate(base: number, state: Readonly<OptimState>): number {
    return base / (1 + state.neval * this.learningRateDecay);
  }

  clone(): Default {
    return new Default(this.learningRateDecay);
  }
}

/**
 * BigDL's `Step(stepSize, gamma)`: base * gamma^floor(neval / stepSize) — PyTorch's StepLR
 * stepped once per update. The power is taken by repeated multiplication, as both do.
 */
export class Step extends StatelessSchedule {
  readonly name = 'Step';
  constructor(readonly stepSize: number, readonly gamma: number) {
    super();
    positiveInt('Step', 'stepSize', stepSize);
    check('Step', 'gamma', gamma, gamma >= 0, 'a finite number >= 0');
  }

  rate(base: number, state: Readonly<OptimState>): number {
    let r = base;
    const k = Math.floor(state.neval / this.stepSize);
    for (let i = 0; i < k; i++) r *= this.gamma;
    return r;
  }

  clone(): Step {
    return new Step(this.stepSize, this.gamma);
  }
}

/**
 * BigDL's `MultiStep(stepSizes, gamma)`: base * gamma^(number of milestones <= neval) —
 * PyTorch's MultiStepLR. Milestones are update counts, strictly increasing.
 */
export class MultiStep extends StatelessSchedule {
  readonly name = 'MultiStep';
  readonly milestones: readonly number[];
  constructor(milestones: readonly number[], readonly gamma: number) {
    super();
    if (!Array.isArray(milestones)) throw new TypeError('MultiStep: milestones must be an array of update counts');
    milestones.forEach((m, i) => {
      check('MultiStep', `milestones[${i}]`, m, Number.isInteger(m) && m >= 0 && (i === 0 || m > milestones[i - 1]),
        'a non-negative integer greater than the milestone before it');
    });
    check('MultiStep', 'gamma', gamma, gamma >= 0, 'a finite number >= 0');
    this.milestones = Object.freeze(milestones.slice());
  }

  rate(base: number, state: Readonly<OptimState>): number {
    let r = base;
    for (let i = 0; i < this.milestones.length && state.neval >= this.milestones[i]; i++) r *= this.gamma;
    return r;
  }

  clone(): MultiStep {
    return new MultiStep(this.milestones, this.gamma);
  }
}

/**
 * BigDL's `Exponential(decayStep, decayRate, stairCase)`: base * decayRate^(neval / decayStep),
 * the exponent floored when `staircase`. With decayStep 1 this is PyTorch's ExponentialLR.
 */
export class Exponential extends StatelessSchedule {
  readonly name = 'Exponential';
  constructor(readonly decayStep: number, readonly decayRate: number, readonly staircase = false) {
    super();
    positiveInt('Exponential', 'decayStep', decayStep);
    check('Exponential', 'decayRate', decayRate, decayRate >= 0, 'a finite number >= 0');
  }

  rate(base: number, state: Readonly<OptimState>): number {
    let p = state.neval / this.decayStep;
    if (this.staircase) p = Math.floor(p);
    return base * Math.pow(this.decayRate, p);
  }

  clone(): Exponential {
    return new Exponential(this.decayStep, this.decayRate, this.staircase);
  }
}

/**
 * BigDL's `Poly(power, maxIteration)`: base * (1 - neval / maxIteration)^power, and 0 from
 * neval = maxIteration on — PyTorch's PolynomialLR(total_iters = maxIteration).
 */
export class Poly extends StatelessSchedule {
  readonly name = 'Poly';
  constructor(readonly power: number, readonly maxIteration: number) {
    super();
    check('Poly', 'power', power, power >= 0, 'a finite number >= 0');
    positiveInt('Poly', 'maxIteration', maxIteration);
  }

  rate(base: number, state: Readonly<OptimState>): number {
    if (state.neval > this.maxIteration) return 0;
    return base * Math.pow(1 - state.neval / this.maxIteration, this.power);
  }

  clone(): Poly {
    return new Poly(this.power, this.maxIteration);
  }
}

/**
 * BigDL's `Warmup(delta)`: base + delta * neval, a linear increase per update. Usually the first
 * schedule of a SequentialSchedule, whose next schedule then starts from the rate reached.
 */
export class Warmup extends StatelessSchedule {
  readonly name = 'Warmup';
  constructor(readonly delta: number) {
    super();
    check('Warmup', 'delta', delta, true, 'a finite number');
  }

  rate(base: number, state: Readonly<OptimState>): number {
    return base + this.delta * state.neval;
  }

  clone(): Warmup {
    return new Warmup(this.delta);
  }
}

export interface PlateauOptions {
  /** the rate is multiplied by this on a plateau; must be < 1 (default 0.1) */
  factor?: number;
  /** epochs without improvement before the rate is reduced (default 10) */
  patience?: number;
  /** 'min': the monitored value should decrease; 'max': increase (default 'min') */
  mode?: 'min' | 'max';
  /** an improvement must beat the best value by more than this (default 1e-4) */
  epsilon?: number;
  /** epochs to wait after a reduction before counting again (default 0) */
  cooldown?: number;
  /** lower bound of the rate (default 0) */
  minLr?: number;
}

/**
 * BigDL's `Plateau(monitor, factor, patience, mode, epsilon, cooldown, minLr)`: reduces the rate
 * when a monitored value stops improving. It acts once per epoch, at the first update of each new
 * epoch, reading `state[monitor]` — the score (mode 'max' for accuracy) or loss the trainer put
 * in the method's state at the end of the previous epoch — and keeps the rate otherwise.
 *
 * At each epoch change, exactly as BigDL: if cooling down, count the cooldown down and reset the
 * wait; if the value improved on the best (min: value < best - epsilon; max: value > best +
 * epsilon) it becomes the best and the wait resets; otherwise (when not cooling down) if the wait
 * has reached `patience` and rate > minLr (+ minLr*1e-4) the rate becomes max(rate*factor, minLr)
 * and the cooldown starts, and in any case the wait grows by one. Note the BigDL quirk this keeps:
 * the wait is incremented after a reduction too, so with cooldown 0 every further epoch without
 * improvement reduces again (PyTorch's ReduceLROnPlateau waits `patience` epochs each time).
 * During epoch 1 the rate is the base rate. Unlike BigDL, a Plateau first used after epoch 1
 * (inside a SequentialSchedule, or resumed without its state) starts from the base rate, not 0.
 */
export class Plateau implements LearningRateSchedule {
  readonly name = 'Plateau';
  readonly factor: number;
  readonly patience: number;
  readonly mode: 'min' | 'max';
  readonly epsilon: number;
  readonly cooldown: number;
  readonly minLr: number;
  private current: number | null = null;
  private best: number | null = null;
  private waitCounter = 0;
  private cooldownCounter = 0;
  private curEpoch = 1;

  constructor(readonly monitor: 'score' | 'loss', opts: PlateauOptions = {}) {
    if (monitor !== 'score' && monitor !== 'loss') throw new RangeError(`Plateau: monitor must be 'score' or 'loss', got '${String(monitor)}'`);
    this.factor = check('Plateau', 'factor', opts.factor ?? 0.1, (opts.factor ?? 0.1) >= 0 && (opts.factor ?? 0.1) < 1, 'in [0, 1)');
    const patience = opts.patience ?? 10;
    this.patience = check('Plateau', 'patience', patience, Number.isInteger(patience) && patience >= 0, 'a non-negative integer');
    const mode = opts.mode ?? 'min';
    if (mode !== 'min' && mode !== 'max') throw new RangeError(`Plateau: mode must be 'min' or 'max', got '${String(mode)}'`);
    this.mode = mode;
    this.epsilon = check('Plateau', 'epsilon', opts.epsilon ?? 1e-4, (opts.epsilon ?? 1e-4) >= 0, 'a finite number >= 0');
    const cooldown = opts.cooldown ?? 0;
    this.cooldown = check('Plateau', 'cooldown', cooldown, Number.isInteger(cooldown) && cooldown >= 0, 'a non-negative integer');
    this.minLr = check('Plateau', 'minLr', opts.minLr ?? 0, (opts.minLr ?? 0) >= 0, 'a finite number >= 0');
  }

  rate(base: number, state: Readonly<OptimState>): number {
    const epoch = state.epoch;
    if (this.current === null || epoch === 1) this.current = base;
    if (epoch === this.curEpoch) return this.current;
    const value = state[this.monitor];
    if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new RangeError(`Plateau: monitor '${this.monitor}' is not in the optim method's state at epoch ${epoch}; the trainer must set state.${this.monitor} (at each validation) before the epoch changes`);
    }
    this.curEpoch = epoch;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.waitCounter = 0;
    }
    if (this.improved(value)) {
      this.best = value;
      this.waitCounter = 0;
    } else if (this.cooldownCounter <= 0) {
      if (this.waitCounter >= this.patience && this.current > this.minLr + this.minLr * 1e-4) {
        this.current = Math.max(this.current * this.factor, this.minLr);
        this.cooldownCounter = this.cooldown;
        this.waitCounter = 0;
      }
      this.waitCounter += 1;
    }
    return this.current;
  }

  private improved(value: number): boolean {
    if (this.best === null) return this.mode === 'min' ? value < Infinity : value > -Infinity;
    return this.mode === 'min' ? value < this.best - this.epsilon : value > this.best + this.epsilon;
  }

  saveState(): SavedState {
    return {
      schedule: this.name, current: this.current, best: this.best,
      waitCounter: this.waitCounter, cooldownCounter: this.cooldownCounter, curEpoch: this.curEpoch,
    };
  }

  loadState(s: SavedState): void {
    checkSavedName(this.name, s);
    const num = (k: string, nullable: boolean): number | null => {
      const v = s[k];
      if (nullable && v === null) return null;
      if (typeof v !== 'number') throw new TypeError(`Plateau.loadState: field '${k}' must be a number${nullable ? ' or null' : ''}, got ${String(v)}`);
      return v;
    };
    const current = num('current', true), best = num('best', true);
    const wait = num('waitCounter', false)!, cool = num('cooldownCounter', false)!, cur = num('curEpoch', false)!;
    this.current = current;
    this.best = best;
    this.waitCounter = wait;
    this.cooldownCounter = cool;
    this.curEpoch = cur;
  }

  clone(): Plateau {
    const c = new Plateau(this.monitor, {
      factor: this.factor, patience: this.patience, mode: this.mode, epsilon: this.epsilon, cooldown: this.cooldown, minLr: this.minLr,
    });
    c.loadState(this.saveState());
    return c;
  }
}

/**
 * BigDL's `SequentialSchedule(iterationPerEpoch)`: schedules run one after another, each for the
 * number of updates given to `add(schedule, maxIteration)`.
 *
 * Semantics, as BigDL: schedule k starts after update `start_k` = the sum of the maxIterations
 * added before it, and sees the counters relative to that point: neval - start_k and
 * epoch - floor(start_k / iterationsPerEpoch). The switch to schedule k+1 happens at the first
 * update with neval > start_k + maxIteration_k, so the first schedule also runs at update
 * maxIteration_0 (maxIteration_0 + 1 updates in all) and each later schedule starts at its
 * relative update 1. A later schedule's base rate is the rate the previous one reached (BigDL sets
 * the method's learningRate to it; here the sequence keeps it, leaving the method's learningRate
 * alone). Example: lr 0.1, `.add(new Warmup(0.1), 3).add(new Poly(1, 4), 4)` gives 0.1, 0.2, 0.3,
 * 0.4 (updates 0-3), then Poly from base 0.4 at relative updates 1, 2, 3, 4: 0.3, 0.2, 0.1, 0.
 * Two deliberate differences: the last schedule keeps running past its maxIteration (BigDL fails
 * with an index error), and every schedule sees relative counters (one BigDL version makes Poly
 * alone use the absolute count).
 */
export class SequentialSchedule implements LearningRateSchedule {
  readonly name = 'SequentialSchedule';
  private readonly schedules: LearningRateSchedule[] = [];
  /** start_k of each schedule, and its last update start_k + maxIteration_k */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private cur = 0;
  private segmentBase: number | null = null;
  private last: number | null = null;
  private readonly local: OptimState = { neval: 0, epoch: 1 };

  constructor(readonly iterationsPerEpoch: number) {
    positiveInt('SequentialSchedule', 'iterationsPerEpoch', iterationsPerEpoch);
  }

  /** Appends `schedule` to run for `maxIteration` updates; returns this for chaining. */
  add(schedule: LearningRateSchedule, maxIteration: number): this {
    if (!schedule || typeof schedule.rate !== 'function') throw new TypeError('SequentialSchedule.add: schedule must be a learning-rate schedule');
    if (schedule === (this as LearningRateSchedule) || this.schedules.includes(schedule)) {
      throw new RangeError('SequentialSchedule.add: a schedule instance can be added once (use clone() for a second copy)');
    }
    positiveInt('SequentialSchedule.add', 'maxIteration', maxIteration);
    const start = this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1];
    this.schedules.push(schedule);
    this.starts.push(start);
    this.ends.push(start + maxIteration);
    return this;
  }

  rate(base: number, state: Readonly<OptimState>): number {
    if (this.schedules.length === 0) throw new RangeError('SequentialSchedule: no schedules; call add(schedule, maxIteration) first');
    while (this.cur < this.schedules.length - 1 && state.neval > this.ends[this.cur]) {
      // the next schedule starts from the rate the current one reached at its last update
      const reached = this.last ?? this.child(this.cur, this.baseOf(this.cur, base), this.ends[this.cur], state);
      this.cur += 1;
      this.segmentBase = reached;
      this.last = null;
    }
    const r = this.child(this.cur, this.baseOf(this.cur, base), state.neval, state);
    this.last = r;
    return r;
  }

  private baseOf(k: number, base: number): number {
    return k === 0 || this.segmentBase === null ? base : this.segmentBase;
  }

  private child(k: number, base: number, neval: number, state: Readonly<OptimState>): number {
    const start = this.starts[k];
    this.local.neval = neval - start;
    this.local.epoch = state.epoch - Math.floor(start / this.iterationsPerEpoch);
    this.local.score = state.score;
    this.local.loss = state.loss;
    return this.schedules[k].rate(base, this.local);
  }

  saveState(): SavedState {
    return {
      schedule: this.name, cur: this.cur, segmentBase: this.segmentBase, last: this.last,
      children: this.schedules.map((s) => s.saveState() as StateValue),
    };
  }

  loadState(s: SavedState): void {
    checkSavedName(this.name, s);
    const children = s.children;
    if (!Array.isArray(children) || children.length !== this.schedules.length) {
      throw new TypeError(`SequentialSchedule.loadState: the state holds ${Array.isArray(children) ? children.length : 'no'} schedules, this sequence has ${this.schedules.length}`);
    }
    const cur = s.cur;
    if (typeof cur !== 'number' || !Number.isInteger(cur) || cur < 0 || cur >= Math.max(1, this.schedules.length)) {
      throw new TypeError(`SequentialSchedule.loadState: field 'cur' must be a schedule index, got ${String(cur)}`);
    }
    const nullableNum = (k: string): number | null => {
      const v = s[k];
      if (v !== null && typeof v !== 'number') throw new TypeError(`SequentialSchedule.loadState: field '${k}' must be a number or null`);
      return v;
    };
    const segmentBase = nullableNum('segmentBase'), last = nullableNum('last');
    children.forEach((c, i) => this.schedules[i].loadState(c as SavedState));
    this.cur = cur;
    this.segmentBase = segmentBase;
    this.last = last;
  }

  clone(): SequentialSchedule {
    const c = new SequentialSchedule(this.iterationsPerEpoch);
    this.schedules.forEach((s, i) => c.add(s.clone(), this.ends[i] - this.starts[i]));
    c.loadState(this.saveState());
    return c;
  }
}
