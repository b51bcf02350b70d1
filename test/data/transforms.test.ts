// Element transformers: Normalize/Standardize, crops and flips on [C, H, W] images (on every
// backend, since they go through tensor copies), seeded per epoch, on Tensors and Samples.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { DataSet } from '../../src/data/dataset.js';
import { Sample } from '../../src/data/sample.js';
import {
  CenterCrop, HFlip, Normalize, RandomCrop, Standardize, chain, computeMeanStd, crop, hflip,
} from '../../src/data/transforms.js';
import { assertClose, backendsUnderTest } from '../helpers.js';

/** A [c, h, w] image whose value at (k, i, j) is 100k + 10i + j. */
const image = (c: number, h: number, w: number) =>
  Tensor.from(Array.from({ length: c * h * w }, (_, n) => 100 * Math.floor(n / (h * w)) + 10 * Math.floor((n % (h * w)) / w) + (n % w)), [c, h, w]);

for (const name of backendsUnderTest()) {
  describe(`data transforms on ${name}`, () => {
    it('Normalize, global and per channel, without touching the input', () => {
      setBackend(name);
      const x = Tensor.from([[[1, 3]], [[10, 30]]]); // [2, 1, 2]
      const before = x.toArray();
      assertClose(new Normalize(2, 4).normalize(x).toArray(), [-0.25, 0.25, 2, 7], 'global');
      const perChannel = new Normalize([2, 20], [1, 10]);
      assertClose(perChannel.normalize(x).toArray(), [-1, 1, -1, 1], 'per channel');
      assert.deepEqual(x.toArray(), before, 'input unchanged');
      const [s] = [...perChannel.apply([new Sample(x, 3)])];
      assert.equal(s.label, 3);
      assertClose(s.feature().toArray(), [-1, 1, -1, 1], 'on a sample');
      // int32 input becomes float32
      assert.equal(new Normalize(0, 2).normalize(Tensor.from([1, 2], undefined, { dtype: 'int32' })).dtype, 'float32');
      assert.throws(() => perChannel.normalize(Tensor.zeros([3, 1, 1])), /2 per-channel means but the tensor has shape \[3, 1, 1\] \(channels are dim 0\)/);
      assert.throws(() => new Normalize([0, 0], [1, 0]), /std must be positive and finite/);
      assert.throws(() => new Normalize([0, 0, 0], [1, 1]), /3 means but 2 standard deviations/);
    });

    it('computeMeanStd and Standardize match a float64 computation', async () => {
      setBackend(name);
      const rng = new RandomGenerator(3);
      const items = Array.from({ length: 20 }, () => Tensor.randn([2, 3, 3], 0, 1, rng).add(Tensor.from([[[1000]], [[-5]]])));
      const all: number[][] = [[], []];
      for (const t of items) for (let c = 0; c < 2; c++) all[c].push(...t.select(0, c).toArray());
      const ref = all.map((v) => {
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        return { m, s: Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length) };
      });
      const stats = await computeMeanStd(DataSet.array(items), { perChannel: true });
      assert.equal(stats.count, 20);
      assertClose(stats.mean, ref.map((r) => r.m), 'mean', 1e-9, 1e-9);
      // a mean of 1000 with unit spread: the shift keeps the variance from cancelling
      assertClose(stats.std, ref.map((r) => r.s), 'std', 1e-5);
      const norm = await Standardize<Tensor>(items, { perChannel: true });
      const after = await computeMeanStd(items.map((t) => norm.normalize(t)), { perChannel: true });
      assertClose(after.mean, [0, 0], 'standardized mean', 0, 1e-4);
      assertClose(after.std, [1, 1], 'standardized std', 1e-4);
      const global = await computeMeanStd(items.map((t) => new Sample(t, 0)), { limit: 5 });
      assert.equal(global.count, 5);
      assert.equal(global.mean.length, 1);
      await assert.rejects(computeMeanStd([]), /the data set has no elements/);
    });

    it('CenterCrop and crop outside the image', () => {
      setBackend(name);
      const x = image(2, 5, 6);
      const [c] = [...new CenterCrop<Tensor>(3, 2).apply([x])];
      assert.deepEqual(c.toNested(), [[[12, 13], [22, 23], [32, 33]], [[112, 113], [122, 123], [132, 133]]]);
      assert.deepEqual(crop(x, -1, 4, 2, 3).toNested(), [[[0, 0, 0], [4, 5, 0]], [[0, 0, 0], [104, 105, 0]]]);
      // on a DataSet of tensors the item type is inferred from the data set
      const cropped: Tensor[] = DataSet.array([x]).transform(new CenterCrop(1, 1)).toArraySync();
      assert.deepEqual(cropped[0].toArray(), [22, 122]);
      assert.throws(() => [...new CenterCrop<Tensor>(6, 2).apply([x])], /a 6x2 crop does not fit an image of shape \[2, 5, 6\]/);
      assert.throws(() => [...new CenterCrop<Tensor>(2, 2).apply([Tensor.zeros([4, 4])])], /expects \[C, H, W\] images, got a tensor of shape \[4, 4\]/);
    });

    it('RandomCrop takes windows of the zero-padded image, seeded per epoch', () => {
      setBackend(name);
      const x = image(1, 4, 4);
      const items = Array.from({ length: 30 }, () => x);
      const rc = new RandomCrop<Tensor>(3, 3, 2, 11);
      const e0 = [...rc.apply(items, { epoch: 0 })];
      // every crop is some window of the padded image
      const padded = crop(x, -2, -2, 8, 8);
      const positions = new Set<string>();
      for (const c of e0) {
        assert.deepEqual(c.shape, [1, 3, 3]);
        let found = '';
        for (let i = 0; i <= 5 && !found; i++) {
          for (let j = 0; j <= 5 && !found; j++) {
            if (JSON.stringify(padded.narrow(1, i, 3).narrow(2, j, 3).toArray()) === JSON.stringify(c.toArray())) found = `${i},${j}`;
          }
        }
        assert.ok(found, `crop ${JSON.stringify(c.toNested())} is a window`);
        positions.add(found);
      }
      assert.ok(positions.size > 5, 'crops vary');
      const again = [...rc.apply(items, { epoch: 0 })];
      assert.deepEqual(again.map((c) => c.toArray()), e0.map((c) => c.toArray()), 'same seed and epoch');
      const e1 = [...rc.apply(items, { epoch: 1 })];
      assert.notDeepEqual(e1.map((c) => c.toArray()), e0.map((c) => c.toArray()), 'next epoch differs');
      assert.throws(() => [...new RandomCrop<Tensor>(9, 9, 2).apply([x])], /a 9x9 crop does not fit an image of shape \[1, 4, 4\] padded by 2/);
    });

    it('HFlip mirrors with the given probability, seeded, also from strided views', () => {
      setBackend(name);
      const x = image(2, 2, 3);
      assert.deepEqual(hflip(x).toNested(), [[[2, 1, 0], [12, 11, 10]], [[102, 101, 100], [112, 111, 110]]]);
      // a view with padded strides at an offset
      const big = image(2, 4, 5);
      const view = big.narrow(1, 1, 2).narrow(2, 1, 3);
      assert.deepEqual(hflip(view).toNested(), [[[13, 12, 11], [23, 22, 21]], [[113, 112, 111], [123, 122, 121]]]);
      assert.deepEqual(hflip(hflip(view)).toArray(), view.toArray());
      const [never] = [...new HFlip<Tensor>(0).apply([x])];
      assert.equal(never, x, 'unflipped images pass through');
      const items = Array.from({ length: 200 }, () => x);
      const flips = (epoch: number) => [...new HFlip<Tensor>(0.3, 5).apply(items, { epoch })].map((t) => (t === x ? 0 : 1));
      const f0 = flips(0);
      const rate = f0.reduce((a: number, b) => a + b, 0) / f0.length;
      assert.ok(rate > 0.2 && rate < 0.4, `flip rate ${rate}`);
      assert.deepEqual(flips(0), f0);
      assert.notDeepEqual(flips(1), f0);
      assert.throws(() => new HFlip(1.5), /probability must be in \[0, 1\]/);
    });

    it('chains on Samples inside a DataSet, keeping labels', async () => {
      setBackend(name);
      const samples = [0, 1, 2, 3].map((i) => new Sample(image(1, 6, 6).add(i), i));
      const ds = DataSet.array(samples)
        .transform(chain(new RandomCrop(4, 4, 0, 1), new HFlip(0.5, 1), new Normalize(0, 10)))
        .transform(new CenterCrop(2, 2));
      const out = await ds.toArray(3);
      assert.deepEqual(out.map((s) => s.label), [0, 1, 2, 3]);
      assert.deepEqual(out[0].feature().shape, [1, 2, 2]);
      assert.deepEqual(ds.toArraySync(3).map((s) => s.feature().toArray()), out.map((s) => s.feature().toArray()));
      assert.throws(() => [...new HFlip().apply([new Sample([x1(), x1()])])], /HFlip: expects samples with one feature tensor, got one with 2/);
      assert.throws(() => [...new HFlip().apply([5 as unknown as Sample])], /HFlip: expects Tensor or Sample items, got number/);
    });
  });
}

function x1(): Tensor {
  return Tensor.zeros([1, 2, 2]);
}
