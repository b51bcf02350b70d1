// Every native core kernel against the reference on seeded random shapes: odd sizes, strided and
// permuted views, offsets, broadcasting edge cases (size-1 dims, missing leading dims, scalars).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryOp, ReduceOp, UnaryOp } from '../../src/backend/backend.js';
import { getBackend, withBackend } from '../../src/backend/registry.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import * as ops from '../../src/tensor/ops.js';
import { assertClose, assertTensorClose, awkwardTensor, nativeAvailable, randInt } from '../helpers.js';
import { loadAddon, type NativeAddon } from '../../src/backend/native/addon.js';

function nativeAddon(): NativeAddon {
  const l = loadAddon();
  if (!l.ok) throw new Error(l.reason);
  return l.addon;
}

const run = nativeAvailable() ? describe : describe.skip;
const kinds = ['contiguous', 'padded', 'permuted'] as const;

function randomShape(rng: RandomGenerator, maxDims = 4, maxSize = 9): number[] {
  const nd = randInt(rng, 0, maxDims);
  return Array.from({ length: nd }, () => (rng.random() < 0.2 ? 1 : randInt(rng, 1, maxSize)));
}

/** A shape that broadcasts against `shape`: some dims set to 1, some leading dims dropped. */
function broadcastPartner(rng: RandomGenerator, shape: number[]): number[] {
  const drop = randInt(rng, 0, shape.length);
  return shape.slice(drop).map((s) => (rng.random() < 0.35 ? 1 : s));
}

/** Runs fn on both backends with the same inputs and compares the tensors it returns. */
function parity(what: string, fn: () => Tensor | Tensor[], rtol = 2e-5, atol = 1e-6): void {
  const ref = withBackend('reference', fn);
  const nat = withBackend('native', fn);
  const r = Array.isArray(ref) ? ref : [ref];
  const n = Array.isArray(nat) ? nat : [nat];
  r.forEach((t, i) => assertTensorClose(n[i], t, `${what} [output ${i}]`, rtol, atol));
}

