// Graph with spatial layers: a DAG with fan-out (from an input, an inner node and an output node),
// two inputs and two outputs, checked by finite differences on every backend; the split
// updateGradInput/accGradParameters path; buffer reuse; errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Graph, Input } from '../../src/nn/graph.js';
import { SpatialConvolution } from '../../src/nn/conv.js';
import { SpatialAveragePooling } from '../../src/nn/pooling.js';
import { SpatialBatchNormalization, SpatialCrossMapLRN } from '../../src/nn/normalization.js';
import { UpSampling2D } from '../../src/nn/temporal.js';
import { Tanh } from '../../src/nn/activations.js';
import { CAddTable } from '../../src/nn/tables.js';
import { assertTensorClose, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients, tensorsOf } from './gradcheck.js';

/**
 *   a ─ conv1 ─ tanh ─┬─ pool ─┬──────────── out[1]
 *   │                 │        └─ upsample ─┐
 *   │                 ├─ conv2 ─────────────┤
 *   │                 └─────────────────────┤
 *   └─ conv3 ───────────────────────────────┼─ add ─ lrn ─ out[0]
 *   b ─ spatial BN ─────────────────────────┘
 */
function buildGraph(): { g: Graph; parts: Record<string, SpatialConvolution> } {
  const a = Input('a'), b = Input('b');
  const conv1 = new SpatialConvolution(2, 3, 3, 3, 1, 1, 1, 1), conv2 = new SpatialConvolution(3, 3, 1, 1), conv3 = new SpatialConvolution(2, 3, 1, 1);
  const t = new Tanh().inputs(conv1.inputs(a));
  const pool = new SpatialAveragePooling(2, 2, 2, 2).inputs(t);
  const up = new UpSampling2D().inputs(pool);
  const bn = new SpatialBatchNormalization(3).inputs(b);
  const sum = new CAddTable().inputs(conv2.inputs(t), t, up, conv3.inputs(a), bn);
  const lrn = new SpatialCrossMapLRN(3, 1, 0.75, 1).inputs(sum);
  return { g: new Graph([a, b], [lrn, pool]), parts: { conv1, conv2, conv3 } };
}

function inputs(rng: RandomGenerator): Tensor[] {
  return [Tensor.randn([2, 2, 4, 4], 0, 1, rng), Tensor.randn([2, 3, 4, 4], 0, 1, rng)];
}

for (const name of backendsUnderTest()) {
  describe(`Graph with spatial layers on ${name}`, () => {
    it('finite-difference gradients through a DAG with fan-out, two inputs and two outputs', () => {
      setBackend(name);
      RNG.setSeed(1);
      const { g } = buildGraph();
      const x = inputs(new RandomGenerator(2));
      const ys = g.forward(x) as Tensor[];
      assert.deepEqual(ys.map((y) => y.shape), [[2, 3, 4, 4], [2, 3, 2, 2]]);
      checkModuleGradients('spatial graph', g, x, { samples: 16 });
      g.evaluate();
      checkModuleGradients('spatial graph (evaluation)', g, x, { samples: 16 });
    });

    it('equals the same computation written by hand', () => {
      setBackend(name);
      RNG.setSeed(3);
      const { g, parts } = buildGraph();
      const [a, b] = inputs(new RandomGenerator(4));
      const [y0, y1] = (g.forward([a, b]) as Tensor[]).map((t) => t.clone());
      const t = parts.conv1.clone().forward(a).tanh();
      const pool = new SpatialAveragePooling(2, 2, 2, 2).forward(t).clone();
      const sum = parts.conv2.clone().forward(t).add(t).add(new UpSampling2D().forward(pool)).add(parts.conv3.clone().forward(a))
        .add(new SpatialBatchNormalization(3).forward(b));
      assertTensorClose(y0, new SpatialCrossMapLRN(3, 1, 0.75, 1).forward(sum), 'graph output 0', 1e-5, 1e-6);
      assertTensorClose(y1, pool, 'graph output 1', 1e-6, 1e-7);
    });

    it('updateGradInput + accGradParameters equals backward; updateGradInput leaves parameters alone', () => {
      setBackend(name);
      RNG.setSeed(5);
      const { g } = buildGraph();
      const rng = new RandomGenerator(6);
      const x = inputs(rng);
      const gy = tensorsOf(g.forward(x)).map((y) => Tensor.randn(y.shape.slice(), 0, 1, rng));
      g.zeroGradParameters();
      const gi = tensorsOf(g.backward(x, gy, 0.5)).map((t) => t.clone());
      const grads = g.parameters().gradients.map((t) => t.clone());
      assert.ok(grads.every((t) => t.abs().sum().item() > 0), 'every parameter receives a gradient');
      g.zeroGradParameters();
      g.forward(x);
      const gi2 = tensorsOf(g.updateGradInput(x, gy)).map((t) => t.clone());
      gi2.forEach((t, k) => assertTensorClose(t, gi[k], `updateGradInput ${k}`, 1e-5, 1e-6));
      assert.ok(g.parameters().gradients.every((t) => t.abs().sum().item() === 0), 'updateGradInput accumulated parameter gradients');
      g.accGradParameters(x, gy, 0.5);
      g.parameters().gradients.forEach((t, k) => assertTensorClose(t, grads[k], `accGradParameters param${k}`, 1e-5, 1e-6));
    });

    it('reuses its output and gradInput tables and tensors; refuses malformed input tables', () => {
      setBackend(name);
      const { g } = buildGraph();
      const x = inputs(new RandomGenerator(7));
      const gy = tensorsOf(g.forward(x)).map((y) => Tensor.ones(y.shape.slice()));
      const y1 = g.forward(x) as Tensor[];
      const t1 = [...y1];
      const gi1 = g.backward(x, gy) as Tensor[];
      const u1 = [...gi1];
      const y2 = g.forward(x) as Tensor[];
      const gi2 = g.backward(x, gy) as Tensor[];
      assert.equal(y2, y1, 'output table reallocated');
      y2.forEach((t, i) => assert.equal(t, t1[i], `output ${i} reallocated`));
      assert.equal(gi2, gi1, 'gradInput table reallocated');
      gi2.forEach((t, i) => assert.equal(t, u1[i], `gradInput ${i} reallocated`));
      assert.throws(() => g.forward(x[0]), /Graph: expected a table of 2 inputs, got a tensor/);
      assert.throws(() => g.forward([x[0]]), /Graph: expected a table of 2 inputs, got a table of 1/);
      g.forward(x);
      assert.throws(() => g.backward(x, gy[0]), /Graph: expected a table of 2 output gradients/);
      assert.throws(() => g.forward([x[1], x[0]]), /SpatialConvolution: expected input \[N, 2, H, W\]/);
    });
  });
}
