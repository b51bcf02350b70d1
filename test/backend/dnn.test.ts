// DNN kernels: the reference against hand-computed cases and finite differences, then the native
// (oneDNN) kernels against the reference on many seeded-random geometries.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  PoolKind, type BatchNormParams, type ConvParams, type DnnKernels, type LrnParams, type PoolParams,
} from '../../src/backend/backend.js';
import { referenceDnn as ref } from '../../src/backend/reference/dnn.js';
import { loadAddon } from '../../src/backend/native/addon.js';
import { nativeDnn } from '../../src/backend/native/dnn.js';

// ---- helpers ----------------------------------------------------------------------------------

type Rng = () => number;

/** mulberry32: a tiny seeded generator, uniform in [0, 1). */
function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

const SENTINEL = 12345.5;

/** n elements at offset `off` of a larger array; the margins hold a sentinel. */
class Buf {
  readonly a: Float32Array;
  constructor(readonly n: number, readonly off = 0, fill?: (i: number) => number) {
    this.a = new Float32Array(off + n + 3).fill(SENTINEL);
    if (fill) for (let i = 0; i < n; i++) this.a[off + i] = fill(i);
  }
  static random(rng: Rng, n: number, off = 0, lo = -1, hi = 1): Buf {
    return new Buf(n, off, () => lo + (hi - lo) * rng());
  }
  static of(values: number[], off = 0): Buf {
    return new Buf(values.length, off, (i) => values[i]);
  }
  get v(): Float32Array {
    return this.a.subarray(this.off, this.off + this.n);
  }
  copy(off = this.off): Buf {
    return new Buf(this.n, off, (i) => this.a[this.off + i]);
  }
  /** Kernels must not write outside [off, off + n). */
  assertMargins(what: string): void {
    for (let i = 0; i < this.a.length; i++) {
      if (i >= this.off && i < this.off + this.n) continue;
      if (this.a[i] !== SENTINEL) assert.fail(`${what}: wrote outside its range at ${i - this.off} (offset ${this.off}, length ${this.n})`);
    }
  }
}

/** |a - e| <= rtol*|e| + atol*max|e| elementwise; reports the worst element. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4, atol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const abs = atol * Math.max(scale, 1e-3);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (rtol * Math.abs(expected[i]) + abs);
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) { worst = i; worstExcess = excess; }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${abs.toExponential(2)})`);
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Checks an analytic gradient g of L(x) = loss() against a central difference along a random
 * direction: L(x + eps v) - L(x - eps v) ~= g . (x+ - x-), with x± as actually stored in float32.
 */
function checkDirectional(rng: Rng, x: Buf, grad: Float32Array, loss: () => number, what: string, eps = 1e-2, tol = 2e-3): void {
  const saved = Float32Array.from(x.v);
  const v = Array.from({ length: x.n }, () => rng() * 2 - 1);
  for (let i = 0; i < x.n; i++) x.a[x.off + i] = saved[i] + eps * v[i];
  const plus = Float32Array.from(x.v);
  const lp = loss();
  for (let i = 0; i < x.n; i++) x.a[x.off + i] = saved[i] - eps * v[i];
  const minus = Float32Array.from(x.v);
  const lm = loss();
  x.a.set(saved, x.off);
  const step = plus.map((p, i) => p - minus[i]);
  const numeric = lp - lm, analytic = dot(grad, step);
  const scale = Math.sqrt(dot(grad, grad)) * Math.sqrt(dot(step, step));
  assert.ok(Math.abs(numeric - analytic) <= tol * (Math.abs(analytic) + scale + 1e-6),
    `${what}: finite difference ${numeric} vs analytic ${analytic} (scale ${scale})`);
}

function convParams(g: Omit<ConvParams, 'oh' | 'ow'>): ConvParams {
  const oh = Math.floor((g.h + 2 * g.padH - g.dilationH * (g.kh - 1) - 1) / g.strideH) + 1;
  const ow = Math.floor((g.w + 2 * g.padW - g.dilationW * (g.kw - 1) - 1) / g.strideW) + 1;
  return { ...g, oh, ow };
}
const convDesc = (p: ConvParams): string => JSON.stringify(p);
const xSize = (p: ConvParams): number => p.n * p.c * p.h * p.w;
const ySize = (p: ConvParams): number => p.n * p.oc * p.oh * p.ow;
const wSize = (p: ConvParams): number => p.oc * (p.c / p.groups) * p.kh * p.kw;

/** Pooling geometry the way src/tensor/dnn.ts computes it (PyTorch's floor/ceil rules). */
function poolParams(kind: PoolKind, n: number, c: number, h: number, w: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, ceil: boolean): PoolParams {
  const out = (size: number, k: number, s: number, p: number): number => {
    const span = size + 2 * p - k;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (o - 1) * s >= size + p) o--;
    return o;
  };
  const oh = out(h, kh, sh, ph), ow = out(w, kw, sw, pw);
  const padBottom = Math.max(0, (oh - 1) * sh + kh - h - ph);
  const padRight = Math.max(0, (ow - 1) * sw + kw - w - pw);
  return { kind, n, c, h, w, kh, kw, strideH: sh, strideW: sw, padTop: ph, padLeft: pw, padBottom, padRight, oh, ow };
}
const poolIn = (p: PoolParams): number => p.n * p.c * p.h * p.w;
const poolOut = (p: PoolParams): number => p.n * p.c * p.oh * p.ow;
const lrnSize = (p: LrnParams): number => p.n * p.c * p.h * p.w;
const bnSize = (p: BatchNormParams): number => p.n * p.c * p.h * p.w;

// ---- (a) reference against hand-computed cases ------------------------------------------------

