// Triggers over the sequence of states a run of 3 epochs x 4 iterations goes through.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Trigger, epochsCompleted, type TrainingState } from '../../src/optim/trigger.js';

/** States after each iteration of `epochs` epochs of `perEpoch` iterations, losses falling. */
function run(epochs: number, perEpoch: number): TrainingState[] {
  const states: TrainingState[] = [];
  let iteration = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let i = 1; i <= perEpoch; i++) {
      iteration++;
      states.push({ epoch, iteration, epochFinished: i === perEpoch, loss: 1 / iteration });
    }
  }
  return states;
}

const start: TrainingState = { epoch: 1, iteration: 0, epochFinished: false };
const firing = (t: Trigger, states: TrainingState[]): number[] => states.filter((s) => t.apply(s)).map((s) => s.iteration);

describe('Trigger', () => {
  const states = run(3, 4);

  it('everyEpoch fires on the last iteration of each epoch', () => {
    assert.deepEqual(firing(Trigger.everyEpoch(), states), [4, 8, 12]);
    assert.equal(Trigger.everyEpoch().apply(start), false);
  });

  it('severalIteration(n) fires after iterations n, 2n, ... across epochs', () => {
    assert.deepEqual(firing(Trigger.severalIteration(3), states), [3, 6, 9, 12]);
    assert.deepEqual(firing(Trigger.severalIteration(1), states), states.map((s) => s.iteration));
    assert.equal(Trigger.severalIteration(1).apply(start), false);
  });

  it('maxEpoch(n) says stop once n epochs are done', () => {
    assert.deepEqual(firing(Trigger.maxEpoch(2), states), [8, 9, 10, 11, 12]);
    assert.equal(Trigger.maxEpoch(1).apply(start), false);
    assert.equal(Trigger.maxEpoch(0).apply(start), true);
    // the state after epoch 2 ended but before epoch 3's first iteration is recorded as epoch 2 finished
    assert.equal(epochsCompleted({ epoch: 3, iteration: 9, epochFinished: false }), 2);
  });

  it('maxIteration(n) says stop once n iterations are done', () => {
    assert.deepEqual(firing(Trigger.maxIteration(5), states), [5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(Trigger.maxIteration(0).apply(start), true);
    assert.equal(Trigger.maxIteration(1).apply(start), false);
  });

  it('minLoss and maxScore compare strictly, and never fire without a value', () => {
    // loss = 1/iteration: below 0.2 from iteration 6 on (0.2 itself is not below)
    assert.deepEqual(firing(Trigger.minLoss(0.2), states), [6, 7, 8, 9, 10, 11, 12]);
    assert.equal(Trigger.minLoss(10).apply(start), false);
    assert.equal(Trigger.minLoss(10).apply({ ...start, loss: NaN }), false);
    const m = Trigger.maxScore(0.9);
    assert.equal(m.apply({ ...start, iteration: 4 }), false);
    assert.equal(m.apply({ ...start, iteration: 4, score: 0.9 }), false);
    assert.equal(m.apply({ ...start, iteration: 4, score: 0.95 }), true);
    assert.equal(m.apply({ ...start, iteration: 4, score: NaN }), false);
  });

  it('and / or', () => {
    const and = Trigger.and(Trigger.everyEpoch(), Trigger.severalIteration(8));
    assert.deepEqual(firing(and, states), [8]);
    const or = Trigger.or(Trigger.maxEpoch(3), Trigger.minLoss(0.1));
    assert.deepEqual(firing(or, states), [11, 12]);
    assert.deepEqual(firing(Trigger.or(Trigger.everyEpoch()), states), [4, 8, 12]);
    assert.equal(or.toString(), 'Trigger(or(maxEpoch(3), minLoss(0.1)))');
    assert.equal(Trigger.and(Trigger.maxIteration(2), Trigger.or(Trigger.everyEpoch(), Trigger.maxScore(1))).description,
      'and(maxIteration(2), or(everyEpoch, maxScore(1)))');
  });

  it('a custom predicate', () => {
    const t = new Trigger('oddIteration', (s) => s.iteration % 2 === 1);
    assert.deepEqual(firing(t, states.slice(0, 4)), [1, 3]);
  });

  it('bad arguments and states', () => {
    assert.throws(() => Trigger.severalIteration(0), /Trigger.severalIteration: expects an integer >= 1, got 0/);
    assert.throws(() => Trigger.severalIteration(1.5), /severalIteration/);
    assert.throws(() => Trigger.maxEpoch(-1), /Trigger.maxEpoch: expects an integer >= 0/);
    assert.throws(() => Trigger.maxIteration(2.5), /Trigger.maxIteration/);
    assert.throws(() => Trigger.minLoss(NaN), /Trigger.minLoss: expects a number/);
    assert.throws(() => Trigger.maxScore('0.5' as unknown as number), /Trigger.maxScore/);
    assert.throws(() => Trigger.and(), /Trigger.and: expects at least one trigger/);
    assert.throws(() => Trigger.or(Trigger.everyEpoch(), {} as Trigger), /Trigger.or: argument 1 is not a Trigger/);
    assert.throws(() => Trigger.everyEpoch().apply({ epoch: 0, iteration: 1, epochFinished: false }), /Trigger everyEpoch: bad training state/);
    assert.throws(() => Trigger.maxIteration(3).apply({ epoch: 1, iteration: -1, epochFinished: false }), /bad training state/);
  });
});
