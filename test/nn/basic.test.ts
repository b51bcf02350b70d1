// The module contract on the first layers: gradients, buffer reuse, flat parameters, clones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Linear } from '../../src/nn/linear.js';
import { ReLU, Sigmoid, Tanh, Threshold } from '../../src/nn/activations.js';
import { Sequential } from '../../src/nn/sequential.js';
import { ClassNLLCriterion, CrossEntropyCriterion, MSECriterion } from '../../src/nn/criterion.js';
import { Xavier } from '../../src/nn/init.js';
import { backendsUnderTest } from '../helpers.js';
import { checkCriterionGradients, checkModuleGradients } from './gradcheck.js';

const labels = (v: number[]) => Tensor.from(v, undefined, { dtype: 'int32' });

for (const name of backendsUnderTest()) {
  describe(`nn basics on ${name}`, () => {
    it('finite-difference gradients: Linear, activations, Sequential', () => {
      setBackend(name);
      RNG.setSeed(1);
      const rng = new RandomGenerator(2);
      checkModuleGradients('Linear', new Linear(7, 5), Tensor.randn([4, 7], 0, 1, rng));
      checkModuleGradients('Linear 1-d input', new Linear(3, 2), Tensor.randn([3], 0, 1, rng));
      checkModuleGradients('Linear no bias', new Linear(4, 3, { withBias: false }), Tensor.randn([2, 4], 0, 1, rng));
      checkModuleGradients('Tanh', new Tanh(), Tensor.randn([3, 5], 0, 1, rng));
      checkModuleGradients('Sigmoid', new Sigmoid(), Tensor.randn([3, 5], 0, 1, rng));
      // keep inputs away from the kink so the central difference is valid
      const awayFrom = (k: number) => Tensor.from(Tensor.randn([3, 5], k, 1, rng).toArray().map((v) => (Math.abs(v - k) < 0.05 ? v + 0.2 : v)), [3, 5]);
      checkModuleGradients('ReLU', new ReLU(), awayFrom(0));
      checkModuleGradients('Threshold', new Threshold(0.5, -1), awayFrom(0.5));
      const mlp = new Sequential().add(new Linear(6, 8)).add(new Tanh()).add(new Linear(8, 3)).add(new Sigmoid());
      checkModuleGradients('Sequential MLP', mlp, Tensor.randn([5, 6], 0, 1, rng));
    });

    it('finite-difference gradients: criterions', () => {
      setBackend(name);
      const rng = new RandomGenerator(3);
      const logp = Tensor.randn([4, 5], 0, 1, rng).logSoftmax(1);
      checkCriterionGradients('ClassNLL', new ClassNLLCriterion(), logp.clone(), labels([0, 4, 2, 2]));
      checkCriterionGradients('ClassNLL weighted, summed, ignore', new ClassNLLCriterion({ weights: Tensor.from([1, 2, 0.5, 1, 3]), sizeAverage: false, ignoreIndex: 1 }),
        logp.clone(), labels([0, 1, 2, 4]));
      checkCriterionGradients('CrossEntropy', new CrossEntropyCriterion(), Tensor.randn([3, 6], 0, 1, rng), labels([5, 0, 3]));
      checkCriterionGradients('MSE', new MSECriterion(), Tensor.randn([3, 4], 0, 1, rng), Tensor.randn([3, 4], 0, 1, rng));
    });

    it('criterion values match their definitions', () => {
      setBackend(name);
      const logp = Tensor.from([[Math.log(0.5), Math.log(0.25), Math.log(0.25)], [Math.log(0.1), Math.log(0.8), Math.log(0.1)]]);
      const nll = new ClassNLLCriterion().forward(logp, labels([0, 1]));
      assert.ok(Math.abs(nll - -(Math.log(0.5) + Math.log(0.8)) / 2) < 1e-6);
      const w = new ClassNLLCriterion({ weights: Tensor.from([2, 1, 1]) }).forward(logp, labels([0, 1]));
      assert.ok(Math.abs(w - -(2 * Math.log(0.5) + Math.log(0.8)) / 3) < 1e-6);
      assert.equal(new ClassNLLCriterion({ ignoreIndex: 0 }).forward(logp, labels([0, 0])), 0);
      const ce = new CrossEntropyCriterion().forward(Tensor.from([[0, 0]]), labels([1]));
      assert.ok(Math.abs(ce - Math.log(2)) < 1e-6);
      assert.ok(Math.abs(new MSECriterion().forward(Tensor.from([1, 2]), Tensor.from([0, 4])) - 2.5) < 1e-6);
    });

    it('bad input names the module and the shapes', () => {
      setBackend(name);
      assert.throws(() => new Linear(4, 2).forward(Tensor.zeros([3, 5])), /Linear: expected input \[4\] or \[batch, 4\] float32, got float32 \[3, 5\]/);
      assert.throws(() => new ClassNLLCriterion().forward(Tensor.zeros([2, 3]), labels([0, 3])), /target 3 at position 1 is not a class in \[0, 3\) \(labels are 0-based\)/);
      assert.throws(() => new ClassNLLCriterion().forward(Tensor.zeros([2, 3]), labels([0])), /1 targets \[1\] for a batch of 2/);
      assert.throws(() => new MSECriterion().forward(Tensor.zeros([2]), Tensor.zeros([3])), /MSECriterion: input \[2\] and target \[3\] must have the same shape/);
      assert.throws(() => new Tanh().backward(Tensor.zeros([2]), Tensor.zeros([3])), /Tanh: gradOutput \[3\] does not match input \[2\]/);
      assert.throws(() => new Sequential().forward(Tensor.zeros([1])), /empty Sequential/);
      assert.throws(() => new Linear(0, 2), /sizes must be positive integers/);
    });
  });
}

