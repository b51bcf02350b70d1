// AllReduceParameter over an in-memory block store: the sliced, sharded update equals one update
// of the whole buffer with the sample-weighted mean gradient; FP16 compression is close; retries
// are idempotent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Adam } from '../../src/optim/adam.js';
import { SGD } from '../../src/optim/sgd.js';
import { AllReduceParameter } from '../../src/engine/allreduce.js';
import { fromHalf, toHalf, encodeHalf, addHalf } from '../../src/engine/fp16.js';
import type { BlockStore } from '../../src/engine/cluster/types.js';

class MemoryBlocks implements BlockStore {
  readonly map = new Map<string, Uint8Array>();
  async put(k: string, v: Uint8Array) { this.map.set(k, v.slice()); }
  async get(k: string) { return this.map.get(k); }
  async getMany(ks: string[]) { return ks.map((k) => this.map.get(k)); }
  async delete(ks: string[]) { for (const k of ks) this.map.delete(k); }
  async deletePrefix(p: string) { for (const k of [...this.map.keys()]) if (k.startsWith(p)) this.map.delete(k); }
}

const rand = (n: number, rng: RandomGenerator) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));

describe('AllReduceParameter', () => {
  for (const [name, make] of [['SGD with momentum', () => new SGD({ learningRate: 0.1, momentum: 0.9, dampening: 0 })], ['Adam', () => new Adam({ learningRate: 0.01 })]] as const) {
    it(`sliced updates over 3 tasks equal whole-buffer updates of the weighted mean gradient (${name})`, async () => {
      setBackend('native');
      const size = 1001, slices = 4, samples = [5, 2, 7];
      const rng = new RandomGenerator(3);
      const w0 = rand(size, rng);
      const blocks = new MemoryBlocks();
      const ar = new AllReduceParameter('job1', size, slices);
      await ar.init(blocks, w0, make());
      const whole = make();
      const ref = new Tensor(w0.slice(), [size]);
      for (let it = 0; it < 3; it++) {
        const grads = samples.map(() => rand(size, rng));
        for (const [t, g] of grads.entries()) await ar.putGradients(blocks, it, t, g);
        for (let i = slices - 1; i >= 0; i--) {
          await ar.aggregate(blocks, it, i, samples.map((n, task) => ({ task, samples: n })), make());
        }
        // reference: the same weighted sum, then one step of one optimiser on the whole buffer
        const total = samples.reduce((a, b) => a + b, 0);
        const mean = new Float32Array(size);
        grads.forEach((g, k) => { for (let j = 0; j < size; j++) mean[j] += (samples[k] / total) * g[j]; });
        whole.step(ref, new Tensor(mean, [size]));
        const got = new Float32Array(size);
        await ar.getWeights(blocks, it + 1, got);
        assert.deepEqual(Array.from(got), ref.toArray(), `iteration ${it}`);
      }
    });
  }

  it('a rerun sync task gives the same result (idempotent), skip carries weights over, collect frees old blocks', async () => {
    setBackend('native');
    const size = 50, rng = new RandomGenerator(5);
    const blocks = new MemoryBlocks();
    const ar = new AllReduceParameter('j', size, 2);
    const w0 = rand(size, rng);
    await ar.init(blocks, w0, new SGD({ learningRate: 0.5 }));
    await ar.putGradients(blocks, 0, 0, rand(size, rng));
    const c = [{ task: 0, samples: 3 }];
    await ar.aggregate(blocks, 0, 0, c, new SGD({ learningRate: 0.5 }));
    const first = blocks.map.get(ar.weightKey(1, 0))!.slice();
    await ar.aggregate(blocks, 0, 0, c, new SGD({ learningRate: 0.5 }));
    assert.deepEqual(blocks.map.get(ar.weightKey(1, 0)), first);
    await ar.aggregate(blocks, 0, 1, c, new SGD({ learningRate: 0.5 }), { skip: true });
    const w1 = new Float32Array(size);
    await ar.getWeights(blocks, 1, w1);
    assert.deepEqual(Array.from(w1.subarray(25)), Array.from(w0.subarray(25)), 'skipped slice unchanged');
    assert.notDeepEqual(Array.from(w1.subarray(0, 25)), Array.from(w0.subarray(0, 25)));
    await ar.collect(blocks, 1, 1);
    assert.equal(blocks.map.has(ar.weightKey(0, 0)), false);
    assert.equal(blocks.map.has(ar.weightKey(1, 0)), true);
    await assert.rejects(ar.getWeights(blocks, 7, w1), /weight slice 0 of version 7 is missing/);
    await assert.rejects(ar.aggregate(blocks, 1, 0, [{ task: 9, samples: 1 }], new SGD()), /gradient slice 0 of task 9/);
    assert.throws(() => new AllReduceParameter('x', 0, 2), /size must be a positive integer/);
  });

  it('FP16 gradients: exact halves, round to nearest even, overflow, subnormals, NaN; updates close to FP32', async () => {
    for (const x of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24, 1.5, 3.140625]) assert.equal(fromHalf(toHalf(x)), x, `${x}`);
    assert.equal(fromHalf(toHalf(1 + 2 ** -11)), 1, 'tie rounds to even (down)');
    assert.equal(fromHalf(toHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9, 'tie rounds to even (up)');
    assert.equal(fromHalf(toHalf(70000)), Infinity);
    assert.equal(fromHalf(toHalf(-1e-9)), -0);
    assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
    assert.equal(fromHalf(toHalf(3 * 2 ** -25)), 2 ** -23, 'subnormal rounding');
    const rng = new RandomGenerator(9);
    const v = rand(1000, rng);
    const back = new Float32Array(1000);
    addHalf(back, encodeHalf(v));
    for (let i = 0; i < 1000; i++) assert.ok(Math.abs(back[i] - v[i]) <= Math.abs(v[i]) * 2 ** -11 + 2 ** -25, `element ${i}`);

    setBackend('native');
    const size = 300;
    const w0 = rand(size, rng), g = rand(size, rng);
    const run = async (fp16: boolean) => {
      const blocks = new MemoryBlocks();
      const ar = new AllReduceParameter('h', size, 3, { fp16 });
      await ar.init(blocks, w0, new SGD({ learningRate: 0.1 }));
      await ar.putGradients(blocks, 0, 0, g);
      for (let i = 0; i < 3; i++) await ar.aggregate(blocks, 0, i, [{ task: 0, samples: 1 }], new SGD({ learningRate: 0.1 }));
      const out = new Float32Array(size);
      await ar.getWeights(blocks, 1, out);
      const gradBytes = [...blocks.map.entries()].filter(([k]) => k.startsWith('h/g/')).reduce((n, [, b]) => n + b.byteLength, 0);
      return { out, gradBytes };
    };
    const a = await run(false), b = await run(true);
    assert.equal(b.gradBytes * 2, a.gradBytes, 'half the bytes on the wire');
    for (let i = 0; i < size; i++) assert.ok(Math.abs(a.out[i] - b.out[i]) < 1e-4, `weight ${i}`);
  });
});
