// Model files on disk: async and sync APIs, metadata, checkpoint extra state, atomic writes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Linear } from '../../src/nn/linear.js';
import { Tanh } from '../../src/nn/activations.js';
import { Sequential } from '../../src/nn/sequential.js';
import { loadModel, loadModelSync, saveModel, saveModelSync, SerializationError } from '../../src/serialization/index.js';
import { assertSameBits } from './util.js';

const dir = mkdtempSync(join(tmpdir(), 'bigdl-serialization-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function mlp(): Sequential {
  return new Sequential().add(new Linear(5, 8)).add(new Tanh()).add(new Linear(8, 2));
}

/** Files in the test dir other than the expected ones (leftover temporaries). */
function strays(expected: string[]): string[] {
  return readdirSync(dir).filter((f) => !expected.includes(f));
}

describe('model files', () => {
  it('saveModel/loadModel and the sync pair round-trip the model and metadata', async () => {
    const m = mlp();
    const x = Tensor.randn([3, 5], 0, 1, new RandomGenerator(1));
    const y = m.forward(x).clone();
    const p = join(dir, 'mlp.bigdl');
    await saveModel(p, m, { metadata: { epoch: 7, note: 'hello', tags: ['a', 'b'] } });
    const { model, metadata, extra } = await loadModel<Sequential>(p);
    assertSameBits(model.forward(x), y, 'async');
    assert.equal(extra, undefined);
    assert.equal(metadata.formatVersion, 1);
    assert.equal(metadata.modelClass, 'Sequential');
    assert.deepEqual(metadata.user, { epoch: 7, note: 'hello', tags: ['a', 'b'] });
    assert.match(metadata.libraryVersion, /^\d+\.\d+\.\d+/);
    assert.ok(Math.abs(Date.parse(metadata.createdAt) - Date.now()) < 60_000);
    const ps = join(dir, 'mlp-sync.bigdl');
    saveModelSync(ps, m);
    assertSameBits(loadModelSync<Sequential>(ps).model.forward(x), y, 'sync');
    assert.deepEqual(strays(['mlp.bigdl', 'mlp-sync.bigdl']), []);
  });

  it('extra state (optimizer state with Float32Arrays and tensors) round-trips and keeps sharing with the model', async () => {
    const m = mlp();
    const flat = m.getParameters();
    const n = flat.weights.numel;
    const rng = new RandomGenerator(4);
    const momentum = Float32Array.from({ length: n }, () => rng.normal());
    const extra = {
      optimizer: {
        method: 'adam', learningRate: 1e-3, beta1: 0.9, step: 120,
        m: momentum, v: new Float32Array(n).fill(0.25), buffer: Tensor.randn([n], 0, 1, rng),
        flatWeights: flat.weights,
      },
      progress: { epoch: 3, iteration: 1200, bestLoss: Infinity, history: [0.9, 0.5, NaN] },
      rngState: RNG.getState(),
    };
    const p = join(dir, 'ckpt.bigdl');
    await saveModel(p, m, { extra, metadata: { kind: 'checkpoint' } });
    const r = await loadModel<Sequential>(p);
    const e = r.extra as typeof extra;
    assert.ok(e.optimizer.m instanceof Float32Array);
    assert.deepEqual([...e.optimizer.m], [...momentum]);
    assert.deepEqual([...e.optimizer.v], [...extra.optimizer.v]);
    assertSameBits(e.optimizer.buffer, extra.optimizer.buffer, 'tensor in extra');
    assert.deepEqual({ ...e.optimizer, m: 0, v: 0, buffer: 0, flatWeights: 0 }, { ...extra.optimizer, m: 0, v: 0, buffer: 0, flatWeights: 0 });
    assert.equal(e.progress.bestLoss, Infinity);
    assert.ok(Number.isNaN(e.progress.history[2]));
    assert.deepEqual(e.rngState.slice(0, 4), extra.rngState.slice(0, 4));
    // the flat weight tensor in extra is still a view of the loaded model's parameters
    assert.equal(e.optimizer.flatWeights.data, r.model.parameters().weights[0].data);
    e.optimizer.flatWeights.fill_(0.5);
    assert.ok(r.model.parameters().weights.every((w) => w.toArray().every((v) => v === 0.5)));
  });

  it('a failing save leaves the previous file intact and no temporary behind', async () => {
    const p = join(dir, 'keep.bigdl');
    await saveModel(p, mlp());
    const before = readFileSync(p);
    const bad = mlp();
    (bad.get(1) as unknown as { hook: unknown }).hook = () => 0;
    await assert.rejects(saveModel(p, bad), (e: unknown) => e instanceof SerializationError && /^saveModel\(.*keep\.bigdl\): cannot save model\.modules\[1\]\.hook/.test(e.message));
    assert.throws(() => saveModelSync(p, bad), /saveModelSync\(.*keep\.bigdl\): cannot save model\.modules\[1\]\.hook/);
    assert.ok(readFileSync(p).equals(before), 'previous file unchanged');
    // a failure after serialisation (the rename target is a directory) cleans up its temporary too
    const target = join(dir, 'is-a-dir');
    mkdirSync(target);
    writeFileSync(join(target, 'x'), 'x');
    await assert.rejects(saveModel(target, mlp()));
    assert.throws(() => saveModelSync(target, mlp()));
    assert.deepEqual(strays(['keep.bigdl', 'is-a-dir', 'mlp.bigdl', 'mlp-sync.bigdl', 'ckpt.bigdl']), []);
    assert.ok((await loadModel(p)).model instanceof Sequential);
  });

  it('a truncated file on disk names the path and both sizes', async () => {
    const p = join(dir, 'cut.bigdl');
    saveModelSync(p, mlp());
    const size = readFileSync(p).length;
    truncateSync(p, size - 7);
    await assert.rejects(loadModel(p), new RegExp(`^SerializationError: loadModel\\(.*cut\\.bigdl\\): truncated: expected ${size} bytes .*got ${size - 7}`));
    assert.throws(() => loadModelSync(p), /loadModelSync\(.*\): truncated/);
    rmSync(p);
  });
});
