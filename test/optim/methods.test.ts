// Optim methods: PyTorch parity on committed fixtures (scripts/gen-torch-optim-fixtures.py), slice
// independence, bit-for-bit resume, no steady-state allocation, and errors on bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  Adadelta, Adagrad, Adam, Adamax, LBFGS, RMSprop, SGD, Step, type Feval, type OptimMethod,
} from '../../src/optim/index.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { makeMethod, optimFixture, type LbfgsFixture, type StepFixture } from './fixture.js';

const STEP_FIXTURES = [
  'sgd_plain', 'sgd_momentum_dampening', 'sgd_nesterov_wd', 'adagrad', 'adam', 'adam_defaults', 'adamax',
  'adadelta', 'rmsprop', 'rmsprop_centered_momentum',
];

/** Elementwise methods in configurations that exercise every buffer and option. */
const CONFIGS: [string, () => OptimMethod][] = [
  ['SGD plain', () => new SGD({ learningRate: 0.1 })],
  ['SGD momentum (BigDL dampening), Step schedule', () => new SGD({ learningRate: 0.1, momentum: 0.5, learningRateSchedule: new Step(2, 0.5) })],
  ['SGD nesterov + weight decay', () => new SGD({ learningRate: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 1e-2 })],
  ['Adagrad', () => new Adagrad({ learningRate: 0.1, learningRateDecay: 0.1, weightDecay: 1e-2, initialAccumulatorValue: 0.1 })],
  ['Adam', () => new Adam({ learningRate: 0.01, weightDecay: 1e-2 })],
  ['Adamax', () => new Adamax({ learningRate: 0.01, weightDecay: 1e-2 })],
  ['Adadelta', () => new Adadelta({ weightDecay: 1e-2, epsilon: 1e-6 })],
  ['RMSprop', () => new RMSprop({ learningRate: 0.01 })],
  ['RMSprop centered + momentum', () => new RMSprop({ learningRate: 0.01, centered: true, momentum: 0.5, weightDecay: 1e-2 })],
];

function randomVec(rng: RandomGenerator, n: number): Tensor {
  const t = Tensor.empty([n]);
  for (let i = 0; i < n; i++) t.data[i] = rng.normal();
  return t;
}

function bits(t: Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.toArray()).buffer));
}

/** Steps `m` over the gradients; returns the weights after each step. */
function runSteps(m: OptimMethod, w: Tensor, grads: Tensor[]): Tensor[] {
  return grads.map((g) => {
    m.step(w, g);
    return w.clone();
  });
}

function quadraticFeval(a: number[][], b: number[], grad: Tensor): Feval {
  const n = b.length;
  return (w) => {
    const x = w.toArray();
    let f = 0;
    for (let i = 0; i < n; i++) {
      let ax = 0;
      for (let j = 0; j < n; j++) ax += a[i][j] * x[j];
      f += 0.5 * x[i] * ax - b[i] * x[i];
      grad.data[i] = ax - b[i];
    }
    return { loss: Math.fround(f), gradient: grad };
  };
}

/**
 * (1 - x)^2 + 100 (y - x^2)^2 with every operation rounded to float32 in the order PyTorch's
 * forward and autograd backward take them, so the gradient matches the fixture's bit for bit
 * (this objective is ill-conditioned enough that float64 gradients drift by ~1e-5 in 10 steps).
 */
function rosenbrockFeval(grad: Tensor): Feval {
  const f = Math.fround;
  return (w) => {
    const [x, y] = w.toArray();
    const a = f(1 - x), b = f(x * x), c = f(y - b);
    const loss = f(f(a * a) + f(100 * f(c * c)));
    const dc = f(100 * f(2 * c));
    grad.data[0] = f(-f(2 * a) + f(-dc * f(2 * x)));
    grad.data[1] = dc;
    return { loss, gradient: grad };
  };
}

function lbfgsFeval(f: LbfgsFixture, grad: Tensor): Feval {
  return f.problem.kind === 'quadratic' ? quadraticFeval(f.problem.A, f.problem.b, grad) : rosenbrockFeval(grad);
}