run('native core kernels match the reference', () => {
  const rng = new RandomGenerator(1234);

  it('unary ops over strided views', () => {
    const cases: [UnaryOp, string, number, number, (r: RandomGenerator) => number][] = [
      [UnaryOp.Neg, 'neg', 0, 0, (r) => r.uniform(-3, 3)],
      [UnaryOp.Abs, 'abs', 0, 0, (r) => r.uniform(-3, 3)],
      [UnaryOp.Exp, 'exp', 0, 0, (r) => r.uniform(-10, 10)],
      [UnaryOp.Log, 'log', 0, 0, (r) => r.uniform(1e-3, 50)],
      [UnaryOp.Log1p, 'log1p', 0, 0, (r) => r.uniform(-0.9, 50)],
      [UnaryOp.Sqrt, 'sqrt', 0, 0, (r) => r.uniform(0, 50)],
      [UnaryOp.Rsqrt, 'rsqrt', 0, 0, (r) => r.uniform(0.01, 50)],
      [UnaryOp.Square, 'square', 0, 0, (r) => r.uniform(-3, 3)],
      [UnaryOp.Tanh, 'tanh', 0, 0, (r) => r.uniform(-8, 8)],
      [UnaryOp.Sigmoid, 'sigmoid', 0, 0, (r) => r.uniform(-20, 20)],
      [UnaryOp.Relu, 'relu', 0, 0, (r) => r.uniform(-3, 3)],
      [UnaryOp.Reciprocal, 'reciprocal', 0, 0, (r) => r.uniform(0.1, 3) * (r.random() < 0.5 ? -1 : 1)],
      [UnaryOp.Sign, 'sign', 0, 0, (r) => (r.random() < 0.1 ? 0 : r.uniform(-3, 3))],
      [UnaryOp.Affine, 'affine', 1.5, -0.25, (r) => r.uniform(-3, 3)],
      [UnaryOp.Pow, 'pow', 2.5, 0, (r) => r.uniform(0, 3)],
      [UnaryOp.Clamp, 'clamp', -0.5, 0.75, (r) => r.uniform(-3, 3)],
      [UnaryOp.LeakyRelu, 'leakyRelu', 0.01, 0, (r) => r.uniform(-3, 3)],
      [UnaryOp.Elu, 'elu', 1.0, 0, (r) => r.uniform(-3, 3)],
      [UnaryOp.SoftPlus, 'softplus', 2, 20, (r) => r.uniform(-15, 15)],
      [UnaryOp.Threshold, 'threshold', 0.1, -1, (r) => r.uniform(-3, 3)],
      [UnaryOp.Fill, 'fill', 3.25, 0, (r) => r.uniform(-3, 3)],
    ];
    for (const [op, name, a, b, gen] of cases) {
      for (let trial = 0; trial < 6; trial++) {
        // trial 0 is large and contiguous: exercises the vector and threaded paths
        const shape = trial === 0 ? [3, 70001] : randomShape(rng);
        const x = awkwardTensor(rng, shape, trial === 0 ? 'contiguous' : kinds[trial % 3], gen);
        parity(`${name} ${JSON.stringify(shape)}`, () => ops.unary(name, op, x, a, b), 2e-6, 1e-6);
        // into a strided output
        parity(`${name} into permuted out`, () => {
          const out = awkwardTensor(new RandomGenerator(trial), shape, 'permuted');
          return ops.unary(name, op, x, a, b, out);
        }, 2e-6, 1e-6);
      }
    }
  });

  it('binary ops with broadcasting and strided operands', () => {
    const binaries: [BinaryOp, string][] = [
      [BinaryOp.Add, 'add'], [BinaryOp.Sub, 'sub'], [BinaryOp.Mul, 'mul'], [BinaryOp.Div, 'div'],
      [BinaryOp.Max, 'max'], [BinaryOp.Min, 'min'], [BinaryOp.Pow, 'pow'], [BinaryOp.Eq, 'eq'],
      [BinaryOp.Gt, 'gt'], [BinaryOp.Lt, 'lt'], [BinaryOp.TanhBackward, 'tanhBackward'],
      [BinaryOp.SigmoidBackward, 'sigmoidBackward'], [BinaryOp.ThresholdBackward, 'thresholdBackward'], [BinaryOp.Axpby, 'axpby'],
    ];
    for (const [op, name] of binaries) {
      for (let trial = 0; trial < 12; trial++) {
        const shape = trial === 0 ? [2, 50000] : randomShape(rng);
        const partner = trial === 0 ? [50000] : broadcastPartner(rng, shape);
        const [sx, sy] = trial % 2 === 0 ? [shape, partner] : [partner, shape];
        const pos = op === BinaryOp.Pow || op === BinaryOp.Div;
        const gen = (r: RandomGenerator) => (op === BinaryOp.Eq ? randInt(r, 0, 2) : pos ? r.uniform(0.5, 2) : r.uniform(-2, 2));
        const x = awkwardTensor(rng, sx, kinds[trial % 3], gen);
        const y = awkwardTensor(rng, sy, kinds[(trial + 1) % 3], gen);
        parity(`${name} ${JSON.stringify(sx)} with ${JSON.stringify(sy)}`, () => ops.binary(name, op, x, y, 0.5), 2e-6, 1e-6);
      }
    }
  });

  it('in-place ops write through views', () => {
    for (let trial = 0; trial < 10; trial++) {
      const shape = randomShape(rng, 4, 7);
      const y = awkwardTensor(rng, broadcastPartner(rng, shape), 'padded');
      const seed = randInt(rng, 0, 1000);
      parity('add_ into a permuted view', () => {
        const x = awkwardTensor(new RandomGenerator(seed), shape, 'permuted');
        x.add_(y, 2);
        // return the whole underlying storage so writes outside the view would be caught
        return new Tensor(x.data, [x.data.length]);
      });
    }
  });

  it('copy between layouts and dtypes', () => {
    for (let trial = 0; trial < 20; trial++) {
      const shape = randomShape(rng, 5, 6);
      const src = awkwardTensor(rng, broadcastPartner(rng, shape), kinds[trial % 3], (r) => r.uniform(-100, 100));
      parity('copy float', () => Tensor.empty(shape).copy_(src));
      parity('copy float->int->float', () => Tensor.empty(shape, { dtype: 'int32' }).copy_(src).to('float32'));
      parity('contiguous of a view', () => src.contiguous().clone());
    }
  });

  it('reductions along every dim and whole-tensor', () => {
    for (let trial = 0; trial < 25; trial++) {
      const shape = randomShape(rng, 4, 9).map((s) => Math.max(s, 1));
      if (shape.length === 0) shape.push(5);
      const x = awkwardTensor(rng, shape, kinds[trial % 3]);
      for (let d = -1; d < shape.length; d++) {
        const dim = d < 0 ? undefined : d;
        const keep = trial % 2 === 0;
        parity(`sum ${JSON.stringify(shape)} dim ${dim}`, () => ops.sum(x, dim, keep), 1e-5, 1e-5);
        parity(`mean dim ${dim}`, () => ops.mean(x, dim, keep), 1e-5, 1e-5);
        parity(`sumSquares dim ${dim}`, () => ops.sumSquares(x, dim, keep), 1e-5, 1e-5);
        parity(`prod dim ${dim}`, () => ops.prod(x, dim, keep), 1e-5, 1e-6);
        parity(`max dim ${dim}`, () => { const r = ops.max(x, dim, keep); return [r.values, r.indices.to('float32')]; });
        parity(`min dim ${dim}`, () => { const r = ops.min(x, dim, keep); return [r.values, r.indices.to('float32')]; });
      }
    }
    // a long row: the vectorised sum path
    const long = Tensor.rand([4, 100003], -1, 1, rng);
    parity('sum of long rows', () => ops.sum(long, 1), 1e-5, 1e-4);
  });

  it('max/min keep the first extreme and let NaN win', () => {
    const x = Tensor.from([[1, 5, 5, 2], [3, NaN, 9, 1]]);
    for (const name of ['reference', 'native'] as const) {
      const r = withBackend(name, () => ops.max(x, 1));
      assert.deepEqual(r.indices.toArray(), [1, 1], name);
      assert.equal(r.values.get(0), 5);
      assert.ok(Number.isNaN(r.values.get(1)), `${name}: NaN must propagate through max`);
    }
  });

  it('softmax and log-softmax with their gradients along any dim', () => {
    for (let trial = 0; trial < 20; trial++) {
      const shape = randomShape(rng, 4, 9).map((s) => Math.max(s, 1));
      if (shape.length === 0) shape.push(3);
      const x = awkwardTensor(rng, shape, kinds[trial % 3], (r) => r.uniform(-20, 20));
      const gy = awkwardTensor(rng, shape, kinds[(trial + 1) % 3]);
      const dim = randInt(rng, 0, shape.length - 1);
      parity(`softmax ${JSON.stringify(shape)} dim ${dim}`, () => ops.softmax(x, dim), 1e-5, 1e-7);
      parity(`logSoftmax dim ${dim}`, () => ops.logSoftmax(x, dim), 1e-5, 1e-5);
      parity('softmaxBackward', () => ops.softmaxBackward(ops.softmax(x, dim), gy, dim), 1e-4, 1e-6);
      parity('logSoftmaxBackward', () => ops.logSoftmaxBackward(ops.logSoftmax(x, dim), gy, dim), 1e-4, 1e-5);
    }
  });

  // the addon serves gemm from oneDNN's dnnl_sgemm (default) or OpenBLAS: both must match
  for (const [lib, name] of [[0, 'dnnl_sgemm'], [1, 'OpenBLAS']] as const) {
    it(`gemm (${name}): all transposes, odd sizes, offsets and padded leading dimensions`, () => {
      const nat = getBackend('native'), ref = getBackend('reference');
      const addon = nativeAddon();
      const before = addon.getGemmLibrary() as number;
      addon.setGemmLibrary(lib);
      try {
        for (let trial = 0; trial < 44; trial++) {
          // trials 40..43: big enough for the threaded path (>= 2^24 multiply-adds), and k = 0
          const big = trial >= 40 && trial < 42, empty = trial >= 42;
          const [m, n, k] = big ? [260 + trial, 257, 255] : [randInt(rng, 1, 37), randInt(rng, 1, 37), empty ? 0 : randInt(rng, 1, 37)];
          const ta = trial % 2 === 1, tb = (trial >> 1) % 2 === 1;
          const [ar, ac] = ta ? [k, m] : [m, k];
          const [br, bc] = tb ? [n, k] : [k, n];
          const lda = Math.max(1, ac + randInt(rng, 0, 3)), ldb = Math.max(1, bc + randInt(rng, 0, 3)), ldc = n + randInt(rng, 0, 3);
          const aOff = randInt(rng, 0, 4), bOff = randInt(rng, 0, 4), cOff = randInt(rng, 0, 4);
          const a = Tensor.rand([aOff + Math.max(ar, 1) * lda], -1, 1, rng).data as Float32Array;
          const b = Tensor.rand([bOff + Math.max(br, 1) * ldb], -1, 1, rng).data as Float32Array;
          const c0 = Tensor.rand([cOff + m * ldc], -1, 1, rng).data as Float32Array;
          const [alpha, beta] = [trial % 3 === 0 ? 1 : 0.7, trial % 4 === 0 ? 0 : 0.3];
          // beta = 0 must ignore C entirely, NaN included
          if (beta === 0) c0[cOff] = NaN;
          const cn = c0.slice(), cr = c0.slice();
          nat.gemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, cn, cOff, ldc);
          ref.gemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, cr, cOff, ldc);
          // compare everything, including the padding between rows, which must be untouched
          assertClose(cn, cr, `gemm (${name}) ta=${ta} tb=${tb} ${m}x${n}x${k}`, 1e-5, big ? 1e-4 : 1e-5);
        }
      } finally {
        addon.setGemmLibrary(before);
      }
    });
  }

  it('lstmGatesForward / lstmGatesBackward: strided rows, offsets, odd widths', () => {
    const nat = getBackend('native'), ref = getBackend('reference');
    for (const [B, n] of [[1, 1], [3, 5], [7, 13], [16, 128]]) {
      // each operand lives at an offset in a larger buffer with padded row strides
      const mk = (width: number, lo = -3, hi = 3) => {
        const off = randInt(rng, 0, 5), row = width + randInt(rng, 0, 4);
        return { data: Tensor.rand([off + B * row + 2], lo, hi, rng).data as Float32Array, off, row };
      };
      const G = mk(4 * n), cp = mk(n), c = mk(n), tc = mk(n), h = mk(n);
      const both = <T extends { data: Float32Array }>(x: T): [T, T] => [{ ...x, data: x.data.slice() }, { ...x, data: x.data.slice() }];
      const [Gn, Gr] = both(G), [cn, cr] = both(c), [tcn, tcr] = both(tc), [hn, hr] = both(h);
      nat.lstmGatesForward(B, n, Gn.data, G.off, G.row, cp.data, cp.off, cp.row, cn.data, c.off, c.row, tcn.data, tc.off, tc.row, hn.data, h.off, h.row);
      ref.lstmGatesForward(B, n, Gr.data, G.off, G.row, cp.data, cp.off, cp.row, cr.data, c.off, c.row, tcr.data, tc.off, tc.row, hr.data, h.off, h.row);
      for (const [x, y, what] of [[Gn, Gr, 'gates'], [cn, cr, 'c'], [tcn, tcr, 'tanh(c)'], [hn, hr, 'h']] as const) {
        assertClose(x.data, y.data, `lstmGatesForward B=${B} n=${n}: ${what}`, 1e-5, 1e-6);
      }
      const dh = mk(n), dc = mk(n), dG = mk(4 * n), dcp = mk(n);
      const [dcn, dcr] = both(dc), [dGn, dGr] = both(dG), [dcpn, dcpr] = both(dcp);
      nat.lstmGatesBackward(B, n, Gr.data, G.off, G.row, tcr.data, tc.off, tc.row, cp.data, cp.off, cp.row, dh.data, dh.off, dh.row,
        dcn.data, dc.off, dc.row, dGn.data, dG.off, dG.row, dcpn.data, dcp.off, dcp.row);
      ref.lstmGatesBackward(B, n, Gr.data, G.off, G.row, tcr.data, tc.off, tc.row, cp.data, cp.off, cp.row, dh.data, dh.off, dh.row,
        dcr.data, dc.off, dc.row, dGr.data, dG.off, dG.row, dcpr.data, dcp.off, dcp.row);
      for (const [x, y, what] of [[dcn, dcr, 'dc'], [dGn, dGr, 'dG'], [dcpn, dcpr, 'dcp']] as const) {
        assertClose(x.data, y.data, `lstmGatesBackward B=${B} n=${n}: ${what}`, 1e-5, 1e-6);
      }
    }
    const x = new Float32Array(8);
    assert.throws(() => nat.lstmGatesForward(2, 1, x, 0, 4, x, 0, 1, x, 0, 1, x, 0, 1, x, 7, 1), /outside its buffer/);
  });

  it('sgdUpdate: weight decay, momentum (first and later steps), dampening, Nesterov, offsets, threaded sizes', () => {
    const nat = getBackend('native'), ref = getBackend('reference');
    const configs: [number, number, number, boolean][] = [
      [0, 0, 0, false], [1e-3, 0, 0, false], [0, 0.9, 0, false], [5e-4, 0.9, 0.9, false], [1e-2, 0.8, 0, true], [0, 0.5, 0.25, false]];
    for (const [ci, [wd, mom, damp, nesterov]] of configs.entries()) {
      for (const n of [1, 37, 1000, 300_001]) {
        const off = [0, 3, 5][ci % 3];
        const w0 = Tensor.rand([off + n + 2], -1, 1, rng).data as Float32Array;
        const g = Tensor.rand([off + n + 1], -1, 1, rng).data as Float32Array;
        const wn = w0.slice(), wr = w0.slice();
        const bn = mom ? new Float32Array(n + 7) : null, br = mom ? new Float32Array(n + 7) : null;
        for (let step = 0; step < 3; step++) {
          const lr = 0.1 / (step + 1);
          nat.sgdUpdate(n, wn, off, g, off, bn, 7, lr, wd, mom, damp, nesterov, step === 0);
          ref.sgdUpdate(n, wr, off, g, off, br, 7, lr, wd, mom, damp, nesterov, step === 0);
          const what = `sgdUpdate wd=${wd} momentum=${mom} dampening=${damp} nesterov=${nesterov} n=${n} step ${step}`;
          assertClose(wn, wr, `${what}: weights`, 1e-6, 1e-7);
          if (bn) assertClose(bn, br!, `${what}: momentum buffer`, 1e-6, 1e-7);
        }
      }
    }
    assert.throws(() => nat.sgdUpdate(10, new Float32Array(5), 0, new Float32Array(10), 0, null, 0, 0.1, 0, 0, 0, false, true), /too short/);
    assert.throws(() => nat.sgdUpdate(4, new Float32Array(4), 0, new Float32Array(4), 0, null, 0, 0.1, 0, 0.9, 0, false, true), /momentum buffer/);
  });

  it('matmul, addmm and bmm through transposed and batched views', () => {
    for (let trial = 0; trial < 15; trial++) {
      const [m, n, k, batch] = [randInt(rng, 1, 20), randInt(rng, 1, 20), randInt(rng, 1, 20), randInt(rng, 1, 5)];
      const a = rng.random() < 0.5 ? Tensor.rand([m, k], -1, 1, rng) : Tensor.rand([k, m], -1, 1, rng).t();
      const b = rng.random() < 0.5 ? Tensor.rand([k, n], -1, 1, rng) : Tensor.rand([n, k], -1, 1, rng).t();
      const bias = Tensor.rand([n], -1, 1, rng);
      parity('mm', () => ops.mm(a, b), 1e-5, 1e-5);
      parity('addmm with a broadcast bias', () => ops.addmm(bias, a, b, { alpha: 0.5, beta: 2 }), 1e-5, 1e-5);
      const a3 = awkwardTensor(rng, [batch, m, k], kinds[trial % 3]);
      const b3 = awkwardTensor(rng, [batch, k, n], kinds[(trial + 1) % 3]);
      parity('bmm', () => ops.bmm(a3, b3), 1e-5, 1e-5);
      parity('matmul broadcasting batch dims', () => ops.matmul(a3.unsqueeze(0), b3.narrow(0, 0, 1)), 1e-5, 1e-5);
      parity('matmul vector', () => ops.matmul(a, b.select(1, 0)), 1e-5, 1e-5);
    }
  });

  it('gather, scatterAdd, indexSelect, indexAdd', () => {
    for (let trial = 0; trial < 20; trial++) {
      const shape = [randInt(rng, 1, 6), randInt(rng, 1, 6), randInt(rng, 1, 6)];
      const dim = randInt(rng, 0, 2);
      const x = awkwardTensor(rng, shape, kinds[trial % 3]);
      const idxShape = shape.slice();
      idxShape[dim] = randInt(rng, 1, 8);
      const idx = Tensor.empty(idxShape, { dtype: 'int32' });
      for (let i = 0; i < idx.numel; i++) idx.data[i] = rng.randInt(shape[dim]);
      parity('gather', () => ops.gather(x, dim, idx));
      const src = Tensor.rand(idxShape, -1, 1, rng);
      parity('scatterAdd_', () => x.clone().scatterAdd_(dim, idx, src), 1e-5, 1e-6);
      const rows = Tensor.empty([randInt(rng, 0, 9)], { dtype: 'int32' });
      for (let i = 0; i < rows.numel; i++) rows.data[i] = rng.randInt(shape[dim]);
      parity('indexSelect', () => ops.indexSelect(x, dim, rows));
      const shapeSrc = shape.slice();
      shapeSrc[dim] = rows.numel;
      const rowSrc = Tensor.rand(shapeSrc, -1, 1, rng);
      parity('indexAdd_', () => x.clone().indexAdd_(dim, rows, rowSrc, 0.5), 1e-5, 1e-6);
    }
  });

  it('allFinite finds NaN and infinities anywhere in a range', () => {
    const nat = getBackend('native');
    for (const n of [1, 7, 8, 9, 1000]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const x = new Float32Array(n + 2).fill(1);
        assert.equal(nat.allFinite(x, 1, n), true);
        const at = 1 + rng.randInt(n);
        x[at] = bad;
        assert.equal(nat.allFinite(x, 1, n), false, `${bad} at ${at} of ${n}`);
        // outside the range it is not seen
        x[at] = 1;
        x[0] = bad;
        assert.equal(nat.allFinite(x, 1, n), true);
      }
    }
  });

  it('native kernels refuse views outside their buffers instead of crashing', () => {
    const nat = getBackend('native');
    const x = new Float32Array(10);
    assert.throws(() => nat.unary(UnaryOp.Neg, [11], x, 0, [1], x, 0, [1], 0, 0), /outside its buffer/);
    assert.throws(() => nat.gemm(false, false, 4, 4, 4, 1, x, 0, 4, x, 0, 4, 0, x, 0, 4), /outside its buffer/);
    assert.throws(() => nat.reduce(ReduceOp.Sum, 1, 11, 1, x, 0, x, 0, null, 0), /outside its buffer/);
  });
});
