// Samples and Tensors crossing processes: the codec on its own (round trips, views ship only their
// elements, plain payloads are untouched), then real Fashion-MNIST Samples through local[2]:
// parallelize ships real Samples, workers' Samples come back real, through shuffles and reduce.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'node:v8';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Sample } from '../../src/data/sample.js';
import { loadFashionMnist, type ImageSplit } from '../../src/data/idx.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import { decodeItems, encodeItems } from '../../src/engine/item-codec.js';
import { deserializeItems, serializeItems } from '../../src/engine/partition-task.js';
import { fns, type ImageRecord } from './predict-fns.js';

const roundTrip = <T>(v: T): T => deserializeItems(serializeItems(v, 'test')) as T;
const values = (t: Tensor): number[] => t.toArray();

let images: ImageSplit;
before(() => {
  setBackend('native');
  const t = loadFashionMnist().test;
  images = { images: t.images.narrow(0, 0, 400).clone().sub_(0.286).div_(0.353), labels: t.labels.narrow(0, 0, 400).clone() };
});

/** Samples as readers make them: views into one [400, 28, 28] storage. */
const samples = (): Sample[] => Array.from({ length: 400 }, (_, i) => new Sample(images.images.select(0, i), images.labels.get(i)));

describe('item codec', () => {
  it('leaves payloads without Samples or Tensors alone: same object, same bytes as v8.serialize', () => {
    const plain = [1, 'a', { x: [1, 2], y: new Float32Array([3]) }, [[4, 5], [6]], null, new Map([[1, 2]])];
    assert.equal(encodeItems(plain), plain);
    assert.deepEqual(Buffer.from(serializeItems(plain, 'test')), serialize(plain));
    assert.deepEqual(roundTrip(plain), plain);
    // data that happens to look like a tag is not decoded: only enveloped payloads are
    const lookalike = [{ '\u0000bigdl.class': 'Tensor', shape: [1], data: new Float32Array([1]) }];
    assert.deepEqual(decodeItems(lookalike), lookalike);
    assert.ok(!((roundTrip(lookalike)[0] as unknown) instanceof Tensor));
  });

  it('round-trips Samples (one tensor, a table of tensors, tensor labels) and Tensors, also inside arrays', () => {
    const a = Tensor.from([[1, 2, 3], [4, 5, 6]]);
    const ints = Tensor.from([7, 8, 9], undefined, { dtype: 'int32' });
    const items = [
      new Sample(a, 2),
      new Sample([a, ints], Tensor.from([0.5, 1.5])),
      new Sample(a.t()), // non-contiguous: travels as a contiguous copy
      ints,
      [a, 3, 'x'], // a zip pair
      [[a], [ints, a.narrow(0, 1, 1)]], // a table nested in a glom group
      42,
    ];
    const out = roundTrip(items);
    assert.equal(out.length, items.length);
    const s0 = out[0] as Sample, s1 = out[1] as Sample, s2 = out[2] as Sample;
    assert.ok(s0 instanceof Sample && s0.features instanceof Tensor);
    assert.deepEqual(s0.feature().shape, [2, 3]);
    assert.deepEqual(values(s0.feature()), [1, 2, 3, 4, 5, 6]);
    assert.equal(s0.label, 2);
    assert.ok(Array.isArray(s1.features) && s1.features.every((f) => f instanceof Tensor));
    assert.equal(s1.featureList()[1].dtype, 'int32');
    assert.deepEqual(values(s1.featureList()[1]), [7, 8, 9]);
    assert.ok(s1.label instanceof Tensor);
    assert.deepEqual(values(s1.label as Tensor), [0.5, 1.5]);
    assert.deepEqual(s2.feature().shape, [3, 2]);
    assert.deepEqual(values(s2.feature()), [1, 4, 2, 5, 3, 6]);
    assert.equal(s2.label, undefined);
    assert.ok(out[3] instanceof Tensor && (out[3] as Tensor).dtype === 'int32');
    const pair = out[4] as [Tensor, number, string];
    assert.ok(pair[0] instanceof Tensor);
    assert.deepEqual(pair.slice(1), [3, 'x']);
    const nested = out[5] as Tensor[][];
    assert.ok(nested.flat().every((t) => t instanceof Tensor));
    assert.deepEqual(values(nested[1][1]), [4, 5, 6]);
    assert.equal(out[6], 42);
    // a Tensor alone (reduce's result) and a cyclic array with a tensor elsewhere terminate
    assert.deepEqual(values(roundTrip(ints)), [7, 8, 9]);
    const cyc: unknown[] = [];
    cyc.push(cyc);
    const back = roundTrip([[cyc], a]);
    assert.ok(back[1] instanceof Tensor);
  });

  it('a Sample that is a view into a large storage ships its own elements, not the storage', () => {
    const s = samples()[5];
    assert.equal(s.feature().data.length, 400 * 784); // the reader's shared storage
    const bytes = serializeItems([s], 'test');
    assert.ok(bytes.byteLength < 784 * 4 + 200, `${bytes.byteLength} bytes for one 28x28 sample`);
    const [back] = roundTrip([s]);
    assert.deepEqual(values(back.feature()), values(s.feature()));
    assert.equal(back.label, s.label);
  });
});