describe('module contract', () => {
  it('reuses output and gradInput buffers once shapes settle', () => {
    const mlp = new Sequential().add(new Linear(10, 20)).add(new Tanh()).add(new Linear(20, 4));
    const x = Tensor.randn([8, 10]);
    const g = Tensor.randn([8, 4]);
    mlp.forward(x);
    mlp.backward(x, g);
    const buffers = mlp.children().flatMap((m) => [m.output, m.gradInput]);
    for (let i = 0; i < 3; i++) {
      mlp.forward(x);
      mlp.backward(x, g);
    }
    const after = mlp.children().flatMap((m) => [m.output, m.gradInput]);
    after.forEach((b, i) => assert.equal(b, buffers[i], `buffer ${i} was reallocated`));
  });

  it('accumulates gradients until zeroGradParameters', () => {
    const l = new Linear(3, 2);
    const x = Tensor.randn([4, 3]), g = Tensor.randn([4, 2]);
    l.forward(x);
    l.backward(x, g);
    const once = l.parameters().gradients.map((t) => t.toArray());
    l.backward(x, g);
    l.parameters().gradients.forEach((t, k) => t.toArray().forEach((v, i) => assert.ok(Math.abs(v - 2 * once[k][i]) < 1e-5)));
    l.zeroGradParameters();
    for (const t of l.parameters().gradients) assert.ok(t.toArray().every((v) => v === 0));
  });

  it('getParameters compacts into flat buffers that the modules then use', () => {
    const mlp = new Sequential().add(new Linear(3, 4)).add(new Tanh()).add(new Linear(4, 2, { weightInit: Xavier }));
    const x = Tensor.randn([2, 3]);
    const before = mlp.forward(x).clone();
    const names = mlp.namedParameters().map((p) => p.name);
    assert.deepEqual(names, ['0.weight', '0.bias', '2.weight', '2.bias']);
    const { weights, gradients } = mlp.getParameters();
    assert.equal(weights.numel, 3 * 4 + 4 + 4 * 2 + 2);
    assert.equal(mlp.parameterCount(), weights.numel);
    assert.deepEqual(mlp.forward(x).toArray(), before.toArray(), 'compaction keeps the values');
    weights.zero_();
    assert.ok(mlp.forward(x).toArray().every((v) => v === 0), 'the model reads the flat buffer');
    mlp.backward(x, Tensor.ones([2, 2]));
    assert.ok(gradients.toArray().some((v) => v !== 0), 'backward writes the flat gradient buffer');
    const again = mlp.getParameters();
    assert.equal(again.weights.data, weights.data, 'a second call returns the same buffers');
    const shared = new Linear(2, 2).getParameters({ shared: true });
    assert.ok(shared.weights.data.buffer instanceof SharedArrayBuffer);
  });

  it('clone makes an independent replica with equal outputs', () => {
    const mlp = new Sequential().add(new Linear(3, 4)).add(new ReLU()).add(new Linear(4, 2));
    mlp.getParameters();
    const copy = mlp.clone();
    const x = Tensor.randn([5, 3]);
    assert.deepEqual(copy.forward(x).toArray(), mlp.forward(x).toArray());
    copy.getParameters().weights.fill_(0);
    assert.notDeepEqual(copy.forward(x).toArray(), mlp.forward(x).toArray());
    assert.notEqual(copy.getParameters().weights.data, mlp.getParameters().weights.data);
  });

  it('toString lists modules with parameter counts', () => {
    const s = new Sequential().add(new Linear(784, 10)).add(new Tanh()).toString();
    assert.match(s, /^Sequential \(7,850 params\)\n {2}Linear\(784 -> 10\) \{weight\[10, 784\], bias\[10\]\} \(7,850 params\)\n {2}Tanh$/);
  });
});
