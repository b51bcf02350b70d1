// Spatial, normalisation, temporal and dropout layers: finite-difference gradients (input and every
// parameter), values against direct loops written out here, errors naming the layer, and buffer
// reuse. PyTorch parity for a few configurations lives in torch-parity.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RandomGenerator, RNG } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import type { Module } from '../../src/nn/module.js';
import { SpatialConvolution, SpatialFullConvolution } from '../../src/nn/conv.js';
import { SpatialAveragePooling, SpatialMaxPooling, type AvgPoolOptions } from '../../src/nn/pooling.js';
import { BatchNormalization, LayerNormalization, SpatialBatchNormalization, SpatialCrossMapLRN } from '../../src/nn/normalization.js';
import { TemporalConvolution, TemporalMaxPooling, UpSampling2D } from '../../src/nn/temporal.js';
import { Dropout, SpatialDropout2D } from '../../src/nn/dropout.js';
import { assertClose, assertTensorClose, awkwardTensor, backendsUnderTest } from '../helpers.js';
import { checkModuleGradients } from './gradcheck.js';

// ---- inputs ----------------------------------------------------------------------------------

const randn = (shape: number[], rng: RandomGenerator) => Tensor.randn(shape, 0, 1, rng);

/**
 * Distinct values at least `gap` apart in random order: max pooling has no ties, and a finite
 * difference step (1e-2) never changes which element wins.
 */
function separated(shape: number[], rng: RandomGenerator, gap = 0.1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const perm = rng.randperm(n);
  return Tensor.from(Array.from(perm, (v) => (v - n / 2) * gap), shape);
}

/** Random parameters (the defaults, e.g. batch norm's ones and zeros, would hide mistakes). */
function randomizeParams(m: Module<any, any>, rng: RandomGenerator): void {
  for (const w of m.parameters().weights) w.copy_(Tensor.rand(w.shape, 0.5, 1.5, rng).mul(rng.random() < 0.5 ? -1 : 1));
}

/** forward + backward twice with the same shapes: the same output and gradInput objects come back. */
function assertReuse(what: string, m: Module, x: Tensor): void {
  const y1 = m.forward(x);
  const g = Tensor.ones(y1.shape.slice());
  const gi1 = m.backward(x, g);
  const y2 = m.forward(x);
  const gi2 = m.backward(x, g);
  assert.equal(y2, y1, `${what}: output reallocated`);
  assert.equal(gi2, gi1, `${what}: gradInput reallocated`);
}

/** updateGradInput + accGradParameters(scale) equals backward(scale), and leaves gradInput alone. */
function assertSplitBackward(what: string, m: Module, x: Tensor, rng: RandomGenerator): void {
  const y = m.forward(x);
  const g = randn(y.shape.slice(), rng);
  m.zeroGradParameters();
  const gi = m.backward(x, g, 0.5).clone();
  const grads = m.parameters().gradients.map((t) => t.clone());
  m.zeroGradParameters();
  m.forward(x);
  const gi2 = m.updateGradInput(x, g);
  const before = gi2.clone();
  m.accGradParameters(x, g, 0.5);
  assertTensorClose(m.gradInput, before, `${what}: gradInput after accGradParameters`, 0, 0);
  assertTensorClose(m.gradInput, gi, `${what}: split gradInput`, 1e-5, 1e-6);
  m.parameters().gradients.forEach((t, k) => assertTensorClose(t, grads[k], `${what}: split grad param${k}`, 1e-5, 1e-6));
}

// ---- direct definitions ----------------------------------------------------------------------

interface Geom { sh: number; sw: number; ph: number; pw: number; dh?: number; dw?: number; groups?: number }

/** Convolution written as the seven nested loops of its definition. */
function directConv(x: Tensor, w: Tensor, b: Tensor | null, g: Geom): Tensor {
  const [N, C, H, W] = x.shape, [OC, CG, KH, KW] = w.shape;
  const dh = g.dh ?? 1, dw = g.dw ?? 1, groups = g.groups ?? 1;
  const OH = Math.floor((H + 2 * g.ph - dh * (KH - 1) - 1) / g.sh) + 1;
  const OW = Math.floor((W + 2 * g.pw - dw * (KW - 1) - 1) / g.sw) + 1;
  const xa = x.toArray(), wa = w.toArray(), ba = b?.toArray();
  const out = new Float64Array(N * OC * OH * OW);
  const ocPerGroup = OC / groups;
  for (let n = 0; n < N; n++) for (let oc = 0; oc < OC; oc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const grp = Math.floor(oc / ocPerGroup);
    let s = ba ? ba[oc] : 0;
    for (let ci = 0; ci < CG; ci++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * g.sh - g.ph + kh * dh, iw = ow * g.sw - g.pw + kw * dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      s += xa[((n * C + grp * CG + ci) * H + ih) * W + iw] * wa[((oc * CG + ci) * KH + kh) * KW + kw];
    }
    out[((n * OC + oc) * OH + oh) * OW + ow] = s;
  }
  return Tensor.from(out, [N, OC, OH, OW]);
}

/** Transposed convolution as a scatter: each input cell adds its kernel-weighted copy to the output. */
function directFullConv(x: Tensor, w: Tensor, b: Tensor | null, g: Geom & { adjH: number; adjW: number }): Tensor {
  const [N, C, H, W] = x.shape, [, OCG, KH, KW] = w.shape;
  const groups = g.groups ?? 1, OC = OCG * groups, CG = C / groups, dh = g.dh ?? 1, dw = g.dw ?? 1;
  const OH = (H - 1) * g.sh - 2 * g.ph + dh * (KH - 1) + 1 + g.adjH, OW = (W - 1) * g.sw - 2 * g.pw + dw * (KW - 1) + 1 + g.adjW;
  const xa = x.toArray(), wa = w.toArray(), ba = b?.toArray();
  const out = new Float64Array(N * OC * OH * OW);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let ih = 0; ih < H; ih++) for (let iw = 0; iw < W; iw++) {
    const grp = Math.floor(c / CG);
    for (let o = 0; o < OCG; o++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const oh = ih * g.sh - g.ph + kh * dh, ow = iw * g.sw - g.pw + kw * dw;
      if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
      out[((n * OC + grp * OCG + o) * OH + oh) * OW + ow] += xa[((n * C + c) * H + ih) * W + iw] * wa[((c * OCG + o) * KH + kh) * KW + kw];
    }
  }
  if (ba) for (let i = 0; i < out.length; i++) out[i] += ba[Math.floor(i / (OH * OW)) % OC];
  return Tensor.from(out, [N, OC, OH, OW]);
}