describe('reference DNN kernels: hand-computed cases', () => {
  const x9 = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const plus = [0, 1, 0, 1, 1, 1, 0, 1, 0];
  const base = { n: 1, c: 1, h: 3, w: 3, oc: 1, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1 };

  it('conv2d of 1..9 with a plus-shaped kernel, padding 1, bias 0.5', () => {
    const p = convParams(base);
    const y = new Buf(9, 2);
    ref.conv2dForward(p, Buf.of(x9).a, 0, Buf.of(plus, 1).a, 1, Buf.of([0.5]).a, 0, y.a, 2);
    assert.deepEqual(Array.from(y.v), [7, 11, 11, 17, 25, 23, 19, 29, 23].map((v) => v + 0.5));
    y.assertMargins('conv2d');
  });

  it('conv2d stride 2, no padding, dilation 2, groups', () => {
    const s2 = convParams({ ...base, strideH: 2, strideW: 2 });
    assert.deepEqual([s2.oh, s2.ow], [2, 2]);
    const y = new Buf(4);
    ref.conv2dForward(s2, Buf.of(x9).a, 0, Buf.of(plus).a, 0, null, 0, y.a, 0);
    assert.deepEqual(Array.from(y.v), [7, 11, 19, 23]);

    // a 3x3 dilation-2 kernel on a 5x5 input touches only the corners and edge midpoints
    const d2 = convParams({ ...base, h: 5, w: 5, padH: 0, padW: 0, dilationH: 2, dilationW: 2 });
    assert.deepEqual([d2.oh, d2.ow], [1, 1]);
    const x25 = Array.from({ length: 25 }, (_, i) => i);
    ref.conv2dForward(d2, Buf.of(x25).a, 0, Buf.of(plus).a, 0, null, 0, y.a, 0);
    assert.equal(y.a[0], 2 + 10 + 12 + 14 + 22);

    // groups = 2 with 1x1 kernels: each output channel sees only its own input channel
    const g2 = convParams({ ...base, c: 2, oc: 2, kh: 1, kw: 1, h: 1, w: 2, padH: 0, padW: 0, groups: 2 });
    const yg = new Buf(4);
    ref.conv2dForward(g2, Buf.of([1, 2, 3, 4]).a, 0, Buf.of([2, 3]).a, 0, null, 0, yg.a, 0);
    assert.deepEqual(Array.from(yg.v), [2, 4, 9, 12]);
  });

  it('conv2d backward of a single output position', () => {
    const p = convParams({ ...base, h: 2, w: 2, kh: 2, kw: 2, padH: 0, padW: 0 });
    const gx = new Buf(4);
    ref.conv2dBackwardData(p, Buf.of([2]).a, 0, Buf.of([1, 2, 3, 4]).a, 0, gx.a, 0);
    assert.deepEqual(Array.from(gx.v), [2, 4, 6, 8]);
    const gw = new Buf(4), gb = new Buf(1);
    ref.conv2dBackwardWeights(p, Buf.of([5, 6, 7, 8]).a, 0, Buf.of([-1]).a, 0, gw.a, 0, gb.a, 0);
    assert.deepEqual(Array.from(gw.v), [-5, -6, -7, -8]);
    assert.equal(gb.a[0], -1);
  });

  it('average pooling of a constant; padding counted or not', () => {
    const x = new Buf(2 * 16, 0, () => 5);
    const p = poolParams(PoolKind.AvgIncludePad, 1, 2, 4, 4, 2, 2, 2, 2, 0, 0, false);
    const y = new Buf(poolOut(p));
    ref.pool2dForward(p, x.a, 0, y.a, 0, null);
    assert.deepEqual(Array.from(y.v), new Array(8).fill(5));
    const inc = poolParams(PoolKind.AvgIncludePad, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, false);
    const yi = new Buf(9);
    ref.pool2dForward(inc, x.a, 0, yi.a, 0, null);
    assertClose(yi.v, [20 / 9, 30 / 9, 20 / 9, 30 / 9, 5, 30 / 9, 20 / 9, 30 / 9, 20 / 9], 'include pad', 1e-6, 0);
    const exc = { ...inc, kind: PoolKind.AvgExcludePad };
    ref.pool2dForward(exc, x.a, 0, yi.a, 0, null);
    assertClose(yi.v, new Array(9).fill(5), 'exclude pad', 1e-6, 0);
  });

  it('max pooling picks the maximum and routes the gradient to it', () => {
    const xs = [3, 9, 1, 0, 4, 2, 8, 15, 11, 5, 6, 7, 10, 12, 13, 14];
    const p = poolParams(PoolKind.Max, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, false);
    const ws = new Uint8Array(ref.pool2dWorkspaceBytes(p));
    assert.equal(ws.byteLength, 16);
    const y = new Buf(4, 1);
    ref.pool2dForward(p, Buf.of(xs).a, 0, y.a, 1, ws);
    assert.deepEqual(Array.from(y.v), [9, 15, 12, 14]);
    const gx = new Buf(16, 3);
    ref.pool2dBackward(p, Buf.of([1, 2, 3, 4]).a, 0, gx.a, 3, ws);
    const expected = new Array(16).fill(0);
    expected[1] = 1; expected[7] = 2; expected[13] = 3; expected[15] = 4;
    assert.deepEqual(Array.from(gx.v), expected);
    gx.assertMargins('max pool backward');
    // ceil mode: a 5x5 input, 2x2 windows, stride 2 gives 3x3 with a one-cell overhang
    const pc = poolParams(PoolKind.Max, 1, 1, 5, 5, 2, 2, 2, 2, 0, 0, true);
    assert.deepEqual([pc.oh, pc.ow, pc.padBottom, pc.padRight], [3, 3, 1, 1]);
    const x25 = Array.from({ length: 25 }, (_, i) => i);
    const yc = new Buf(9);
    ref.pool2dForward(pc, Buf.of(x25).a, 0, yc.a, 0, new Uint8Array(ref.pool2dWorkspaceBytes(pc)));
    assert.deepEqual(Array.from(yc.v), [6, 8, 9, 16, 18, 19, 21, 23, 24]);
  });

  it('LRN with size 1 and size 3 follows x / (k + alpha/size * sum x^2)^beta', () => {
    const p1: LrnParams = { n: 1, c: 2, h: 1, w: 2, size: 1, alpha: 0.5, beta: 0.75, k: 2 };
    const xs = [1, -2, 3, 0.5];
    const y = new Buf(4);
    ref.lrnForward(p1, Buf.of(xs).a, 0, y.a, 0, null);
    assertClose(y.v, xs.map((v) => v / Math.pow(2 + 0.5 * v * v, 0.75)), 'lrn size 1', 1e-6, 0);
    const p3: LrnParams = { n: 1, c: 3, h: 1, w: 1, size: 3, alpha: 3, beta: 1, k: 1 };
    ref.lrnForward(p3, Buf.of([1, 2, 3]).a, 0, y.a, 0, null);
    assertClose(y.v.subarray(0, 3), [1 / 6, 2 / 15, 3 / 14], 'lrn size 3', 1e-6, 0);
    assert.equal(ref.lrnWorkspaceBytes(p3), 0);
  });

  it('batch norm training normalises each channel and reports biased statistics', () => {
    const rng = mulberry32(7);
    const p: BatchNormParams = { n: 3, c: 2, h: 2, w: 3, eps: 1e-9 };
    const x = Buf.random(rng, bnSize(p), 0, -2, 5);
    const y = new Buf(bnSize(p)), mean = new Buf(2, 1), variance = new Buf(2, 2);
    ref.batchNormForward(p, true, x.a, 0, y.a, 0, Buf.of([1, 2]).a, 0, Buf.of([0, 3]).a, 0, mean.a, 1, variance.a, 2);
    for (let c = 0; c < 2; c++) {
      const xs: number[] = [], ys: number[] = [];
      for (let n = 0; n < 3; n++) for (let k = 0; k < 6; k++) { xs.push(x.a[(n * 2 + c) * 6 + k]); ys.push(y.a[(n * 2 + c) * 6 + k]); }
      const mu = xs.reduce((s, v) => s + v, 0) / 18;
      const va = xs.reduce((s, v) => s + (v - mu) ** 2, 0) / 18;
      assertClose([mean.v[c], variance.v[c]], [mu, va], `channel ${c} stats`, 1e-5, 0);
      const my = ys.reduce((s, v) => s + v, 0) / 18;
      const vy = ys.reduce((s, v) => s + (v - my) ** 2, 0) / 18;
      // scale (1, 2) and shift (0, 3): mean = shift, variance = scale^2
      assertClose([my, vy], [[0, 3][c], [1, 4][c]], `channel ${c} output`, 1e-4, 1e-5);
    }
    mean.assertMargins('mean');
    variance.assertMargins('variance');
    // inference with the same statistics reproduces the training output
    const yi = new Buf(bnSize(p));
    ref.batchNormForward(p, false, x.a, 0, yi.a, 0, Buf.of([1, 2]).a, 0, Buf.of([0, 3]).a, 0, mean.a, 1, variance.a, 2);
    assertClose(yi.v, y.v, 'inference with batch stats', 1e-5, 1e-6);
  });
});

