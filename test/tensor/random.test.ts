// The seeded generator: reproducible, backend-independent, and statistically sane.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { backendsUnderTest } from '../helpers.js';

describe('RandomGenerator', () => {
  it('the same seed gives the same numbers, another seed others', () => {
    const a = new RandomGenerator(7), b = new RandomGenerator(7), c = new RandomGenerator(8);
    const xs = Array.from({ length: 100 }, () => a.uniform());
    assert.deepEqual(Array.from({ length: 100 }, () => b.uniform()), xs);
    assert.notDeepEqual(Array.from({ length: 100 }, () => c.uniform()), xs);
  });

  it('tensors drawn under each backend are identical for one seed', () => {
    const draws = backendsUnderTest().map((name) => withBackend(name, () => {
      const rng = new RandomGenerator(99);
      return [Tensor.rand([50], 0, 1, rng), Tensor.randn([51], 0, 1, rng), Tensor.bernoulli([20], 0.3, rng), Tensor.randperm(30, rng)]
        .map((t) => t.toArray());
    }));
    assert.ok(draws.length >= 1);
    for (const d of draws.slice(1)) assert.deepEqual(d, draws[0]);
  });

  it('getState/setState resumes the exact sequence, including a cached normal', () => {
    const r = new RandomGenerator(3);
    r.normal();
    const state = r.getState();
    const next = [r.normal(), r.uniform(), r.normal()];
    r.setState(state);
    assert.deepEqual([r.normal(), r.uniform(), r.normal()], next);
  });

  it('uniform, normal and bernoulli have the right moments', () => {
    const r = new RandomGenerator(11);
    const n = 200000;
    const u = Tensor.rand([n], 2, 4, r), z = Tensor.randn([n], 1, 3, r), b = Tensor.bernoulli([n], 0.25, r);
    // standard errors: uniform sd 0.577/sqrt(n) ~ 0.0013; normal 3/sqrt(n) ~ 0.0067
    assert.ok(Math.abs(u.mean().item() - 3) < 0.01, `uniform mean ${u.mean().item()}`);
    assert.ok(u.min().item() >= 2 && u.max().item() < 4);
    assert.ok(Math.abs(z.mean().item() - 1) < 0.03, `normal mean ${z.mean().item()}`);
    const sd = Math.sqrt(z.sub(1).square().mean().item());
    assert.ok(Math.abs(sd - 3) < 0.03, `normal sd ${sd}`);
    assert.ok(Math.abs(b.mean().item() - 0.25) < 0.005, `bernoulli mean ${b.mean().item()}`);
  });

  it('randperm is a permutation and randInt stays in range', () => {
    const r = new RandomGenerator(5);
    const p = Array.from(r.randperm(1000)).sort((a, b) => a - b);
    assert.deepEqual(p, Array.from({ length: 1000 }, (_, i) => i));
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70000; i++) counts[r.randInt(7)]++;
    for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, `randInt(7) counts ${counts}`);
    assert.throws(() => r.randInt(0), /randInt: n must be an integer/);
  });

  it('bulk fills give exactly the numbers of one-at-a-time draws, and leave the generator in step', () => {
    const a = new RandomGenerator(17), b = new RandomGenerator(17);
    const bulk = new Float32Array(1003);
    a.fillUniform(bulk, 2, 1003, -0.3, 0.7);
    for (let i = 2; i < 1003; i++) assert.equal(bulk[i], Math.fround(b.uniform(-0.3, 0.7)), `uniform element ${i}`);
    assert.equal(bulk[0], 0);
    assert.equal(a.nextUint32(), b.nextUint32(), 'state after the bulk fill');
    const n = new Float32Array(11);
    a.fillNormal(n, 0, 11, 1, 2);
    for (let i = 0; i < 11; i++) assert.equal(n[i], Math.fround(b.normal(1, 2)));
    const strided = Tensor.zeros([4, 6]).t();
    strided.uniform_(0, 1, new RandomGenerator(3));
    const c = new RandomGenerator(3);
    assert.deepEqual(strided.contiguous().toArray(), Array.from({ length: 24 }, () => Math.fround(c.uniform())));
  });
});
