// IDX files: the real Fashion-MNIST from Debian's dataset-fashion-mnist, and corrupt or truncated
// files written to a temp dir, which must fail with errors naming the file and the problem.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Tensor } from '../../src/tensor/tensor.js';
import { FASHION_MNIST_DIR, imageSamples, loadFashionMnist, readIdx, type ImageSplits } from '../../src/data/idx.js';
import { SampleToMiniBatch } from '../../src/data/sample.js';
import { computeMeanStd } from '../../src/data/transforms.js';

/** An IDX file: magic (type byte, dims), big-endian dims, then payload. */
function idx(typeByte: number, dims: number[], payload: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = typeByte;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, payload]);
}

describe('Fashion-MNIST from /usr/share/datasets/fashion-mnist', () => {
  let data: ImageSplits;
  before(() => {
    data = loadFashionMnist();
  });

  it('has 60000 + 10000 images of [1, 28, 28] in [0, 1] with int32 labels 0..9', () => {
    const { train, test } = data;
    assert.deepEqual(train.images.shape, [60000, 1, 28, 28]);
    assert.deepEqual(test.images.shape, [10000, 1, 28, 28]);
    assert.equal(train.images.dtype, 'float32');
    assert.deepEqual(train.labels.shape, [60000]);
    assert.deepEqual(test.labels.shape, [10000]);
    assert.equal(train.labels.dtype, 'int32');
    for (const split of [train, test]) {
      assert.equal(split.images.min().item(), 0);
      assert.equal(split.images.max().item(), 1);
      const labels = split.labels.toArray();
      assert.equal(Math.min(...labels), 0);
      assert.equal(Math.max(...labels), 9);
    }
  });

  it('has exactly 6000 training and 1000 test images per class, and the known first labels', () => {
    const counts = (labels: Tensor) => {
      const c = new Array<number>(10).fill(0);
      for (const l of labels.toArray()) c[l]++;
      return c;
    };
    assert.deepEqual(counts(data.train.labels), new Array(10).fill(6000));
    assert.deepEqual(counts(data.test.labels), new Array(10).fill(1000));
    assert.deepEqual(data.train.labels.narrow(0, 0, 10).toArray(), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert.deepEqual(data.test.labels.narrow(0, 0, 10).toArray(), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    // the first training image (an ankle boot) has pixel bytes summing to 76247
    assert.equal(Math.round(data.train.images.select(0, 0).sum().item() * 255), 76247);
  });

  it('has the widely quoted training mean 0.2860 and std 0.3530', async () => {
    const { mean, std, count } = await computeMeanStd(imageSamples(data.train));
    assert.equal(count, 60000);
    assert.ok(Math.abs(mean[0] - 0.2860406) < 1e-5, `mean ${mean[0]}`);
    assert.ok(Math.abs(std[0] - 0.3530242) < 1e-5, `std ${std[0]}`);
  });

  it('feeds a shuffled mini-batch pipeline', async () => {
    const ds = imageSamples(data.test).shuffle(1).transform(new SampleToMiniBatch(512));
    assert.equal(ds.size(), 10000);
    let batches = 0, seen = 0;
    let labelSum = 0;
    for await (const b of ds.epoch(0)) {
      batches++;
      seen += b.size;
      const x = b.input as Tensor;
      assert.deepEqual(x.shape, [b.size, 1, 28, 28]);
      assert.equal(b.target!.dtype, 'int32');
      labelSum += b.target!.toArray().reduce((a, v) => a + v, 0);
      if (batches === 1) {
        // the shuffled first batch is not the file's first 512 images
        assert.notDeepEqual(b.target!.narrow(0, 0, 10).toArray(), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
      }
    }
    assert.equal(batches, 20);
    assert.equal(seen, 10000);
    assert.equal(labelSum, 1000 * 45, 'every test image once');
  });
});

describe('readIdx', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-idx-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('reads every element type, big-endian, gzipped or not', () => {
    const u8 = write('u8.idx', idx(0x08, [2, 3], Uint8Array.from([0, 1, 2, 253, 254, 255])));
    assert.deepEqual(readIdx(u8), { type: 'uint8', dims: [2, 3], data: Uint8Array.from([0, 1, 2, 253, 254, 255]) });
    const be = Buffer.alloc(12);
    be.writeInt16BE(-2, 0);
    be.writeInt16BE(300, 2);
    be.writeInt32BE(-70000, 4);
    be.writeFloatBE(1.5, 8);
    assert.deepEqual(Array.from(readIdx(write('i16.idx', idx(0x0b, [2], be.subarray(0, 4)))).data), [-2, 300]);
    assert.deepEqual(Array.from(readIdx(write('i32.idx.gz', gzipSync(idx(0x0c, [1], be.subarray(4, 8))))).data), [-70000]);
    const f = readIdx(write('f32.idx', idx(0x0d, [1, 1], be.subarray(8, 12))));
    assert.equal(f.type, 'float32');
    assert.deepEqual(Array.from(f.data), [1.5]);
    const d = Buffer.alloc(8);
    d.writeDoubleBE(-0.1, 0);
    assert.deepEqual(Array.from(readIdx(write('f64.idx', idx(0x0e, [1], d))).data), [-0.1]);
    assert.deepEqual(Array.from(readIdx(write('i8.idx', idx(0x09, [2], Uint8Array.from([255, 1])))).data), [-1, 1]);
  });

  it('names the file and what is wrong with a corrupt one', () => {
    const pixels = new Uint8Array(3 * 28 * 28);
    const truncated = write('trunc-idx3-ubyte', idx(0x08, [3, 28, 28], pixels.subarray(0, 2000)));
    assert.throws(() => readIdx(truncated), (e: Error) => {
      assert.equal(e.message, `readIdx ${truncated}: truncated: header says 3 x 28 x 28 = 2352 bytes of uint8 after the 16-byte header, file has 2000`);
      return true;
    });
    const gzTruncated = write('trunc.gz', gzipSync(idx(0x08, [3, 28, 28], pixels.subarray(0, 100))));
    assert.throws(() => readIdx(gzTruncated), /trunc\.gz: truncated: header says 3 x 28 x 28 = 2352 bytes of uint8 after the 16-byte header, file has 100$/);
    const wide = write('wide.idx', idx(0x0c, [4], new Uint8Array(15)));
    assert.throws(() => readIdx(wide), /wide\.idx: truncated: header says 4 x 4 bytes = 16 bytes of int32 after the 8-byte header, file has 15/);
    const long = write('long.idx', idx(0x08, [2], new Uint8Array(5)));
    assert.throws(() => readIdx(long), /long\.idx: 3 unexpected bytes at the end: header says 2 = 2 bytes of uint8/);
    const badMagic = write('magic.idx', Buffer.from([1, 0, 8, 1, 0, 0, 0, 0]));
    assert.throws(() => readIdx(badMagic), /magic\.idx: not an IDX file: the magic number must start with two zero bytes, got 0x0100/);
    const badType = write('type.idx', Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 0]));
    assert.throws(() => readIdx(badType), /type\.idx: unknown data type byte 0x0A in the magic number/);
    const noDims = write('nodims.idx', Buffer.from([0, 0, 8, 0]));
    assert.throws(() => readIdx(noDims), /nodims\.idx: the magic number declares 0 dimensions/);
    const shortHeader = write('header.idx', Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]));
    assert.throws(() => readIdx(shortHeader), /header\.idx: truncated header: 3 dims need a 16-byte header, file has 10 bytes/);
    assert.throws(() => readIdx(write('tiny.idx', Buffer.from([0, 0]))), /tiny\.idx: truncated: 2 bytes, shorter than the 4-byte IDX magic number/);
    const gz = gzipSync(idx(0x08, [3, 28, 28], pixels));
    const badGzip = write('cut.gz', gz.subarray(0, gz.length - 20));
    assert.throws(() => readIdx(badGzip), /cut\.gz: the gzip stream is corrupt or truncated/);
    assert.throws(() => readIdx(join(dir, 'missing.idx')), /missing\.idx: cannot read the file: ENOENT/);
  });

  it('loadFashionMnist says which package to install, or which file is missing', () => {
    const absent = join(dir, 'no-such-dir');
    assert.throws(() => loadFashionMnist(absent), (e: Error) => {
      assert.match(e.message, new RegExp(`no directory ${absent}`));
      assert.match(e.message, /apt-get install dataset-fashion-mnist/);
      return true;
    });
    assert.throws(() => loadFashionMnist(dir), /has neither train-images-idx3-ubyte\.gz nor train-images-idx3-ubyte/);
    assert.equal(FASHION_MNIST_DIR, '/usr/share/datasets/fashion-mnist');
  });

  it('checks that images and labels agree', () => {
    const sub = mkdtempSync(join(dir, 'fm-'));
    const img = idx(0x08, [2, 28, 28], new Uint8Array(2 * 784));
    for (const split of ['train', 't10k']) {
      writeFileSync(join(sub, `${split}-images-idx3-ubyte`), img);
      writeFileSync(join(sub, `${split}-labels-idx1-ubyte`), idx(0x08, [2], Uint8Array.from([1, split === 'train' ? 2 : 12])));
    }
    assert.throws(() => loadFashionMnist(sub), /t10k-labels-idx1-ubyte: label 1 is 12, expected 0\.\.9/);
    writeFileSync(join(sub, 't10k-labels-idx1-ubyte'), idx(0x08, [3], Uint8Array.from([1, 2, 3])));
    assert.throws(() => loadFashionMnist(sub), /t10k-images-idx3-ubyte has 2 images but .*t10k-labels-idx1-ubyte has 3 labels/);
    writeFileSync(join(sub, 't10k-labels-idx1-ubyte'), idx(0x08, [2], Uint8Array.from([1, 2])));
    const ok = loadFashionMnist(sub);
    assert.deepEqual(ok.test.images.shape, [2, 1, 28, 28]);
  });
});