// ---- (b) reference backward against finite differences of the reference forward -------------

describe('reference DNN backward kernels match finite differences', () => {
  const rng = mulberry32(2024);

  it('conv2d: data, weights and bias gradients', () => {
    for (let trial = 0; trial < 6; trial++) {
      const groups = pick(rng, [1, 2]);
      const p = convParams({
        n: int(rng, 1, 2), c: groups * int(rng, 1, 2), h: int(rng, 4, 6), w: int(rng, 4, 6), oc: groups * int(rng, 1, 2),
        kh: int(rng, 1, 3), kw: int(rng, 1, 3), strideH: int(rng, 1, 2), strideW: int(rng, 1, 2), padH: int(rng, 0, 1),
        padW: int(rng, 0, 1), dilationH: int(rng, 1, 2), dilationW: 1, groups,
      });
      const x = Buf.random(rng, xSize(p)), w = Buf.random(rng, wSize(p)), b = Buf.random(rng, p.oc);
      const r = Buf.random(rng, ySize(p)), y = new Buf(ySize(p));
      const loss = () => { ref.conv2dForward(p, x.a, 0, w.a, 0, b.a, 0, y.a, 0); return dot(y.v, r.v); };
      const gx = new Buf(xSize(p)), gw = new Buf(wSize(p)), gb = new Buf(p.oc);
      ref.conv2dBackwardData(p, r.a, 0, w.a, 0, gx.a, 0);
      ref.conv2dBackwardWeights(p, x.a, 0, r.a, 0, gw.a, 0, gb.a, 0);
      checkDirectional(rng, x, gx.v, loss, `conv gx ${convDesc(p)}`);
      checkDirectional(rng, w, gw.v, loss, `conv gw ${convDesc(p)}`);
      checkDirectional(rng, b, gb.v, loss, `conv gb ${convDesc(p)}`);
    }
  });

  it('pooling: max (well-separated values), average including and excluding padding, ceil mode', () => {
    for (let trial = 0; trial < 9; trial++) {
      const kind = [PoolKind.Max, PoolKind.AvgIncludePad, PoolKind.AvgExcludePad][trial % 3];
      const k = int(rng, 2, 3);
      const p = poolParams(kind, int(rng, 1, 2), int(rng, 1, 3), int(rng, 4, 7), int(rng, 4, 7), k, k,
        int(rng, 1, 2), int(rng, 1, 2), int(rng, 0, 1), int(rng, 0, 1), trial >= 3);
      // a shuffled ramp 0.1 apart: a +-0.01 perturbation never changes which cell is the maximum
      const order = Array.from({ length: poolIn(p) }, (_, i) => i).sort(() => rng() - 0.5);
      const x = new Buf(poolIn(p), 0, (i) => order[i] * 0.1 - 1);
      const r = Buf.random(rng, poolOut(p)), y = new Buf(poolOut(p));
      const ws = new Uint8Array(ref.pool2dWorkspaceBytes(p));
      const loss = () => { ref.pool2dForward(p, x.a, 0, y.a, 0, ws); return dot(y.v, r.v); };
      loss();
      const gx = new Buf(poolIn(p));
      ref.pool2dBackward(p, r.a, 0, gx.a, 0, ws);
      checkDirectional(rng, x, gx.v, loss, `pool ${JSON.stringify(p)}`);
    }
  });

  it('LRN', () => {
    for (const size of [1, 3, 5]) {
      const p: LrnParams = { n: 2, c: int(rng, 2, 7), h: 2, w: 3, size, alpha: 0.8, beta: 0.75, k: 1.5 };
      const x = Buf.random(rng, lrnSize(p), 0, -2, 2), r = Buf.random(rng, lrnSize(p)), y = new Buf(lrnSize(p));
      const loss = () => { ref.lrnForward(p, x.a, 0, y.a, 0, null); return dot(y.v, r.v); };
      const gx = new Buf(lrnSize(p));
      ref.lrnBackward(p, x.a, 0, r.a, 0, gx.a, 0, null);
      checkDirectional(rng, x, gx.v, loss, `lrn ${JSON.stringify(p)}`);
    }
  });

  it('batch norm (training): input, scale and shift gradients', () => {
    for (const [n, h, w] of [[4, 1, 1], [2, 2, 3]]) {
      const p: BatchNormParams = { n, c: 3, h, w, eps: 1e-3 };
      const x = Buf.random(rng, bnSize(p), 0, -1, 2), scale = Buf.random(rng, 3, 0, 0.5, 2), shift = Buf.random(rng, 3);
      const r = Buf.random(rng, bnSize(p)), y = new Buf(bnSize(p)), mean = new Buf(3), variance = new Buf(3);
      const loss = () => {
        ref.batchNormForward(p, true, x.a, 0, y.a, 0, scale.a, 0, shift.a, 0, mean.a, 0, variance.a, 0);
        return dot(y.v, r.v);
      };
      loss();
      const gx = new Buf(bnSize(p)), gs = new Buf(3), gb = new Buf(3);
      ref.batchNormBackward(p, x.a, 0, r.a, 0, scale.a, 0, mean.a, 0, variance.a, 0, gx.a, 0, gs.a, 0, gb.a, 0);
      checkDirectional(rng, x, gx.v, loss, `bn gx ${JSON.stringify(p)}`);
      checkDirectional(rng, scale, gs.v, loss, `bn gScale ${JSON.stringify(p)}`);
      checkDirectional(rng, shift, gb.v, loss, `bn gShift ${JSON.stringify(p)}`);
    }
  });
});

