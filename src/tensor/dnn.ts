import { PoolKind, type BatchNormParams, type ConvParams, type F32, type LrnParams, type PoolParams } from '../backend/backend.js';
import { backend } from '../backend/registry.js';
import { outputFor, requireFinite, requireFloat, requireNdim } from './checks.js';
import { shapeStr, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Convolution, pooling, LRN and batch normalisation on NCHW tensors. These functions compute
 * output geometry, validate shapes and hand contiguous buffers to the backend; layers in src/nn
 * call them with their own reusable output buffers.
 */

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

function pair(op: string, what: string, v: number | [number, number] | undefined, dflt: number, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  for (const x of p) {
    if (!Number.isInteger(x) || x < min) throw new RangeError(`${op}: ${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return p;
}

function dense(op: string, what: string, t: Tensor): Tensor {
  requireFloat(op, t);
  return t.contiguous();
}

/** Geometry of a convolution of input `x` [N, C, H, W] with weights `w` [OC, C/groups, KH, KW]. */
export function convParams(op: string, x: Shape, w: Shape, opts: Conv2dOptions): ConvParams {
  if (x.length !== 4) throw new RangeError(`${op}: input must be 4-d [N, C, H, W], got ${shapeStr(x)}`);
  if (w.length !== 4) throw new RangeError(`${op}: weight must be 4-d [OC, C/groups, KH, KW], got ${shapeStr(w)}`);
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const groups = opts.groups ?? 1;
  const [n, c, h, wd] = x;
  const [oc, cg, kh, kw] = w;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || oc % groups !== 0) {
    throw new RangeError(`${op}: groups ${groups} must divide input channels ${c} and output channels ${oc}`);
  }
  if (cg !== c / groups) {
    throw new RangeError(`${op}: weight ${shapeStr(w)} expects ${cg * groups} input channels (${cg} per group x ${groups} groups) but the input ${shapeStr(x)} has ${c}`);
  }
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) {
    throw new RangeError(`${op}: kernel ${kh}x${kw} (dilation ${dh}x${dw}) is larger than the padded input ${h + 2 * ph}x${wd + 2 * pw} of ${shapeStr(x)}`);
  }
  return { n, c, h, w: wd, oc, kh, kw, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw, groups, oh, ow };
}

export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}, out?: Tensor): Tensor {
  const p = convParams('conv2d', x.shape, weight.shape, opts);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== p.oc)) throw new RangeError(`conv2d: bias must be [${p.oc}], got ${shapeStr(bias.shape)}`);
  const xc = dense('conv2d', 'input', x), wc = dense('conv2d', 'weight', weight), bc = bias ? dense('conv2d', 'bias', bias) : null;
  const o = outputFor('conv2d', [p.n, p.oc, p.oh, p.ow], out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  backend().conv2dForward(p, xc.data as F32, xc.offset, wc.data as F32, wc.offset, bc ? (bc.data as F32) : null, bc?.offset ?? 0,
    t.data as F32, t.offset);
  if (t !== o) o.copy_(t);
  return o;
}

/** Gradient of conv2d with respect to its input of shape `inputShape`. */
export function conv2dBackwardData(gradOutput: Tensor, weight: Tensor, inputShape: Shape, opts: Conv2dOptions = {}, out?: Tensor): Tensor {
  const p = convParams('conv2dBackwardData', inputShape, weight.shape, opts);
  checkGradOutput('conv2dBackwardData', gradOutput, [p.n, p.oc, p.oh, p.ow]);
  const gc = dense('conv2dBackwardData', 'gradOutput', gradOutput), wc = dense('conv2dBackwardData', 'weight', weight);
  const o = outputFor('conv2dBackwardData', inputShape, out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  backend().conv2dBackwardData(p, gc.data as F32, gc.offset, wc.data as F32, wc.offset, t.data as F32, t.offset);
  if (t !== o) o.copy_(t);
  return o;
}

/** Gradients of conv2d with respect to weight (and bias when gradBias is given or true). Overwrites, never accumulates. */
export function conv2dBackwardWeights(x: Tensor, gradOutput: Tensor, weightShape: Shape, opts: Conv2dOptions = {},
  gradWeight?: Tensor, gradBias?: Tensor | boolean): { gradWeight: Tensor; gradBias: Tensor | null } {
  const p = convParams('conv2dBackwardWeights', x.shape, weightShape, opts);
  checkGradOutput('conv2dBackwardWeights', gradOutput, [p.n, p.oc, p.oh, p.ow]);
  const xc = dense('conv2dBackwardWeights', 'input', x), gc = dense('conv2dBackwardWeights', 'gradOutput', gradOutput);
  const gw = outputFor('conv2dBackwardWeights', weightShape, gradWeight);
  const gb = gradBias instanceof Tensor ? outputFor('conv2dBackwardWeights', [p.oc], gradBias) : gradBias ? Tensor.empty([p.oc]) : null;
  const tw = gw.isContiguous() ? gw : Tensor.empty(gw.shape);
  const tb = gb && !gb.isContiguous() ? Tensor.empty(gb.shape) : gb;
  backend().conv2dBackwardWeights(p, xc.data as F32, xc.offset, gc.data as F32, gc.offset, tw.data as F32, tw.offset,
    tb ? (tb.data as F32) : null, tb?.offset ?? 0);
  if (tw !== gw) gw.copy_(tw);
  if (gb && tb !== gb) gb.copy_(tb!);
  return { gradWeight: gw, gradBias: gb };
}

function checkGradOutput(op: string, g: Tensor, expected: Shape): void {
  if (g.ndim !== expected.length || g.shape.some((s, i) => s !== expected[i])) {
    throw new RangeError(`${op}: gradOutput has shape ${shapeStr(g.shape)} but the forward output is ${shapeStr(expected)}`);
  }
}

// ---- pooling ---------------------------------------------------------------------------------

export interface Pool2dOptions {
  kernel: number | [number, number];
  /** defaults to the kernel size */
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceilMode?: boolean;
  /** average pooling only: count padded cells in the divisor (PyTorch's count_include_pad, default true) */
  countIncludePad?: boolean;
}

/**
 * What a pooling or LRN backward needs from its forward: the geometry and the backend's
 * workspace (max positions). Passing the same state to the next forward reuses its buffer.
 */
export class DnnState<P> {
  constructor(public params: P, public workspace: Uint8Array | null, public inputShape: readonly number[]) {}
}

function outSize(op: string, size: number, k: number, s: number, p: number, ceil: boolean): number {
  if (p * 2 > k) throw new RangeError(`${op}: padding ${p} must be at most half the kernel size ${k}`);
  const span = size + 2 * p - k;
  if (span < 0) throw new RangeError(`${op}: kernel ${k} is larger than the padded input size ${size + 2 * p}`);
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: the last window must start inside the input or the left padding
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

export function poolParams(op: string, kind: PoolKind, x: Shape, opts: Pool2dOptions): PoolParams {
  if (x.length !== 4) throw new RangeError(`${op}: input must be 4-d [N, C, H, W], got ${shapeStr(x)}`);
  const [kh, kw] = pair(op, 'kernel', opts.kernel, 1, 1);
  const [sh, sw] = pair(op, 'stride', opts.stride ?? opts.kernel, 1, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding, 0, 0);
  const [n, c, h, w] = x;
  const ceil = opts.ceilMode ?? false;
  const oh = outSize(op, h, kh, sh, ph, ceil), ow = outSize(op, w, kw, sw, pw, ceil);
  // The bottom/right padding that makes the last window fit exactly; ceil mode may need more than
  // the symmetric padding, floor mode may need less (never below 0).
  const padBottom = Math.max(0, (oh - 1) * sh + kh - h - ph);
  const padRight = Math.max(0, (ow - 1) * sw + kw - w - pw);
  return { kind, n, c, h, w, kh, kw, strideH: sh, strideW: sw, padTop: ph, padLeft: pw, padBottom, padRight, oh, ow };
}

function poolKind(op: string, max: boolean, opts: Pool2dOptions): PoolKind {
  if (max) return PoolKind.Max;
  return opts.countIncludePad ?? true ? PoolKind.AvgIncludePad : PoolKind.AvgExcludePad;
}

function pool(op: string, max: boolean, x: Tensor, opts: Pool2dOptions, out?: Tensor, state?: DnnState<PoolParams>): { output: Tensor; state: DnnState<PoolParams> } {
  requireNdim(op, 'input', x, 4);
  const p = poolParams(op, poolKind(op, max, opts), x.shape, opts);
  if (p.kind === PoolKind.AvgIncludePad && (p.padBottom > p.padTop || p.padRight > p.padLeft)) {
    // Ceil-mode overhang is never counted in the divisor (PyTorch); backends only see symmetric
    // include-pad windows, so the explicit padding is counted by materialising it.
    if (p.padTop === 0 && p.padLeft === 0) p.kind = PoolKind.AvgExcludePad;
    else throw new RangeError(`${op}: average pooling with ceilMode, padding and countIncludePad together is not supported; set countIncludePad: false or pad the input explicitly`);
  }
  const xc = dense(op, 'input', x);
  const o = outputFor(op, [p.n, p.c, p.oh, p.ow], out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  const bytes = backend().pool2dWorkspaceBytes(p);
  const ws = state?.workspace && state.workspace.byteLength === bytes ? state.workspace : bytes > 0 ? new Uint8Array(bytes) : null;
  backend().pool2dForward(p, xc.data as F32, xc.offset, t.data as F32, t.offset, ws);
  if (t !== o) o.copy_(t);
  if (state) {
    state.params = p;
    state.workspace = ws;
    state.inputShape = x.shape;
    return { output: o, state };
  }
  return { output: o, state: new DnnState(p, ws, x.shape) };
}

export const maxPool2d = (x: Tensor, opts: Pool2dOptions, out?: Tensor, state?: DnnState<PoolParams>) => pool('maxPool2d', true, x, opts, out, state);
export const avgPool2d = (x: Tensor, opts: Pool2dOptions, out?: Tensor, state?: DnnState<PoolParams>) => pool('avgPool2d', false, x, opts, out, state);

export function pool2dBackward(state: DnnState<PoolParams>, gradOutput: Tensor, out?: Tensor): Tensor {
  const p = state.params;
  checkGradOutput('pool2dBackward', gradOutput, [p.n, p.c, p.oh, p.ow]);
  const gc = dense('pool2dBackward', 'gradOutput', gradOutput);
  const o = outputFor('pool2dBackward', state.inputShape, out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  backend().pool2dBackward(p, gc.data as F32, gc.offset, t.data as F32, t.offset, state.workspace);
  if (t !== o) o.copy_(t);
  return o;
}

// ---- LRN -------------------------------------------------------------------------------------

export interface LrnOptions { size: number; alpha?: number; beta?: number; k?: number }

export function lrn(x: Tensor, opts: LrnOptions, out?: Tensor, state?: DnnState<LrnParams>): { output: Tensor; state: DnnState<LrnParams> } {
  requireNdim('lrn', 'input', x, 4);
  if (!Number.isInteger(opts.size) || opts.size < 1 || opts.size % 2 === 0) throw new RangeError(`lrn: size must be a positive odd integer, got ${opts.size}`);
  requireFinite('lrn', 'input', x);
  const [n, c, h, w] = x.shape;
  const p: LrnParams = { n, c, h, w, size: opts.size, alpha: opts.alpha ?? 1e-4, beta: opts.beta ?? 0.75, k: opts.k ?? 1 };
  const xc = dense('lrn', 'input', x);
  const o = outputFor('lrn', x.shape, out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  const bytes = backend().lrnWorkspaceBytes(p);
  const ws = state?.workspace && state.workspace.byteLength === bytes ? state.workspace : bytes > 0 ? new Uint8Array(bytes) : null;
  backend().lrnForward(p, xc.data as F32, xc.offset, t.data as F32, t.offset, ws);
  if (t !== o) o.copy_(t);
  const st = state ?? new DnnState(p, ws, x.shape);
  st.params = p;
  st.workspace = ws;
  st.inputShape = x.shape;
  return { output: o, state: st };
}

export function lrnBackward(state: DnnState<LrnParams>, x: Tensor, gradOutput: Tensor, out?: Tensor): Tensor {
  checkGradOutput('lrnBackward', gradOutput, state.inputShape);
  checkGradOutput('lrnBackward', x, state.inputShape);
  const p = state.params;
  const xc = dense('lrnBackward', 'input', x), gc = dense('lrnBackward', 'gradOutput', gradOutput);
  const o = outputFor('lrnBackward', x.shape, out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  backend().lrnBackward(p, xc.data as F32, xc.offset, gc.data as F32, gc.offset, t.data as F32, t.offset, state.workspace);
  if (t !== o) o.copy_(t);
  return o;
}

// ---- batch normalisation ---------------------------------------------------------------------

function bnParams(op: string, x: Tensor, eps: number): BatchNormParams {
  requireNdim(op, 'input', x, 2, 4);
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  const [n, c, h, w] = x.ndim === 4 ? x.shape : [x.shape[0], x.shape[1], 1, 1];
  return { n, c, h, w, eps };
}

function perChannel(op: string, what: string, t: Tensor, c: number): Tensor {
  requireFloat(op, t);
  if (t.ndim !== 1 || t.shape[0] !== c) throw new RangeError(`${op}: ${what} must be [${c}] (one per channel), got ${shapeStr(t.shape)}`);
  if (!t.isContiguous()) throw new RangeError(`${op}: ${what} must be contiguous`);
  return t;
}

/**
 * y = scale * (x - mean) / sqrt(var + eps) + shift per channel of x ([N, C] or [N, C, H, W]).
 * training: mean/variance receive the batch statistics (biased variance); else they are read.
 */
export function batchNorm(x: Tensor, scale: Tensor, shift: Tensor, mean: Tensor, variance: Tensor,
  training: boolean, eps = 1e-5, out?: Tensor): Tensor {
  const p = bnParams('batchNorm', x, eps);
  for (const [what, t] of [['scale', scale], ['shift', shift], ['mean', mean], ['variance', variance]] as const) perChannel('batchNorm', what, t, p.c);
  requireFinite('batchNorm', 'input', x);
  if (training && p.n * p.h * p.w < 2) throw new RangeError(`batchNorm: training needs more than one value per channel, got input ${shapeStr(x.shape)}`);
  const xc = dense('batchNorm', 'input', x);
  const o = outputFor('batchNorm', x.shape, out);
  const t = o.isContiguous() ? o : Tensor.empty(o.shape);
  backend().batchNormForward(p, training, xc.data as F32, xc.offset, t.data as F32, t.offset, scale.data as F32, scale.offset,
    shift.data as F32, shift.offset, mean.data as F32, mean.offset, variance.data as F32, variance.offset);
  if (t !== o) o.copy_(t);
  return o;
}

/** Gradients of a training-mode batchNorm; all three outputs are overwritten. */
export function batchNormBackward(x: Tensor, gradOutput: Tensor, scale: Tensor, mean: Tensor, variance: Tensor, eps = 1e-5,
  out: { gradInput?: Tensor; gradScale?: Tensor; gradShift?: Tensor } = {}): { gradInput: Tensor; gradScale: Tensor; gradShift: Tensor } {
  const p = bnParams('batchNormBackward', x, eps);
  checkGradOutput('batchNormBackward', gradOutput, x.shape);
  for (const [what, t] of [['scale', scale], ['mean', mean], ['variance', variance]] as const) perChannel('batchNormBackward', what, t, p.c);
  const xc = dense('batchNormBackward', 'input', x), gc = dense('batchNormBackward', 'gradOutput', gradOutput);
  const gx = outputFor('batchNormBackward', x.shape, out.gradInput);
  const gs = out.gradScale ? perChannel('batchNormBackward', 'gradScale', out.gradScale, p.c) : Tensor.empty([p.c]);
  const gb = out.gradShift ? perChannel('batchNormBackward', 'gradShift', out.gradShift, p.c) : Tensor.empty([p.c]);
  const t = gx.isContiguous() ? gx : Tensor.empty(gx.shape);
  backend().batchNormBackward(p, xc.data as F32, xc.offset, gc.data as F32, gc.offset, scale.data as F32, scale.offset,
    mean.data as F32, mean.offset, variance.data as F32, variance.offset, t.data as F32, t.offset,
    gs.data as F32, gs.offset, gb.data as F32, gb.offset);
  if (t !== gx) gx.copy_(t);
  return { gradInput: gx, gradScale: gs, gradShift: gb };
}
