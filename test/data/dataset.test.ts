// DataSet: laziness, sync and async passes, transformer chains, seeded per-epoch shuffles, and the
// errors for mixing async stages into a synchronous pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { DataSet } from '../../src/data/dataset.js';
import { Sample, SampleToMiniBatch } from '../../src/data/sample.js';
import { chain, map, mapAsync, type Transformer } from '../../src/data/transformer.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('DataSet', () => {
  it('iterates an array lazily, sync or async, as often as asked', async () => {
    let calls = 0;
    const ds = DataSet.array(range(5)).map((x) => {
      calls++;
      return x * 10;
    });
    assert.equal(calls, 0, 'nothing runs before a pass');
    assert.equal(ds.size(), 5);
    assert.deepEqual(ds.toArraySync(), [0, 10, 20, 30, 40]);
    assert.deepEqual(await ds.toArray(), [0, 10, 20, 30, 40]);
    assert.deepEqual(await collect(ds.epoch(3)), [0, 10, 20, 30, 40]);
    assert.deepEqual(await collect(ds), [0, 10, 20, 30, 40]);
    const it = ds.epochSync(0);
    assert.deepEqual([...it], [...it], 'an epoch iterable is re-iterable');
    assert.equal(calls, 30);
    assert.equal(await ds.count(), 5);
  });

  it('shuffles to a new permutation each epoch, the same for the same seed and epoch', () => {
    const ds = DataSet.array(range(50));
    const e0 = ds.shuffle(7).toArraySync(0);
    const e1 = ds.shuffle(7).toArraySync(1);
    assert.deepEqual([...e0].sort((a, b) => a - b), range(50), 'a permutation');
    assert.notDeepEqual(e0, range(50));
    assert.notDeepEqual(e0, e1, 'each epoch differs');
    assert.deepEqual(ds.shuffle(7).toArraySync(1), e1, 'same seed and epoch, same order');
    assert.notDeepEqual(ds.shuffle(8).toArraySync(0), e0, 'another seed, another order');
    // epoch n does not depend on which epochs ran before
    const shuffled = ds.shuffle(7);
    shuffled.toArraySync(0);
    shuffled.toArraySync(5);
    assert.deepEqual(shuffled.toArraySync(1), e1);
    // an iterable source (gathered per pass) shuffles the same way as an array
    const fromIt = DataSet.fromIterable(() => range(50)).shuffle(7);
    assert.deepEqual(fromIt.toArraySync(1), e1);
    // shuffling after a transform shuffles the transformed items
    assert.deepEqual(ds.map((x) => -x).shuffle(7).toArraySync(1), e1.map((x) => -x));
  });

  it('shuffles async sources into the same order', async () => {
    const ds = DataSet.fromIterable(async function* () {
      for (const i of range(50)) yield i;
    });
    assert.deepEqual(await ds.shuffle(7).toArray(2), DataSet.array(range(50)).shuffle(7).toArraySync(2));
  });

  it('calls fromIterable once per pass with the epoch number', async () => {
    const epochs: number[] = [];
    const ds = DataSet.fromIterable((epoch) => {
      epochs.push(epoch);
      return [epoch, epoch + 1];
    }, { size: 2 });
    assert.deepEqual(ds.toArraySync(4), [4, 5]);
    assert.deepEqual(await ds.toArray(6), [6, 7]);
    assert.deepEqual(epochs, [4, 6]);
    assert.equal(ds.size(), 2);
    assert.throws(() => DataSet.fromIterable(() => []).size(), /size of this fromIterable source is unknown: pass \{ size \}/);
  });

  it('runs async sources and async stages through epoch(), and says why epochSync cannot', async () => {
    const asyncSource = DataSet.fromIterable(async function* () {
      yield 1;
      yield 2;
      yield 3;
    });
    assert.deepEqual(await asyncSource.map((x) => x * 2).toArray(), [2, 4, 6]);
    assert.throws(() => [...asyncSource.epochSync(0)], /the source gave an async iterable; iterate with epoch\(n\) instead/);

    const slowDouble = mapAsync(async (x: number) => {
      await new Promise((r) => setImmediate(r));
      return x * 2;
    }, 'slowDouble');
    const ds = DataSet.array([1, 2, 3]).transform(slowDouble).map((x) => x + 1);
    assert.deepEqual(await ds.toArray(), [3, 5, 7]);
    assert.throws(() => ds.epochSync(0), /transformer 'slowDouble' is asynchronous only; iterate with epoch\(n\) instead/);

    // a hand-written sync-only transformer cannot follow an async stage: the error says what to do
    const syncOnly: Transformer<number, number> = {
      name: 'syncOnly',
      *apply(prev) {
        for (const x of prev) yield x;
      },
    };
    await assert.rejects(asyncSource.transform(syncOnly).toArray(), /transformer 'syncOnly' has only a synchronous apply\(\), but its input is asynchronous/);
    assert.deepEqual(DataSet.array([1, 2]).transform(syncOnly).toArraySync(), [1, 2]);
  });

  it('chains transformers as BigDL does with ->', async () => {
    const toSample = map((x: number) => new Sample(Tensor.from([x, x]), x % 2));
    const batcher = new SampleToMiniBatch(4);
    const pipeline = chain(toSample, batcher);
    const batches = DataSet.array(range(10)).transform(pipeline).toArraySync();
    assert.deepEqual(batches.map((b) => b.size), [4, 4, 2]);
    assert.deepEqual(batches[2].target!.toArray(), [0, 1]);
    const viaAndThen = await DataSet.array(range(10)).transform(toSample.andThen(batcher)).toArray();
    assert.deepEqual(viaAndThen.map((b) => (b.input as Tensor).toArray()), batches.map((b) => (b.input as Tensor).toArray()));
    // a chain with an async stage has no sync form
    assert.equal(chain(toSample, mapAsync(async (s: Sample) => s)).apply, undefined);
  });

  it('breaking out of a pass stops the source', async () => {
    let produced = 0;
    const ds = DataSet.fromIterable(function* () {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield i;
      }
    });
    for await (const x of ds.epoch(0)) if (x === 2) break;
    assert.equal(produced, 3);
  });

  it('rejects bad arguments', () => {
    assert.throws(() => DataSet.array(range(3)).epochSync(-1), /epoch number must be a non-negative integer, got -1/);
    assert.throws(() => DataSet.array(range(3)).shuffle(NaN), /seed must be a finite number/);
    assert.throws(() => DataSet.array(range(3)).transform({} as Transformer<number, number>), /expects a Transformer/);
    assert.throws(() => DataSet.array('abc' as unknown as string[]), /expects an array/);
  });
});