// ---- (c) native against the reference ---------------------------------------------------------

const load = loadAddon();
const requireNative = process.env.BIGDL_REQUIRE_NATIVE === '1';

describe('native DNN kernels', () => {
  it('the addon loads', { skip: !load.ok && !requireNative ? `native addon unavailable: ${load.ok ? '' : load.reason}` : false }, () => {
    assert.ok(load.ok, `BIGDL_REQUIRE_NATIVE=1 but ${load.ok ? '' : load.reason}`);
  });
});

const nat: DnnKernels | null = load.ok ? nativeDnn(load.addon) : null;
const nativeSuite = nat ? describe : describe.skip;

/** Random convolution geometry; `opts` pins some fields. */
function randomConv(rng: Rng, opts: Partial<ConvParams> = {}): ConvParams {
  const groups = opts.groups ?? pick(rng, [1, 1, 2, 4]);
  const kh = opts.kh ?? pick(rng, [1, 2, 3, 5]);
  const kw = opts.kw ?? (rng() < 0.6 ? kh : pick(rng, [1, 2, 3, 5]));
  const dilationH = opts.dilationH ?? int(rng, 1, 2), dilationW = opts.dilationW ?? int(rng, 1, 2);
  const padH = opts.padH ?? int(rng, 0, 2), padW = opts.padW ?? int(rng, 0, 2);
  const minH = Math.max(1, dilationH * (kh - 1) + 1 - 2 * padH), minW = Math.max(1, dilationW * (kw - 1) + 1 - 2 * padW);
  return convParams({
    n: opts.n ?? int(rng, 1, 3), c: opts.c ?? groups * int(rng, 1, 3), oc: opts.oc ?? groups * int(rng, 1, 3),
    h: opts.h ?? minH + int(rng, 0, 8), w: opts.w ?? minW + int(rng, 0, 8), kh, kw,
    strideH: opts.strideH ?? int(rng, 1, 3), strideW: opts.strideW ?? int(rng, 1, 3), padH, padW, dilationH, dilationW, groups,
  });
}

