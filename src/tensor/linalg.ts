import { backend } from '../backend/registry.js';
import { outputFor, requireFloat, requireNdim } from './checks.js';
import { broadcastShapes, numelOf, shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Matrix products on top of one GEMM kernel. Transposed views are passed to the kernel as
 * transpose flags, never copied; only views no BLAS call can address (e.g. broadcast or
 * doubly-strided matrices) are made contiguous first.
 */

interface Operand { data: Float32Array; off: number; ld: number; trans: boolean }

/** How to hand the 2-d matrix at (offset, rows x cols, strides s0/s1) to row-major GEMM, or null. */
function asOperand(data: Float32Array, off: number, rows: number, cols: number, s0: number, s1: number): Operand | null {
  if ((s1 === 1 || cols === 1) && (rows === 1 || s0 >= Math.max(cols, 1))) return { data, off, ld: rows === 1 ? Math.max(cols, 1) : s0, trans: false };
  if ((s0 === 1 || rows === 1) && (cols === 1 || s1 >= Math.max(rows, 1))) return { data, off, ld: cols === 1 ? Math.max(rows, 1) : s1, trans: true };
  return null;
}

function operand(t: Tensor): Operand {
  const [r, c] = [t.shape[t.ndim - 2], t.shape[t.ndim - 1]];
  const [s0, s1] = [t.strides[t.ndim - 2], t.strides[t.ndim - 1]];
  const o = asOperand(t.data as Float32Array, t.offset, r, c, s0, s1);
  if (o) return o;
  const cc = t.contiguous();
  return { data: cc.data as Float32Array, off: cc.offset, ld: Math.max(c, 1), trans: false };
}

function checkInner(op: string, a: Tensor, b: Tensor): void {
  if (a.shape[a.ndim - 1] !== b.shape[b.ndim - 2]) {
    throw new RangeError(`${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be multiplied (inner dimensions ${a.shape[a.ndim - 1]} and ${b.shape[b.ndim - 2]} differ)`);
  }
}

/** out = beta*out + alpha*(a @ b) for 2-d a, b; out must already hold the beta term's values. */
function gemmInto(a: Tensor, b: Tensor, out: Tensor, alpha: number, beta: number): void {
  const [m, k] = a.shape;
  const n = b.shape[1];
  const A = operand(a), B = operand(b);
  const direct = out.strides[1] === 1 && (m <= 1 || out.strides[0] >= n);
  const C = direct ? out : out.contiguous();
  backend().gemm(A.trans, B.trans, m, n, k, alpha, A.data, A.off, A.ld, B.data, B.off, B.ld, beta,
    C.data as Float32Array, C.offset, m <= 1 ? Math.max(n, 1) : C.strides[0]);
  if (C !== out) out.copy_(C);
}

/** a [m, k] @ b [k, n] -> [m, n] */
export function mm(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  requireFloat('mm', a, b);
  requireNdim('mm', 'first operand', a, 2);
  requireNdim('mm', 'second operand', b, 2);
  checkInner('mm', a, b);
  const o = outputFor('mm', [a.shape[0], b.shape[1]], out);
  gemmInto(a, b, o, 1, 0);
  return o;
}

/**
 * out = beta*c + alpha*(a @ b). `c` broadcasts to [m, n] (a bias row works); with out === c the
 * update is in place.
 */
export function addmm(c: Tensor, a: Tensor, b: Tensor, opts: { alpha?: number; beta?: number } = {}, out?: Tensor): Tensor {
  const alpha = opts.alpha ?? 1, beta = opts.beta ?? 1;
  requireFloat('addmm', c, a, b);
  requireNdim('addmm', 'first matrix', a, 2);
  requireNdim('addmm', 'second matrix', b, 2);
  checkInner('addmm', a, b);
  const shape = [a.shape[0], b.shape[1]];
  broadcastShapes('addmm', c.shape, shape);
  const o = outputFor('addmm', shape, out);
  if (beta !== 0 && o !== c) o.copy_(c);
  gemmInto(a, b, o, alpha, beta);
  return o;
}

/** a [B, m, k] @ b [B, k, n] -> [B, m, n] */
export function bmm(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  requireFloat('bmm', a, b);
  requireNdim('bmm', 'first operand', a, 3);
  requireNdim('bmm', 'second operand', b, 3);
  if (a.shape[0] !== b.shape[0]) throw new RangeError(`bmm: batch sizes differ: ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  checkInner('bmm', a, b);
  const [batch, m, k] = a.shape;
  const n = b.shape[2];
  const o = outputFor('bmm', [batch, m, n], out);
  const C = o.isContiguous() ? o : Tensor.empty(o.shape);
  const A = batchOperand(a), B = batchOperand(b);
  backend().gemmBatched(batch, A.trans, B.trans, m, n, k, 1, A.data, A.off, A.stride, A.ld, B.data, B.off, B.stride, B.ld,
    0, C.data as Float32Array, C.offset, m * n, Math.max(n, 1));
  if (C !== o) o.copy_(C);
  return o;
}

function batchOperand(t: Tensor): Operand & { stride: number } {
  const o = asOperand(t.data as Float32Array, t.offset, t.shape[1], t.shape[2], t.strides[1], t.strides[2]);
  if (o && t.strides[0] >= 0) return { ...o, stride: t.strides[0] };
  const c = t.contiguous();
  return { data: c.data as Float32Array, off: c.offset, ld: Math.max(t.shape[2], 1), trans: false, stride: t.shape[1] * t.shape[2] };
}

/**
 * PyTorch's matmul: 1-d·1-d dot, 2-d mm, vectors promoted and squeezed back, and batched
 * products with broadcasting over the leading dims.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireFloat('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new RangeError(`matmul: both operands need at least 1 dim, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const kb = b.ndim === 1 ? b.shape[0] : b.shape[b.ndim - 2];
  if (a.shape[a.ndim - 1] !== kb) {
    throw new RangeError(`matmul: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be multiplied (inner dimensions ${a.shape[a.ndim - 1]} and ${kb} differ)`);
  }
  if (a.ndim === 1 && b.ndim === 1) return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape();
  if (a.ndim === 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.ndim === 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  if (a.ndim === 2 && b.ndim === 2) return mm(a, b);
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.ndim - 1];
  if (b.ndim === 2) {
    // fold a's batch dims into rows: one big GEMM
    const rows = a.reshape(-1, k);
    return mm(rows, b).view(...a.shape.slice(0, -2), m, n);
  }
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = numelOf(batchShape);
  const a3 = a.expand(...batchShape, m, k).reshape(batch, m, k);
  const b3 = b.expand(...batchShape, k, n).reshape(batch, k, n);
  return bmm(a3, b3).view(...batchShape, m, n);
}

/** Matrix-vector product: a [m, k] @ v [k] -> [m] */
export function mv(a: Tensor, v: Tensor, out?: Tensor): Tensor {
  requireNdim('mv', 'matrix', a, 2);
  requireNdim('mv', 'vector', v, 1);
  const o = outputFor('mv', [a.shape[0]], out);
  mm(a, v.unsqueeze(1), o.unsqueeze(1));
  return o;
}
