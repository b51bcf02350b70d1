// Learning-rate schedules: PyTorch parity where torch.optim.lr_scheduler has the schedule
// (fixtures from scripts/gen-torch-optim-fixtures.py), hand-worked values for BigDL's own ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  Adam, Default, Exponential, MultiStep, Plateau, Poly, SequentialSchedule, SGD, Step, Warmup,
  type LearningRateSchedule, type OptimState,
} from '../../src/optim/index.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { makeMethod, makeSchedule, optimFixture, type StepFixture } from './fixture.js';

/** Rates for neval = 0..n-1 at epoch 1. */
function rates(s: LearningRateSchedule, base: number, n: number): number[] {
  return Array.from({ length: n }, (_, neval) => s.rate(base, { neval, epoch: 1 }));
}

/** Drives `s` epoch by epoch, one update per epoch, with the value the trainer reports before each. */
function plateauRun(s: LearningRateSchedule, base: number, monitor: 'score' | 'loss', values: (number | undefined)[]): number[] {
  const state: OptimState = { neval: 0, epoch: 1 };
  return values.map((v, i) => {
    state.epoch = i + 1;
    state[monitor] = v;
    const r = s.rate(base, state);
    state.neval += 1;
    return r;
  });
}

for (const backendName of backendsUnderTest()) {
  describe(`learning-rate schedules on ${backendName}: PyTorch parity`, () => {
    for (const name of ['sched_step_sgd', 'sched_multistep_adam', 'sched_exponential_sgd', 'sched_poly_rmsprop']) {
      it(name, () => {
        setBackend(backendName);
        const f = optimFixture<StepFixture>(name);
        const m = makeMethod(f.method, f.options, makeSchedule(f.schedule!));
        const w = Tensor.from(Float32Array.from(f.weights0));
        const g = Tensor.empty([w.numel]);
        f.grads.forEach((grad, k) => {
          g.data.set(grad);
          m.step(w, g);
          assertClose([m.getLearningRate()], [f.lrs[k]], `${name} learning rate of step ${k + 1}`, 1e-12, 1e-15);
          assertClose(w.toArray(), f.weights[k], `${name} weights after step ${k + 1}`, 1e-6, 1e-7);
        });
      });
    }
  });
}