/** All three conv kernels on both backends; outputs at offset `off` (0 or not) with margins checked. */
function convParity(k: DnnKernels, rng: Rng, p: ConvParams, bias: boolean, off: number): void {
  const what = `${convDesc(p)} bias=${bias} off=${off}`;
  const x = Buf.random(rng, xSize(p), off), w = Buf.random(rng, wSize(p), off + 1), b = Buf.random(rng, p.oc, off + 2);
  const gy = Buf.random(rng, ySize(p), off + 3);
  const yr = new Buf(ySize(p)), yn = new Buf(ySize(p), off);
  ref.conv2dForward(p, x.a, x.off, w.a, w.off, bias ? b.a : null, b.off, yr.a, 0);
  k.conv2dForward(p, x.a, x.off, w.a, w.off, bias ? b.a : null, b.off, yn.a, yn.off);
  assertClose(yn.v, yr.v, `conv2dForward ${what}`);
  yn.assertMargins(`conv2dForward ${what}`);

  const gxr = new Buf(xSize(p)), gxn = new Buf(xSize(p), off);
  ref.conv2dBackwardData(p, gy.a, gy.off, w.a, w.off, gxr.a, 0);
  gxn.v.fill(NaN); // overwritten, never accumulated
  k.conv2dBackwardData(p, gy.a, gy.off, w.a, w.off, gxn.a, gxn.off);
  assertClose(gxn.v, gxr.v, `conv2dBackwardData ${what}`);
  gxn.assertMargins(`conv2dBackwardData ${what}`);

  const gwr = new Buf(wSize(p)), gbr = new Buf(p.oc), gwn = new Buf(wSize(p), off), gbn = new Buf(p.oc, off + 1);
  ref.conv2dBackwardWeights(p, x.a, x.off, gy.a, gy.off, gwr.a, 0, bias ? gbr.a : null, 0);
  gwn.v.fill(NaN);
  gbn.v.fill(bias ? NaN : 0);
  k.conv2dBackwardWeights(p, x.a, x.off, gy.a, gy.off, gwn.a, gwn.off, bias ? gbn.a : null, gbn.off);
  assertClose(gwn.v, gwr.v, `conv2dBackwardWeights gw ${what}`);
  gwn.assertMargins(`conv2dBackwardWeights gw ${what}`);
  if (bias) assertClose(gbn.v, gbr.v, `conv2dBackwardWeights gb ${what}`);
  else assert.deepEqual(Array.from(gbn.v), new Array(p.oc).fill(0), `conv2dBackwardWeights wrote a bias it was not given: ${what}`);
  gbn.assertMargins(`conv2dBackwardWeights gb ${what}`);
}

function poolParity(k: DnnKernels, rng: Rng, p: PoolParams, off: number, ties = false): void {
  const what = `${JSON.stringify(p)} off=${off}${ties ? ' ties' : ''}`;
  // with ties (values 0, 1, 2 only) both backends must route the gradient to the first maximum
  const x = ties ? new Buf(poolIn(p), off, () => Math.floor(rng() * 3)) : Buf.random(rng, poolIn(p), off);
  const gy = Buf.random(rng, poolOut(p), off + 2);
  const wsr = new Uint8Array(ref.pool2dWorkspaceBytes(p)), wsn = new Uint8Array(k.pool2dWorkspaceBytes(p));
  if (p.kind !== PoolKind.Max) assert.equal(wsn.byteLength, 0, `average pooling needs no workspace: ${what}`);
  else assert.ok(wsn.byteLength > 0, `max pooling has a workspace: ${what}`);
  const yr = new Buf(poolOut(p)), yn = new Buf(poolOut(p), off);
  ref.pool2dForward(p, x.a, x.off, yr.a, 0, wsr.byteLength ? wsr : null);
  k.pool2dForward(p, x.a, x.off, yn.a, yn.off, wsn.byteLength ? wsn : null);
  assertClose(yn.v, yr.v, `pool2dForward ${what}`, 1e-5, 1e-6);
  yn.assertMargins(`pool2dForward ${what}`);
  const gxr = new Buf(poolIn(p)), gxn = new Buf(poolIn(p), off + 1);
  ref.pool2dBackward(p, gy.a, gy.off, gxr.a, 0, wsr.byteLength ? wsr : null);
  gxn.v.fill(NaN);
  k.pool2dBackward(p, gy.a, gy.off, gxn.a, gxn.off, wsn.byteLength ? wsn : null);
  assertClose(gxn.v, gxr.v, `pool2dBackward ${what}`, 1e-5, 1e-6);
  gxn.assertMargins(`pool2dBackward ${what}`);
  if (p.kind === PoolKind.Max) {
    // the inference forward (no workspace) gives the same values
    const yi = new Buf(poolOut(p));
    k.pool2dForward(p, x.a, x.off, yi.a, 0, null);
    assertClose(yi.v, yr.v, `pool2dForward (inference) ${what}`, 1e-5, 1e-6);
  }
}

function lrnParity(k: DnnKernels, rng: Rng, p: LrnParams, off: number): void {
  const what = `${JSON.stringify(p)} off=${off}`;
  const n = lrnSize(p);
  const x = Buf.random(rng, n, off, -3, 3), gy = Buf.random(rng, n, off + 1);
  const bytes = k.lrnWorkspaceBytes(p);
  const ws = bytes > 0 ? new Uint8Array(bytes) : null;
  const yr = new Buf(n), yn = new Buf(n, off + 2);
  ref.lrnForward(p, x.a, x.off, yr.a, 0, null);
  k.lrnForward(p, x.a, x.off, yn.a, yn.off, ws);
  assertClose(yn.v, yr.v, `lrnForward ${what}`);
  yn.assertMargins(`lrnForward ${what}`);
  const gxr = new Buf(n), gxn = new Buf(n, off);
  ref.lrnBackward(p, x.a, x.off, gy.a, gy.off, gxr.a, 0, null);
  gxn.v.fill(NaN);
  k.lrnBackward(p, x.a, x.off, gy.a, gy.off, gxn.a, gxn.off, ws);
  assertClose(gxn.v, gxr.v, `lrnBackward ${what}`, 2e-4, 2e-4);
  gxn.assertMargins(`lrnBackward ${what}`);
}

