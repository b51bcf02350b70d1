// Batching samples into mini-batches: stacking, label dtypes, padding of sequences, dropLast,
// opt-in buffer reuse and the errors bad batches produce.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { MiniBatch, Sample, SampleToMiniBatch } from '../../src/data/sample.js';

const seq = (rows: number[][]) => Tensor.from(rows);

describe('SampleToMiniBatch', () => {
  it('stacks features into [batch, ...] and integer labels into an int32 target', () => {
    const samples = [0, 1, 2, 3, 4].map((i) => new Sample(Tensor.from([[i, i + 0.5]]), i % 3));
    const batches = [...new SampleToMiniBatch(2).apply(samples)];
    assert.deepEqual(batches.map((b) => b.size), [2, 2, 1]);
    const b0 = batches[0];
    assert.ok(b0 instanceof MiniBatch);
    assert.deepEqual((b0.input as Tensor).shape, [2, 1, 2]);
    assert.deepEqual((b0.input as Tensor).toArray(), [0, 0.5, 1, 1.5]);
    assert.equal(b0.target!.dtype, 'int32');
    assert.deepEqual(b0.target!.toArray(), [0, 1]);
    assert.deepEqual(batches[2].target!.toArray(), [1]);
    // dropLast leaves the partial batch out
    assert.deepEqual([...new SampleToMiniBatch(2, { dropLast: true }).apply(samples)].map((b) => b.size), [2, 2]);
  });

  it('float labels give float32; labelType forces one dtype; no labels give no target', () => {
    const mk = (labels: number[]) => labels.map((l) => new Sample(Tensor.from([1]), l));
    const t = new SampleToMiniBatch(3).batch(mk([1, 2.5, 3])).target!;
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.toArray(), [1, 2.5, 3]);
    const forced = new SampleToMiniBatch(3, { labelType: 'float32' }).batch(mk([4, 5, 1])).target!;
    assert.equal(forced.dtype, 'float32');
    assert.throws(() => new SampleToMiniBatch(3, { labelType: 'int32' }).batch(mk([1, 2.5, 3])),
      /labelType 'int32' but sample 1 of the batch has label 2.5/);
    const unlabeled = new SampleToMiniBatch(2).batch([new Sample(Tensor.from([1])), new Sample(Tensor.from([2]))]);
    assert.equal(unlabeled.target, undefined);
  });

  it('multi-tensor features become one stacked tensor per slot; tensor labels stack too', () => {
    const samples = [0, 1, 2].map((i) => new Sample([Tensor.from([i, i]), Tensor.scalar(10 * i)], Tensor.from([i, 10 - i])));
    const b = new SampleToMiniBatch(3).batch(samples);
    assert.ok(Array.isArray(b.input));
    const [x0, x1] = b.input as Tensor[];
    assert.deepEqual(x0.shape, [3, 2]);
    assert.deepEqual(x1.shape, [3]);
    assert.deepEqual(x1.toArray(), [0, 10, 20]);
    assert.deepEqual(b.target!.toNested(), [[0, 10], [1, 9], [2, 8]]);
    const s = b.slice(1, 2);
    assert.deepEqual((s.input as Tensor[])[0].toArray(), [1, 1, 2, 2]);
    assert.equal(s.size, 2);
  });

  it('copies non-contiguous feature views correctly', () => {
    const base = Tensor.from([[1, 2, 3], [4, 5, 6]]);
    const samples = [new Sample(base.t(), 0), new Sample(base.t().narrow(0, 0, 3), 1)];
    const x = new SampleToMiniBatch(2).batch(samples).input as Tensor;
    assert.deepEqual(x.toNested(), [[[1, 4], [2, 5], [3, 6]], [[1, 4], [2, 5], [3, 6]]]);
  });

  it('pads variable-length sequences to the longest in the batch, labels with labelValue', () => {
    const samples = [
      new Sample(seq([[1, 1], [2, 2], [3, 3]]), Tensor.from([1, 2, 3], undefined, { dtype: 'int32' })),
      new Sample(seq([[4, 4]]), Tensor.from([4], undefined, { dtype: 'int32' })),
      new Sample(seq([[5, 5], [6, 6]]), Tensor.from([5, 6], undefined, { dtype: 'int32' })),
    ];
    const b = new SampleToMiniBatch(3, { padding: { featureValue: -9, labelValue: -1 } }).batch(samples);
    const x = b.input as Tensor;
    assert.deepEqual(x.shape, [3, 3, 2]);
    assert.deepEqual(x.toNested(), [
      [[1, 1], [2, 2], [3, 3]],
      [[4, 4], [-9, -9], [-9, -9]],
      [[5, 5], [6, 6], [-9, -9]],
    ]);
    assert.equal(b.target!.dtype, 'int32');
    assert.deepEqual(b.target!.toNested(), [[1, 2, 3], [4, -1, -1], [5, 6, -1]]);

    // a fixed length pads further; labels follow their own fixed length
    const fixed = new SampleToMiniBatch(3, { padding: { featureValue: 0, labelValue: -1, fixedLength: 4, labelFixedLength: 5 } }).batch(samples);
    assert.deepEqual((fixed.input as Tensor).shape, [3, 4, 2]);
    assert.deepEqual(fixed.target!.shape, [3, 5]);
    assert.deepEqual(fixed.target!.select(0, 1).toArray(), [4, -1, -1, -1, -1]);

    // padding features only: label sequences of different lengths are an error
    assert.throws(() => new SampleToMiniBatch(3, { padding: { featureValue: 0 } }).batch(samples),
      /label of sample 1 of the batch has shape \[1\], sample 0's has \[3\]/);
    // scalar labels need no padding
    const scalarLabels = samples.map((s, i) => new Sample(s.features, i));
    assert.deepEqual(new SampleToMiniBatch(3, { padding: { featureValue: 0 } }).batch(scalarLabels).target!.toArray(), [0, 1, 2]);
  });

  it('pads each slot of multi-tensor features independently', () => {
    const samples = [
      new Sample([Tensor.from([1, 2, 3]), Tensor.from([7])]),
      new Sample([Tensor.from([4]), Tensor.from([8, 9])]),
    ];
    const b = new SampleToMiniBatch(2, { padding: { featureValue: 0 } }).batch(samples);
    const [a, c] = b.input as Tensor[];
    assert.deepEqual(a.toNested(), [[1, 2, 3], [4, 0, 0]]);
    assert.deepEqual(c.toNested(), [[7, 0], [8, 9]]);
  });

  it('says what is wrong with a batch that cannot be stacked', () => {
    const batcher = new SampleToMiniBatch(2);
    assert.throws(() => batcher.batch([new Sample(seq([[1, 2]])), new Sample(seq([[1, 2], [3, 4]]))]),
      /feature of sample 1 of the batch has shape \[2, 2\], sample 0's has \[1, 2\]; pass \{ padding \}/);
    assert.throws(() => new SampleToMiniBatch(2, { padding: { featureValue: 0 } }).batch([new Sample(seq([[1, 2]])), new Sample(seq([[1, 2, 3]]))]),
      /padding only extends dim 0, the other dims must match/);
    assert.throws(() => new SampleToMiniBatch(2, { padding: { featureValue: 0, fixedLength: 1 } }).batch([new Sample(seq([[1], [2]])), new Sample(seq([[1]]))]),
      /feature of sample 0 of the batch has length 2, longer than padding.fixedLength 1/);
    assert.throws(() => batcher.batch([new Sample(Tensor.from([1]), 1), new Sample(Tensor.from([1]))]),
      /sample 1 of the batch has no label, sample 0 has a number label/);
    assert.throws(() => batcher.batch([new Sample(Tensor.from([1])), new Sample([Tensor.from([1])])]),
      /sample 1 of the batch has 1 feature tensors \(an array\), sample 0 has one feature tensor/);
    assert.throws(() => batcher.batch([new Sample(Tensor.from([1])), new Sample(Tensor.from([1], undefined, { dtype: 'int32' }))]),
      /feature of sample 1 of the batch is int32, sample 0's is float32/);
    assert.throws(() => [...batcher.apply([1, 2] as unknown as Sample[])], /expects Sample items, got number/);
    assert.throws(() => new SampleToMiniBatch(0), /batchSize must be a positive integer, got 0/);
    assert.throws(() => new Sample(Tensor.from([1]), NaN), /label must be a finite number/);
  });

  it('allocates fresh tensors per batch unless reuseBuffers is set', () => {
    const samples = [0, 1, 2, 3, 4, 5].map((i) => new Sample(Tensor.from([i]), i));
    const fresh = [...new SampleToMiniBatch(2).apply(samples)];
    assert.notEqual(fresh[0].input, fresh[1].input);
    assert.deepEqual(fresh.map((b) => (b.input as Tensor).toArray()), [[0, 1], [2, 3], [4, 5]]);

    const seen: number[][] = [];
    const inputs = new Set<Tensor>();
    for (const b of new SampleToMiniBatch(2, { reuseBuffers: true }).apply(samples)) {
      inputs.add(b.input as Tensor);
      seen.push((b.input as Tensor).toArray()); // read before pulling the next batch
    }
    assert.equal(inputs.size, 1);
    assert.deepEqual(seen, [[0, 1], [2, 3], [4, 5]]);
  });

  it('re-fills padding in reused buffers', () => {
    const samples = [new Sample(Tensor.from([1, 2])), new Sample(Tensor.from([3])), new Sample(Tensor.from([4])), new Sample(Tensor.from([5, 6]))];
    const out: number[][] = [];
    for (const b of new SampleToMiniBatch(2, { reuseBuffers: true, padding: { featureValue: 0 } }).apply(samples)) out.push((b.input as Tensor).toArray());
    assert.deepEqual(out, [[1, 2, 3, 0], [4, 0, 5, 6]]);
  });
});