/** PyTorch's pooling output size: floor or ceil, the last window starting inside input or left padding. */
function poolOut(size: number, k: number, s: number, p: number, ceil: boolean): number {
  const span = size + 2 * p - k;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

/**
 * Max or average pooling by PyTorch's definition: windows start at i*s - p; the average divides
 * by the window clipped to the padded input (countIncludePad) or to the input itself.
 */
function directPool(x: Tensor, max: boolean, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ceil: boolean, countIncludePad = true): Tensor {
  const [N, C, H, W] = x.shape;
  const OH = poolOut(H, kh, sh, ph, ceil), OW = poolOut(W, kw, sw, pw, ceil);
  const xa = x.toArray();
  const out = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let h0 = i * sh - ph, w0 = j * sw - pw;
    let h1 = Math.min(h0 + kh, H + ph), w1 = Math.min(w0 + kw, W + pw);
    const padded = (h1 - h0) * (w1 - w0);
    h0 = Math.max(h0, 0); w0 = Math.max(w0, 0); h1 = Math.min(h1, H); w1 = Math.min(w1, W);
    let acc = max ? -Infinity : 0;
    for (let y = h0; y < h1; y++) for (let z = w0; z < w1; z++) {
      const v = xa[(nc * H + y) * W + z];
      acc = max ? Math.max(acc, v) : acc + v;
    }
    out[(nc * OH + i) * OW + j] = max ? acc : acc / (countIncludePad ? padded : (h1 - h0) * (w1 - w0));
  }
  return Tensor.from(out, [N, C, OH, OW]);
}

/** Cross-channel LRN: x / (k + alpha/size * sum of x^2 over channels c-(size-1)/2 .. c+(size-1)/2)^beta. */
function directLRN(x: Tensor, size: number, alpha: number, beta: number, k: number): Tensor {
  const [N, C, H, W] = x.shape;
  const xa = x.toArray(), plane = H * W, half = (size - 1) / 2;
  const out = new Float64Array(xa.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < plane; p++) {
    let s = 0;
    for (let d = c - half; d <= c + half; d++) if (d >= 0 && d < C) s += xa[(n * C + d) * plane + p] ** 2;
    const i = (n * C + c) * plane + p;
    out[i] = xa[i] / (k + (alpha / size) * s) ** beta;
  }
  return Tensor.from(out, x.shape);
}

/** Layer norm over the last dim, biased variance. */
function directLayerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
  const d = x.shape[x.ndim - 1], xa = x.toArray(), wa = w.toArray(), ba = b.toArray();
  const out = new Float64Array(xa.length);
  for (let r = 0; r < xa.length / d; r++) {
    let mean = 0, v = 0;
    for (let i = 0; i < d; i++) mean += xa[r * d + i] / d;
    for (let i = 0; i < d; i++) v += (xa[r * d + i] - mean) ** 2 / d;
    for (let i = 0; i < d; i++) out[r * d + i] = ((xa[r * d + i] - mean) / Math.sqrt(v + eps)) * wa[i] + ba[i];
  }
  return Tensor.from(out, x.shape);
}

/** Batch norm over dim 1 of [N, C] or [N, C, H, W]; returns the output and the batch statistics. */
function directBatchNorm(x: Tensor, w: number[], b: number[], stats: { mean: number[]; variance: number[] } | null, eps: number) {
  const [N, C] = x.shape, plane = x.ndim === 4 ? x.shape[2] * x.shape[3] : 1, m = N * plane;
  const xa = x.toArray(), out = new Float64Array(xa.length);
  const mean: number[] = [], variance: number[] = [];
  for (let c = 0; c < C; c++) {
    let mu = 0, v = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < plane; p++) mu += xa[(n * C + c) * plane + p] / m;
    for (let n = 0; n < N; n++) for (let p = 0; p < plane; p++) v += (xa[(n * C + c) * plane + p] - mu) ** 2 / m;
    mean.push(mu);
    variance.push(v);
    const useMu = stats ? stats.mean[c] : mu, useV = stats ? stats.variance[c] : v;
    for (let n = 0; n < N; n++) for (let p = 0; p < plane; p++) {
      const i = (n * C + c) * plane + p;
      out[i] = ((xa[i] - useMu) / Math.sqrt(useV + eps)) * w[c] + b[c];
    }
  }
  return { y: Tensor.from(out, x.shape), mean, variance };
}

/** Temporal convolution: out[b, t, o] = bias[o] + sum_k sum_i w[o, k*F + i] * x[b, t*dW + k, i]. */
function directTemporalConv(x: Tensor, w: Tensor, bias: Tensor, kW: number, dW: number): Tensor {
  const [B, T, F] = x.shape, O = w.shape[0], OT = Math.floor((T - kW) / dW) + 1;
  const xa = x.toArray(), wa = w.toArray(), ba = bias.toArray();
  const out = new Float64Array(B * OT * O);
  for (let b = 0; b < B; b++) for (let t = 0; t < OT; t++) for (let o = 0; o < O; o++) {
    let s = ba[o];
    for (let k = 0; k < kW; k++) for (let i = 0; i < F; i++) s += wa[o * kW * F + k * F + i] * xa[(b * T + t * dW + k) * F + i];
    out[(b * OT + t) * O + o] = s;
  }
  return Tensor.from(out, [B, OT, O]);
}

/** Temporal max pooling: out[b, t, f] = max over k < kW of x[b, t*dW + k, f]. */
function directTemporalMax(x: Tensor, kW: number, dW: number): Tensor {
  const [B, T, F] = x.shape, OT = Math.floor((T - kW) / dW) + 1, xa = x.toArray();
  const out = new Float64Array(B * OT * F);
  for (let b = 0; b < B; b++) for (let t = 0; t < OT; t++) for (let f = 0; f < F; f++) {
    let m = -Infinity;
    for (let k = 0; k < kW; k++) m = Math.max(m, xa[(b * T + t * dW + k) * F + f]);
    out[(b * OT + t) * F + f] = m;
  }
  return Tensor.from(out, [B, OT, F]);
}

/** A Dropout whose generator is re-seeded before every forward: a fixed mask, so finite differences apply. */
class FixedMaskDropout extends Dropout {
  constructor(p: number, private readonly gen: RandomGenerator, private readonly seed: number) {
    super(p, gen);
  }
  override updateOutput(input: Tensor): Tensor {
    this.gen.setSeed(this.seed);
    return super.updateOutput(input);
  }
}

class FixedMaskSpatialDropout extends SpatialDropout2D {
  constructor(p: number, private readonly gen: RandomGenerator, private readonly seed: number) {
    super(p, gen);
  }
  override updateOutput(input: Tensor): Tensor {
    this.gen.setSeed(this.seed);
    return super.updateOutput(input);
  }
}

/** |count - n*q| within 5 binomial standard deviations. */
function assertBinomial(count: number, n: number, q: number, what: string): void {
  const sd = Math.sqrt(n * q * (1 - q));
  assert.ok(Math.abs(count - n * q) <= 5 * sd, `${what}: ${count} of ${n}, expected ${n * q} ± ${5 * sd}`);
}