function bnParity(k: DnnKernels, rng: Rng, p: BatchNormParams, off: number): void {
  const what = `${JSON.stringify(p)} off=${off}`;
  const n = bnSize(p);
  const x = Buf.random(rng, n, off, -1, 3), gy = Buf.random(rng, n, off + 1);
  const scale = Buf.random(rng, p.c, off + 2, 0.5, 2), shift = Buf.random(rng, p.c, off + 3);
  // training: statistics out, normalised output
  const yr = new Buf(n), mr = new Buf(p.c), vr = new Buf(p.c);
  const yn = new Buf(n, off), mn = new Buf(p.c, off + 1), vn = new Buf(p.c, off + 2);
  ref.batchNormForward(p, true, x.a, x.off, yr.a, 0, scale.a, scale.off, shift.a, shift.off, mr.a, 0, vr.a, 0);
  k.batchNormForward(p, true, x.a, x.off, yn.a, yn.off, scale.a, scale.off, shift.a, shift.off, mn.a, mn.off, vn.a, vn.off);
  assertClose(mn.v, mr.v, `batchNormForward mean ${what}`, 1e-5, 1e-5);
  assertClose(vn.v, vr.v, `batchNormForward variance ${what}`, 1e-4, 1e-5);
  assertClose(yn.v, yr.v, `batchNormForward training ${what}`);
  for (const [b, name] of [[yn, 'y'], [mn, 'mean'], [vn, 'variance']] as const) b.assertMargins(`batchNormForward ${name} ${what}`);
  // backward from the training statistics
  const gxr = new Buf(n), gsr = new Buf(p.c), gbr = new Buf(p.c);
  const gxn = new Buf(n, off + 1), gsn = new Buf(p.c, off), gbn = new Buf(p.c, off + 3);
  ref.batchNormBackward(p, x.a, x.off, gy.a, gy.off, scale.a, scale.off, mr.a, 0, vr.a, 0, gxr.a, 0, gsr.a, 0, gbr.a, 0);
  k.batchNormBackward(p, x.a, x.off, gy.a, gy.off, scale.a, scale.off, mr.a, 0, vr.a, 0, gxn.a, gxn.off, gsn.a, gsn.off, gbn.a, gbn.off);
  assertClose(gxn.v, gxr.v, `batchNormBackward gx ${what}`, 1e-3, 1e-4);
  assertClose(gsn.v, gsr.v, `batchNormBackward gScale ${what}`, 1e-3, 1e-4);
  assertClose(gbn.v, gbr.v, `batchNormBackward gShift ${what}`, 1e-4, 1e-5);
  for (const [b, name] of [[gxn, 'gx'], [gsn, 'gScale'], [gbn, 'gShift']] as const) b.assertMargins(`batchNormBackward ${name} ${what}`);
  // inference with given (running) statistics
  const mean = Buf.random(rng, p.c, off), variance = Buf.random(rng, p.c, off + 1, 0.2, 3);
  const yir = new Buf(n), yin = new Buf(n, off + 2);
  ref.batchNormForward(p, false, x.a, x.off, yir.a, 0, scale.a, scale.off, shift.a, shift.off, mean.a, mean.off, variance.a, variance.off);
  const meanBefore = Float32Array.from(mean.v);
  k.batchNormForward(p, false, x.a, x.off, yin.a, yin.off, scale.a, scale.off, shift.a, shift.off, mean.a, mean.off, variance.a, variance.off);
  assertClose(yin.v, yir.v, `batchNormForward inference ${what}`);
  assert.deepEqual(Array.from(mean.v), Array.from(meanBefore), `inference must not write the statistics: ${what}`);
  yin.assertMargins(`batchNormForward inference ${what}`);
}