for (const backendName of backendsUnderTest()) {
  describe(`optim methods on ${backendName}`, () => {
    for (const name of STEP_FIXTURES) {
      it(`matches PyTorch: ${name}`, () => {
        setBackend(backendName);
        const f = optimFixture<StepFixture>(name);
        const m = makeMethod(f.method, f.options);
        const w = Tensor.from(Float32Array.from(f.weights0));
        const g = Tensor.empty([w.numel]);
        f.grads.forEach((grad, k) => {
          g.data.set(grad);
          m.step(w, g);
          assertClose(w.toArray(), f.weights[k], `${name} weights after step ${k + 1}`, 1e-6, 1e-7);
          // PyTorch's Adagrad applies lr_decay inside the step; its group lr stays put
          const decay = (f.options.learningRateDecay as number | undefined) ?? 0;
          assertClose([m.getLearningRate()], [f.lrs[k] / (1 + k * decay)], `${name} learning rate of step ${k + 1}`, 1e-12, 0);
        });
        assert.equal(m.state.neval, f.grads.length);
      });
    }

    for (const name of ['lbfgs_quadratic', 'lbfgs_quadratic_wolfe', 'lbfgs_rosenbrock_wolfe']) {
      it(`matches PyTorch: ${name}`, () => {
        setBackend(backendName);
        const f = optimFixture<LbfgsFixture>(name);
        const m = makeMethod('LBFGS', f.options) as LBFGS;
        const w = Tensor.from(Float32Array.from(f.weights0));
        const feval = lbfgsFeval(f, Tensor.empty([w.numel]));
        f.weights.forEach((expected, k) => {
          const { losses } = m.optimize(feval, w);
          assertClose([losses[0]], [f.losses[k]], `${name} loss at the start of call ${k + 1}`, 1e-5, 1e-6);
          assertClose(w.toArray(), expected, `${name} weights after call ${k + 1}`, 1e-5, 1e-6);
          assert.equal(m.funcEvals, f.funcEvals[k], `${name} function evaluations after call ${k + 1}`);
          assert.equal(m.nIter, f.nIter[k], `${name} iterations after call ${k + 1}`);
        });
      });
    }

    it('LBFGS converges on Rosenbrock with the strong-Wolfe line search', () => {
      setBackend(backendName);
      const m = new LBFGS({ maxIter: 100, lineSearch: 'strongWolfe' });
      const w = Tensor.from([-1.5, 2]);
      const { losses } = m.optimize(rosenbrockFeval(Tensor.empty([2])), w);
      assertClose(w.toArray(), [1, 1], 'Rosenbrock minimum', 0, 1e-3);
      assert.ok(losses[losses.length - 1] < 1e-6 && losses[0] === 12.5, `losses ${losses[0]} .. ${losses[losses.length - 1]}`);
    });

    it('LBFGS.step with maxIter 1 equals optimize with maxIter 1, one gradient per update', () => {
      setBackend(backendName);
      const rng = new RandomGenerator(5);
      const grads = Array.from({ length: 8 }, () => randomVec(rng, 6));
      const w0 = randomVec(rng, 6);
      const a = new LBFGS({ maxIter: 1, nCorrection: 3, learningRate: 0.5 });
      const b = a.clone();
      const wa = w0.clone(), wb = w0.clone();
      grads.forEach((g, k) => {
        a.step(wa, g, k);
        b.optimize(() => ({ loss: k, gradient: g }), wb);
        assert.deepEqual(bits(wa), bits(wb), `after update ${k + 1}`);
      });
      assert.equal(a.funcEvals, 8);
      assert.throws(() => new LBFGS({ maxIter: 20 }).step(w0.clone(), grads[0]), /LBFGS\.step: with maxIter 20 .*optimize\(feval, weights\)/);
    });

    it('stepping a flat buffer in two slices with two instances equals stepping it whole', () => {
      setBackend(backendName);
      for (const [label, make] of CONFIGS) {
        const rng = new RandomGenerator(11);
        const w0 = randomVec(rng, 10);
        const grads = Array.from({ length: 6 }, () => randomVec(rng, 10));
        const whole = w0.clone();
        runSteps(make(), whole, grads);
        const template = make();
        const parts = [template.clone(), template.clone()];
        const split = w0.clone();
        const ranges: [number, number][] = [[0, 4], [4, 6]];
        for (const g of grads) {
          ranges.forEach(([off, len], i) => parts[i].step(split.narrow(0, off, len), g.narrow(0, off, len)));
        }
        assert.deepEqual(bits(split), bits(whole), label);
      }
    });

    it('saveState/loadState resumes bit for bit (through structuredClone)', () => {
      setBackend(backendName);
      for (const [label, make] of CONFIGS) {
        const rng = new RandomGenerator(12);
        const w0 = randomVec(rng, 9);
        const grads = Array.from({ length: 7 }, () => randomVec(rng, 9));
        const ref = make();
        const wRef = w0.clone();
        runSteps(ref, wRef, grads);

        const first = make();
        const w = w0.clone();
        runSteps(first, w, grads.slice(0, 3));
        const saved = structuredClone(first.saveState());
        const resumed = make();
        resumed.loadState(saved);
        runSteps(resumed, w, grads.slice(3));
        assert.deepEqual(bits(w), bits(wRef), label);
        assert.deepEqual(resumed.saveState(), ref.saveState(), `${label}: state`);
        assert.equal(resumed.state.neval, 7);
      }
    });

    it('saveState/loadState resumes LBFGS bit for bit, line search included', () => {
      setBackend(backendName);
      const f = optimFixture<LbfgsFixture>('lbfgs_quadratic_wolfe');
      const make = () => makeMethod('LBFGS', f.options) as LBFGS;
      const ref = make();
      const wRef = Tensor.from(Float32Array.from(f.weights0));
      const feval = lbfgsFeval(f, Tensor.empty([wRef.numel]));
      for (let k = 0; k < 3; k++) ref.optimize(feval, wRef);
      const first = make();
      const w = Tensor.from(Float32Array.from(f.weights0));
      first.optimize(feval, w);
      const resumed = make();
      resumed.loadState(structuredClone(first.saveState()));
      for (let k = 1; k < 3; k++) resumed.optimize(feval, w);
      assert.deepEqual(bits(w), bits(wRef));
      assert.equal(resumed.funcEvals, ref.funcEvals);
    });

    it('clone() copies hyper-parameters and state; the copies then evolve independently', () => {
      setBackend(backendName);
      const rng = new RandomGenerator(13);
      const grads = Array.from({ length: 4 }, () => randomVec(rng, 5));
      const a = new Adam({ learningRate: 0.05, beta1: 0.8, learningRateSchedule: new Step(1, 0.9) });
      const wa = randomVec(rng, 5);
      runSteps(a, wa, grads.slice(0, 2));
      const b = a.clone();
      assert.ok(b instanceof Adam && b.beta1 === 0.8 && b.learningRateSchedule !== a.learningRateSchedule);
      const wb = wa.clone();
      runSteps(a, wa, grads.slice(2));
      runSteps(b, wb, grads.slice(2));
      assert.deepEqual(bits(wa), bits(wb));
      assert.equal(b.state.neval, 4);
    });

    it('allocates no tensors in steady state', () => {
      setBackend(backendName);
      const empty = Tensor.empty;
      let count = 0;
      const counting = (...args: Parameters<typeof Tensor.empty>): Tensor => {
        count++;
        return empty.apply(Tensor, args);
      };
      const rng = new RandomGenerator(14);
      const lbfgs: [string, () => OptimMethod][] = [['LBFGS step', () => new LBFGS({ maxIter: 1, nCorrection: 2 })]];
      for (const [label, make] of [...CONFIGS, ...lbfgs]) {
        const m = make();
        const w = randomVec(rng, 16);
        const grads = Array.from({ length: 5 }, () => randomVec(rng, 16));
        runSteps(m, w, grads.slice(0, 3)); // buffers (and LBFGS's history) fill up here
        count = 0;
        (Tensor as { empty: typeof Tensor.empty }).empty = counting;
        try {
          m.step(w, grads[3]);
          m.step(w, grads[4]);
        } finally {
          (Tensor as { empty: typeof Tensor.empty }).empty = empty;
        }
        assert.equal(count, 0, `${label} allocated ${count} tensors in steady state`);
      }
    });

    it('does not modify the gradient', () => {
      setBackend(backendName);
      for (const [label, make] of CONFIGS) {
        const rng = new RandomGenerator(15);
        const w = randomVec(rng, 6), g = randomVec(rng, 6);
        const before = bits(g);
        runSteps(make(), w, [g, g]);
        assert.deepEqual(bits(g), before, label);
      }
    });

    it('rejects bad input with errors naming the method, leaving weights untouched', () => {
      setBackend(backendName);
      const w = Tensor.from([1, 2, 3, 4]);
      const g = Tensor.from([0.1, 0.2, 0.3, 0.4]);
      const adam = new Adam();
      assert.throws(() => adam.step(w, Tensor.from([1, 2, 3])), /Adam\.step: gradient has 3 elements but weights have 4/);
      assert.throws(() => adam.step(w.view(2, 2), g.view(2, 2)), /Adam\.step: weights must be a 1-d contiguous float32 tensor .*\[2, 2\]/);
      assert.throws(() => adam.step(w, g.to('int32')), /Adam\.step: gradient must be a 1-d contiguous float32 tensor .*int32/);
      assert.throws(() => adam.step(Tensor.from([1, 2, 3, 4, 5, 6, 7, 8]).view(4, 2).select(1, 0), g), /strided/);
      assert.equal(adam.state.neval, 0);
      adam.step(w, g);
      assert.throws(() => adam.step(Tensor.from([1, 2]), Tensor.from([1, 2])),
        /Adam\.step: this Adam holds state for a slice of 4 elements but was given 2; use one instance \(clone\(\)\) per slice/);
      const before = w.toArray();
      for (const bad of [NaN, Infinity]) {
        assert.throws(() => adam.step(w, Tensor.from([0, bad, 0, 0])), /Adam\.step: gradient \[4\] contains NaN or infinity/);
      }
      assert.deepEqual(w.toArray(), before);
      assert.equal(adam.state.neval, 1);
      assert.throws(() => new SGD().loadState(adam.saveState()), /SGD\.loadState: the state was saved by Adam, not SGD/);
      const saved = adam.saveState();
      assert.throws(() => new Adam().loadState({ ...saved, buffers: { expAvg: new Float32Array(3) } }), /buffer 'expAvg' must be a Float32Array of the slice length 4/);
      assert.throws(() => new LBFGS().optimize(() => ({ loss: 0, gradient: Tensor.from([1, 2]) }), w),
        /LBFGS\.optimize: feval must return \{ loss, gradient \} with a float32 gradient of 4 elements/);
    });

    it('validates hyper-parameters', () => {
      assert.throws(() => new SGD({ learningRate: -1 }), /SGD: learningRate must be a finite number in \[0, Infinity\], got -1/);
      assert.throws(() => new SGD({ momentum: 0.9, nesterov: true }), /SGD: Nesterov momentum requires a momentum > 0 and zero dampening/);
      assert.throws(() => new Adam({ beta1: 1 }), /Adam: beta1 must be a finite number in \[0, 1\)/);
      assert.throws(() => new RMSprop({ epsilon: NaN }), /RMSprop: epsilon/);
      assert.throws(() => new SGD({ learningRateDecay: 0.1, learningRateSchedule: new Step(1, 0.5) }), /learningRateDecay applies only to the default schedule/);
      assert.throws(() => new LBFGS({ maxIter: 0 }), /LBFGS: maxIter must be an integer >= 1/);
      assert.throws(() => new LBFGS({ lineSearch: 'armijo' as 'strongWolfe' }), /lineSearch must be 'strongWolfe'/);
    });

    it('BigDL defaults: SGD dampening follows momentum; learningRateDecay is lr / (1 + neval * decay)', () => {
      setBackend(backendName);
      const sgd = new SGD({ learningRate: 1, momentum: 0.5, learningRateDecay: 0.5 });
      assert.equal(sgd.dampening, 0.5);
      const w = Tensor.from([0]);
      const g = Tensor.from([1]);
      sgd.step(w, g); // b = 1, lr 1
      assert.equal(w.item(), -1);
      sgd.step(w, g); // b = 0.5 * 1 + 0.5 * 1 = 1, lr 1 / 1.5
      assertClose([w.item()], [-1 - 1 / 1.5], 'second step');
      assert.equal(sgd.getLearningRate(), 1 / 1.5);
      assert.equal(new Adagrad().learningRate, 1e-3);
      assert.equal(new Adamax().learningRate, 0.002);
    });

    it('optimize returns the weights and the loss', () => {
      setBackend(backendName);
      const w = Tensor.from([1, -1]);
      const r = new SGD({ learningRate: 0.5 }).optimize((x) => ({ loss: 7, gradient: x.clone() }), w);
      assert.equal(r.weights, w);
      assert.deepEqual(r.losses, [7]);
      assert.deepEqual(w.toArray(), [0.5, -0.5]);
    });
  });
}
