// Save/load round trips: every module type in src/nn, criterions, a Sequential CNN, a Graph with
// fan-out, compacted parameters, shared storage and the odd values the object graph may hold.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/tensor/ops.js';
import { Module, ensureShape, type Activity } from '../../src/nn/module.js';
import { Linear } from '../../src/nn/linear.js';
import { ReLU, Sigmoid, Tanh, Threshold } from '../../src/nn/activations.js';
import { Sequential } from '../../src/nn/sequential.js';
import { Graph, Input } from '../../src/nn/graph.js';
import { Dropout, SpatialDropout2D } from '../../src/nn/dropout.js';
import { SpatialConvolution, SpatialFullConvolution } from '../../src/nn/conv.js';
import { SpatialAveragePooling, SpatialMaxPooling } from '../../src/nn/pooling.js';
import { BatchNormalization, LayerNormalization, SpatialBatchNormalization, SpatialCrossMapLRN } from '../../src/nn/normalization.js';
import { TemporalConvolution, TemporalMaxPooling, UpSampling2D } from '../../src/nn/temporal.js';
import { ClassNLLCriterion, CrossEntropyCriterion, MSECriterion, type Criterion } from '../../src/nn/criterion.js';
import { deserializeModel, deserializeObject, registerClass, serializeModel, serializeObject } from '../../src/serialization/index.js';
import { assertSameBits, readHeader, snapshot } from './util.js';

/** a + b of a 2-table, registered here as a user class would be. */
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
registerClass('test.Add2', Add2);

function onesLike(a: Activity): Activity {
  return a instanceof Tensor ? Tensor.ones(a.shape) : a.map(onesLike);
}

function roundTrip<M>(m: M, opts = {}): M {
  return deserializeModel<M>(serializeModel(m as object, opts)).model;
}

function assertSameParameters(a: Module<any, any>, b: Module<any, any>, what: string): void {
  const pa = a.namedParameters(), pb = b.namedParameters();
  assert.deepEqual(pb.map((p) => p.name), pa.map((p) => p.name), `${what}: parameter names`);
  pa.forEach((p, i) => assertSameBits(pb[i].weight, p.weight, `${what}: ${p.name}`));
}

/**
 * Runs a forward and backward (so lazily created state exists), round-trips the module, then checks
 * that both give bit-identical outputs, input gradients and parameter gradients on the next step.
 */
function checkModule(what: string, make: () => Module<any, any>, input: () => Activity, prepare?: (m: Module<any, any>) => void): Module<any, any> {
  RNG.setSeed(11);
  const m = make();
  const x = input();
  const y0 = m.forward(x);
  m.backward(x, onesLike(y0));
  prepare?.(m);
  const c = roundTrip(m);
  assert.equal(Object.getPrototypeOf(c), Object.getPrototypeOf(m), `${what}: class`);
  assert.equal(c.toString(), m.toString(), `${what}: toString`);
  assert.equal(c.isTraining(), m.isTraining(), `${what}: training flag`);
  assertSameParameters(c, m, what);
  for (const mod of [m, c]) mod.zeroGradParameters();
  RNG.setSeed(12);
  const y1 = snapshot(m.forward(x));
  const gy = onesLike(y1);
  const g1 = snapshot(m.backward(x, gy));
  RNG.setSeed(12);
  const y2 = c.forward(x);
  const g2 = c.backward(x, gy);
  assertSameBits(y2, y1, `${what}: forward`);
  assertSameBits(g2, g1, `${what}: gradInput`);
  const ga = m.parameters().gradients, gb = c.parameters().gradients;
  ga.forEach((g, i) => assertSameBits(gb[i], g, `${what}: parameter gradient ${i}`));
  return c;
}

const rnd = (shape: number[], seed = 1) => () => Tensor.randn(shape, 0, 1, new RandomGenerator(seed));