describe('learning-rate schedules: hand-worked values', () => {
  it('Default: lr / (1 + neval * decay)', () => {
    assertClose(rates(new Default(0.5), 1, 4), [1, 1 / 1.5, 0.5, 1 / 2.5], 'Default', 1e-15, 0);
  });

  it('Step, MultiStep, Exponential (smooth and staircase), Poly', () => {
    assertClose(rates(new Step(2, 0.1), 1, 6), [1, 1, 0.1, 0.1, 0.01, 0.01], 'Step', 1e-12, 0);
    assertClose(rates(new MultiStep([1, 3], 0.5), 2, 5), [2, 1, 1, 0.5, 0.5], 'MultiStep', 1e-15, 0);
    assertClose(rates(new Exponential(2, 0.25), 1, 4), [1, 0.5, 0.25, 0.125], 'Exponential', 1e-15, 0);
    assertClose(rates(new Exponential(2, 0.25, true), 1, 4), [1, 1, 0.25, 0.25], 'Exponential staircase', 1e-15, 0);
    assertClose(rates(new Poly(2, 4), 1, 6), [1, 0.5625, 0.25, 0.0625, 0, 0], 'Poly', 1e-15, 0);
  });

  it('Warmup: base + delta * neval', () => {
    assertClose(rates(new Warmup(0.05), 0.1, 4), [0.1, 0.15, 0.2, 0.25], 'Warmup', 1e-12, 0);
  });

  it('SequentialSchedule: Warmup, then Poly from the rate reached, then Exponential past its end', () => {
    const s = new SequentialSchedule(2).add(new Warmup(0.1), 3).add(new Poly(1, 8), 4).add(new Exponential(1, 0.5), 2);
    // updates 0-3 warm up; 4-7 are Poly's relative updates 1-4 from base 0.4; 8-10 Exponential from 0.2
    assertClose(rates(s, 0.1, 11), [0.1, 0.2, 0.3, 0.4, 0.35, 0.3, 0.25, 0.2, 0.1, 0.05, 0.025], 'SequentialSchedule', 1e-12, 0);
    // asking again for the same update changes nothing
    assert.equal(s.rate(0.1, { neval: 10, epoch: 1 }), s.rate(0.1, { neval: 10, epoch: 1 }));
  });

  it('SequentialSchedule gives a later Plateau epochs relative to its start', () => {
    // 2 updates per epoch; Plateau starts after update 4, i.e. 2 epochs in: epoch 3 is its epoch 1
    const s = new SequentialSchedule(2).add(new Warmup(0), 4).add(new Plateau('score', { factor: 0.5, patience: 0 }), 100);
    const state: OptimState = { neval: 0, epoch: 1 };
    const got: number[] = [];
    const scores: Record<number, number> = { 4: 0.5, 5: 0.6 };
    for (let neval = 0; neval < 9; neval++) {
      state.neval = neval;
      state.epoch = Math.floor(neval / 2) + 1;
      state.score = scores[state.epoch];
      got.push(s.rate(1, state));
    }
    assert.deepEqual(got, [1, 1, 1, 1, 1, 1, 1, 1, 0.5]);
  });

  it('Plateau (max mode, patience 1): BigDL reduces again at every further bad epoch', () => {
    const p = new Plateau('score', { mode: 'max', factor: 0.5, patience: 1 });
    const got = plateauRun(p, 1, 'score', [undefined, 0.5, 0.5, 0.4, 0.45, 0.6, 0.6, 0.6]);
    assert.deepEqual(got, [1, 1, 1, 0.5, 0.25, 0.25, 0.25, 0.125]);
  });

  it('Plateau (min mode): epsilon, cooldown and minLr', () => {
    const p = new Plateau('loss', { factor: 0.1, patience: 0, cooldown: 2, minLr: 0.005, epsilon: 0.01 });
    const got = plateauRun(p, 0.1, 'loss', [undefined, 1.0, 0.995, 0.995, 0.995, 0.995, 0.995, 0.5]);
    assertClose(got, [0.1, 0.1, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005], 'Plateau', 1e-15, 0);
  });

  it('Plateau driven through an optim method: the trainer sets state.epoch and state.score', () => {
    setBackend('reference');
    const sgd = new SGD({ learningRate: 1, learningRateSchedule: new Plateau('score', { mode: 'max', factor: 0.1, patience: 0 }) });
    const w = Tensor.from([0]);
    const g = Tensor.from([1]);
    const seen: number[] = [];
    for (let epoch = 1; epoch <= 3; epoch++) {
      sgd.state.epoch = epoch;
      for (let i = 0; i < 2; i++) {
        sgd.step(w, g);
        seen.push(sgd.getLearningRate());
      }
      sgd.state.score = 0.9; // validation at the end of the epoch: no improvement after the first
    }
    assertClose(seen, [1, 1, 1, 1, 0.1, 0.1], 'rates', 1e-15, 0);
    assertClose([w.item()], [-4.2], 'weights', 1e-6, 0);
  });

  it('stateful schedules resume bit for bit through the method state, and clone independently', () => {
    setBackend('reference');
    const make = () => new SGD({
      learningRate: 0.5, momentum: 0.9, dampening: 0,
      learningRateSchedule: new SequentialSchedule(3).add(new Warmup(0.1), 4)
        .add(new Plateau('loss', { factor: 0.5, patience: 1 }), 20),
    });
    const losses = [3, 2, 2.5, 2.5, 2.5, 2.4, 2.6, 2.6];
    const drive = (m: SGD, w: Tensor, from: number, to: number): number[] => {
      const seen: number[] = [];
      for (let k = from; k < to; k++) {
        m.state.epoch = Math.floor(k / 3) + 1;
        m.state.loss = losses[Math.floor(k / 3)];
        m.step(w, Tensor.from([Math.sin(k), Math.cos(k)]));
        seen.push(m.getLearningRate());
      }
      return seen;
    };
    const ref = make();
    const wRef = Tensor.from([1, -1]);
    const refRates = drive(ref, wRef, 0, 20);
    assert.ok(new Set(refRates).size > 4, `the schedule should move: ${refRates}`);

    const first = make();
    const w = Tensor.from([1, -1]);
    drive(first, w, 0, 8);
    const copy = first.clone();
    const wCopy = w.clone();
    const resumed = make();
    resumed.loadState(structuredClone(first.saveState()));
    assert.deepEqual(drive(resumed, w, 8, 20), refRates.slice(8));
    assert.deepEqual(w.toArray(), wRef.toArray());
    // the clone has its own schedule state: driving it does not disturb `first`
    assert.deepEqual(drive(copy, wCopy, 8, 20), refRates.slice(8));
    assert.deepEqual(drive(first, w.clone().copy_(wCopy), 8, 9), refRates.slice(8, 9));
  });

  it('errors name the schedule and what was wrong', () => {
    assert.throws(() => new Step(0, 0.5), /Step: stepSize must be a positive integer, got 0/);
    assert.throws(() => new MultiStep([3, 2], 0.5), /MultiStep: milestones\[1\] must be a non-negative integer greater than the milestone before it, got 2/);
    assert.throws(() => new Poly(1, 1.5), /Poly: maxIteration must be a positive integer/);
    assert.throws(() => new Exponential(1, NaN), /Exponential: decayRate/);
    assert.throws(() => new Warmup(Infinity), /Warmup: delta must be a finite number/);
    assert.throws(() => new Plateau('accuracy' as 'score'), /Plateau: monitor must be 'score' or 'loss'/);
    assert.throws(() => new Plateau('score', { factor: 1 }), /Plateau: factor must be in \[0, 1\)/);
    assert.throws(() => new Plateau('score', { mode: 'up' as 'min' }), /Plateau: mode must be 'min' or 'max'/);
    assert.throws(() => new Plateau('loss').rate(1, { neval: 3, epoch: 2 }),
      /Plateau: monitor 'loss' is not in the optim method's state at epoch 2; the trainer must set state\.loss/);
    assert.throws(() => new SequentialSchedule(10).rate(1, { neval: 0, epoch: 1 }), /SequentialSchedule: no schedules/);
    const w = new Warmup(1);
    assert.throws(() => new SequentialSchedule(10).add(w, 5).add(w, 5), /a schedule instance can be added once/);
    assert.throws(() => new SequentialSchedule(10).add(new Warmup(1), 0), /maxIteration must be a positive integer/);
    assert.throws(() => new Adam({ learningRateSchedule: new Step(1, 0.5) }).loadState(new Adam().saveState()),
      /Step\.loadState: the state was saved by schedule Default, not Step/);
  });
});
