// Activations beyond the first four: finite-difference gradients, values against plain-JS
// definitions, bad inputs, buffer reuse. Every test runs on every backend.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  Abs, Clamp, ELU, Exp, HardTanh, LeakyReLU, Log, LogSoftMax, Power, PReLU, ReLU6, SoftMax, SoftPlus, Sqrt, Square,
} from '../../src/nn/activations.js';
import type { Module } from '../../src/nn/module.js';
import { assertClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

/** Uniform values in [lo, hi] at least `gap` away from every kink. */
function awayFrom(rng: RandomGenerator, shape: number[], lo: number, hi: number, kinks: number[] = [], gap = 0.05): Tensor {
  const t = Tensor.empty(shape);
  for (let i = 0; i < t.numel; i++) {
    let v = rng.uniform(lo, hi);
    while (kinks.some((k) => Math.abs(v - k) < gap)) v = rng.uniform(lo, hi);
    t.data[i] = v;
  }
  return t;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

interface Case {
  name: string;
  make: () => Module;
  /** the definition, in plain JS numbers */
  f: (x: number) => number;
  /** its derivative */
  df: (x: number) => number;
  lo: number;
  hi: number;
  kinks?: number[];
}

const cases: Case[] = [
  { name: 'ReLU6', make: () => new ReLU6(), f: (x) => Math.min(Math.max(x, 0), 6), df: (x) => (x > 0 && x < 6 ? 1 : 0), lo: -2, hi: 8, kinks: [0, 6] },
  { name: 'LeakyReLU', make: () => new LeakyReLU(), f: (x) => (x > 0 ? x : 0.01 * x), df: (x) => (x > 0 ? 1 : 0.01), lo: -3, hi: 3, kinks: [0] },
  { name: 'LeakyReLU(0.3)', make: () => new LeakyReLU(0.3), f: (x) => (x > 0 ? x : 0.3 * x), df: (x) => (x > 0 ? 1 : 0.3), lo: -3, hi: 3, kinks: [0] },
  { name: 'ELU', make: () => new ELU(), f: (x) => (x > 0 ? x : Math.exp(x) - 1), df: (x) => (x > 0 ? 1 : Math.exp(x)), lo: -3, hi: 3, kinks: [0] },
  { name: 'ELU(0.5)', make: () => new ELU(0.5), f: (x) => (x > 0 ? x : 0.5 * (Math.exp(x) - 1)), df: (x) => (x > 0 ? 1 : 0.5 * Math.exp(x)), lo: -3, hi: 3, kinks: [0] },
  { name: 'ELU(2)', make: () => new ELU(2), f: (x) => (x > 0 ? x : 2 * (Math.exp(x) - 1)), df: (x) => (x > 0 ? 1 : 2 * Math.exp(x)), lo: -3, hi: 3, kinks: [0] },
  { name: 'HardTanh', make: () => new HardTanh(), f: (x) => Math.min(Math.max(x, -1), 1), df: (x) => (x > -1 && x < 1 ? 1 : 0), lo: -2, hi: 2, kinks: [-1, 1] },
  { name: 'HardTanh(-0.5, 2)', make: () => new HardTanh(-0.5, 2), f: (x) => Math.min(Math.max(x, -0.5), 2), df: (x) => (x > -0.5 && x < 2 ? 1 : 0), lo: -2, hi: 3, kinks: [-0.5, 2] },
  { name: 'Clamp(-2, 3)', make: () => new Clamp(-2, 3), f: (x) => Math.min(Math.max(x, -2), 3), df: (x) => (x > -2 && x < 3 ? 1 : 0), lo: -4, hi: 5, kinks: [-2, 3] },
  { name: 'SoftPlus', make: () => new SoftPlus(), f: (x) => (x > 20 ? x : Math.log1p(Math.exp(x))), df: sigmoid, lo: -6, hi: 6 },
  { name: 'SoftPlus(2)', make: () => new SoftPlus(2), f: (x) => (2 * x > 20 ? x : Math.log1p(Math.exp(2 * x)) / 2), df: (x) => sigmoid(2 * x), lo: -4, hi: 4 },
  { name: 'Power(2)', make: () => new Power(2), f: (x) => x * x, df: (x) => 2 * x, lo: -3, hi: 3 },
  { name: 'Power(3, 0.5, 1)', make: () => new Power(3, 0.5, 1), f: (x) => (1 + 0.5 * x) ** 3, df: (x) => 1.5 * (1 + 0.5 * x) ** 2, lo: -3, hi: 3 },
  { name: 'Power(0.5, 2, 3)', make: () => new Power(0.5, 2, 3), f: (x) => Math.sqrt(3 + 2 * x), df: (x) => 1 / Math.sqrt(3 + 2 * x), lo: -1, hi: 2 },
  { name: 'Power(-1)', make: () => new Power(-1), f: (x) => 1 / x, df: (x) => -1 / (x * x), lo: 0.5, hi: 2 },
  { name: 'Power(1, 3, 1)', make: () => new Power(1, 3, 1), f: (x) => 3 * x + 1, df: () => 3, lo: -2, hi: 2 },
  { name: 'Sqrt', make: () => new Sqrt(), f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x), lo: 0.3, hi: 4 },
  { name: 'Square', make: () => new Square(), f: (x) => x * x, df: (x) => 2 * x, lo: -3, hi: 3 },
  { name: 'Exp', make: () => new Exp(), f: Math.exp, df: Math.exp, lo: -3, hi: 2 },
  { name: 'Log', make: () => new Log(), f: Math.log, df: (x) => 1 / x, lo: 0.3, hi: 4 },
  { name: 'Abs', make: () => new Abs(), f: Math.abs, df: Math.sign, lo: -3, hi: 3, kinks: [0] },
];

/** softmax (or log-softmax) of a row-major array along `dim` of `shape`, in plain JS */
function softmaxRef(x: number[], shape: number[], dim: number, log: boolean): number[] {
  const n = shape[dim];
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const outer = x.length / (n * inner);
  const y = new Array<number>(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => o * n * inner + k * inner + i;
      let m = -Infinity;
      for (let k = 0; k < n; k++) m = Math.max(m, x[at(k)]);
      let s = 0;
      for (let k = 0; k < n; k++) s += Math.exp(x[at(k)] - m);
      for (let k = 0; k < n; k++) y[at(k)] = log ? x[at(k)] - m - Math.log(s) : Math.exp(x[at(k)] - m) / s;
    }
  }
  return y;
}