describe('Samples across local[2]', () => {
  let ctx: EngineContext;
  before(async () => {
    ctx = await Engine.init({ master: 'local[2]' });
  });
  after(() => ctx?.close());

  it('parallelize ships real Samples to workers, and Samples built or transformed on workers come back real', async () => {
    const s = samples();
    const ds = ctx.parallelize(s, 3);
    // what the workers received
    const kinds = new Set(await ds.map(fns.kindOf).collect());
    assert.deepEqual([...kinds], ['Sample(1x28x28, number)']);
    // workers use Sample and Tensor methods, the driver gets Samples with the same values and classes
    const negated = await ds.map(fns.negate).collect();
    assert.equal(negated.length, 400);
    negated.forEach((x, i) => {
      assert.ok(x instanceof Sample && x.features instanceof Tensor, `item ${i}`);
      assert.equal(x.label, images.labels.get(i));
      const want = values(s[i].feature());
      const got = values(x.feature());
      for (let j = 0; j < 784; j += 97) assert.equal(got[j], -want[j]);
    });
    assert.deepEqual(await ds.map(fns.labelOf).collect(), images.labels.toArray());
    // Samples made from plain records on the workers
    const records: ImageRecord[] = s.map((x) => ({ pixels: x.feature().clone().data as Float32Array, label: x.label as number }));
    const built = await ctx.parallelize(records, 2).map(fns.toSample).collect();
    built.forEach((x, i) => {
      assert.ok(x instanceof Sample);
      assert.deepEqual(values(x.feature()), values(s[i].feature()));
      assert.equal(x.label, s[i].label);
    });
  });

  it('Samples survive a shuffle (blocks between workers), take, zip pairs and a reduce over Tensors', async () => {
    const s = samples().slice(0, 120);
    const ds = ctx.parallelize(s, 2);
    const shuffled = await ds.shuffle(3, 3).collect();
    assert.equal(shuffled.length, 120);
    assert.ok(shuffled.every((x) => x instanceof Sample && x.features instanceof Tensor));
    const labels = (xs: Sample[]) => xs.map((x) => x.label as number).sort((a, b) => a - b);
    assert.deepEqual(labels(shuffled), labels(s));
    const [first] = await ds.take(1);
    assert.ok(first instanceof Sample);
    const pairs = await ds.zip(ds.map(fns.featureOf)).collect();
    assert.ok(pairs.every(([a, b]) => a instanceof Sample && b instanceof Tensor));
    const sum = await ds.map(fns.featureOf).reduce(fns.addTensors);
    assert.ok(sum instanceof Tensor);
    let want = s[0].feature();
    for (let i = 1; i < s.length; i++) want = want.add(s[i].feature());
    const w = values(want), g = values(sum);
    const worst = g.reduce((m, v, i) => Math.max(m, Math.abs(v - w[i])), 0);
    assert.ok(worst < 1e-3, `max difference ${worst}`);
  });
});