nativeSuite('native DNN kernels match the reference', () => {
  const k = nat!;
  const rng = mulberry32(99);

  it('convolution on random geometries (groups, stride, padding, dilation, odd and non-square kernels)', () => {
    for (let trial = 0; trial < 60; trial++) convParity(k, rng, randomConv(rng), trial % 2 === 0, trial % 3 === 0 ? 0 : int(rng, 1, 7));
  });

  it('convolution: fixed kernel shapes, batch 1 and > 1, pointwise', () => {
    const cases: Partial<ConvParams>[] = [
      { kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, groups: 1, c: 16, oc: 8 },
      { kh: 1, kw: 1, strideH: 2, strideW: 2, padH: 0, padW: 0, groups: 2, n: 1 },
      // pointwise convolutions over >= 128 positions take plain-layout GEMM paths (the weight
      // gradient our own): batch below, at and above the thread count, grouped; and a small one
      { kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, groups: 1, n: 1, c: 24, oc: 40, h: 12, w: 13 },
      { kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, groups: 4, n: 5, h: 16, w: 9 },
      { kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, groups: 2, n: 2, h: 11, w: 13 },
      { kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, groups: 1, n: 3, h: 7, w: 7 },
      { kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1, c: 8, oc: 16, n: 2 },
      { kh: 5, kw: 5, strideH: 1, strideW: 1, padH: 2, padW: 2, groups: 1, n: 1 },
      { kh: 3, kw: 1, padH: 1, padW: 0, groups: 4 },
      { kh: 1, kw: 5, padH: 0, padW: 2, groups: 1, n: 3 },
      { kh: 2, kw: 3, strideH: 3, strideW: 2, groups: 2 },
      { kh: 7, kw: 7, strideH: 2, strideW: 2, padH: 2, padW: 2, dilationH: 1, dilationW: 1, c: 3, oc: 8, groups: 1, h: 17, w: 15 },
    ];
    for (const [i, c] of cases.entries()) {
      convParity(k, rng, randomConv(rng, c), true, i % 2);
      convParity(k, rng, randomConv(rng, c), false, 2);
    }
  });

  it('pooling: max, average with and without padding, ceil mode, global', () => {
    for (let trial = 0; trial < 60; trial++) {
      const kind = [PoolKind.Max, PoolKind.AvgIncludePad, PoolKind.AvgExcludePad][trial % 3];
      const kh = int(rng, 1, 4), kw = rng() < 0.7 ? kh : int(rng, 1, 4);
      const ph = int(rng, 0, Math.floor(kh / 2)), pw = int(rng, 0, Math.floor(kw / 2));
      const h = Math.max(1, kh - 2 * ph) + int(rng, 0, 8), w = Math.max(1, kw - 2 * pw) + int(rng, 0, 8);
      const ceil = rng() < 0.5;
      const p = poolParams(kind, int(rng, 1, 3), int(rng, 1, 5), h, w, kh, kw, int(rng, 1, 3), int(rng, 1, 3), ph, pw, ceil);
      poolParity(k, rng, p, trial % 4 === 0 ? 0 : int(rng, 1, 5));
    }
    // ceil mode with an overhang beyond the symmetric padding (padBottom > padTop)
    for (const kind of [PoolKind.Max, PoolKind.AvgExcludePad, PoolKind.AvgIncludePad]) {
      const p = poolParams(kind, 2, 3, 8, 10, 3, 3, 2, 2, kind === PoolKind.AvgIncludePad ? 0 : 1, kind === PoolKind.AvgIncludePad ? 0 : 1, true);
      assert.ok(p.padBottom > p.padTop && p.padRight > p.padLeft, `ceil-mode overhang: ${JSON.stringify(p)}`);
      poolParity(k, rng, p, 3);
    }
    // global pooling
    for (const kind of [PoolKind.Max, PoolKind.AvgIncludePad, PoolKind.AvgExcludePad]) {
      poolParity(k, rng, poolParams(kind, 2, 5, 7, 6, 7, 6, 1, 1, 0, 0, false), 1);
    }
    // ties: the first maximum in row-major window order wins, on both backends
    for (let trial = 0; trial < 6; trial++) {
      const kh = int(rng, 2, 4), ph = int(rng, 0, Math.floor(kh / 2));
      const p = poolParams(PoolKind.Max, 2, int(rng, 1, 9), kh + int(rng, 0, 9), kh + int(rng, 0, 9), kh, kh, int(rng, 1, 3), int(rng, 1, 3), ph, ph, trial % 2 === 0);
      poolParity(k, rng, p, trial, true);
    }
    // the Inception-v1 shapes: 3x3 stride 2 ceil mode, 3x3 stride 1 pad 1
    poolParity(k, rng, poolParams(PoolKind.Max, 2, 16, 28, 28, 3, 3, 2, 2, 0, 0, true), 0);
    poolParity(k, rng, poolParams(PoolKind.Max, 2, 16, 14, 14, 3, 3, 1, 1, 1, 1, false), 2);
  });

  it('LRN across channels, sizes 1, 3 and 5, several betas', () => {
    for (let trial = 0; trial < 24; trial++) {
      const p: LrnParams = {
        n: int(rng, 1, 3), c: int(rng, 1, 12), h: int(rng, 1, 7), w: int(rng, 1, 7), size: [3, 5, 1, 3, 5, 5][trial % 6],
        alpha: pick(rng, [1e-4, 0.1, 1, 2.5]), beta: [0.75, 0.5, 1, 0.6, 2][trial % 5], k: pick(rng, [1, 2]),
      };
      lrnParity(k, rng, p, trial % 3 === 0 ? 0 : int(rng, 1, 5));
    }
    // many channels: the spatial positions are processed in several chunks, the last one partial
    lrnParity(k, rng, { n: 2, c: 600, h: 13, w: 11, size: 5, alpha: 1, beta: 0.75, k: 1 }, 1);
    lrnParity(k, rng, { n: 1, c: 300, h: 17, w: 19, size: 3, alpha: 0.5, beta: 0.6, k: 2 }, 0);
  });

  it('batch norm training, backward and inference, [N, C] and [N, C, H, W]', () => {
    const shapes: [number, number, number, number][] = [[4, 3, 1, 1], [2, 5, 3, 3], [1, 4, 5, 7], [8, 16, 2, 2], [3, 1, 4, 4], [5, 300, 1, 1], [2, 3, 20, 30]];
    for (const [i, [n, c, h, w]] of shapes.entries()) {
      bnParity(k, rng, { n, c, h, w, eps: [1e-5, 1e-3][i % 2] }, i === 0 ? 0 : i + 1);
    }
  });

  it('cached primitives: the same geometry twice with new data, another geometry, then the first again', () => {
    const p1 = randomConv(rng, { groups: 2, kh: 3, kw: 3 }), p2 = randomConv(rng, { groups: 1, kh: 1, kw: 1 });
    for (const p of [p1, p1, p2, p1]) convParity(k, rng, p, true, int(rng, 0, 3));
    const q1 = poolParams(PoolKind.Max, 2, 3, 9, 9, 3, 3, 2, 2, 1, 1, true), q2 = poolParams(PoolKind.AvgExcludePad, 1, 2, 5, 6, 2, 2, 2, 2, 0, 0, true);
    for (const q of [q1, q1, q2, q1]) poolParity(k, rng, q, int(rng, 0, 3));
    const l1: LrnParams = { n: 2, c: 7, h: 3, w: 3, size: 5, alpha: 1e-4, beta: 0.75, k: 1 };
    for (const l of [l1, l1, { ...l1, alpha: 2 }, l1]) lrnParity(k, rng, l, int(rng, 0, 3));
    const b1: BatchNormParams = { n: 2, c: 3, h: 4, w: 4, eps: 1e-5 };
    for (const b of [b1, b1, { ...b1, c: 5 }, b1]) bnParity(k, rng, b, int(rng, 0, 3));
  });

  it('changing the thread count gives the same results (primitives are cached per thread count)', () => {
    const addon = load.ok ? load.addon : null;
    const before = addon!.getThreads() as number;
    const p1 = randomConv(rng, { kh: 3, kw: 3, groups: 1 }), p2 = randomConv(rng, { kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, n: 4, h: 12, w: 11 });
    const q = poolParams(PoolKind.Max, 3, 4, 9, 8, 3, 3, 2, 2, 1, 1, true);
    try {
      for (const threads of [1, Math.max(2, before), 1]) {
        addon!.setThreads(threads);
        convParity(k, rng, p1, true, 1);
        convParity(k, rng, p2, true, 0);
        poolParity(k, rng, q, 2);
        lrnParity(k, rng, { n: 3, c: 9, h: 5, w: 5, size: 5, alpha: 1, beta: 0.75, k: 1 }, 0);
        bnParity(k, rng, { n: 4, c: 6, h: 3, w: 3, eps: 1e-5 }, 1);
      }
    } finally {
      addon!.setThreads(before);
    }
  });

  it('max pooling and LRN workspaces belong to the caller: interleaved layers of one shape', () => {
    const p = poolParams(PoolKind.Max, 2, 4, 7, 7, 3, 3, 2, 2, 1, 1, true);
    const xa = Buf.random(rng, poolIn(p)), xb = Buf.random(rng, poolIn(p));
    const wa = new Uint8Array(k.pool2dWorkspaceBytes(p)), wb = new Uint8Array(k.pool2dWorkspaceBytes(p));
    const y = new Buf(poolOut(p)), gy = Buf.random(rng, poolOut(p));
    k.pool2dForward(p, xa.a, 0, y.a, 0, wa);
    k.pool2dForward(p, xb.a, 0, y.a, 0, wb);
    for (const [x, ws] of [[xa, wa], [xb, wb]] as const) {
      const rws = new Uint8Array(ref.pool2dWorkspaceBytes(p));
      ref.pool2dForward(p, x.a, 0, y.a, 0, rws);
      const gr = new Buf(poolIn(p)), gn = new Buf(poolIn(p));
      ref.pool2dBackward(p, gy.a, 0, gr.a, 0, rws);
      k.pool2dBackward(p, gy.a, 0, gn.a, 0, ws);
      assertClose(gn.v, gr.v, 'interleaved max pooling backward', 1e-5, 1e-6);
    }
    const l: LrnParams = { n: 2, c: 6, h: 3, w: 3, size: 5, alpha: 1, beta: 0.75, k: 1 };
    const bytes = k.lrnWorkspaceBytes(l);
    const la = Buf.random(rng, lrnSize(l)), lb = Buf.random(rng, lrnSize(l)), lgy = Buf.random(rng, lrnSize(l));
    const lwa = bytes ? new Uint8Array(bytes) : null, lwb = bytes ? new Uint8Array(bytes) : null;
    const ly = new Buf(lrnSize(l));
    k.lrnForward(l, la.a, 0, ly.a, 0, lwa);
    k.lrnForward(l, lb.a, 0, ly.a, 0, lwb);
    for (const [x, ws] of [[la, lwa], [lb, lwb]] as const) {
      const gr = new Buf(lrnSize(l)), gn = new Buf(lrnSize(l));
      ref.lrnBackward(l, x.a, 0, lgy.a, 0, gr.a, 0, null);
      k.lrnBackward(l, x.a, 0, lgy.a, 0, gn.a, 0, ws);
      assertClose(gn.v, gr.v, 'interleaved LRN backward', 2e-4, 2e-4);
    }
  });

  it('bad buffers and geometries are errors naming the op, never crashes', () => {
    const p = randomConv(rng, { groups: 1 });
    const x = new Float32Array(xSize(p)), w = new Float32Array(wSize(p)), y = new Float32Array(ySize(p));
    assert.throws(() => k.conv2dForward(p, x, 0, w, 0, null, 0, y, 1), /conv2dForward .*output needs/);
    assert.throws(() => k.conv2dForward(p, x, 0, w, 0, null, 0, new Float32Array(3), 0), /conv2dForward/);
    assert.throws(() => k.conv2dForward(p, x, -1, w, 0, null, 0, y, 0), /conv2dForward .*input offset must be a non-negative integer/);
    assert.throws(() => k.conv2dForward(p, new Float64Array(xSize(p)) as unknown as Float32Array, 0, w, 0, null, 0, y, 0),
      /conv2dForward .*input must be a Float32Array/);
    assert.throws(() => k.conv2dForward({ ...p, oh: p.oh + 1 }, x, 0, w, 0, null, 0, y, 0), /conv2dForward .*n=.*output size/);
    assert.throws(() => k.conv2dBackwardWeights(p, x, 0, y, 0, w, 0, new Float32Array(0), 0), /conv2dBackwardWeights .*gradBias/);
    const q = poolParams(PoolKind.Max, 1, 2, 6, 6, 2, 2, 2, 2, 0, 0, false);
    const small = new Uint8Array(Math.max(0, k.pool2dWorkspaceBytes(q) - 1));
    assert.throws(() => k.pool2dForward(q, new Float32Array(poolIn(q)), 0, new Float32Array(poolOut(q)), 0, small), /pool2dForward .*workspace/);
    assert.throws(() => k.pool2dBackward(q, new Float32Array(poolOut(q)), 0, new Float32Array(poolIn(q)), 0, null), /pool2dBackward .*workspace/);
    assert.throws(() => k.batchNormForward({ n: 2, c: 3, h: 1, w: 1, eps: 1e-5 }, true, new Float32Array(6), 0, new Float32Array(6), 0,
      new Float32Array(3), 0, new Float32Array(2), 0, new Float32Array(3), 0, new Float32Array(3), 0), /batchNormForward .*shift/);
  });
});