describe('serialization round trip', () => {
  it('every module type in src/nn', () => {
    checkModule('Linear', () => new Linear(4, 3), rnd([2, 4]));
    checkModule('Linear no bias, 1-d input', () => new Linear(4, 3, { withBias: false }), rnd([4]));
    checkModule('Tanh', () => new Tanh(), rnd([2, 5]));
    checkModule('Sigmoid', () => new Sigmoid(), rnd([2, 5]));
    checkModule('Threshold', () => new Threshold(0.1, -2), rnd([2, 5]));
    checkModule('ReLU', () => new ReLU(), rnd([2, 5]));
    checkModule('Sequential', () => new Sequential().add(new Linear(3, 4)).add(new Tanh()).add(new Linear(4, 2)), rnd([5, 3]));
    const d = checkModule('Dropout (global RNG)', () => new Dropout(0.3), rnd([4, 6]));
    const rng = (d as unknown as { rng: unknown }).rng;
    assert.ok(rng === RNG || rng === null, 'Dropout keeps using the process-wide RNG, not a copy of it');
    const d2 = checkModule('Dropout (own generator)', () => new Dropout(0.4, new RandomGenerator(5)), rnd([4, 6]));
    assert.ok((d2 as unknown as { rng: unknown }).rng instanceof RandomGenerator);
    checkModule('SpatialDropout2D', () => new SpatialDropout2D(0.5), rnd([2, 3, 4, 4]));
    checkModule('SpatialConvolution', () => new SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1), rnd([2, 3, 5, 5]));
    checkModule('SpatialConvolution groups, dilation, no bias',
      () => new SpatialConvolution(4, 4, 3, 2, 2, 1, 1, 0, 2, { withBias: false, dilationW: 2 }), rnd([1, 4, 6, 7]));
    checkModule('SpatialFullConvolution', () => new SpatialFullConvolution(3, 2, 3, 3, 2, 2, 1, 1, 1, 1), rnd([1, 3, 4, 4]));
    checkModule('SpatialMaxPooling ceil', () => new SpatialMaxPooling(2, 2).ceil(), rnd([2, 3, 5, 5]));
    checkModule('SpatialAveragePooling', () => new SpatialAveragePooling(3, 3, 2, 2, 1, 1, { countIncludePad: false }), rnd([2, 3, 5, 5]));
    checkModule('SpatialAveragePooling global, sum', () => new SpatialAveragePooling(1, 1, 1, 1, 0, 0, { globalPooling: true, divide: false }), rnd([2, 3, 4, 4]));
    const bn = checkModule('BatchNormalization', () => new BatchNormalization(4, { momentum: 0.3 }), rnd([6, 4]));
    assert.ok((bn as unknown as { runningMean: Tensor }).runningMean.toArray().some((v) => v !== 0), 'running mean was updated before saving');
    checkModule('BatchNormalization eval, no affine', () => new BatchNormalization(4, { affine: false }), rnd([6, 4]), (m) => m.evaluate());
    checkModule('SpatialBatchNormalization', () => new SpatialBatchNormalization(3), rnd([2, 3, 4, 4]));
    checkModule('SpatialCrossMapLRN', () => new SpatialCrossMapLRN(3, 0.5, 0.75, 2), rnd([2, 5, 3, 3]));
    checkModule('LayerNormalization', () => new LayerNormalization(6), rnd([3, 6]));
    checkModule('TemporalConvolution', () => new TemporalConvolution(4, 5, 2), rnd([2, 6, 4]));
    checkModule('TemporalMaxPooling', () => new TemporalMaxPooling(2), rnd([2, 6, 4]));
    checkModule('UpSampling2D', () => new UpSampling2D([2, 3]), rnd([1, 2, 3, 3]));
  });

  it('criterions', () => {
    const logp = Tensor.randn([4, 5], 0, 1, new RandomGenerator(3)).logSoftmax(1);
    const labels = Tensor.from([0, 4, 2, 2], undefined, { dtype: 'int32' });
    const cases: [string, Criterion<any, any>, Tensor, Tensor][] = [
      ['ClassNLLCriterion', new ClassNLLCriterion({ weights: Tensor.from([1, 2, 0.5, 1, 3]), ignoreIndex: 4 }), logp, labels],
      ['CrossEntropyCriterion', new CrossEntropyCriterion({ sizeAverage: false }), logp, labels],
      ['MSECriterion', new MSECriterion(false), logp, Tensor.randn([4, 5], 0, 1, new RandomGenerator(4))],
    ];
    for (const [name, crit, x, t] of cases) {
      crit.forward(x, t);
      crit.backward(x, t);
      const c = deserializeObject(serializeObject(crit)) as Criterion<any, any>;
      assert.equal(Object.getPrototypeOf(c), Object.getPrototypeOf(crit), name);
      assert.ok(Object.is(c.forward(x, t), crit.forward(x, t)), `${name}: loss`);
      assertSameBits(c.backward(x, t), snapshot(crit.backward(x, t)), `${name}: gradient`);
    }
  });

  it('a Graph with fan-out keeps its node structure', () => {
    const make = () => {
      const x = Input('x');
      const h = new Linear(4, 5).setName('hidden').inputs(x);
      const a = new Tanh().inputs(h);
      const b = new Sigmoid().inputs(h);
      const s = new Add2().inputs(a, b);
      const out = new Linear(5, 2).inputs(s);
      return new Graph([x], [out, b]);
    };
    const c = checkModule('Graph', make, rnd([3, 4])) as Graph;
    type Node = { module: Module<any, any>; prevs: Node[] };
    const order = (c as unknown as { order: Node[] }).order;
    const add = order.find((n) => n.module instanceof Add2)!;
    assert.equal(add.prevs[0].prevs[0], add.prevs[1].prevs[0], 'the fan-out node is one shared object');
    assert.equal(add.prevs[0].prevs[0].module.getName(), 'hidden');
    const fanOut = (c as unknown as { fanOut: Map<Node, number> }).fanOut;
    assert.equal(fanOut.get(add.prevs[1]), 2, 'Map keyed by nodes survives');
    const outputs = (c as unknown as { outputNodes: Node[] }).outputNodes;
    assert.equal(outputs[1], add.prevs[1]);
  });

  it('a compacted Sequential CNN stays compacted, keeps its mode and BN statistics, and computes the same bits', () => {
    RNG.setSeed(3);
    const cnn = new Sequential()
      .add(new SpatialConvolution(1, 4, 3, 3, 1, 1, 1, 1))
      .add(new SpatialBatchNormalization(4))
      .add(new ReLU())
      .add(new SpatialMaxPooling(2, 2))
      .add(new Dropout(0.2))
      .add(new SpatialConvolution(4, 3, 3, 3))
      .add(new SpatialAveragePooling(1, 1, 1, 1, 0, 0, { globalPooling: true }));
    const flat = cnn.getParameters();
    const x = Tensor.randn([2, 1, 8, 8], 0, 1, new RandomGenerator(8));
    for (let i = 0; i < 3; i++) cnn.forward(x); // moves the BN running statistics
    cnn.evaluate();
    const y = snapshot(cnn.forward(x));
    const bytes = serializeModel(cnn);
    assert.equal(readHeader(bytes).compacted, true);
    const { model, metadata } = deserializeModel<Sequential>(bytes);
    assert.equal(metadata.compacted, true);
    const ps = model.parameters();
    const storage = ps.weights[0].data;
    assert.ok(ps.weights.every((w) => w.data === storage), 'weights share one storage');
    assert.ok(ps.gradients.every((g) => g.data === ps.gradients[0].data), 'gradients share one storage');
    assert.equal(storage.length, flat.weights.numel);
    const again = model.getParameters();
    assert.equal(again.weights.data, storage, 'getParameters() finds the model already compacted');
    assertSameBits(again.weights, flat.weights, 'flat weights');
    assert.equal(model.isTraining(), false);
    assert.ok(model.children().every((m) => !m.isTraining()), 'evaluate flag on every child');
    const bnA = cnn.get(1) as unknown as { runningMean: Tensor; runningVar: Tensor };
    const bnB = model.get(1) as unknown as { runningMean: Tensor; runningVar: Tensor };
    assertSameBits(bnB.runningMean, bnA.runningMean, 'running mean');
    assertSameBits(bnB.runningVar, bnA.runningVar, 'running var');
    assertSameBits(model.forward(x), y, 'forward');
    // training mode comes back too
    cnn.training();
    assert.equal(roundTrip(cnn).get(4).isTraining(), true);
  });

  it('compacted shared-memory parameters come back in a SharedArrayBuffer', () => {
    const m = new Sequential().add(new Linear(3, 4)).add(new Linear(4, 2));
    m.getParameters({ shared: true });
    const c = roundTrip(m);
    const { weights, gradients } = c.parameters();
    assert.ok(weights[0].data.buffer instanceof SharedArrayBuffer);
    assert.ok(gradients[0].data.buffer instanceof SharedArrayBuffer);
    assert.equal(c.getParameters({ shared: true }).weights.data, weights[0].data);
  });

  it('gradients and activations are dropped unless asked for', () => {
    const m = new Linear(3, 2);
    const x = Tensor.randn([4, 3]);
    m.backward(x, Tensor.ones(m.forward(x).shape));
    const plain = roundTrip(m);
    assert.equal(plain.output.numel, 0);
    assert.ok(plain.parameters().gradients.every((g) => g.toArray().every((v) => v === 0)));
    const full = roundTrip(m, { gradients: true, activations: true });
    assertSameBits(full.output, m.output, 'output');
    m.parameters().gradients.forEach((g, i) => assertSameBits(full.parameters().gradients[i], g, 'gradient'));
    assert.ok(serializeModel(m).length < serializeModel(m, { gradients: true, activations: true }).length);
  });

  it('shared storage, trimmed views, typed arrays and odd values', () => {
    const base = Tensor.arange(0, 24).view(4, 6);
    const big = Tensor.arange(0, 1000);
    const buf = new ArrayBuffer(32);
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const key = { k: 1 };
    const value = {
      base,
      row: base.select(0, 2),
      col: base.narrow(1, 1, 2),
      tr: base.t(),
      bcast: base.select(1, 0).unsqueeze(1).expand(4, 3),
      window: big.narrow(0, 500, 10),
      ints: Tensor.from([3, -7, 2 ** 31 - 1], undefined, { dtype: 'int32' }),
      f64: Float64Array.of(Math.PI, -0, NaN),
      u8a: new Uint8Array(buf, 3, 5).fill(7),
      f32b: new Float32Array(buf, 8, 4).fill(1.5),
      rawBuffer: buf,
      numbers: [NaN, Infinity, -Infinity, -0, 0, 1e-300, Number.MAX_VALUE],
      nothing: [undefined, null],
      big: 2n ** 70n,
      when: new Date(Date.UTC(2024, 1, 29)),
      map: new Map<unknown, unknown>([[key, 'obj key'], ['s', 1], [2, key]]),
      set: new Set([1, 'two', key]),
      cyclic,
      frozen: Object.freeze([1, 2]),
      bare: Object.assign(Object.create(null), { a: 1 }),
    };
    const bytes = serializeObject(value);
    const v = deserializeObject(bytes) as typeof value;
    for (const k of ['base', 'row', 'col', 'tr', 'bcast', 'window', 'ints'] as const) assertSameBits(v[k], value[k], k);
    for (const k of ['row', 'col', 'tr', 'bcast'] as const) assert.equal(v[k].data, v.base.data, `${k} shares base's storage`);
    assert.deepEqual([...v.tr.strides], [1, 6]);
    assert.equal(v.window.data.length, 10, 'a view into a large storage keeps only the elements it reaches');
    assert.deepEqual([...v.f64].map((n) => Object.is(n, -0) ? '-0' : String(n)), ['3.141592653589793', '-0', 'NaN']);
    assert.equal(v.u8a.buffer, v.rawBuffer);
    assert.equal(v.f32b.buffer, v.rawBuffer, 'typed arrays over one ArrayBuffer still share it');
    assert.deepEqual([...new Uint8Array(v.rawBuffer)], [...new Uint8Array(buf)]);
    assert.deepEqual(v.numbers.map((n) => Object.is(n, -0) ? '-0' : String(n)), value.numbers.map((n) => Object.is(n, -0) ? '-0' : String(n)));
    assert.equal(v.nothing.length, 2);
    assert.equal(v.nothing[0], undefined);
    assert.equal(v.nothing[1], null);
    assert.equal(v.big, 2n ** 70n);
    assert.equal(v.when.getTime(), value.when.getTime());
    const [k0] = v.map.keys();
    assert.equal(v.map.get(k0), 'obj key');
    assert.equal(v.map.get(2), k0, 'an object used as key and value is one object');
    assert.ok(v.set.has(k0 as { k: number }) && v.set.has('two'));
    assert.equal(v.cyclic.self, v.cyclic);
    assert.ok(Object.isFrozen(v.frozen));
    assert.equal(Object.getPrototypeOf(v.bare), null);
    assert.ok(Number.isNaN((v.bcast as Tensor).get(0, 0)) === false);
  });
});