for (const name of backendsUnderTest()) {
  describe(`spatial layers on ${name}`, () => {
    // ---- SpatialConvolution ------------------------------------------------------------------
    it('SpatialConvolution propagateBack false: zeros for gradInput, the same parameter gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(21);
      const a = new SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1);
      const b = new SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1, 1, { propagateBack: false });
      b.weight.weight.copy_(a.weight.weight);
      b.bias!.weight.copy_(a.bias!.weight);
      const x = randn([2, 3, 5, 6], rng), gy = randn([2, 4, 5, 6], rng);
      a.forward(x);
      b.forward(x);
      const ga = a.backward(x, gy), gb = b.backward(x, gy);
      assert.ok(ga.abs().sum().item() > 0);
      assert.deepEqual(gb.shape, x.shape);
      assert.equal(gb.abs().sum().item(), 0);
      assertTensorClose(b.weight.gradient, a.weight.gradient, 'weight gradient', 1e-6, 1e-6);
      assertTensorClose(b.bias!.gradient, a.bias!.gradient, 'bias gradient', 1e-6, 1e-6);
      assert.match(b.toString(), /no input gradient/);
      // switching it off after propagating: the returned buffer is zeros, not the last gradient
      a.setPropagateBack(false);
      assert.equal(a.backward(x, gy).abs().sum().item(), 0);
      a.setPropagateBack(true);
      assertTensorClose(a.backward(x, gy), ga, 'propagating again', 1e-6, 1e-6);
    });

    it('SpatialConvolution: values against the direct 7-loop definition', () => {
      setBackend(name);
      const rng = new RandomGenerator(1);
      const cases: [string, number, number, number, number, Geom, boolean][] = [
        // name, C, OC, kH, kW, geometry, bias
        ['plain 3x3', 2, 3, 3, 3, { sh: 1, sw: 1, ph: 0, pw: 0 }, true],
        ['stride 2x1, padding 1x2, 2x3 kernel', 3, 2, 2, 3, { sh: 2, sw: 1, ph: 1, pw: 2 }, true],
        ['groups 2, dilation 2x1', 4, 6, 3, 2, { sh: 1, sw: 2, ph: 2, pw: 1, dh: 2, dw: 1, groups: 2 }, true],
        ['no bias, groups 3, stride 3', 3, 3, 2, 2, { sh: 3, sw: 3, ph: 1, pw: 1, groups: 3 }, false],
      ];
      for (const [what, C, OC, kH, kW, g, bias] of cases) {
        const m = new SpatialConvolution(C, OC, kW, kH, g.sw, g.sh, g.pw, g.ph, g.groups ?? 1,
          { withBias: bias, dilationW: g.dw ?? 1, dilationH: g.dh ?? 1 });
        const x = randn([2, C, 6, 7], rng);
        const y = m.forward(x);
        assertTensorClose(y, directConv(x, m.weight.weight, m.bias?.weight ?? null, g), `conv ${what}`, 1e-4, 1e-5);
        // unbatched [C, H, W] gives the first sample's output
        const y0 = m.forward(x.select(0, 1));
        assertTensorClose(y0, directConv(x.narrow(0, 1, 1), m.weight.weight, m.bias?.weight ?? null, g).squeeze(0), `conv ${what} 3-d`, 1e-4, 1e-5);
      }
      // a known tiny case: all-ones 3x3 kernel sums each 3x3 neighbourhood (zero padding)
      const ones = new SpatialConvolution(1, 1, 3, 3, 1, 1, 1, 1, 1, { withBias: false });
      ones.weight.weight.fill_(1);
      const x = Tensor.arange(0, 9).view(1, 1, 3, 3);
      assert.deepEqual(ones.forward(x).toArray(), [8, 15, 12, 21, 36, 27, 20, 33, 24]);
    });

    it('SpatialConvolution: finite-difference gradients (stride, padding, groups, dilation, no bias, 3-d)', () => {
      setBackend(name);
      const rng = new RandomGenerator(2);
      checkModuleGradients('conv plain', new SpatialConvolution(2, 3, 3, 3), randn([2, 2, 5, 5], rng));
      checkModuleGradients('conv stride/pad', new SpatialConvolution(2, 2, 3, 2, 2, 1, 1, 2), randn([2, 2, 5, 6], rng));
      checkModuleGradients('conv groups', new SpatialConvolution(4, 2, 2, 2, 1, 1, 0, 0, 2), randn([2, 4, 4, 4], rng));
      checkModuleGradients('conv dilation', new SpatialConvolution(2, 2, 2, 3, 1, 1, 1, 1, 1, { dilationW: 2, dilationH: 2 }), randn([1, 2, 6, 6], rng));
      checkModuleGradients('conv no bias', new SpatialConvolution(2, 3, 2, 2, 1, 1, 0, 0, 1, { withBias: false }), randn([2, 2, 4, 3], rng));
      checkModuleGradients('conv 3-d input', new SpatialConvolution(2, 2, 3, 3, 1, 1, 1, 1), randn([2, 4, 4], rng));
      assertSplitBackward('conv', new SpatialConvolution(2, 3, 3, 3, 2, 2, 1, 1), randn([2, 2, 5, 5], rng), rng);
    });

    it('SpatialConvolution: bad input names the layer; buffers are reused', () => {
      setBackend(name);
      const m = new SpatialConvolution(3, 4, 3, 3);
      assert.throws(() => m.forward(Tensor.zeros([2, 3, 5])), /SpatialConvolution: expected input \[N, 3, H, W\] or \[3, H, W\] float32, got float32 \[2, 3, 5\]/);
      assert.throws(() => m.forward(Tensor.zeros([1, 2, 3, 5, 5])), /SpatialConvolution: expected input/);
      assert.throws(() => m.forward(Tensor.zeros([2, 2, 5, 5])), /SpatialConvolution: expected input \[N, 3, H, W\]/);
      assert.throws(() => m.forward(Tensor.zeros([2, 3, 2, 5])), /SpatialConvolution: kernel 3x3 .* larger than the padded input 2x5/);
      assert.throws(() => new SpatialConvolution(3, 4, 5, 5, 1, 1, 1, 1).forward(Tensor.zeros([3, 2, 2])), /SpatialConvolution: kernel 5x5/);
      assert.throws(() => new SpatialConvolution(3, 4, 3, 3, 1, 1, 0, 0, 2), /SpatialConvolution: nGroup 2 must divide/);
      assert.throws(() => new SpatialConvolution(3, 4, 0, 3), /SpatialConvolution: kW must be a positive integer/);
      const rng = new RandomGenerator(3);
      assertReuse('conv 4-d', m, randn([2, 3, 5, 5], rng));
      assertReuse('conv 3-d', new SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1), randn([3, 5, 5], rng));
    });

    // ---- SpatialFullConvolution --------------------------------------------------------------
    it('SpatialFullConvolution: values against the direct scatter definition', () => {
      setBackend(name);
      const rng = new RandomGenerator(4);
      const cases: [string, number, number, number, number, Geom & { adjH: number; adjW: number }, boolean][] = [
        ['plain', 2, 3, 3, 3, { sh: 1, sw: 1, ph: 0, pw: 0, adjH: 0, adjW: 0 }, true],
        ['stride 2, padding 1, adj 1x0', 3, 2, 3, 2, { sh: 2, sw: 2, ph: 1, pw: 0, adjH: 1, adjW: 0 }, true],
        ['stride 3x2, adj 2x1, groups 2, no bias', 4, 2, 2, 3, { sh: 3, sw: 2, ph: 0, pw: 1, adjH: 2, adjW: 1, groups: 2 }, false],
        ['dilation 2x3, stride 2', 2, 2, 2, 3, { sh: 2, sw: 2, ph: 1, pw: 1, dh: 2, dw: 3, adjH: 1, adjW: 0 }, true],
      ];
      for (const [what, C, OC, kH, kW, g, bias] of cases) {
        const m = new SpatialFullConvolution(C, OC, kW, kH, g.sw, g.sh, g.pw, g.ph, g.adjW, g.adjH, g.groups ?? 1,
          { withBias: bias, dilationH: g.dh ?? 1, dilationW: g.dw ?? 1 });
        const x = randn([2, C, 3, 4], rng);
        assertTensorClose(m.forward(x), directFullConv(x, m.weight.weight, m.bias?.weight ?? null, g), `full conv ${what}`, 1e-4, 1e-5);
      }
      // a 1x1 input spreads the kernel: output = weight + bias
      const m = new SpatialFullConvolution(1, 1, 2, 2);
      const y = m.forward(Tensor.ones([1, 1, 1, 1]));
      const b = m.bias!.weight.item();
      assertClose(y.toArray(), m.weight.weight.toArray().map((v) => v + b), 'full conv 1x1 input', 1e-6, 1e-6);
    });

    it('SpatialFullConvolution: finite-difference gradients (stride, padding, adj, groups, no bias)', () => {
      setBackend(name);
      const rng = new RandomGenerator(5);
      checkModuleGradients('full conv plain', new SpatialFullConvolution(2, 3, 3, 3), randn([2, 2, 3, 3], rng));
      checkModuleGradients('full conv stride/pad/adj', new SpatialFullConvolution(2, 2, 3, 3, 2, 2, 1, 1, 1, 1), randn([2, 2, 3, 3], rng));
      checkModuleGradients('full conv asymmetric', new SpatialFullConvolution(3, 2, 2, 3, 3, 2, 0, 1, 2, 0), randn([1, 3, 3, 2], rng));
      checkModuleGradients('full conv groups', new SpatialFullConvolution(4, 2, 2, 2, 2, 2, 0, 0, 0, 0, 2), randn([2, 4, 2, 3], rng));
      checkModuleGradients('full conv dilation', new SpatialFullConvolution(2, 2, 2, 2, 2, 1, 0, 1, 1, 0, 1, { dilationW: 2, dilationH: 3 }), randn([1, 2, 3, 3], rng));
      checkModuleGradients('full conv no bias', new SpatialFullConvolution(2, 2, 3, 3, 1, 1, 1, 1, 0, 0, 1, { withBias: false }), randn([1, 2, 3, 3], rng));
      assertSplitBackward('full conv', new SpatialFullConvolution(2, 3, 3, 3, 2, 2, 1, 1, 1, 0), randn([2, 2, 3, 3], rng), rng);
    });

    it('SpatialFullConvolution: bad input names the layer; buffers are reused', () => {
      setBackend(name);
      const m = new SpatialFullConvolution(3, 2, 3, 3, 2, 2, 1, 1);
      assert.throws(() => m.forward(Tensor.zeros([3, 4])), /SpatialFullConvolution: expected input \[N, 3, H, W\]/);
      assert.throws(() => m.forward(Tensor.zeros([2, 4, 4, 4])), /SpatialFullConvolution: expected input \[N, 3, H, W\] float32, got float32 \[2, 4, 4, 4\]/);
      // output (1-1)*1 - 2*2 + 3 = -1: the padding eats the whole output
      assert.throws(() => new SpatialFullConvolution(1, 1, 3, 3, 1, 1, 2, 2).forward(Tensor.zeros([1, 1, 1, 1])), /SpatialFullConvolution: expected input an input large enough/);
      assert.throws(() => new SpatialFullConvolution(1, 1, 3, 3, 2, 2, 0, 0, 2, 0), /SpatialFullConvolution: adjW\/adjH/);
      assert.throws(() => new SpatialFullConvolution(3, 2, 3, 3, 1, 1, 0, 0, 0, 0, 2), /SpatialFullConvolution: nGroup 2 must divide/);
      assertReuse('full conv', m, randn([2, 3, 3, 3], new RandomGenerator(6)));
    });

    // ---- pooling -----------------------------------------------------------------------------
    it('SpatialMaxPooling: values against the direct definition (floor, ceil, padding, 3-d)', () => {
      setBackend(name);
      const rng = new RandomGenerator(7);
      const cases: [number, number, number, number, number, number, boolean][] = [
        [2, 2, 2, 2, 0, 0, false], [3, 3, 2, 2, 0, 0, true], [3, 2, 2, 1, 1, 1, false], [3, 3, 2, 2, 1, 1, true], [2, 3, 3, 2, 1, 1, true],
      ];
      for (const [kW, kH, dW, dH, padW, padH, ceil] of cases) {
        const m = new SpatialMaxPooling(kW, kH, dW, dH, padW, padH);
        if (ceil) m.ceil();
        const x = randn([2, 2, 6, 7], rng);
        const what = `max ${kW}x${kH} /${dW},${dH} pad ${padW},${padH}${ceil ? ' ceil' : ''}`;
        assertTensorClose(m.forward(x), directPool(x, true, kH, kW, dH, dW, padH, padW, ceil), what, 0, 0);
        assertTensorClose(m.forward(x.select(0, 0)), directPool(x.narrow(0, 0, 1), true, kH, kW, dH, dW, padH, padW, ceil).squeeze(0), `${what} 3-d`, 0, 0);
      }
      // ceil mode adds a last, partial window: 5 -> 3 instead of 2
      assert.deepEqual(new SpatialMaxPooling(2, 2).ceil().forward(Tensor.zeros([1, 1, 5, 5])).shape, [1, 1, 3, 3]);
      assert.deepEqual(new SpatialMaxPooling(2, 2).forward(Tensor.zeros([1, 1, 5, 5])).shape, [1, 1, 2, 2]);
      // the gradient goes to the maximum of each window only
      const x = Tensor.from([[1, 5, 2, 0], [3, 4, 9, 1], [0, 2, 1, 7], [8, 6, 3, 4]]).view(1, 1, 4, 4);
      const m = new SpatialMaxPooling(2, 2);
      assert.deepEqual(m.forward(x).toArray(), [5, 9, 8, 7]);
      assert.deepEqual(m.backward(x, Tensor.from([1, 2, 3, 4]).view(1, 1, 2, 2)).toArray(), [0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 4, 3, 0, 0, 0]);
    });

    it('SpatialMaxPooling: finite-difference gradients away from ties', () => {
      setBackend(name);
      const rng = new RandomGenerator(8);
      checkModuleGradients('max 2x2', new SpatialMaxPooling(2, 2), separated([2, 2, 4, 4], rng));
      checkModuleGradients('max 3x3/2 ceil', new SpatialMaxPooling(3, 3, 2, 2).ceil(), separated([1, 2, 6, 6], rng));
      checkModuleGradients('max overlapping, padded', new SpatialMaxPooling(3, 2, 1, 2, 1, 1), separated([2, 1, 5, 5], rng));
      checkModuleGradients('max 3-d', new SpatialMaxPooling(2, 2, 1, 1), separated([2, 4, 3], rng));
    });

    it('SpatialMaxPooling: bad input names the layer; buffers are reused', () => {
      setBackend(name);
      const m = new SpatialMaxPooling(3, 3, 2, 2, 1, 1);
      assert.throws(() => m.forward(Tensor.zeros([4, 4])), /SpatialMaxPooling: expected input \[N, C, H, W\] or \[C, H, W\] float32, got float32 \[4, 4\]/);
      assert.throws(() => m.forward(Tensor.zeros([4, 4], { dtype: 'int32' }).view(1, 4, 4)), /SpatialMaxPooling: expected input/);
      assert.throws(() => new SpatialMaxPooling(5, 5).forward(Tensor.zeros([1, 1, 4, 8])), /SpatialMaxPooling: kernel 5 is larger than the padded input size 4/);
      assert.throws(() => new SpatialMaxPooling(2, 2, 2, 2, 2, 2).forward(Tensor.zeros([1, 1, 4, 4])), /SpatialMaxPooling: padding 2 must be at most half the kernel size 2/);
      const rng = new RandomGenerator(9);
      assertReuse('max 4-d', m, separated([2, 2, 5, 5], rng));
      assertReuse('max 3-d', m, separated([2, 5, 5], rng));
    });

    it('SpatialAveragePooling: values (floor, ceil, padding, countIncludePad both ways, global, divide false)', () => {
      setBackend(name);
      const rng = new RandomGenerator(10);
      const cases: [number, number, number, number, number, number, boolean, boolean][] = [
        // kW, kH, dW, dH, padW, padH, ceil, countIncludePad
        [2, 2, 2, 2, 0, 0, false, true],
        [3, 3, 2, 2, 1, 1, false, true],
        [3, 3, 2, 2, 1, 1, false, false],
        [3, 2, 2, 3, 0, 0, true, true],
        [3, 2, 2, 3, 0, 0, true, false],
        [3, 3, 2, 2, 1, 1, true, false],
        [2, 3, 1, 2, 1, 1, false, false],
      ];
      for (const [kW, kH, dW, dH, padW, padH, ceil, countIncludePad] of cases) {
        const m = new SpatialAveragePooling(kW, kH, dW, dH, padW, padH, { ceilMode: ceil, countIncludePad });
        const x = randn([2, 2, 6, 7], rng);
        const what = `avg ${kW}x${kH} /${dW},${dH} pad ${padW},${padH}${ceil ? ' ceil' : ''} include ${countIncludePad}`;
        assertTensorClose(m.forward(x), directPool(x, false, kH, kW, dH, dW, padH, padW, ceil, countIncludePad), what, 1e-5, 1e-6);
        assertTensorClose(m.forward(x.select(0, 1)), directPool(x.narrow(0, 1, 1), false, kH, kW, dH, dW, padH, padW, ceil, countIncludePad).squeeze(0), `${what} 3-d`, 1e-5, 1e-6);
      }
      // countIncludePad matters at the border: a corner window of a padded 3x3 pool sees 4 cells
      const ones = Tensor.ones([1, 1, 4, 4]);
      assertClose([new SpatialAveragePooling(3, 3, 1, 1, 1, 1).forward(ones).get(0, 0, 0, 0)], [4 / 9], 'include-pad corner', 1e-6, 0);
      assert.equal(new SpatialAveragePooling(3, 3, 1, 1, 1, 1, { countIncludePad: false }).forward(ones).get(0, 0, 0, 0), 1);
      // global: one mean per plane, whatever the plane size
      const g = new SpatialAveragePooling(1, 1, 1, 1, 0, 0, { globalPooling: true });
      for (const shape of [[2, 3, 4, 5], [1, 2, 3, 3]]) {
        const x = randn(shape, rng);
        const y = g.forward(x);
        assert.deepEqual(y.shape, [shape[0], shape[1], 1, 1]);
        assertClose(y.toArray(), x.flatten(2).mean(2).toArray(), 'global average', 1e-5, 1e-6);
      }
      // divide false sums the window
      const s = new SpatialAveragePooling(2, 2, 2, 2, 0, 0, { divide: false });
      const x = randn([1, 2, 4, 4], rng);
      assertClose(s.forward(x).toArray(), directPool(x, false, 2, 2, 2, 2, 0, 0, false).toArray().map((v) => v * 4), 'sum pooling', 1e-5, 1e-6);
    });

    it('SpatialAveragePooling: finite-difference gradients', () => {
      setBackend(name);
      const rng = new RandomGenerator(11);
      checkModuleGradients('avg 2x2', new SpatialAveragePooling(2, 2, 2, 2), randn([2, 2, 4, 4], rng));
      checkModuleGradients('avg padded include', new SpatialAveragePooling(3, 3, 2, 2, 1, 1), randn([1, 2, 5, 6], rng));
      checkModuleGradients('avg padded exclude', new SpatialAveragePooling(3, 3, 2, 2, 1, 1, { countIncludePad: false }), randn([1, 2, 5, 6], rng));
      checkModuleGradients('avg ceil', new SpatialAveragePooling(3, 3, 2, 2, 0, 0, { ceilMode: true }), randn([1, 2, 6, 6], rng));
      checkModuleGradients('avg ceil padded exclude', new SpatialAveragePooling(3, 3, 2, 2, 1, 1, { ceilMode: true, countIncludePad: false }), randn([1, 1, 6, 6], rng));
      checkModuleGradients('avg global', new SpatialAveragePooling(1, 1, 1, 1, 0, 0, { globalPooling: true }), randn([2, 3, 3, 4], rng));
      checkModuleGradients('avg 3-d', new SpatialAveragePooling(2, 2, 1, 1), randn([2, 3, 3], rng));
      checkModuleGradients('sum pooling', new SpatialAveragePooling(2, 2, 2, 2, 0, 0, { divide: false }), randn([1, 2, 4, 4], rng));
    });

    it('SpatialAveragePooling: bad input names the layer; buffers are reused', () => {
      setBackend(name);
      const m = new SpatialAveragePooling(3, 3, 2, 2, 1, 1);
      assert.throws(() => m.forward(Tensor.zeros([2, 1, 2, 5, 5])), /SpatialAveragePooling: expected input \[N, C, H, W\] or \[C, H, W\] float32, got float32 \[2, 1, 2, 5, 5\]/);
      assert.throws(() => new SpatialAveragePooling(4, 4).forward(Tensor.zeros([1, 1, 3, 6])), /SpatialAveragePooling: kernel 4 is larger than the padded input size 3/);
      // ceil mode with padding counted in the divisor is refused, not silently wrong
      assert.throws(() => new SpatialAveragePooling(3, 3, 2, 2, 1, 1, { ceilMode: true }).forward(Tensor.zeros([1, 1, 6, 6])), /not supported/);
      const rng = new RandomGenerator(12);
      assertReuse('avg 4-d', m, randn([2, 2, 5, 5], rng));
      assertReuse('avg 3-d', m, randn([2, 5, 5], rng));
      assertReuse('avg global', new SpatialAveragePooling(1, 1, 1, 1, 0, 0, { globalPooling: true }), randn([2, 2, 3, 3], rng));
    });

    // ---- batch normalisation -----------------------------------------------------------------
    it('BatchNormalization / SpatialBatchNormalization: values and running statistics against the definition', () => {
      setBackend(name);
      const rng = new RandomGenerator(13);
      for (const [what, make, shape] of [
        ['BatchNormalization', (o: { affine?: boolean; momentum?: number; eps?: number }) => new BatchNormalization(3, o), [6, 3]],
        ['SpatialBatchNormalization', (o: { affine?: boolean; momentum?: number; eps?: number }) => new SpatialBatchNormalization(3, o), [2, 3, 3, 2]],
      ] as const) {
        for (const affine of [true, false]) {
          const m = make({ affine, momentum: 0.2, eps: 1e-3 });
          if (affine) randomizeParams(m, rng);
          const w = affine ? m.weight!.weight.toArray() : [1, 1, 1], b = affine ? m.bias!.weight.toArray() : [0, 0, 0];
          const x = Tensor.randn(shape as unknown as number[], 1, 2, rng);
          const ref = directBatchNorm(x, w, b, null, 1e-3);
          assertTensorClose(m.forward(x), ref.y, `${what} train affine ${affine}`, 1e-4, 1e-5);
          const count = x.numel / 3;
          assertClose(m.runningMean.toArray(), ref.mean.map((v) => 0.2 * v), `${what} running mean`, 1e-5, 1e-6);
          assertClose(m.runningVar.toArray(), ref.variance.map((v) => 0.8 + (0.2 * v * count) / (count - 1)), `${what} running var`, 1e-5, 1e-6);
          m.evaluate();
          const stats = { mean: m.runningMean.toArray(), variance: m.runningVar.toArray() };
          assertTensorClose(m.forward(x), directBatchNorm(x, w, b, stats, 1e-3).y, `${what} eval affine ${affine}`, 1e-4, 1e-5);
          assert.deepEqual(m.runningMean.toArray(), stats.mean, 'evaluation leaves the running statistics alone');
        }
      }
    });

    it('BatchNormalization / SpatialBatchNormalization: gradients in training and evaluation mode, affine or not', () => {
      setBackend(name);
      const rng = new RandomGenerator(14);
      for (const [what, m, shape] of [
        ['BN', () => new BatchNormalization(3), [5, 3]],
        ['BN no affine', () => new BatchNormalization(3, { affine: false }), [5, 3]],
        ['SpatialBN', () => new SpatialBatchNormalization(2), [2, 2, 3, 2]],
        ['SpatialBN no affine', () => new SpatialBatchNormalization(2, { affine: false }), [2, 2, 3, 2]],
      ] as const) {
        const train = m();
        randomizeParams(train, rng);
        const x = Tensor.randn(shape as unknown as number[], 0.5, 1.5, rng);
        checkModuleGradients(`${what} training`, train, x);
        assertSplitBackward(`${what} training`, train, x, rng);
        const ev = m();
        randomizeParams(ev, rng);
        ev.runningMean.copy_(Tensor.randn(ev.runningMean.shape, 0, 1, rng));
        ev.runningVar.copy_(Tensor.rand(ev.runningVar.shape, 0.5, 2, rng));
        ev.evaluate();
        checkModuleGradients(`${what} evaluation`, ev, x);
        assertSplitBackward(`${what} evaluation`, ev, x, rng);
      }
      // eval-mode parameter gradients by hand: gradWeight = sum gy*xhat, gradBias = sum gy
      const bn = new BatchNormalization(2).evaluate();
      bn.runningMean.copy_(Tensor.from([1, -1]));
      bn.runningVar.copy_(Tensor.from([4 - 1e-5, 1 - 1e-5]));
      const x = Tensor.from([[3, 0], [5, 1]]), gy = Tensor.from([[1, 2], [3, -1]]);
      bn.forward(x);
      bn.zeroGradParameters();
      assertClose(bn.backward(x, gy).toArray(), [0.5, 2, 1.5, -1], 'eval gradInput', 1e-5, 1e-5);
      // xhat = [[1, 1], [2, 2]]
      assertClose(bn.weight!.gradient.toArray(), [1 + 6, 2 - 2], 'eval gradWeight', 1e-5, 1e-5);
      assertClose(bn.bias!.gradient.toArray(), [4, 1], 'eval gradBias', 1e-5, 1e-5);
    });

    it('batch normalisation: bad input names the layer; buffers are reused', () => {
      setBackend(name);
      const bn = new BatchNormalization(3);
      assert.throws(() => bn.forward(Tensor.zeros([4, 2])), /BatchNormalization: expected input \[N, 3\] float32, got float32 \[4, 2\]/);
      assert.throws(() => bn.forward(Tensor.zeros([4, 3, 2, 2])), /BatchNormalization: expected input \[N, 3\]/);
      assert.throws(() => bn.forward(Tensor.zeros([1, 3])), /BatchNormalization: .*more than one value per channel/);
      const sbn = new SpatialBatchNormalization(3);
      assert.throws(() => sbn.forward(Tensor.zeros([2, 3, 4])), /SpatialBatchNormalization: expected input \[N, 3, H, W\] float32, got float32 \[2, 3, 4\]/);
      assert.throws(() => sbn.forward(Tensor.zeros([2, 4, 2, 2])), /SpatialBatchNormalization: expected input \[N, 3, H, W\]/);
      assert.throws(() => sbn.forward(Tensor.zeros([1, 3, 1, 1])), /SpatialBatchNormalization: .*more than one value per channel/);
      assert.throws(() => new BatchNormalization(0), /BatchNormalization: nOutput must be a positive integer/);
      const rng = new RandomGenerator(15);
      assertReuse('BN train', bn, randn([4, 3], rng));
      assertReuse('SpatialBN train', sbn, randn([2, 3, 2, 2], rng));
      assertReuse('SpatialBN eval', sbn.evaluate(), randn([2, 3, 2, 2], rng));
      // evaluation accepts a single sample
      assert.deepEqual(bn.evaluate().forward(Tensor.zeros([1, 3])).shape, [1, 3]);
    });

    // ---- LRN ---------------------------------------------------------------------------------
    it('SpatialCrossMapLRN: values and gradients for several sizes', () => {
      setBackend(name);
      const rng = new RandomGenerator(16);
      for (const [size, alpha, beta, k] of [[1, 1, 0.75, 1], [3, 2, 0.75, 1], [5, 1e-1, 0.5, 2], [7, 1, 0.75, 1]] as const) {
        const m = new SpatialCrossMapLRN(size, alpha, beta, k);
        const x = randn([2, 4, 3, 2], rng);
        assertTensorClose(m.forward(x), directLRN(x, size, alpha, beta, k), `LRN size ${size}`, 1e-5, 1e-6);
        checkModuleGradients(`LRN size ${size}`, m, x);
      }
      // size 1 with alpha 1, beta 1, k 1: x / (1 + x^2)
      const x = Tensor.from([2, 4, -0.5, 1]).view(1, 4, 1, 1);
      assertClose(new SpatialCrossMapLRN(1, 1, 1, 1).forward(x).toArray(), [0.4, 4 / 17, -0.4, 0.5], 'LRN x/(1+x^2)', 1e-6, 1e-6);
    });

    it('SpatialCrossMapLRN: bad input and even sizes are refused naming the layer; buffers are reused', () => {
      setBackend(name);
      const m = new SpatialCrossMapLRN(3);
      assert.throws(() => m.forward(Tensor.zeros([3, 4, 4])), /SpatialCrossMapLRN: expected input \[N, C, H, W\] float32, got float32 \[3, 4, 4\]/);
      // BigDL's SpatialCrossMapLRN requires an odd size (the window is centred on the channel)
      assert.throws(() => new SpatialCrossMapLRN(4), /SpatialCrossMapLRN: size must be a positive odd integer, got 4/);
      assert.throws(() => new SpatialCrossMapLRN(0), /SpatialCrossMapLRN: size must be/);
      // k = 0 would divide by zero on an all-zero window (and the native kernel refuses it)
      assert.throws(() => new SpatialCrossMapLRN(3, 1, 0.75, 0), /SpatialCrossMapLRN: k must be positive/);
      assert.throws(() => new SpatialCrossMapLRN(3, -1), /SpatialCrossMapLRN: .*alpha non-negative/);
      assertReuse('LRN', m, randn([2, 5, 2, 2], new RandomGenerator(17)));
    });

    // ---- LayerNormalization ------------------------------------------------------------------
    it('LayerNormalization: values, gradients, bad input, buffer reuse', () => {
      setBackend(name);
      const rng = new RandomGenerator(18);
      for (const shape of [[5], [3, 5], [2, 3, 5]]) {
        const m = new LayerNormalization(5, 1e-3);
        randomizeParams(m, rng);
        const x = Tensor.randn(shape, 1, 2, rng);
        assertTensorClose(m.forward(x), directLayerNorm(x, m.weight.weight, m.bias.weight, 1e-3), `LayerNorm ${shape}`, 1e-4, 1e-5);
        checkModuleGradients(`LayerNorm ${shape}`, m, x);
      }
      // a row of 1..4 normalises to (x - 2.5)/sqrt(1.25)
      const row = new LayerNormalization(4, 0).forward(Tensor.from([[1, 2, 3, 4]]));
      assertClose(row.toArray(), [-1.5, -0.5, 0.5, 1.5].map((v) => v / Math.sqrt(1.25)), 'LayerNorm 1..4', 1e-5, 1e-6);
      const m = new LayerNormalization(4);
      assert.throws(() => m.forward(Tensor.zeros([3, 5])), /LayerNormalization: expected input \[\.\.\., 4\] float32, got float32 \[3, 5\]/);
      assert.throws(() => new LayerNormalization(0), /LayerNormalization: hiddenSize must be a positive integer/);
      assertReuse('LayerNorm', m, randn([3, 4], rng));
      assertSplitBackward('LayerNorm', m, randn([2, 3, 4], rng), rng);
    });

    // ---- temporal layers ---------------------------------------------------------------------
    it('TemporalConvolution: values, gradients (stride, 2-d input), bad input, buffer reuse', () => {
      setBackend(name);
      const rng = new RandomGenerator(19);
      for (const [kW, dW] of [[1, 1], [3, 1], [2, 3], [3, 2]]) {
        const m = new TemporalConvolution(3, 4, kW, dW);
        const x = randn([2, 7, 3], rng);
        assertTensorClose(m.forward(x), directTemporalConv(x, m.weight.weight, m.bias.weight, kW, dW), `TemporalConv k${kW} d${dW}`, 1e-4, 1e-5);
        assertTensorClose(m.forward(x.select(0, 1)), directTemporalConv(x.narrow(0, 1, 1), m.weight.weight, m.bias.weight, kW, dW).squeeze(0),
          `TemporalConv k${kW} d${dW} 2-d`, 1e-4, 1e-5);
        checkModuleGradients(`TemporalConv k${kW} d${dW}`, m, x);
      }
      checkModuleGradients('TemporalConv 2-d', new TemporalConvolution(2, 3, 2, 2), randn([5, 2], rng));
      const m = new TemporalConvolution(3, 4, 3);
      assert.throws(() => m.forward(Tensor.zeros([2, 5, 4])), /TemporalConvolution: expected input \[batch, time, 3\] or \[time, 3\] float32, got float32 \[2, 5, 4\]/);
      assert.throws(() => m.forward(Tensor.zeros([5])), /TemporalConvolution: expected input/);
      assert.throws(() => m.forward(Tensor.zeros([2, 2, 3])), /TemporalConvolution: expected input at least 3 time steps, got float32 \[2, 2, 3\]/);
      assert.throws(() => new TemporalConvolution(3, 4, 0), /TemporalConvolution: kW must be a positive integer/);
      assertReuse('TemporalConv 3-d', m, randn([2, 5, 3], rng));
      assertReuse('TemporalConv 2-d', m, randn([5, 3], rng));
      assertSplitBackward('TemporalConv', m, randn([2, 6, 3], rng), rng);
    });

    it('TemporalMaxPooling: values, gradients, bad input, buffer reuse', () => {
      setBackend(name);
      const rng = new RandomGenerator(20);
      for (const [kW, dW] of [[2, 2], [3, 1], [2, 3]]) {
        const m = new TemporalMaxPooling(kW, dW);
        const x = separated([2, 7, 3], rng);
        assertTensorClose(m.forward(x), directTemporalMax(x, kW, dW), `TemporalMax k${kW} d${dW}`, 0, 0);
        assertTensorClose(m.forward(x.select(0, 0)), directTemporalMax(x.narrow(0, 0, 1), kW, dW).squeeze(0), `TemporalMax k${kW} d${dW} 2-d`, 0, 0);
        checkModuleGradients(`TemporalMax k${kW} d${dW}`, m, x);
      }
      checkModuleGradients('TemporalMax 2-d', new TemporalMaxPooling(2), separated([6, 2], rng));
      const m = new TemporalMaxPooling(3);
      assert.throws(() => m.forward(Tensor.zeros([2, 5, 4, 1])), /TemporalMaxPooling: expected input \[batch, time, frame\] or \[time, frame\] float32, got float32 \[2, 5, 4, 1\]/);
      assert.throws(() => m.forward(Tensor.zeros([2, 4])), /TemporalMaxPooling: expected input at least 3 time steps/);
      assert.throws(() => new TemporalMaxPooling(0), /TemporalMaxPooling: kW and dW must be positive integers/);
      assertReuse('TemporalMax 3-d', m, separated([2, 6, 3], rng));
      assertReuse('TemporalMax 2-d', m, separated([6, 3], rng));
    });

    it('UpSampling2D: values, gradients, bad input, buffer reuse', () => {
      setBackend(name);
      const rng = new RandomGenerator(21);
      const m = new UpSampling2D([2, 3]);
      const x = randn([2, 2, 3, 2], rng);
      const y = m.forward(x);
      assert.deepEqual(y.shape, [2, 2, 6, 6]);
      for (let n = 0; n < 2; n++) for (let c = 0; c < 2; c++) for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) {
        assert.equal(y.get(n, c, i, j), x.get(n, c, Math.floor(i / 2), Math.floor(j / 3)));
      }
      // gradient: each input cell gets the sum of its 2x3 block
      const g = randn([2, 2, 6, 6], rng);
      const gi = m.backward(x, g);
      for (let n = 0; n < 2; n++) for (let c = 0; c < 2; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) s += g.get(n, c, 2 * i + a, 3 * j + b);
        assertClose([gi.get(n, c, i, j)], [s], 'UpSampling2D block sum', 1e-5, 1e-6);
      }
      checkModuleGradients('UpSampling2D', new UpSampling2D(), randn([1, 2, 2, 3], rng));
      checkModuleGradients('UpSampling2D 1x2', new UpSampling2D([1, 2]), randn([2, 1, 3, 2], rng));
      // a non-contiguous input (a transposed view) upsamples like its contiguous copy
      const t = randn([1, 2, 3, 4], rng).transpose(2, 3);
      assertTensorClose(new UpSampling2D().forward(t), new UpSampling2D().forward(t.contiguous()), 'UpSampling2D non-contiguous input', 0, 0);
      assert.throws(() => m.forward(Tensor.zeros([2, 3, 3])), /UpSampling2D: expected input \[N, C, H, W\] float32, got float32 \[2, 3, 3\]/);
      m.forward(x);
      assert.throws(() => m.backward(x, Tensor.zeros([2, 2, 6, 5])), /UpSampling2D: expected input gradOutput \[2, 2, 6, 6\]/);
      assert.throws(() => new UpSampling2D([0, 2]), /UpSampling2D: size must be two positive integers/);
      assertReuse('UpSampling2D', m, x);
    });

    // ---- dropout -----------------------------------------------------------------------------
    it('Dropout: keep rate, 1/(1-p) scaling, same mask in backward, evaluation is the identity', () => {
      setBackend(name);
      for (const p of [0.1, 0.3, 0.5, 0.8]) {
        const d = new Dropout(p, new RandomGenerator(22));
        const x = Tensor.rand([40, 250], 1, 2, new RandomGenerator(23));
        const y = d.forward(x).toArray(), xa = x.toArray();
        let kept = 0;
        y.forEach((v, i) => {
          if (v === 0) return;
          kept++;
          assert.ok(Math.abs(v - xa[i] / (1 - p)) <= 1e-5 * Math.abs(v), `p ${p}: survivor ${v} is not ${xa[i]}/(1-${p})`);
        });
        assertBinomial(kept, y.length, 1 - p, `Dropout(${p}) kept`);
        // backward multiplies by the same mask (and scale)
        const g = Tensor.rand([40, 250], -1, 1, new RandomGenerator(24));
        const gi = d.backward(x, g).toArray(), ga = g.toArray();
        gi.forEach((v, i) => assert.ok(Math.abs(v - (y[i] === 0 ? 0 : ga[i] / (1 - p))) <= 1e-6, `p ${p}: gradInput[${i}] ${v}`));
        d.evaluate();
        assert.deepEqual(d.forward(x).toArray(), xa, 'evaluation forward is the identity');
        assert.deepEqual(d.backward(x, g).toArray(), ga, 'evaluation backward is the identity');
      }
      // p = 0 keeps everything, in training too
      const x = Tensor.rand([3, 4], 1, 2);
      assert.deepEqual(new Dropout(0).forward(x).toArray(), x.toArray());
    });

    it('Dropout: the same seed gives the same mask, another seed another; the process RNG can be re-seeded', () => {
      setBackend(name);
      const x = Tensor.ones([400]);
      const a = new Dropout(0.5, new RandomGenerator(9)).forward(x).toArray();
      const b = new Dropout(0.5, new RandomGenerator(9)).forward(x).toArray();
      const c = new Dropout(0.5, new RandomGenerator(10)).forward(x).toArray();
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, c);
      const d = new Dropout(0.5);
      RNG.setSeed(77);
      const first = d.forward(x).toArray();
      const second = d.forward(x).toArray();
      assert.notDeepEqual(first, second, 'each forward draws a new mask');
      RNG.setSeed(77);
      assert.deepEqual(d.forward(x).toArray(), first);
    });

    it('Dropout / SpatialDropout2D: finite-difference gradients with a fixed mask', () => {
      setBackend(name);
      const rng = new RandomGenerator(25);
      checkModuleGradients('Dropout', new FixedMaskDropout(0.4, new RandomGenerator(1), 3), randn([4, 6], rng));
      checkModuleGradients('SpatialDropout2D', new FixedMaskSpatialDropout(0.4, new RandomGenerator(1), 3), randn([2, 4, 2, 3], rng));
    });

    it('SpatialDropout2D: whole channels, keep rate, scaling, same mask in backward, evaluation, errors, buffer reuse', () => {
      setBackend(name);
      const p = 0.3;
      const d = new SpatialDropout2D(p, new RandomGenerator(26));
      const x = Tensor.rand([10, 200, 2, 2], 1, 2, new RandomGenerator(27));
      const y = d.forward(x);
      let kept = 0;
      for (let n = 0; n < 10; n++) for (let c = 0; c < 200; c++) {
        const ys = y.select(0, n).select(0, c).toArray(), xs = x.select(0, n).select(0, c).toArray();
        const on = ys[0] !== 0;
        if (on) kept++;
        ys.forEach((v, i) => assert.ok(Math.abs(v - (on ? xs[i] / (1 - p) : 0)) <= 1e-5 * xs[i], `map (${n}, ${c}) is all dropped or all kept and scaled`));
      }
      assertBinomial(kept, 2000, 1 - p, 'SpatialDropout2D kept maps');
      const g = Tensor.rand(x.shape, -1, 1, new RandomGenerator(28));
      const gi = d.backward(x, g).toArray(), ya = y.toArray(), ga = g.toArray();
      gi.forEach((v, i) => assert.ok(Math.abs(v - (ya[i] === 0 ? 0 : ga[i] / (1 - p))) <= 1e-6));
      assert.throws(() => d.forward(Tensor.ones([2, 3])), /SpatialDropout2D: expected input \[N, C, H, W\]/);
      assert.throws(() => d.backward(x, Tensor.zeros([10, 200, 2])), /SpatialDropout2D: gradOutput \[10,200,2\] does not match input/);
      assert.throws(() => new SpatialDropout2D(1.5), /p must be in \[0, 1\)/);
      assertReuse('SpatialDropout2D', d, x);
      assertReuse('Dropout', new Dropout(0.5), x);
      d.evaluate();
      assert.deepEqual(d.forward(x).toArray(), x.toArray());
    });

    // ---- layout independence ---------------------------------------------------------------
    it('non-contiguous inputs give the same results as contiguous copies', () => {
      setBackend(name);
      const rng = new RandomGenerator(29);
      const layers: [string, () => Module, number[]][] = [
        ['conv', () => new SpatialConvolution(2, 3, 3, 3, 2, 1, 1, 1), [2, 2, 5, 6]],
        ['full conv', () => new SpatialFullConvolution(2, 3, 3, 3, 2, 2, 1, 1, 1, 1), [2, 2, 3, 3]],
        ['max pool', () => new SpatialMaxPooling(2, 2).ceil(), [2, 2, 5, 5]],
        ['avg pool', () => new SpatialAveragePooling(3, 3, 2, 2, 1, 1), [2, 2, 5, 5]],
        ['spatial BN', () => new SpatialBatchNormalization(2), [2, 2, 3, 3]],
        ['LRN', () => new SpatialCrossMapLRN(3, 1), [2, 4, 2, 3]],
        ['LayerNorm', () => new LayerNormalization(4), [2, 3, 4]],
        ['temporal conv', () => new TemporalConvolution(4, 2, 2), [2, 3, 4]],
        ['temporal max', () => new TemporalMaxPooling(2), [2, 4, 3]],
        ['upsampling', () => new UpSampling2D(), [1, 2, 2, 3]],
      ];
      for (const [what, make, shape] of layers) {
        const x = awkwardTensor(rng, shape, 'permuted');
        const a = make(), b = a.clone();
        const y = a.forward(x).clone(), yc = b.forward(x.contiguous());
        assertTensorClose(y, yc, `${what} output`, 1e-6, 1e-6);
        const g = awkwardTensor(rng, yc.shape, 'padded');
        assertTensorClose(a.backward(x, g), b.backward(x.contiguous(), g.contiguous()), `${what} gradInput`, 1e-5, 1e-6);
        a.parameters().gradients.forEach((t, k) => assertTensorClose(t, b.parameters().gradients[k], `${what} grad param${k}`, 1e-5, 1e-6));
      }
    });
  });
}
