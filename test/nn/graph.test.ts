// The functional Graph API: DAGs with fan-out, multiple inputs and outputs, checked against the
// same computation written by hand and by finite differences.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/tensor/ops.js';
import { Graph, Input } from '../../src/nn/graph.js';
import { Linear } from '../../src/nn/linear.js';
import { Module, ensureShape } from '../../src/nn/module.js';
import { Sigmoid, Tanh } from '../../src/nn/activations.js';
import { Sequential } from '../../src/nn/sequential.js';
import { checkModuleGradients } from './gradcheck.js';

/** a + b of a 2-table (a local stand-in so this test depends on nothing but Graph). */
class Add2 extends Module<Tensor[], Tensor> {
  updateOutput([a, b]: Tensor[]): Tensor {
    this.output = ensureShape(this.output, a.shape);
    return ops.add(a, b, 1, this.output);
  }
  updateGradInput(_: Tensor[], g: Tensor): Tensor[] {
    this.gradInput = [g, g];
    return this.gradInput;
  }
}

describe('Graph', () => {
  it('a chain equals the same Sequential', () => {
    const rng = new RandomGenerator(1);
    const l1 = new Linear(4, 6), l2 = new Linear(6, 3);
    const x = Input();
    const y = new Sigmoid().inputs(l2.inputs(new Tanh().inputs(l1.inputs(x))));
    const g = new Graph([x], [y]);
    const seq = new Sequential().add(l1.clone()).add(new Tanh()).add(l2.clone()).add(new Sigmoid());
    const inp = Tensor.randn([5, 4], 0, 1, rng);
    assert.deepEqual((g.forward(inp) as Tensor).toArray(), seq.forward(inp).toArray());
    const go = Tensor.randn([5, 3], 0, 1, rng);
    assert.deepEqual((g.backward(inp, go) as Tensor).toArray(), seq.backward(inp, go).toArray());
    assert.deepEqual(g.getParameters().gradients.toArray(), seq.getParameters().gradients.toArray());
  });

  it('fan-out sums gradients; residual block gradients pass a finite-difference check', () => {
    const x = Input();
    const h = new Linear(3, 3).inputs(x);
    const branch = new Tanh().inputs(new Linear(3, 3).inputs(h));
    const y = new Add2().inputs(h, branch); // h feeds two consumers
    const g = new Graph(x, y);
    checkModuleGradients('residual graph', g, Tensor.randn([4, 3], 0, 1, new RandomGenerator(2)));
  });

  it('multiple inputs and outputs are tables in the order given', () => {
    const a = Input('a'), b = Input('b');
    const la = new Linear(2, 2).inputs(a), lb = new Linear(3, 2).inputs(b);
    const sum = new Add2().inputs(la, lb);
    const g = new Graph([a, b], [sum, la]);
    const ta = Tensor.randn([1, 2]), tb = Tensor.randn([1, 3]);
    const [s, first] = g.forward([ta, tb]) as Tensor[];
    assert.deepEqual(s.toArray(), ops.add(la.module.output as Tensor, lb.module.output as Tensor).toArray());
    assert.deepEqual(first.toArray(), (la.module.output as Tensor).toArray());
    const grads = g.backward([ta, tb], [Tensor.ones([1, 2]), Tensor.ones([1, 2])]) as Tensor[];
    assert.deepEqual(grads.map((t) => t.shape), [[1, 2], [1, 3]]);
    // la receives gradient from both outputs: 2 * ones · W
    const w = (la.module as Linear).weight.weight;
    assert.deepEqual(grads[0].toArray(), ops.mm(Tensor.full([1, 2], 2), w).toArray());
  });

  it('refuses malformed graphs with a message saying what to fix', () => {
    const x = Input();
    const l = new Linear(2, 2);
    const n1 = l.inputs(x);
    assert.throws(() => new Graph(x, l.clone().inputs(l.inputs(n1))), /appears in two nodes; use clone\(\)/);
    const orphan = new Linear(2, 2).inputs();
    assert.throws(() => new Graph(x, new Add2().inputs(n1, orphan)), /has no inputs and is not among the graph inputs/);
    assert.throws(() => new Graph([x, Input()], n1), /does not reach any output/);
    assert.throws(() => new Graph(n1, n1), /input nodes must come from Input\(\)/);
    assert.throws(() => new Linear(2, 2).inputs({} as never), /arguments must be graph nodes/);
  });
});
