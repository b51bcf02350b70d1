/**
 * Triggers (BigDL's `Trigger`): predicates over the training state that say when to validate,
 * checkpoint or write a summary, and when to stop (`endWhen`).
 *
 * The trainer evaluates a trigger after each iteration, with the state as it stands once that
 * iteration is done, and may evaluate `endWhen` once before the first iteration (iteration 0).
 * BigDL keeps "neval" (the next iteration's number) and bumps "epoch" when an epoch ends; this
 * state says the same thing directly:
 *
 * | BigDL                          | here                                                   |
 * |--------------------------------|--------------------------------------------------------|
 * | everyEpoch: epoch changed      | `epochFinished`                                        |
 * | severalIteration(n): (neval-1) % n == 0, neval > 1 | `iteration % n === 0`, iteration >= 1 |
 * | maxEpoch(n): epoch > n         | epochs completed >= n                                  |
 * | maxIteration(n): neval > n     | `iteration >= n`                                       |
 * | minLoss(x): Loss < x           | `loss < x`                                             |
 * | maxScore(x): score > x         | `score > x`                                            |
 *
 * Epochs completed = `epoch` when `epochFinished`, else `epoch - 1`.
 */

export interface TrainingState {
  /** The current epoch, 1-based: the one the last iteration belonged to. */
  epoch: number;
  /** Iterations done so far over all epochs: the 1-based number of the last one (0 before the first). */
  iteration: number;
  /** Whether the last iteration ended its epoch. */
  epochFinished: boolean;
  /** Training loss of the last iteration (absent or NaN before there is one). */
  loss?: number;
  /** Last validation score, the first validation method's value (absent or NaN before one). */
  score?: number;
}

/** Epochs fully done in this state. */
export function epochsCompleted(state: TrainingState): number {
  return state.epochFinished ? state.epoch : state.epoch - 1;
}

function checkState(trigger: Trigger, s: TrainingState): void {
  if (!Number.isInteger(s.epoch) || s.epoch < 1 || !Number.isInteger(s.iteration) || s.iteration < 0 || typeof s.epochFinished !== 'boolean') {
    throw new RangeError(`Trigger ${trigger.description}: bad training state ${JSON.stringify(s)} (epoch is an integer >= 1, iteration an integer >= 0, epochFinished a boolean)`);
  }
}

function count(factory: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`Trigger.${factory}: expects an integer >= ${min}, got ${n}`);
}

function threshold(factory: string, x: number): void {
  if (typeof x !== 'number' || Number.isNaN(x)) throw new RangeError(`Trigger.${factory}: expects a number, got ${x}`);
}

export class Trigger {
  /**
   * A trigger from any predicate; `description` names it in messages and `toString()`. The
   * factories below cover BigDL's triggers; all of them are stateless.
   */
  constructor(readonly description: string, private readonly predicate: (state: TrainingState) => boolean) {}

  /** Whether the trigger fires in this state. */
  apply(state: TrainingState): boolean {
    checkState(this, state);
    return this.predicate(state);
  }

  toString(): string {
    return `Trigger(${this.description})`;
  }

  /** Fires when an epoch ends (on the epoch's last iteration). */
  static everyEpoch(): Trigger {
    return new Trigger('everyEpoch', (s) => s.epochFinished);
  }

  /** Fires after every n-th iteration (iterations n, 2n, ... counted over all epochs). */
  static severalIteration(n: number): Trigger {
    count('severalIteration', n, 1);
    return new Trigger(`severalIteration(${n})`, (s) => s.iteration >= 1 && s.iteration % n === 0);
  }

  /** Stop once n epochs are done: fires from the end of epoch n on (at once for n = 0). */
  static maxEpoch(n: number): Trigger {
    count('maxEpoch', n, 0);
    return new Trigger(`maxEpoch(${n})`, (s) => epochsCompleted(s) >= n);
  }

  /** Stop once n iterations are done: fires from iteration n on (at once for n = 0). */
  static maxIteration(n: number): Trigger {
    count('maxIteration', n, 0);
    return new Trigger(`maxIteration(${n})`, (s) => s.iteration >= n);
  }

  /** Fires when the last training loss is below x (never while there is no loss, or it is NaN). */
  static minLoss(x: number): Trigger {
    threshold('minLoss', x);
    return new Trigger(`minLoss(${x})`, (s) => s.loss !== undefined && s.loss < x);
  }

  /** Fires when the last validation score is above x (never before a validation, or on NaN). */
  static maxScore(x: number): Trigger {
    threshold('maxScore', x);
    return new Trigger(`maxScore(${x})`, (s) => s.score !== undefined && s.score > x);
  }

  /** Fires when all of the triggers fire (every one is evaluated, none short-circuited). */
  static and(...triggers: Trigger[]): Trigger {
    combine('and', triggers);
    return new Trigger(`and(${triggers.map((t) => t.description).join(', ')})`,
      (s) => triggers.map((t) => t.apply(s)).every(Boolean));
  }

  /** Fires when any of the triggers fires (every one is evaluated, none short-circuited). */
  static or(...triggers: Trigger[]): Trigger {
    combine('or', triggers);
    return new Trigger(`or(${triggers.map((t) => t.description).join(', ')})`,
      (s) => triggers.map((t) => t.apply(s)).some(Boolean));
  }
}

function combine(factory: string, triggers: Trigger[]): void {
  if (triggers.length === 0) throw new RangeError(`Trigger.${factory}: expects at least one trigger`);
  triggers.forEach((t, i) => {
    if (!(t instanceof Trigger)) throw new TypeError(`Trigger.${factory}: argument ${i} is not a Trigger`);
  });
}