/** gradient of (log-)softmax from its output y and gy, along `dim`, in plain JS */
function softmaxGradRef(y: number[], gy: number[], shape: number[], dim: number, log: boolean): number[] {
  const n = shape[dim];
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const outer = y.length / (n * inner);
  const g = new Array<number>(y.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => o * n * inner + k * inner + i;
      let s = 0;
      for (let k = 0; k < n; k++) s += log ? gy[at(k)] : gy[at(k)] * y[at(k)];
      for (let k = 0; k < n; k++) g[at(k)] = log ? gy[at(k)] - Math.exp(y[at(k)]) * s : y[at(k)] * (gy[at(k)] - s);
    }
  }
  return g;
}

/** every tensor-valued field of a module (output, gradInput and its scratch buffers), by name */
function tensorFields(m: Module): Map<string, Tensor> {
  return new Map(Object.entries(m).filter((e): e is [string, Tensor] => e[1] instanceof Tensor));
}

/** forward/backward twice more; the output, gradInput and scratch tensors must be the same objects */
function assertReusesBuffers(what: string, m: Module, x: Tensor): void {
  const gy = Tensor.ones(x.shape);
  m.forward(x);
  m.backward(x, gy);
  const before = tensorFields(m);
  for (let i = 0; i < 2; i++) {
    m.forward(x);
    m.backward(x, gy);
  }
  assert.ok(before.has('output') && before.has('gradInput'));
  for (const [k, t] of tensorFields(m)) assert.equal(t, before.get(k), `${what}: ${k} was reallocated`);
}

for (const name of backendsUnderTest()) {
  describe(`activations on ${name}`, () => {
    it('finite-difference gradients of the pointwise layers', () => {
      setBackend(name);
      const rng = new RandomGenerator(11);
      for (const c of cases) checkModuleGradients(c.name, c.make(), awayFrom(rng, [4, 6], c.lo, c.hi, c.kinks));
      // SoftPlus past its linear threshold (beta * x > 20)
      checkModuleGradients('SoftPlus linear region', new SoftPlus(2), awayFrom(rng, [3, 4], 8, 14));
    });

    it('pointwise values and gradients match their definitions', () => {
      setBackend(name);
      const rng = new RandomGenerator(12);
      for (const c of cases) {
        const x = awayFrom(rng, [3, 7], c.lo, c.hi, c.kinks, 1e-3);
        const gy = Tensor.rand([3, 7], -1, 1, rng);
        const m = c.make();
        const xs = x.toArray(), gys = gy.toArray();
        assertClose(m.forward(x).toArray(), xs.map(c.f), `${c.name} forward`, 2e-5, 1e-6);
        assertClose(m.backward(x, gy).toArray(), xs.map((v, i) => gys[i] * c.df(v)), `${c.name} backward`, 2e-5, 1e-6);
      }
    });

    it('values at and beyond the kinks follow Torch', () => {
      setBackend(name);
      const x = Tensor.from([-1, 0, 3, 6, 7]);
      const g = Tensor.ones([5]);
      const r6 = new ReLU6();
      assert.deepEqual(r6.forward(x).toArray(), [0, 0, 3, 6, 6]);
      assert.deepEqual(r6.backward(x, g).toArray(), [0, 0, 1, 0, 0], 'ReLU6 passes the gradient strictly inside (0, 6)');
      const ht = new HardTanh();
      assert.deepEqual(ht.backward(Tensor.from([-1, -0.5, 1]), Tensor.ones([3])).toArray(), [0, 1, 0]);
      const lr = new LeakyReLU(0.5);
      assert.deepEqual(lr.backward(Tensor.from([0, 2, -2]), Tensor.ones([3])).toArray(), [0.5, 1, 0.5], 'LeakyReLU uses negval at 0');
      assert.deepEqual(new Abs().backward(Tensor.from([0, -2, 2]), Tensor.ones([3])).toArray(), [0, -1, 1]);
      // SoftPlus is exactly linear past the threshold and finite far below it
      const sp = new SoftPlus();
      assertClose(sp.forward(Tensor.from([21, 30, -30, 0])).toArray(), [21, 30, Math.log1p(Math.exp(-30)), Math.log(2)], 'SoftPlus', 1e-6, 1e-12);
      assertClose(sp.backward(Tensor.from([21, 30, -30, 0]), Tensor.ones([4])).toArray(), [1, 1, sigmoid(-30), 0.5], 'SoftPlus grad', 1e-5, 1e-12);
      const e = new ELU(0.5);
      e.forward(Tensor.from([0, -1]));
      assertClose(e.backward(Tensor.from([0, -1]), Tensor.ones([2])).toArray(), [1, 0.5 * Math.exp(-1)], 'ELU(0.5) grad', 1e-5, 1e-7);
    });

    it('PReLU: shared and per-channel slopes, input and slope gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(13);
      const slopes = (m: PReLU, v: number[]) => m.parameters().weights[0].copy_(Tensor.from(v));
      const shared = new PReLU();
      assert.deepEqual(shared.parameters().weights[0].toArray(), [0.25], 'initial slope 0.25');
      checkModuleGradients('PReLU shared', shared, awayFrom(rng, [3, 5], -3, 3, [0]));
      const negative = new PReLU();
      slopes(negative, [-0.4]);
      checkModuleGradients('PReLU shared 4-d', negative, awayFrom(rng, [2, 3, 2, 2], -3, 3, [0]));
      for (const shape of [[3], [4, 3], [3, 2, 4], [2, 3, 2, 3]]) {
        const m = new PReLU(3);
        assert.deepEqual(m.parameters().weights[0].toArray(), [0.25, 0.25, 0.25]);
        slopes(m, [0.25, -0.3, 1.5]);
        checkModuleGradients(`PReLU(3) ${shape}`, m, awayFrom(rng, shape, -3, 3, [0]));
      }
    });

    it('PReLU values and slope gradients match the definition', () => {
      setBackend(name);
      const rng = new RandomGenerator(14);
      // [shape, index -> channel]
      const layouts: [number[], (i: number) => number][] = [
        [[3], (i) => i],
        [[4, 3], (i) => i % 3],
        [[3, 2, 2], (i) => Math.floor(i / 4)],
        [[2, 3, 2, 2], (i) => Math.floor(i / 4) % 3],
      ];
      const a = [0.25, -0.3, 1.5];
      for (const [shape, channel] of layouts) {
        const m = new PReLU(3);
        m.parameters().weights[0].copy_(Tensor.from(a));
        const x = awayFrom(rng, shape, -2, 2, [0], 1e-3);
        const gy = Tensor.rand(shape, -1, 1, rng);
        const xs = x.toArray(), gys = gy.toArray();
        assertClose(m.forward(x).toArray(), xs.map((v, i) => (v > 0 ? v : a[channel(i)] * v)), `PReLU ${shape} forward`, 1e-6, 1e-7);
        m.zeroGradParameters();
        assertClose(m.backward(x, gy, 0.5).toArray(), xs.map((v, i) => gys[i] * (v > 0 ? 1 : a[channel(i)])), `PReLU ${shape} backward`, 1e-6, 1e-7);
        const expected = [0, 0, 0];
        xs.forEach((v, i) => { if (v <= 0) expected[channel(i)] += 0.5 * gys[i] * v; });
        assertClose(m.parameters().gradients[0].toArray(), expected, `PReLU ${shape} slope gradient`, 1e-5, 1e-6);
        m.backward(x, gy, 0.5);
        assertClose(m.parameters().gradients[0].toArray(), expected.map((v) => 2 * v), `PReLU ${shape} accumulates`, 1e-5, 1e-6);
      }
      const sh = new PReLU();
      const x = Tensor.from([[-1, 2], [-3, 0.5]]), gy = Tensor.from([[1, 1], [2, -1]]);
      assert.deepEqual(sh.forward(x).toArray(), [-0.25, 2, -0.75, 0.5]);
      assert.deepEqual(sh.backward(x, gy).toArray(), [0.25, 1, 0.5, -1]);
      assertClose(sh.parameters().gradients[0].toArray(), [-1 + -6], 'PReLU shared slope gradient');
    });

    it('PReLU keeps working after getParameters compacts its slopes', () => {
      setBackend(name);
      const m = new PReLU(2);
      const { weights, gradients } = m.getParameters();
      weights.copy_(Tensor.from([0.5, 2]));
      const x = Tensor.from([[-1, -1], [1, -2]]);
      assert.deepEqual(m.forward(x).toArray(), [-0.5, -2, 1, -4]);
      m.backward(x, Tensor.ones([2, 2]));
      assert.deepEqual(gradients.toArray(), [-1, -3]);
    });

    it('SoftMax and LogSoftMax: Torch/BigDL dims, values and gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(15);
      // [shape, explicit dim or undefined, the dim used]
      const layouts: [number[], number | undefined, number][] = [
        [[5], undefined, 0], [[3, 4], undefined, 1], [[3, 2, 4], undefined, 0], [[2, 3, 2, 2], undefined, 1],
        [[2, 3, 4], -1, 2], [[2, 3, 4], 1, 1], [[2, 2, 2, 3, 2], 3, 3],
      ];
      for (const log of [false, true]) {
        for (const [shape, dim, used] of layouts) {
          const what = `${log ? 'LogSoftMax' : 'SoftMax'}(${dim}) ${shape}`;
          const make = () => (log ? new LogSoftMax(dim) : new SoftMax(dim));
          const x = Tensor.randn(shape, 0, 2, rng);
          const gy = Tensor.rand(shape, -1, 1, rng);
          const m = make();
          const y = softmaxRef(x.toArray(), shape, used, log);
          assertClose(m.forward(x).toArray(), y, `${what} forward`, 1e-5, 1e-6);
          assertClose(m.backward(x, gy).toArray(), softmaxGradRef(y, gy.toArray(), shape, used, log), `${what} backward`, 1e-4, 1e-6);
          checkModuleGradients(what, make(), x);
        }
      }
    });

    it('bad inputs name the module', () => {
      setBackend(name);
      const int = Tensor.zeros([2, 3], { dtype: 'int32' });
      for (const c of cases) {
        const m = c.make();
        assert.throws(() => m.forward(int), (e: Error) => e.message.startsWith(`${m.getName()}: `), `${c.name} int32 input`);
        const x = Tensor.rand([2, 3], 0.5, 1);
        m.forward(x);
        assert.throws(() => m.backward(x, Tensor.zeros([3, 2])), new RegExp(`^RangeError: ${m.getName()}: gradOutput \\[3,2\\] does not match input \\[2,3\\]`), `${c.name} gradOutput`);
      }
      assert.throws(() => new SoftMax().forward(Tensor.zeros([1, 2, 1, 2, 3])), /SoftMax: expected input float32 \[n\], \[batch, n\], \[C, H, W\] or \[N, C, H, W\], got float32 \[1, 2, 1, 2, 3\]/);
      assert.throws(() => new LogSoftMax().forward(Tensor.zeros([])), /LogSoftMax: expected input/);
      assert.throws(() => new SoftMax(2).forward(Tensor.zeros([2, 3])), /SoftMax: expected input a float32 tensor with a dim 2, got float32 \[2, 3\]/);
      assert.throws(() => new LogSoftMax().forward(int), /LogSoftMax: expected input .* got int32 \[2, 3\]/);
      assert.throws(() => new SoftMax().backward(Tensor.zeros([2, 3]), Tensor.zeros([3])), /SoftMax: gradOutput/);
      assert.throws(() => new PReLU(3).forward(Tensor.zeros([2, 4])), /PReLU: expected input float32 \[3\], \[batch, 3\], \[3, H, W\] or \[batch, 3, H, W\], got float32 \[2, 4\]/);
      assert.throws(() => new PReLU(3).forward(Tensor.zeros([1, 3, 2, 2, 1])), /PReLU: expected input/);
      assert.throws(() => new PReLU().forward(int), /PReLU: expected input a float32 tensor, got int32 \[2, 3\]/);
      assert.throws(() => new PReLU().backward(Tensor.zeros([2]), Tensor.zeros([3])), /PReLU: gradOutput/);
      // constructor arguments
      assert.throws(() => new HardTanh(1, 1), /HardTanh: max \(1\) must be greater than min \(1\)/);
      assert.throws(() => new Clamp(2, -2), /Clamp: max \(-2\) must be greater than min \(2\)/);
      assert.throws(() => new SoftPlus(0), /SoftPlus: beta must be a positive number, got 0/);
      assert.throws(() => new PReLU(-1), /PReLU: nOutputPlane must be a non-negative integer/);
      assert.throws(() => new PReLU(1.5), /PReLU: nOutputPlane/);
      assert.throws(() => new LeakyReLU(Number.NaN), /LeakyReLU: negval must be a finite number/);
      assert.throws(() => new ELU(Infinity), /ELU: alpha must be a finite number/);
      assert.throws(() => new Power(Number.NaN), /Power: power must be a finite number/);
      assert.throws(() => new SoftMax(0.5), /SoftMax: dim must be an integer/);
    });

    it('reuses output, gradInput and scratch buffers once shapes settle', () => {
      setBackend(name);
      const rng = new RandomGenerator(16);
      for (const c of cases) assertReusesBuffers(c.name, c.make(), awayFrom(rng, [3, 4], c.lo, c.hi, c.kinks));
      assertReusesBuffers('PReLU', new PReLU(), Tensor.randn([3, 4], 0, 1, rng));
      assertReusesBuffers('PReLU(4)', new PReLU(4), Tensor.randn([2, 4, 3, 3], 0, 1, rng));
      assertReusesBuffers('SoftMax', new SoftMax(), Tensor.randn([2, 4, 3, 3], 0, 1, rng));
      assertReusesBuffers('LogSoftMax', new LogSoftMax(), Tensor.randn([3, 4], 0, 1, rng));
    });
  });
}

describe('activations: naming', () => {
  it('toString shows the constructor arguments', () => {
    assert.equal(new ReLU6().toString(), 'ReLU6');
    assert.equal(new Clamp(-2, 3).toString(), 'Clamp(-2, 3)');
    assert.equal(new LeakyReLU().toString(), 'LeakyReLU(0.01)');
    assert.equal(new PReLU(4).toString(), 'PReLU(4) {weight[4]} (4 params)');
    assert.equal(new Power(2, 1, 0).toString(), 'Power(2, 1, 0)');
    assert.equal(new SoftMax(-1).toString(), 'SoftMax(dim -1)');
  });
});
